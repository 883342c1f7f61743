import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { EINTR, ETIMEDOUT, errnoName } from '../../../lib/errno';

describe('errnoName', () => {
  it("names every errno Node's table knows by the same name (or its Linux alias)", () => {
    const aliases: Record<string, string> = { ENOTSUP: 'EOPNOTSUPP', EWOULDBLOCK: 'EAGAIN', EDEADLOCK: 'EDEADLK' };
    for (const [name, n] of Object.entries(os.constants.errno)) expect([name, aliases[name]]).toContain(errnoName(n));
  });

  it('names the errnos a bridge meets that Node does not know', () => {
    expect(errnoName(54)).toBe('EXFULL'); // a bridge with no free port number
    expect(errnoName(524)).toBe('ENOTSUPP'); // the kernel's internal one, leaked by some netlink paths
  });

  it('keeps the exported numbers in step with the table', () => {
    expect(errnoName(EINTR)).toBe('EINTR');
    expect(errnoName(ETIMEDOUT)).toBe('ETIMEDOUT');
  });

  it('says "errno N" for what Linux does not define', () => {
    for (const n of [0, -1, 41, 58, 134, 9999, 1.5]) expect(errnoName(n)).toBe(`errno ${n}`);
  });
});
