import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CniError, Code } from '../../../../lib/cni/errors';
import { dispatch, type Outcome, type PluginSpec } from '../../../../lib/cni/skel';
import type { CmdArgs, Result } from '../../../../lib/cni/types';
import { SUPPORTED_VERSIONS } from '../../../../lib/cni/version';

type Call = { verb: string; args: CmdArgs };

const RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '0a:00:00:00:00:01', mtu: 1450 },
    { name: 'eth0', mac: '0a:00:00:00:00:02', mtu: 1450, sandbox: '/var/run/netns/t', pciID: '0000:04:00.5' },
  ],
  ips: [
    { address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 1 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 },
    { address: '10.1.0.6/16', interface: 1 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400 }, { dst: '::/0' }],
  dns: { nameservers: ['10.1.0.1'] },
};

/** A fake plugin whose handlers record their calls; `fail` makes every handler throw it. */
function fakePlugin(opts: { fail?: unknown; result?: Result } = {}): PluginSpec & { calls: Call[] } {
  const calls: Call[] = [];
  const record = (verb: string, args: CmdArgs): void => {
    calls.push({ verb, args });
    if (opts.fail !== undefined) throw opts.fail;
  };
  return {
    about: 'fake plugin v0',
    calls,
    add: (a) => {
      record('ADD', a);
      return opts.result ?? RESULT;
    },
    del: (a) => record('DEL', a),
    check: (a) => record('CHECK', a),
    gc: (a) => record('GC', a),
    status: (a) => record('STATUS', a),
  };
}

const BASE_ENV = {
  CNI_CONTAINERID: 'ctr1',
  CNI_NETNS: '/var/run/netns/skel-test-does-not-exist',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
  CNI_ARGS: 'K8S_POD_NAME=p',
};

const conf = (extra: Record<string, unknown> = {}): string => JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'fake', ...extra });

interface Run extends Outcome {
  plugin: ReturnType<typeof fakePlugin>;
  stdinReads: number;
}

async function run(
  command: string | undefined,
  stdin: string | (() => Buffer) = conf(),
  env: Record<string, string | undefined> = {},
  plugin = fakePlugin(),
): Promise<Run> {
  let stdinReads = 0;
  const read = (): Buffer => {
    stdinReads++;
    return typeof stdin === 'string' ? Buffer.from(stdin) : stdin();
  };
  const fullEnv: NodeJS.ProcessEnv = { ...BASE_ENV, CNI_COMMAND: command, ...env };
  for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
  const out = await dispatch(plugin, fullEnv, read);
  return { ...out, plugin, stdinReads };
}

/** stdout must be exactly one JSON document (JSON.parse rejects two in a row). */
function doc(o: Outcome): Record<string, unknown> {
  expect(o.stdout.endsWith('\n')).toBe(true);
  const parsed: unknown = JSON.parse(o.stdout);
  expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
  return parsed as Record<string, unknown>;
}

/** A failure: non-zero exit, one error document with a numeric code, and no handler ran. */
function expectError(o: Run, code: number, msg?: RegExp | string, handlerRan = false): Record<string, unknown> {
  expect(o.exitCode).not.toBe(0);
  const e = doc(o);
  expect(typeof e.code).toBe('number');
  expect(typeof e.msg).toBe('string');
  expect(e.code).toBe(code);
  if (typeof msg === 'string') expect(e.msg).toContain(msg);
  else if (msg) expect(e.msg).toMatch(msg);
  if (!handlerRan) expect(o.plugin.calls).toEqual([]);
  return e;
}

function expectSilentSuccess(o: Run, verb: string): CmdArgs {
  expect(o.stdout).toBe('');
  expect(o.exitCode).toBe(0);
  expect(o.plugin.calls.map((c) => c.verb)).toEqual([verb]);
  return o.plugin.calls[0]!.args;
}

describe('no CNI_COMMAND', () => {
  it.each([undefined, ''])('prints the about text on stderr and a code-4 error on stdout (%j)', async (cmd) => {
    const o = await run(cmd);
    expect(o.exitCode).toBe(1);
    expect(doc(o)).toEqual({ code: 4, msg: 'required env variables [CNI_COMMAND] missing' });
    expect(o.stderr).toContain('fake plugin v0');
    expect(o.stderr).toContain(SUPPORTED_VERSIONS.join(', '));
    expect(o.plugin.calls).toEqual([]);
  });
});

