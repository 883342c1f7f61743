// cnictl's command line, the netns argument, cnitool's container ID, and the check that
// keeps --create from mounting a namespace nobody else would see.
import { describe, expect, it } from 'vitest';
import { HELP, UsageError, parseArgs, parseCniArgsOption, type Options } from '../../../../tools/cnictl/args';
import { runCli } from '../../../../tools/cnictl/cli';
import { defaultContainerId, mountOf, parseMountinfo, privateMountReason, resolveNetns } from '../../../../tools/cnictl/netns';

const opts = (...argv: string[]): Options => {
  const o = parseArgs(argv);
  if (o === 'help') throw new Error('help');
  return o;
};

describe('command line', () => {
  it('defaults', () => {
    expect(opts('add', 'cbr0', 'pod1')).toEqual({
      verb: 'add',
      network: 'cbr0',
      netns: 'pod1',
      conf: undefined,
      confDir: '/etc/cni/net.d',
      bin: ['/opt/cni/bin'],
      ifName: 'eth0',
      id: undefined,
      create: false,
      json: false,
      cacheDir: '/var/lib/cni',
    });
  });

  it('every option, before or after the arguments, with a space or "="', () => {
    const o = opts('--bin=/a:/b', 'del', '--ifname', 'net1', 'cbr0', '--id=c1', '/proc/1/ns/net', '--args', 'IgnoreUnknown=1;;K8S_POD_NAME=a=b', '--cap', 'mac="02:00:00:00:00:01"', '--cap=portMappings=[{"HostPort":80}]', '--create', '--json', '--cache-dir', '/tmp/c', '--confdir', '/tmp/n', '--timeout', '2.5');
    expect(o).toMatchObject({
      verb: 'del',
      network: 'cbr0',
      netns: '/proc/1/ns/net',
      bin: ['/a', '/b'],
      ifName: 'net1',
      id: 'c1',
      args: [
        ['IgnoreUnknown', '1'],
        ['K8S_POD_NAME', 'a=b'],
      ],
      caps: { mac: '02:00:00:00:00:01', portMappings: [{ HostPort: 80 }] },
      create: true,
      json: true,
      cacheDir: '/tmp/c',
      confDir: '/tmp/n',
      timeoutMs: 2500,
    });
  });

  it('--conf makes NETWORK optional; status and gc take no netns', () => {
    expect(opts('add', '--conf', 'x.conflist', 'pod1')).toMatchObject({ network: undefined, netns: 'pod1', conf: 'x.conflist' });
    expect(opts('add', '--conf', 'x.conflist', 'cbr0', 'pod1')).toMatchObject({ network: 'cbr0', netns: 'pod1' });
    expect(opts('status', '--conf', 'x.conflist')).toMatchObject({ network: undefined, netns: undefined });
    expect(opts('gc', 'cbr0', '--valid', 'a:eth0', '--valid', 'b:net1')).toMatchObject({ valid: [{ containerID: 'a', ifname: 'eth0' }, { containerID: 'b', ifname: 'net1' }] });
    expect(opts('gc', 'cbr0', '--valid', 'none')).toMatchObject({ valid: [] });
  });

  it.each([
    [[], 'missing command'],
    [['frob', 'x'], 'unknown command "frob"'],
    [['add', 'cbr0'], 'add needs NETWORK and NETNS'],
    [['add', '--conf', 'f'], 'add needs NETNS'],
    [['status'], 'status needs NETWORK'],
    [['status', 'cbr0', 'pod1'], 'too many arguments'],
    [['add', 'a', 'b', 'c'], 'too many arguments'],
    [['add', 'a', 'b', '--frob'], 'unknown option --frob'],
    [['add', 'a', 'b', '-x'], 'unknown option -x'],
    [['add', 'a', 'b', '--ifname'], '--ifname needs a value'],
    [['add', 'a', 'b', '--id', 'x', '--id', 'y'], '--id given more than once'],
    [['add', 'a', 'b', '--json=yes'], '--json takes no value'],
    [['add', 'a', 'b', '--cap', 'mac=02:00'], '--cap mac: the value is not JSON'],
    [['add', 'a', 'b', '--cap', '=1'], 'is not KEY=JSON'],
    [['add', 'a', 'b', '--args', 'novalue'], '--args: "novalue" is not KEY=VALUE'],
    [['add', 'a', 'b', '--timeout', '0'], 'not a positive number'],
    [['add', 'a', 'b', '--valid', 'x:eth0'], '--valid is for gc'],
    [['gc', 'a', '--valid', 'x'], 'is not CONTAINERID:IFNAME'],
    [['check', 'a', 'b', '--create'], '--create is for add'],
    [['status', 'a', '--id', 'x'], '--id, --ifname, --args and --cap do not apply'],
    [['add', 'a', 'b', '--bin', ':'], '--bin needs at least one directory'],
  ])('%j → usage error', (argv, msg) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(msg);
  });

  it('--help anywhere, exit 0; a usage error exits 2 with a pointer to --help', async () => {
    expect(parseArgs(['add', '--help'])).toBe('help');
    let out = '';
    let err = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
    expect(await runCli(['-h'], io)).toBe(0);
    expect(out).toBe(`${HELP}\n`);
    for (const word of ['--conf', '--confdir', '--bin', '--ifname', '--id', '--args', '--cap', '--create', '--json', '--cache-dir', '--valid', '--timeout', 'doctor', 'unshare']) {
      expect(HELP).toContain(word);
    }
    expect(await runCli(['add'], io)).toBe(2);
    expect(err).toBe('cnictl: add needs NETWORK and NETNS\nrun cnictl --help for usage\n');
  });

  it('CNI_ARGS pairs keep their order; a value may hold "="', () => {
    expect(parseCniArgsOption('B=2;A=1;C=x=y;')).toEqual([
      ['B', '2'],
      ['A', '1'],
      ['C', 'x=y'],
    ]);
  });
});

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
