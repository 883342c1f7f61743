// ipMasq against real iptables, always inside a throwaway netns: the product code
// runs under inNetns, the assertions under `ip netns exec`, so the machine's own
// tables are never read or written. Runs once per iptables flavour present
// (the default, nft on current distros, and iptables-legacy).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { masqChainName, masqComment, splitSaveLine } from '../../lib/masq/rules';
import { setupIpMasq, teardownIpMasq } from '../../lib/masq/iptables';
import { openNetns } from '../../lib/netns';
import { CniError, Code } from '../../lib/cni/errors';

const isRoot = process.getuid?.() === 0;
const REF_BRIDGE = '/usr/lib/cni/bridge';

// The chain and lines the reference bridge plugin (v1.1.1) produced for network
// "mynet", CNI_CONTAINERID "ctr-abc123", addresses 10.244.1.2/24 and fd00:10:244:1::2/64.
const C = 'CNI-b35254af8ad75f5ce3aedbb9';
const CM = '-m comment --comment "name: \\"mynet\\" id: \\"ctr-abc123\\""';
const REF_V4 = [
  `-N ${C}`,
  `-A POSTROUTING -s 10.244.1.2/32 ${CM} -j ${C}`,
  `-A ${C} -d 10.244.1.0/24 ${CM} -j ACCEPT`,
  `-A ${C} ! -d 224.0.0.0/4 ${CM} -j MASQUERADE`,
];
const REF_V6 = [
  `-N ${C}`,
  `-A POSTROUTING -s fd00:10:244:1::2/128 ${CM} -j ${C}`,
  `-A ${C} -d fd00:10:244:1::/64 ${CM} -j ACCEPT`,
  `-A ${C} ! -d ff00::/8 ${CM} -j MASQUERADE`,
];
const DUAL = { network: 'mynet', containerId: 'ctr-abc123', ips: ['10.244.1.2/24', 'fd00:10:244:1::2/64'] };

function sh(argv: string[], input?: string, env?: NodeJS.ProcessEnv): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input, env: env ?? process.env });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const legacyDir = ((): string | undefined => {
  if (!isRoot || !fs.existsSync('/usr/sbin/iptables-legacy') || !fs.existsSync('/usr/sbin/ip6tables-legacy')) return undefined;
  // Named "iptables"/"ip6tables" in a directory put first in PATH, exactly how an
  // operator's PATH would pick the legacy flavour.
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cnitest-masq-legacy-'));
  fs.symlinkSync('/usr/sbin/iptables-legacy', path.join(d, 'iptables'));
  fs.symlinkSync('/usr/sbin/ip6tables-legacy', path.join(d, 'ip6tables'));
  return d;
})();

afterAll(() => {
  if (legacyDir) fs.rmSync(legacyDir, { recursive: true, force: true });
});

const flavours: { name: string; dir: string | undefined }[] = [{ name: 'default iptables', dir: undefined }];
if (legacyDir) flavours.push({ name: 'iptables-legacy', dir: legacyDir });

