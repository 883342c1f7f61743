// cnictl's command line (the netns argument and the container ID: netns.test.ts).
import { describe, expect, it } from 'vitest';
import { HELP, UsageError, parseArgs, parseCniArgsOption, type Options } from '../../../../tools/cnictl/args';
import { runCli } from '../../../../tools/cnictl/cli';

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
