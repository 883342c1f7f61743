// ADD/DEL/CHECK/STATUS/GC through the real dispatcher against a fake `bridge`: a shell
// script in a temp CNI_PATH that records each call (verb, env, stdin bytes) and
// prints a canned result, or an error JSON when a `fail-<VERB>` file exists.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch, type Outcome } from '../../../../lib/cni/skel';
import { flannelSpec } from '../../../../plugins/flannel/commands';

// The fallbacks log on purpose; keep the test output readable.
process.env.CNI_LOG_LEVEL ??= 'error';

const REF_B =
  '{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"172.16.99.0/24"}]],"routes":[{"dst":"172.16.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}';
const SUBNET_ENV = 'FLANNEL_NETWORK=172.16.0.0/16\nFLANNEL_SUBNET=172.16.99.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
const RESULT_031 = {
  cniVersion: '0.3.1',
  interfaces: [{ name: 'cni0', mac: '0a:58:ac:10:63:01' }, { name: 'veth1234abcd', mac: '0a:58:ac:10:63:02' }, { name: 'eth0', mac: '0a:58:ac:10:63:03', sandbox: '/var/run/netns/x' }],
  ips: [{ version: '4', address: '172.16.99.2/24', gateway: '172.16.99.1', interface: 2 }],
  routes: [{ dst: '172.16.0.0/16', gw: '172.16.99.1' }],
  dns: {},
};

let tmp: string;
let bin: string;
let calls: string;
let dataDir: string;
let subnetFile: string;

interface Call {
  verb: string;
  stdin: string;
  env: string;
}

function fakeBridge(): string {
  return `#!/bin/sh
d='${tmp}'
n=$(ls "$d/calls" | wc -l)
n=$(printf '%03d' $((n)))
printf '%s %s %s' "$CNI_CONTAINERID" "$CNI_IFNAME" "$CNI_NETNS" > "$d/envs/$n"
cat > "$d/calls/$n-$CNI_COMMAND"
if [ -e "$d/fail-$CNI_COMMAND" ]; then cat "$d/fail-$CNI_COMMAND"; exit 1; fi
if [ "$CNI_COMMAND" = ADD ]; then cat "$d/result"; fi
exit 0
`;
}

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flannel-cmd-'));
  bin = path.join(tmp, 'bin');
  calls = path.join(tmp, 'calls');
  dataDir = path.join(tmp, 'data', 'flannel');
  subnetFile = path.join(tmp, 'subnet.env');
  for (const d of [bin, calls, path.join(tmp, 'envs')]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(bin, 'bridge'), fakeBridge(), { mode: 0o755 });
  fs.writeFileSync(path.join(tmp, 'result'), JSON.stringify(RESULT_031));
  fs.writeFileSync(subnetFile, SUBNET_ENV);
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function recorded(): Call[] {
  return fs
    .readdirSync(calls)
    .sort()
    .map((f) => {
      const [n, verb] = f.split('-') as [string, string];
      return { verb, stdin: fs.readFileSync(path.join(calls, f), 'utf8'), env: fs.readFileSync(path.join(tmp, 'envs', n), 'utf8') };
    });
}

function conf(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { cniVersion: '0.3.1', name: 'cbr0', type: 'flannel', subnetFile, dataDir, delegate: { hairpinMode: true, isDefaultGateway: true }, ...extra };
}

function run(verb: string, c: Record<string, unknown>, id = 'ctr1'): Outcome {
  const env: NodeJS.ProcessEnv = { CNI_COMMAND: verb, CNI_PATH: bin };
  if (verb === 'ADD' || verb === 'DEL' || verb === 'CHECK') Object.assign(env, { CNI_CONTAINERID: id, CNI_NETNS: '/var/run/netns/x', CNI_IFNAME: 'eth0' });
  return dispatch(flannelSpec, env, () => Buffer.from(JSON.stringify(c)));
}

const errorOf = (o: Outcome) => JSON.parse(o.stdout) as { code: number; msg: string; details?: string };
const scratch = (id = 'ctr1') => path.join(dataDir, id);
const fail = (verb: string, err: object) => fs.writeFileSync(path.join(tmp, `fail-${verb}`), JSON.stringify(err));