describe.skipIf(!isRoot).each(flavours)('ipMasq with $name (root, throwaway netns)', ({ dir }) => {
  let ns = '';
  let savedPath: string | undefined;
  const bin = (family: 4 | 6): string => path.join(dir ?? '/usr/sbin', family === 4 ? 'iptables' : 'ip6tables');

  beforeEach(() => {
    ns = `cnitest-masq-${process.pid}-${randomBytes(3).toString('hex')}`;
    sh(['ip', 'netns', 'add', ns]);
    savedPath = process.env.PATH;
    if (dir) process.env.PATH = `${dir}:${savedPath ?? ''}`;
  });

  afterEach(() => {
    process.env.PATH = savedPath;
    spawnSync('ip', ['netns', 'del', ns]);
  });

  const inNs = <T>(fn: () => T extends PromiseLike<unknown> ? never : T): T => {
    const { ns: h, value } = openNetns(`/run/netns/${ns}`, fn);
    h.close();
    return value;
  };

  /** `iptables -t nat -S` in the test netns, without the built-in chains' policies. */
  const nat = (family: 4 | 6, where = ns): string[] =>
    sh(['ip', 'netns', 'exec', where, bin(family), '-w', '-t', 'nat', '-S'])
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-P '));

  const iptIn = (family: 4 | 6, ...args: string[]): void => {
    sh(['ip', 'netns', 'exec', ns, bin(family), '-w', '-t', 'nat', ...args]);
  };

  it('installs exactly the reference rules, v4 and v6, and a second setup adds nothing', () => {
    inNs(() => setupIpMasq(DUAL));
    expect(nat(4)).toEqual(REF_V4);
    expect(nat(6)).toEqual(REF_V6);
    inNs(() => setupIpMasq(DUAL));
    expect(nat(4)).toEqual(REF_V4);
    expect(nat(6)).toEqual(REF_V6);
  });

  it('teardown with the addresses removes everything, also the pre-1.0 jump, and can run again', () => {
    inNs(() => setupIpMasq(DUAL));
    iptIn(4, '-A', 'POSTROUTING', '-s', '10.244.1.2/24', '-j', C, '-m', 'comment', '--comment', 'name: "mynet" id: "ctr-abc123"');
    expect(nat(4)).toContain(`-A POSTROUTING -s 10.244.1.0/24 ${CM} -j ${C}`);
    inNs(() => teardownIpMasq(DUAL));
    expect(nat(4)).toEqual([]);
    expect(nat(6)).toEqual([]);
    inNs(() => teardownIpMasq(DUAL));
    inNs(() => teardownIpMasq({ ...DUAL, ips: [] }));
    expect(nat(4)).toEqual([]);
  });

  it('teardown without addresses (DEL with no netns, plugins#810) removes chain and jumps in both families', () => {
    inNs(() => setupIpMasq(DUAL));
    // a jump without our comment, made by hand or by some other tool, still pins the chain
    iptIn(4, '-A', 'POSTROUTING', '-s', '10.244.1.99', '-j', C);
    inNs(() => teardownIpMasq({ ...DUAL, ips: [] }));
    expect(nat(4)).toEqual([]);
    expect(nat(6)).toEqual([]);
    inNs(() => teardownIpMasq({ ...DUAL, ips: [] }));
  });

  it('teardown with an address the rules were not made for still removes the chain', () => {
    inNs(() => setupIpMasq({ ...DUAL, ips: ['10.244.1.2/24'] }));
    inNs(() => teardownIpMasq({ ...DUAL, ips: ['10.244.1.77/24'] }));
    expect(nat(4)).toEqual([]);
  });

  it('keeps two containers independent and leaves unrelated rules alone', () => {
    iptIn(4, '-A', 'POSTROUTING', '-o', 'eth9', '-j', 'MASQUERADE');
    const a = { network: 'mynet', containerId: 'ctr-abc123', ips: ['10.244.1.2/24'] };
    const b = { network: 'mynet', containerId: 'ctr-def456', ips: ['10.244.1.3/24'] };
    inNs(() => setupIpMasq(a));
    inNs(() => setupIpMasq(b));
    const cb = masqChainName('mynet', 'ctr-def456');
    const cmB = '-m comment --comment "name: \\"mynet\\" id: \\"ctr-def456\\""';
    const onlyB = [
      `-N ${cb}`,
      '-A POSTROUTING -o eth9 -j MASQUERADE',
      `-A POSTROUTING -s 10.244.1.3/32 ${cmB} -j ${cb}`,
      `-A ${cb} -d 10.244.1.0/24 ${cmB} -j ACCEPT`,
      `-A ${cb} ! -d 224.0.0.0/4 ${cmB} -j MASQUERADE`,
    ];
    expect(nat(4)).toHaveLength(4 + onlyB.length);
    inNs(() => teardownIpMasq(a));
    expect(nat(4)).toEqual(onlyB);
    inNs(() => teardownIpMasq({ ...b, ips: [] }));
    expect(nat(4)).toEqual(['-A POSTROUTING -o eth9 -j MASQUERADE']);
  });

  it('a container ID that pushes the comment past 255 bytes: setup, re-setup and teardown all work', () => {
    const long = { network: 'mynet', containerId: `ctr-${'x'.repeat(400)}`, ips: ['10.244.1.2/24', 'fd00:10:244:1::2/64'] };
    const chain = masqChainName(long.network, long.containerId);
    inNs(() => setupIpMasq(long));
    const cut = masqComment(long.network, long.containerId);
    expect(Buffer.byteLength(cut)).toBe(255);
    for (const family of [4, 6] as const) {
      const rules = nat(family).filter((l) => l.startsWith('-A '));
      expect(rules).toHaveLength(3);
      // What iptables stored is exactly the comment we pass (so -C and -D match it).
      for (const l of rules) expect(splitSaveLine(l)[splitSaveLine(l).indexOf('--comment') + 1]).toBe(cut);
      expect(nat(family)).toContain(`-N ${chain}`);
    }
    inNs(() => setupIpMasq(long));
    expect(nat(4).filter((l) => l.startsWith('-A '))).toHaveLength(3);
    inNs(() => teardownIpMasq(long));
    expect(nat(4)).toEqual([]);
    expect(nat(6)).toEqual([]);
  });

  it('puts a second same-family subnet ACCEPT before the MASQUERADE', () => {
    inNs(() => setupIpMasq({ ...DUAL, ips: ['10.244.1.2/24', '10.250.0.2/16'] }));
    expect(nat(4).filter((l) => l.startsWith(`-A ${C} `)).map((l) => l.split(' -m ')[0])).toEqual([
      `-A ${C} -d 10.244.1.0/24`,
      `-A ${C} -d 10.250.0.0/16`,
      `-A ${C} ! -d 224.0.0.0/4`,
    ]);
    inNs(() => teardownIpMasq({ ...DUAL, ips: ['10.244.1.2/24', '10.250.0.2/16'] }));
    expect(nat(4)).toEqual([]);
  });
});

