// The netns argument, cnitool's container ID, and the check that keeps --create from
// mounting a namespace nobody else would see.
import { describe, expect, it } from 'vitest';
import { defaultContainerId, mountOf, parseMountinfo, privateMountReason, resolveNetns } from '../../../../tools/cnictl/netns';

describe('netns argument and container ID', () => {
  it('a bare name is /run/netns/NAME; a path is made absolute', () => {
    expect(resolveNetns('pod1')).toEqual({ path: '/run/netns/pod1', name: 'pod1' });
    expect(resolveNetns('/run/netns/pod1')).toEqual({ path: '/run/netns/pod1', name: 'pod1' });
    expect(resolveNetns('/proc/42/ns/net')).toEqual({ path: '/proc/42/ns/net' });
    expect(resolveNetns('./x/../ns', '/tmp/w')).toEqual({ path: '/tmp/w/ns' });
    expect(resolveNetns('/var/run/netns//p/')).toEqual({ path: '/var/run/netns/p' });
    expect(() => resolveNetns('..')).toThrow('invalid netns name');
  });

  it("is cnitool's: cnitool- and the first 10 bytes of sha512(netns path)", () => {
    // python3 -c "import hashlib; print(hashlib.sha512(b'/var/run/netns/testing').digest()[:10].hex())"
    expect(defaultContainerId('/var/run/netns/testing')).toBe('cnitool-77383ca0a0715733ca6f');
    expect(defaultContainerId('/run/netns/testing')).not.toBe(defaultContainerId('/var/run/netns/testing'));
  });
});

describe('--create and private mount namespaces', () => {
  // Shapes of /proc/self/mountinfo: the host (a shared /run/netns, as ip netns add leaves
  // it), and inside `ip netns exec` (everything made a slave of the host).
  const host = parseMountinfo(
    [
      '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw',
      '50 27 0:5 / /run/with\\040space rw shared:3 - tmpfs tmpfs rw',
    ].join('\n'),
  );
  const inIpNetnsExec = parseMountinfo(['59 58 254:0 / / rw,relatime - ext4 /dev/vda rw', '93 59 254:0 /run/netns /run/netns rw,relatime master:1 - ext4 /dev/vda rw'].join('\n'));
  const bidirectional = parseMountinfo(['59 58 254:0 / / rw - ext4 /dev/vda rw', '93 59 254:0 /run/netns /run/netns rw shared:1 - ext4 /dev/vda rw'].join('\n'));

  it('parses mount points and propagation tags', () => {
    expect(host.map((e) => [e.mountPoint, e.optional])).toEqual([
      ['/', []],
      ['/run/netns', ['shared:1']],
      ['/run/with space', ['shared:3']],
    ]);
    expect(mountOf(host, '/run/netns/pod1')!.mountPoint).toBe('/run/netns');
    expect(mountOf(host, '/run/netnsx')!.mountPoint).toBe('/');
  });

  it('refuses only when we run in our own mount namespace and the mount does not propagate back', () => {
    const t = '/run/netns/pod1';
    expect(privateMountReason('mnt:[1]', 'mnt:[1]', host, t)).toBeUndefined();
    expect(privateMountReason('mnt:[2]', 'mnt:[1]', inIpNetnsExec, t)).toContain('ip netns exec');
    expect(privateMountReason('mnt:[2]', 'mnt:[1]', host.slice(0, 1), t)).toContain('exist only for this command');
    expect(privateMountReason('mnt:[2]', 'mnt:[1]', bidirectional, t)).toBeUndefined();
    // Cannot tell (no parent, /proc hidden): go ahead.
    expect(privateMountReason('mnt:[2]', undefined, inIpNetnsExec, t)).toBeUndefined();
  });
});