describe('ADD', () => {
  it('saves the reference bytes, hands the same bytes to the delegate and returns its result', async () => {
    const out = await run('ADD', conf());
    expect(out.exitCode).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ ...RESULT_031, dns: undefined });
    const saved = fs.readFileSync(scratch());
    expect(saved.toString()).toBe(REF_B);
    expect(fs.statSync(scratch()).mode & 0o777).toBe(0o600);
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(dataDir)).toEqual(['ctr1']);
    const c = recorded();
    expect(c.map((x) => x.verb)).toEqual(['ADD']);
    expect(Buffer.from(c[0]!.stdin).equals(saved)).toBe(true);
    expect(c[0]!.env).toBe('ctr1 eth0 /var/run/netns/x');
  });

  it('converts the delegate result to the config version', async () => {
    const out = await run('ADD', conf({ cniVersion: '1.0.0' }));
    expect(out.exitCode).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r.cniVersion).toBe('1.0.0');
    expect(r.ips).toEqual([{ address: '172.16.99.2/24', gateway: '172.16.99.1', interface: 2 }]);
  });

  it('a failing delegate: its error comes back unchanged, its DEL runs with the same bytes, no scratch file', async () => {
    fail('ADD', { code: 11, msg: 'no IP addresses available in range set', details: 'range 172.16.99.0/24' });
    const out = await run('ADD', conf());
    expect(out.exitCode).toBe(1);
    expect(errorOf(out)).toMatchObject({ code: 11, msg: 'no IP addresses available in range set', details: 'range 172.16.99.0/24' });
    const c = recorded();
    expect(c.map((x) => x.verb)).toEqual(['ADD', 'DEL']);
    expect(c[1]!.stdin).toBe(c[0]!.stdin);
    expect(c[0]!.stdin).toBe(REF_B);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('a failing ADD of a container with a saved config (a live pod\'s retry): no delegate DEL, the old config back', async () => {
    expect((await run('ADD', conf())).exitCode).toBe(0);
    const before = fs.readFileSync(scratch());
    fs.writeFileSync(subnetFile, SUBNET_ENV.replace('FLANNEL_MTU=1450', 'FLANNEL_MTU=1400'));
    fail('ADD', { code: 999, msg: 'duplicate allocation is not allowed' });
    const out = await run('ADD', conf());
    expect(out.exitCode).toBe(1);
    // That DEL, by container ID, would release the live pod's address.
    expect(recorded().map((x) => x.verb)).toEqual(['ADD', 'ADD']);
    expect(recorded()[1]!.stdin).not.toBe(before.toString());
    expect(fs.readFileSync(scratch()).equals(before)).toBe(true);
  });

  it('a delegate printing garbage is rolled back the same way', async () => {
    fs.writeFileSync(path.join(tmp, 'result'), 'not json');
    const out = await run('ADD', conf());
    expect(out.exitCode).toBe(1);
    expect(recorded().map((x) => x.verb)).toEqual(['ADD', 'DEL']);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('without subnet.env: code 11 naming the file, nothing delegated or saved', async () => {
    fs.rmSync(subnetFile);
    const out = await run('ADD', conf());
    expect(errorOf(out).code).toBe(11);
    expect(errorOf(out).msg).toContain(subnetFile);
    expect(errorOf(out).msg).toContain('flanneld');
    expect(recorded()).toEqual([]);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it.each(['', '..', '../bridge', '/bin/sh'])('delegate.type %j is code 7 naming delegate.type before anything is saved', async (type) => {
    const out = await run('ADD', conf({ delegate: { type } }));
    expect(errorOf(out)).toMatchObject({ code: 7, msg: expect.stringContaining('"delegate.type"') });
    expect(recorded()).toEqual([]);
    expect(fs.existsSync(scratch())).toBe(false);
  });

  it('a refused delegate.name is code 7 before anything happens', async () => {
    const out = await run('ADD', conf({ delegate: { name: 'x' } }));
    expect(errorOf(out)).toMatchObject({ code: 7, msg: "'delegate' dictionary must not have 'name' field, it'll be set by flannel" });
    expect(recorded()).toEqual([]);
  });
});

describe('DEL', () => {
  it('passes the saved bytes exactly and removes the file; DEL twice succeeds', async () => {
    expect((await run('ADD', conf())).exitCode).toBe(0);
    // the subnet changed since ADD: DEL must still use what ADD used
    fs.writeFileSync(subnetFile, SUBNET_ENV.replace('172.16.99.1/24', '172.16.7.1/24'));
    const out = await run('DEL', conf({ prevResult: RESULT_031 }));
    expect(out).toEqual({ stdout: '', stderr: '', exitCode: 0 });
    const c = recorded();
    expect(c.map((x) => x.verb)).toEqual(['ADD', 'DEL']);
    expect(c[1]!.stdin).toBe(REF_B); // 0.3.1: no prevResult on DEL
    expect(fs.existsSync(scratch())).toBe(false);
    expect((await run('DEL', conf())).exitCode).toBe(0);
  });

  it('keeps the file when the delegate DEL fails, returns its error unchanged, and a retry succeeds', async () => {
    await run('ADD', conf());
    fail('DEL', { code: 999, msg: 'failed to release 172.16.99.2' });
    const out = await run('DEL', conf());
    expect(out.exitCode).toBe(1);
    expect(errorOf(out)).toMatchObject({ code: 999, msg: 'failed to release 172.16.99.2' });
    expect(fs.readFileSync(scratch(), 'utf8')).toBe(REF_B);
    fs.rmSync(path.join(tmp, 'fail-DEL'));
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(fs.existsSync(scratch())).toBe(false);
    expect(recorded().map((x) => x.verb)).toEqual(['ADD', 'DEL', 'DEL']);
  });

  it('adds prevResult to the saved config for 0.4.0+, without needing subnet.env', async () => {
    const c1 = conf({ cniVersion: '1.0.0' });
    await run('ADD', c1);
    fs.rmSync(subnetFile);
    const prev = { cniVersion: '1.0.0', ips: [{ address: '172.16.99.2/24', interface: 2 }] };
    expect((await run('DEL', { ...c1, prevResult: prev })).exitCode).toBe(0);
    const [add, del] = recorded();
    expect(JSON.parse(del!.stdin)).toEqual({ ...JSON.parse(add!.stdin), prevResult: prev });
    expect(fs.existsSync(scratch())).toBe(false);
  });

  it('without a saved config but with subnet.env: delegate DEL with a rebuilt config', async () => {
    const out = await run('DEL', conf());
    expect(out.exitCode).toBe(0);
    const c = recorded();
    expect(c.map((x) => x.verb)).toEqual(['DEL']);
    expect(c[0]!.stdin).toBe(REF_B);
    expect(c[0]!.env).toBe('ctr1 eth0 /var/run/netns/x');
  });

  it('with a torn (empty) saved config: rebuilds, delegates, and removes the useless file', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(scratch(), '');
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(recorded().map((x) => [x.verb, x.stdin])).toEqual([['DEL', REF_B]]);
    expect(fs.existsSync(scratch())).toBe(false);
  });

  // Same rule as ADD's parse: a saved delegate type that is not a plain file name is
  // unusable, so DEL rebuilds from the current config instead of failing in findInPath forever.
  it('with a saved config whose delegate type is a path: rebuilds, delegates, and removes the file', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(scratch(), REF_B.replace('"type":"bridge"', '"type":"../bin/bridge"'));
    expect(fs.readFileSync(scratch(), 'utf8')).toContain('"type":"../bin/bridge"');
    expect((await run('DEL', conf())).exitCode).toBe(0);
    expect(recorded().map((x) => [x.verb, x.stdin])).toEqual([['DEL', REF_B]]);
    expect(fs.existsSync(scratch())).toBe(false);
  });

  it('with neither a saved config nor subnet.env: succeeds without delegating', async () => {
    fs.rmSync(subnetFile);
    const out = await run('DEL', conf());
    expect(out.exitCode).toBe(0);
    expect(recorded()).toEqual([]);
  });
});

describe('CHECK', () => {
  it('runs the delegate CHECK with the saved config plus prevResult', async () => {
    const c1 = conf({ cniVersion: '1.0.0' });
    await run('ADD', c1);
    const prev = { cniVersion: '1.0.0', ips: [{ address: '172.16.99.2/24', interface: 2 }] };
    expect((await run('CHECK', { ...c1, prevResult: prev })).exitCode).toBe(0);
    const [add, check] = recorded();
    expect(check!.verb).toBe('CHECK');
    expect(JSON.parse(check!.stdin)).toEqual({ ...JSON.parse(add!.stdin), prevResult: prev });
  });

  it('propagates a delegate CHECK failure', async () => {
    await run('ADD', conf({ cniVersion: '1.0.0' }));
    fail('CHECK', { code: 999, msg: 'Required prevResult missing' });
    expect(errorOf(await run('CHECK', conf({ cniVersion: '1.0.0' })))).toMatchObject({ code: 999, msg: 'Required prevResult missing' });
  });

  it('without a saved config: a clear error', async () => {
    const e = errorOf(await run('CHECK', conf({ cniVersion: '1.0.0' })));
    expect(e.code).toBe(999);
    expect(e.msg).toContain('no saved delegate config for container ctr1');
    expect(recorded()).toEqual([]);
  });
});

describe('STATUS', () => {
  it('code 50 when subnet.env is missing or incomplete', async () => {
    fs.rmSync(subnetFile);
    const e = errorOf(await run('STATUS', conf({ cniVersion: '1.1.0' })));
    expect(e.code).toBe(50);
    expect(e.msg).toContain(subnetFile);
    fs.writeFileSync(subnetFile, 'FLANNEL_NETWORK=172.16.0.0/16\n');
    const e2 = errorOf(await run('STATUS', conf({ cniVersion: '1.1.0' })));
    expect(e2.code).toBe(50);
    expect(e2.msg).toContain('is missing FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ');
    expect(recorded()).toEqual([]);
  });

  it('forwards STATUS with the config rendered from subnet.env, and its failure', async () => {
    expect((await run('STATUS', conf({ cniVersion: '1.1.0' }))).exitCode).toBe(0);
    expect(recorded().map((x) => [x.verb, x.stdin])).toEqual([['STATUS', REF_B.replace('0.3.1', '1.1.0')]]);
    fail('STATUS', { code: 51, msg: 'range exhausted' });
    expect(errorOf(await run('STATUS', conf({ cniVersion: '1.1.0' })))).toMatchObject({ code: 51, msg: 'range exhausted' });
  });
});

describe('GC', () => {
  const c11 = () => conf({ cniVersion: '1.1.0' });
  const attach = (...ids: string[]) => ids.map((containerID) => ({ containerID, ifname: 'eth0' }));

  async function addAll(...ids: string[]): Promise<void> {
    for (const id of ids) expect((await run('ADD', c11(), id)).exitCode).toBe(0);
  }

  it('forwards GC with both attachment keys and removes only files of unlisted containers of this network', async () => {
    await addAll('a', 'b', 'c');
    fs.writeFileSync(path.join(dataDir, 'other-net'), '{"name":"othernet","type":"bridge"}');
    const list = attach('a');
    expect((await run('GC', { ...c11(), 'cni.dev/valid-attachments': list })).exitCode).toBe(0);
    expect(fs.readdirSync(dataDir).sort()).toEqual(['a', 'other-net']);
    const gc = recorded().filter((x) => x.verb === 'GC');
    expect(gc).toHaveLength(1);
    const sent = JSON.parse(gc[0]!.stdin);
    expect(sent['cni.dev/valid-attachments']).toEqual(list);
    expect(sent['cni.dev/attachments']).toEqual(list);
    expect(sent).toMatchObject({ cniVersion: '1.1.0', name: 'cbr0', type: 'bridge' });
  });

  it('accepts the legacy key, and an empty list removes every file of this network', async () => {
    await addAll('a', 'b');
    expect((await run('GC', { ...c11(), 'cni.dev/attachments': attach('b') })).exitCode).toBe(0);
    expect(fs.readdirSync(dataDir)).toEqual(['b']);
    expect((await run('GC', { ...c11(), 'cni.dev/valid-attachments': [] })).exitCode).toBe(0);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('without any list removes nothing', async () => {
    await addAll('a');
    expect((await run('GC', c11())).exitCode).toBe(0);
    expect(fs.readdirSync(dataDir)).toEqual(['a']);
  });

  it('without subnet.env forwards GC using a saved config, and still cleans up', async () => {
    await addAll('a', 'b');
    fs.rmSync(subnetFile);
    expect((await run('GC', { ...c11(), 'cni.dev/valid-attachments': attach('b') })).exitCode).toBe(0);
    expect(fs.readdirSync(dataDir)).toEqual(['b']);
    const gc = recorded().filter((x) => x.verb === 'GC');
    expect(gc).toHaveLength(1);
    expect(JSON.parse(gc[0]!.stdin)).toMatchObject({ type: 'bridge', cniVersion: '1.1.0', 'cni.dev/valid-attachments': attach('b') });
  });

  it('a failing delegate GC is reported after the local cleanup was done', async () => {
    await addAll('a', 'b');
    fail('GC', { code: 999, msg: 'gc exploded' });
    const out = await run('GC', { ...c11(), 'cni.dev/valid-attachments': attach('a') });
    expect(errorOf(out)).toMatchObject({ code: 999, msg: 'gc exploded' });
    expect(fs.readdirSync(dataDir)).toEqual(['a']);
  });

  it('refuses a malformed attachment list before touching anything', async () => {
    await addAll('a');
    const out = await run('GC', { ...c11(), 'cni.dev/valid-attachments': [{ ifname: 'eth0' }] });
    expect(errorOf(out).code).toBe(7);
    expect(fs.readdirSync(dataDir)).toEqual(['a']);
    expect(recorded().filter((x) => x.verb === 'GC')).toEqual([]);
  });
});