describe.skipIf(!isRoot)('ipMasq failures (root, throwaway netns, fake iptables)', () => {
  let ns = '';
  let fake = '';
  let savedPath: string | undefined;

  beforeEach(() => {
    ns = `cnitest-masq-${process.pid}-${randomBytes(3).toString('hex')}`;
    sh(['ip', 'netns', 'add', ns]);
    // Both names are faked so a mistake can never reach the real binaries.
    fake = fs.mkdtempSync(path.join(os.tmpdir(), 'cnitest-masq-fake-'));
    for (const n of ['iptables', 'ip6tables']) {
      fs.writeFileSync(path.join(fake, n), '#!/bin/sh\necho "$0: boom: $*" >&2\necho "Try \\`iptables -h\' for help" >&2\nexit 4\n', { mode: 0o755 });
    }
    savedPath = process.env.PATH;
    process.env.PATH = fake;
  });

  afterEach(() => {
    process.env.PATH = savedPath;
    spawnSync('/usr/sbin/ip', ['netns', 'del', ns]);
    fs.rmSync(fake, { recursive: true, force: true });
  });

  const inNs = (fn: () => void): void => openNetns(`/run/netns/${ns}`, fn).ns.close();

  const caught = (fn: () => void): CniError => {
    try {
      inNs(fn);
    } catch (err) {
      if (err instanceof CniError) return err;
      throw err;
    }
    throw new Error('expected a CniError');
  };

  it('setup names the address, the command and its stderr', () => {
    const e = caught(() => setupIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips: ['10.244.1.5/24'] }));
    expect(e.code).toBe(Code.Internal);
    expect(e.message).toBe(
      `failed to set up IP masquerading for 10.244.1.5/24: iptables -w -t nat -N ${C}: ${path.join(fake, 'iptables')}: boom: -w -t nat -N ${C}`,
    );
  });

  it('teardown reports every failure together', () => {
    const e = caught(() => teardownIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips: ['10.244.1.5/24'] }));
    const cm = `-m comment --comment 'name: "mynet" id: "ctr-abc123"'`;
    const fakeIpt = path.join(fake, 'iptables');
    expect(e.code).toBe(Code.Internal);
    expect(e.message.split('; ')).toEqual(
      [
        `-D POSTROUTING -s 10.244.1.5 -j ${C} ${cm}`,
        `-D POSTROUTING -s 10.244.1.5/24 -j ${C} ${cm}`,
        `-F ${C}`,
        `-X ${C}`,
      ].map((rest) => {
        const unquoted = rest.replace(`'name: "mynet" id: "ctr-abc123"'`, 'name: "mynet" id: "ctr-abc123"');
        return `failed to tear down IP masquerading for 10.244.1.5/24: iptables -w -t nat ${rest}: ${fakeIpt}: boom: -w -t nat ${unquoted}`;
      }),
    );
  });

  it('teardown without addresses does not fail when the tables cannot even be listed', () => {
    inNs(() => teardownIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips: [] }));
  });

  it('rejects an address without a prefix on setup', () => {
    const e = caught(() => setupIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips: ['10.244.1.5'] }));
    expect(e.message).toMatch(/invalid container address "10.244.1.5"/);
  });
});

describe.skipIf(!isRoot || !fs.existsSync(REF_BRIDGE))('interop with the reference bridge plugin (root, throwaway netns)', () => {
  const names: string[] = [];
  let dataDir = '';

  beforeEach(() => {
    const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
    names.push(`cnitest-masq-h-${tag}`, `cnitest-masq-c-${tag}`, `cnitest-masq-o-${tag}`);
    for (const n of names) sh(['ip', 'netns', 'add', n]);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnitest-masq-ipam-'));
  });

  afterEach(() => {
    for (const n of names.splice(0)) spawnSync('ip', ['netns', 'del', n]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const nat = (family: 4 | 6, where: string): string[] =>
    sh(['ip', 'netns', 'exec', where, family === 4 ? 'iptables' : 'ip6tables', '-w', '-t', 'nat', '-S'])
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('-P '));

  it('makes byte-identical rules, and removes the reference plugin\'s rules without knowing the addresses', () => {
    const [host, ctr, ours] = names;
    const conf = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'mynet',
      type: 'bridge',
      bridge: 'cni0',
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]] },
    });
    const env = { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'ctr-abc123', CNI_NETNS: `/run/netns/${ctr}`, CNI_IFNAME: 'eth0', CNI_PATH: path.dirname(REF_BRIDGE) };
    const result = JSON.parse(sh(['ip', 'netns', 'exec', host, REF_BRIDGE], conf, env)) as { ips: { address: string }[] };
    const ips = result.ips.map((i) => i.address);
    expect(ips).toEqual(DUAL.ips);

    openNetns(`/run/netns/${ours}`, () => setupIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips })).ns.close();
    expect(nat(4, ours)).toEqual(nat(4, host));
    expect(nat(6, ours)).toEqual(nat(6, host));
    expect(nat(4, host)).toEqual(REF_V4);

    openNetns(`/run/netns/${host}`, () => teardownIpMasq({ network: 'mynet', containerId: 'ctr-abc123', ips: [] })).ns.close();
    expect(nat(4, host)).toEqual([]);
    expect(nat(6, host)).toEqual([]);
  });
});