describe('VERSION', () => {
  it('answers with empty stdin', async () => {
    const o = await run('VERSION', '');
    expect(o.exitCode).toBe(0);
    expect(doc(o)).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });

  it('echoes a supported stdin cniVersion', async () => {
    expect(doc(await run('VERSION', '{"cniVersion":"0.4.0"}')).cniVersion).toBe('0.4.0');
  });

  it.each(['{"cniVersion":"9.9.9"}', 'not json', '[]', 'null'])('answers its highest version for stdin %j', async (stdin) => {
    const o = await run('VERSION', stdin);
    expect(o.exitCode).toBe(0);
    expect(doc(o)).toEqual({ cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });

  it('never needs stdin, nor any other env var', async () => {
    const o = await run(
      'VERSION',
      () => {
        throw new Error('stdin is a terminal');
      },
      { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined, CNI_PATH: undefined },
    );
    expect(o.exitCode).toBe(0);
    expect(doc(o).supportedVersions).toEqual([...SUPPORTED_VERSIONS]);
  });
});

describe('unknown CNI_COMMAND', () => {
  it.each(['FOO', 'add'])('gives code 4 naming %j once stdin is valid', async (cmd) => {
    expectError(await run(cmd), Code.InvalidEnv, `unknown CNI_COMMAND: ${cmd}`);
  });

  it('reports bad JSON (code 6) before the unknown command', async () => {
    expectError(await run('FOO', '{nope'), Code.DecodeFailure);
  });
});

describe('required environment', () => {
  it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'])('ADD without %s gives code 4 naming it', async (name) => {
    const unset = await run('ADD', conf(), { [name]: undefined });
    expectError(unset, Code.InvalidEnv, name);
    expect(unset.stdinReads).toBe(0); // env is checked before stdin, as in Go's skel
    expectError(await run('ADD', conf(), { [name]: '' }), Code.InvalidEnv, name);
  });

  it('names every missing variable at once', async () => {
    const e = expectError(await run('ADD', conf(), { CNI_CONTAINERID: undefined, CNI_IFNAME: undefined }), Code.InvalidEnv);
    expect(e.msg).toContain('CNI_CONTAINERID');
    expect(e.msg).toContain('CNI_IFNAME');
  });

  it.each(['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'])('CHECK without %s gives code 4', async (name) => {
    expectError(await run('CHECK', conf(), { [name]: undefined }), Code.InvalidEnv, name);
  });

  it.each(['CNI_CONTAINERID', 'CNI_IFNAME'])('DEL without %s gives code 4', async (name) => {
    expectError(await run('DEL', conf(), { [name]: undefined }), Code.InvalidEnv, name);
  });

  it.each([undefined, ''])('DEL without CNI_NETNS (%j) is accepted', async (netns) => {
    const args = expectSilentSuccess(await run('DEL', conf(), { CNI_NETNS: netns }), 'DEL');
    expect(args.netns).toBe('');
  });

  describe('a CNI_NETNS that is not a network namespace', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skel-netns-'));
    const fifo = path.join(dir, 'fifo');
    const file = path.join(dir, 'file');
    spawnSync('mkfifo', [fifo]);
    fs.writeFileSync(file, '');
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    // A regular file that is not a namespace passes this type check; the plugin's one
    // visit (lib/netns.openNetns) refuses it with code 4, tested on the built plugins.
    const cases = [
      [fifo, 'it is a FIFO'],
      [dir, 'it is a directory'],
      ['/dev/null', 'it is a character device'],
    ] as const;

    // A FIFO used to block the open forever; O_NONBLOCK and the type check make it code 4 at once.
    it.each(cases)('ADD and CHECK refuse %s with code 4 naming CNI_NETNS, before the handler runs', async (netns, why) => {
      for (const verb of ['ADD', 'CHECK']) {
        const stdin = verb === 'CHECK' ? conf({ prevResult: { cniVersion: '1.1.0' } }) : conf();
        const e = expectError(await run(verb, stdin, { CNI_NETNS: netns }), Code.InvalidEnv, `CNI_NETNS "${netns}" is not a network namespace`);
        expect(e.msg).toContain(why);
      }
    });

    it.each(cases)('DEL with %s still reaches the handler (it must release what lives outside the netns)', async (netns) => {
      expect(expectSilentSuccess(await run('DEL', conf(), { CNI_NETNS: netns }), 'DEL').netns).toBe(netns);
    });

    it('a missing netns is left to the handler (it says "does not exist" itself)', async () => {
      expect((await run('ADD', conf(), { CNI_NETNS: path.join(dir, 'missing') })).exitCode).toBe(0);
    });
  });

  it('refuses the plugin own netns on ADD unless overridden', async () => {
    expectError(await run('ADD', conf(), { CNI_NETNS: '/proc/self/ns/net' }), Code.InvalidEnv, '/proc/self/ns/net');
    const o = await run('ADD', conf(), { CNI_NETNS: '/proc/self/ns/net', CNI_NETNS_OVERRIDE: 'true' });
    expect(o.exitCode).toBe(0);
  });
});

