import { describe, expect, it } from 'vitest';
import { missingBinaryError } from '../../../lib/masq/iptables';
import { CniError, Code } from '../../../lib/cni/errors';

describe('missingBinaryError', () => {
  it('tells the operator to install iptables', () => {
    const e = missingBinaryError('ip6tables');
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toMatch(/ipMasq needs ip6tables.*install the iptables package/);
  });
});
