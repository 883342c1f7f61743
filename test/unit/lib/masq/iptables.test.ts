// The iptables backend's parts that need no iptables: its messages and its usability
// probe (with lib/exec stubbed, so nothing runs).
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { iptablesUsable, missingBinaryError } from '../../../../lib/masq/iptables';
import { CniError, Code } from '../../../../lib/cni/errors';

const exec = vi.hoisted(() => ({ findExecutable: vi.fn(), runTool: vi.fn() }));
vi.mock('../../../../lib/exec', async (original) => ({ ...(await original<typeof import('../../../../lib/exec')>()), ...exec }));

beforeEach(() => vi.clearAllMocks());

describe('missingBinaryError', () => {
  it('tells the operator to install iptables', () => {
    const e = missingBinaryError('ip6tables');
    expect(e).toBeInstanceOf(CniError);
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toMatch(/ipMasq needs ip6tables.*install the iptables package/);
  });
});

describe('iptablesUsable', () => {
  it('is false without the binary, and runs nothing then', () => {
    exec.findExecutable.mockReturnValue(undefined);
    expect(iptablesUsable()).toBe(false);
    expect(exec.runTool).not.toHaveBeenCalled();
  });

  it('lists the filter table through lib/exec, as go-iptables probes it', () => {
    exec.findExecutable.mockReturnValue('/usr/sbin/iptables');
    exec.runTool.mockReturnValue({ ok: true, stdout: '', stderr: '', command: 'iptables' });
    expect(iptablesUsable()).toBe(true);
    expect(exec.runTool).toHaveBeenCalledWith('/usr/sbin/iptables', 'iptables', ['-w', '-t', 'filter', '-n', '-L', 'INPUT'], expect.objectContaining({ timeoutMs: 60_000 }));
    exec.runTool.mockReturnValue({ ok: false, stdout: '', stderr: 'Permission denied', command: 'iptables' });
    expect(iptablesUsable()).toBe(false);
  });
});