describe('container id and interface name', () => {
  it.each(['-abc', 'a/b', 'a b', '.a', '_a', 'a:b', 'a\nb'])('rejects container id %j with code 4', async (id) => {
    expectError(await run('ADD', conf(), { CNI_CONTAINERID: id }), Code.InvalidEnv, /containerID/);
  });

  it.each(['a', 'A1_b.c-d', '0123456789abcdef'.repeat(4)])('accepts container id %j', async (id) => {
    const o = await run('ADD', conf(), { CNI_CONTAINERID: id });
    expect(o.exitCode).toBe(0);
    expect(o.plugin.calls[0]!.args.containerId).toBe(id);
  });

  it.each(['', 'a'.repeat(16), '.', '..', 'a/b', 'a:b', 'a b', 'a\tb', 'ééééééééé'])('rejects ifname %j with code 4', async (name) => {
    // The empty name is caught as missing, the others as invalid: both are code 4.
    expectError(await run('ADD', conf(), { CNI_IFNAME: name }), Code.InvalidEnv, name === '' ? 'CNI_IFNAME' : undefined);
  });

  it.each(['a'.repeat(15), 'eth0', 'net1.100', 'a-b_c'])('accepts ifname %j', async (name) => {
    const o = await run('ADD', conf(), { CNI_IFNAME: name });
    expect(o.exitCode).toBe(0);
    expect(o.plugin.calls[0]!.args.ifName).toBe(name);
  });
});

describe('stdin config', () => {
  it.each(['{"cniVersion":', '', 'null', '[]', '"str"', '{"a":1}{"b":2}'])('rejects %j with code 6', async (stdin) => {
    expectError(await run('ADD', stdin), Code.DecodeFailure);
  });

  it('reports a stdin read failure as code 5', async () => {
    const o = await run('ADD', () => {
      throw new Error('EIO');
    });
    expectError(o, Code.IOFailure, 'EIO');
  });

  it.each([
    ['missing name', { name: undefined }],
    ['empty name', { name: '' }],
    ['name with "/"', { name: 'bad/name' }],
    ['name ".."', { name: '..' }],
    ['name with a space', { name: 'a b' }],
    ['non-string name', { name: 5 }],
    ['missing type', { type: undefined }],
    ['empty type', { type: '' }],
    ['missing cniVersion', { cniVersion: undefined }],
  ])('rejects %s with code 7', async (_what, extra) => {
    expectError(await run('ADD', conf(extra)), Code.InvalidConfig);
  });

  it('reports a bad name before a bad version', async () => {
    expectError(await run('ADD', conf({ name: 'bad/name', cniVersion: '9.9.9' })), Code.InvalidConfig);
  });

  it('rejects an unsupported cniVersion with code 1', async () => {
    const e = expectError(await run('ADD', conf({ cniVersion: '9.9.9' })), Code.IncompatibleVersion);
    expect(e.details).toContain('9.9.9');
  });

  it.each(['1.0', '1.1'])('matches versions by exact string: %j gives code 1', async (v) => {
    expectError(await run('ADD', conf({ cniVersion: v })), Code.IncompatibleVersion);
  });

  it.each(['x.y', '1.2.3.4', 7])('rejects an undecodable cniVersion %j with code 6', async (v) => {
    expectError(await run('ADD', conf({ cniVersion: v })), Code.DecodeFailure);
  });

  it('hands the handler the env, the raw stdin and the parsed config', async () => {
    const stdin = conf({ cniVersion: '0.4.0', ipam: { type: 'host-local' } });
    const o = await run('ADD', stdin);
    expect(o.exitCode).toBe(0);
    const a = o.plugin.calls[0]!.args;
    expect(a).toMatchObject({
      command: 'ADD',
      containerId: 'ctr1',
      netns: BASE_ENV.CNI_NETNS,
      ifName: 'eth0',
      args: 'K8S_POD_NAME=p',
      path: ['/opt/cni/bin', '/usr/lib/cni'],
    });
    expect(a.stdin.toString()).toBe(stdin);
    expect(a.conf).toEqual(JSON.parse(stdin));
  });
});

describe('verb gates', () => {
  it.each(['0.3.1', '0.3.0', '0.2.0'])('CHECK with %s gives code 1', async (v) => {
    expectError(await run('CHECK', conf({ cniVersion: v })), Code.IncompatibleVersion, 'CHECK');
  });

  it.each(['0.4.0', '1.0.0', '1.1.0'])('CHECK with %s runs the handler', async (v) => {
    expectSilentSuccess(await run('CHECK', conf({ cniVersion: v })), 'CHECK');
  });

  it.each(['GC', 'STATUS'])('%s with 1.0.0 gives code 1', async (verb) => {
    expectError(await run(verb, conf({ cniVersion: '1.0.0' })), Code.IncompatibleVersion, verb);
    expectError(await run(verb, conf({ cniVersion: '0.4.0' })), Code.IncompatibleVersion, verb);
  });

  it.each(['GC', 'STATUS'])('%s with 1.1.0 accepts empty CNI_CONTAINERID/NETNS/IFNAME/ARGS', async (verb) => {
    const stdin = conf({ 'cni.dev/valid-attachments': [] });
    const args = expectSilentSuccess(await run(verb, stdin, { CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: '', CNI_ARGS: '' }), verb);
    expect(args).toMatchObject({ command: verb, containerId: '', netns: '', ifName: '' });
  });

  it.each(['GC', 'STATUS'])('%s with 1.1.0 accepts the vars being unset, or holding junk', async (verb) => {
    const unset = { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined, CNI_ARGS: undefined };
    expectSilentSuccess(await run(verb, conf(), unset), verb);
    expectSilentSuccess(await run(verb, conf(), { CNI_CONTAINERID: 'a/b', CNI_IFNAME: 'a:b' }), verb);
  });
});

describe('ADD result', () => {
  it.each(['0.1.0', '0.2.0'])('is printed in the %s ip4/ip6 shape', async (v) => {
    const o = await run('ADD', conf({ cniVersion: v }));
    expect(o.exitCode).toBe(0);
    expect(o.plugin.calls[0]!.args.conf.cniVersion).toBe(v);
    expect(doc(o)).toEqual({
      cniVersion: v,
      ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] },
      ip6: { ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{ dst: '::/0' }] },
      dns: { nameservers: ['10.1.0.1'] },
    });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('is printed in the %s shape: ips[].version, no 1.1 interface fields', async (v) => {
    const o = await run('ADD', conf({ cniVersion: v }));
    expect(o.exitCode).toBe(0);
    expect(doc(o)).toEqual({
      cniVersion: v,
      interfaces: [
        { name: 'cni0', mac: '0a:00:00:00:00:01' },
        { name: 'eth0', mac: '0a:00:00:00:00:02', sandbox: '/var/run/netns/t' },
      ],
      ips: [
        { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 1 },
        { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 },
        { version: '4', address: '10.1.0.6/16', interface: 1 },
      ],
      routes: RESULT.routes,
      dns: RESULT.dns,
    });
  });

  it.each(['1.0.0', '1.1.0'])('is printed in the %s shape: the internal result with no ips[].version', async (v) => {
    const o = await run('ADD', conf({ cniVersion: v }));
    expect(o.exitCode).toBe(0);
    expect(doc(o)).toEqual({ ...RESULT, cniVersion: v });
  });

  it('fails when the result cannot be expressed in 0.2.0 (no IP)', async () => {
    const plugin = fakePlugin({ result: { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }] } });
    const o = await run('ADD', conf({ cniVersion: '0.2.0' }), {}, plugin);
    expectError(o, Code.Internal, 'no valid IP addresses', true);
  });
});

describe('handler failures', () => {
  it.each(['ADD', 'DEL', 'CHECK'])('%s: a plain Error becomes 999 with its message', async (verb) => {
    const o = await run(verb, conf(), {}, fakePlugin({ fail: new Error('boom: bridge "cni0" is down') }));
    const e = expectError(o, Code.Internal, 'boom: bridge "cni0" is down', true);
    expect(o.plugin.calls).toHaveLength(1);
    expect(e.cniVersion === undefined || e.cniVersion === '1.1.0').toBe(true);
    expect(o.stderr).not.toBe(''); // the stack goes to stderr, never stdout
  });

  it.each(['ADD', 'DEL', 'GC', 'STATUS'])('%s: a CniError keeps its code, message and details', async (verb) => {
    const fail = new CniError(Code.NotAvailable, 'subnet.env is missing', 'is flanneld running?');
    const e = expectError(await run(verb, conf(), {}, fakePlugin({ fail })), Code.NotAvailable, undefined, true);
    expect(e.msg).toBe('subnet.env is missing');
    expect(e.details).toBe('is flanneld running?');
  });

  it('a thrown non-Error value still yields one error document', async () => {
    expectError(await run('DEL', conf(), {}, fakePlugin({ fail: 'just a string' })), Code.Internal, 'just a string', true);
  });
});

describe('successful DEL/CHECK/GC/STATUS', () => {
  it.each(['DEL', 'CHECK', 'GC', 'STATUS'])('%s prints nothing and exits 0', async (verb) => {
    const o = await run(verb);
    expectSilentSuccess(o, verb);
    expect(o.plugin.calls[0]!.args.command).toBe(verb);
  });
});
