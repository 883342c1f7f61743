// Hostile input against the BUILT dist/bridge and dist/flannel, run inside a throwaway
// "node" namespace (issue "Nothing lost, nobody in"). Every case: one error JSON on
// stdout with the right code and a message naming the field, exit status 1, and nothing
// left behind (no link, reservation, scratch file, nor any file outside the data dirs).
//
// Decided behaviour for symbolic links (asserted below):
// - flannel `dataDir` or `ipam.dataDir` that is (or sits under) a symlink: followed once, as
//   the reference follows it (a data disk mounted elsewhere); everything then happens
//   inside the resolved directory.
// - a scratch file replaced by a symlink: never followed (rename replaces the link, reads
//   use O_NOFOLLOW).
// - inside the store, `<dataDir>/<net>` (or its `lock`) that is a symlink: refused, code 7
//   naming the path; DEL through such a config writes nothing there and succeeds
//   (lib/ipam/disk-store.ts).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Netns, distDir, isRoot, runPlugin, sh, tempDir, type CniEnv, type PluginRun } from '../helpers/ns';

const NET = 'hostnet';
const BR = 'cnihost0';
const BR2 = 'cnihostb0';
const GOOD_ENV = 'FLANNEL_NETWORK=10.95.0.0/16\nFLANNEL_SUBNET=10.95.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';
const MIB = 1024 * 1024;

describe.skipIf(!isRoot)('hostile input (built plugins, real namespaces)', () => {
  let node: Netns;
  let pod: Netns;
  let state: string;
  let outside: string;
  let subnetEnv: string;

  const ipamDir = () => path.join(state, 'networks');
  const flannelDir = () => path.join(state, 'flannel');
  const flannel = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: NET,
    type: 'flannel',
    subnetFile: subnetEnv,
    dataDir: flannelDir(),
    ipam: { dataDir: ipamDir() },
    delegate: { bridge: BR },
    ...extra,
  });
  const bridge = (extra: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: NET,
    type: 'bridge',
    // Its own bridge: the flannel cases put 10.95.3.1 on BR, and a second gateway would conflict.
    bridge: BR2,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: ipamDir(), ranges: [[{ subnet: '10.96.0.0/24' }]], ...ipam },
    ...extra,
  });
  const addEnv = (over: Partial<CniEnv> = {}): CniEnv => ({ command: 'ADD', containerId: 'host1', netns: pod.path, ifName: 'eth0', ...over });
  const delEnv = (over: Partial<CniEnv> = {}): CniEnv => addEnv({ command: 'DEL', ...over });

  /** Every regular file (or link) under `dir`, recursively, relative to it. */
  function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
      .filter((d) => !d.isDirectory())
      .map((d) => path.relative(dir, path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name)));
  }
  const leftovers = () => ({
    links: pod.json<{ ifname: string }[]>('link show').map((l) => l.ifname).filter((n) => n !== 'lo'),
    veths: node.json<{ ifname: string }[]>('link show type veth').map((l) => l.ifname),
    ips: filesUnder(ipamDir()).filter((f) => !/(^|\/)(lock|boot_id|bridge_gateways|last_reserved_ip\.\d+)$/.test(f)),
    scratch: filesUnder(flannelDir()),
    outside: filesUnder(outside),
  });
  const CLEAN = { links: [], veths: [], ips: [], scratch: [], outside: [] };

  /** The refusal every case must end in. */
  function expectRefused(r: PluginRun, code: number, text: string | RegExp): void {
    expect(r.status, `exit status; stdout=${r.stdout} stderr=${r.stderr}`).toBe(1);
    expect(r.stdout.trim().split('\n'), r.stdout).toHaveLength(1);
    expect(r.json, r.stdout + r.stderr).toMatchObject({ code, msg: typeof text === 'string' ? expect.stringContaining(text) : expect.stringMatching(text) });
    expect(Number.isInteger(r.json.code)).toBe(true);
    expect(leftovers()).toEqual(CLEAN);
  }

  /** Like runPlugin, with a cwd, a umask and a timeout (for the cases that need them). */
  function runRaw(plugin: string, env: CniEnv, stdin: string | object, opts: { cwd?: string; umask?: string; timeoutMs?: number } = {}): PluginRun & { timedOut: boolean } {
    const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: env.command, CNI_PATH: env.path ?? distDir };
    if (env.containerId !== undefined) e.CNI_CONTAINERID = env.containerId;
    if (env.netns !== undefined) e.CNI_NETNS = env.netns;
    if (env.ifName !== undefined) e.CNI_IFNAME = env.ifName;
    if (env.args !== undefined) e.CNI_ARGS = env.args;
    const argv = ['netns', 'exec', node.name, 'sh', '-c', `umask ${opts.umask ?? '022'}; exec "$0"`, path.join(distDir, plugin)];
    const r = spawnSync('ip', argv, { input: typeof stdin === 'string' ? stdin : JSON.stringify(stdin), env: e, cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 20_000 });
    let json: unknown;
    try {
      json = r.stdout ? JSON.parse(r.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json, timedOut: (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' };
  }

  /** A script that proves it ran by writing `marker`, and answers like an IPAM plugin. */
  function planted(file: string, marker: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `#!/bin/sh\necho ran >> ${marker}\necho '{"cniVersion":"1.0.0","ips":[{"address":"10.96.0.77/24"}]}'\n`, { mode: 0o755 });
  }

  beforeAll(() => {
    node = Netns.create('cnit-host-node-');
    pod = Netns.create('cnit-host-pod-');
    state = tempDir('cnit-host-');
    outside = tempDir('cnit-host-outside-');
    subnetEnv = path.join(state, 'subnet.env');
    fs.writeFileSync(subnetEnv, GOOD_ENV);
    // One good ADD/DEL first: the shared bridge exists from here on, and the setup is proven sound.
    const add = runPlugin(node, 'flannel', addEnv(), flannel());
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(runPlugin(node, 'flannel', delEnv(), flannel()).status).toBe(0);
    expect(leftovers()).toEqual(CLEAN);
  });
  // A case that leaked (the test itself fails on it) must not fail every later case too:
  // scrub whatever is left, by hand.
  afterEach(() => {
    if (!node || !pod) return;
    const left = leftovers();
    for (const l of left.links) sh(['ip', '-n', pod.name, 'link', 'del', l], { allowFail: true });
    for (const l of left.veths) sh(['ip', '-n', node.name, 'link', 'del', l], { allowFail: true });
    for (const f of left.ips) fs.rmSync(path.join(ipamDir(), f), { force: true });
    for (const f of left.scratch) fs.rmSync(path.join(flannelDir(), f), { force: true });
    for (const f of fs.readdirSync(outside)) fs.rmSync(path.join(outside, f), { recursive: true, force: true });
    fs.writeFileSync(subnetEnv, GOOD_ENV);
  });
  afterAll(() => {
    pod?.destroy();
    node?.destroy();
    if (state) fs.rmSync(state, { recursive: true, force: true });
    if (outside) fs.rmSync(outside, { recursive: true, force: true });
  });

  /** Run `fn`; whatever happens, DEL the attachment and empty `outside` so the next case starts clean. */
  function withCleanup(fn: () => void, conf: () => object, plugin = 'bridge', env: Partial<CniEnv> = {}): void {
    try {
      fn();
    } finally {
      runPlugin(node, plugin, delEnv(env), conf());
      for (const f of fs.readdirSync(outside)) fs.rmSync(path.join(outside, f), { recursive: true, force: true });
      fs.writeFileSync(subnetEnv, GOOD_ENV);
    }
  }

  // ------------------------------------------------------------ names that become paths

  describe('names that become paths are refused before any path is built', () => {
    const long = 'n'.repeat(256);
    it.each([
      ['network name "../escape"', 'flannel', {}, { name: '../escape' }, 7, 'network name'],
      ['network name "a/../../x"', 'bridge', {}, { name: 'a/../../x' }, 7, 'network name'],
      ['network name with a NUL', 'bridge', {}, { name: 'net\u0000x' }, 7, 'network name'],
      ['network name of 256 bytes', 'flannel', {}, { name: long }, 7, 'network name'],
      ['container id ".."', 'flannel', { containerId: '..' }, {}, 4, 'containerID'],
      ['container id "a/../../x"', 'bridge', { containerId: 'a/../../x' }, {}, 4, 'containerID'],
      ['container id of 300 bytes (flannel saves it as a file name)', 'flannel', { containerId: 'c'.repeat(300) }, {}, 4, 'container ID'],
      ['ifname ".."', 'flannel', { ifName: '..' }, {}, 4, 'interface name'],
      ['ifname "a/b"', 'bridge', { ifName: 'a/b' }, {}, 4, 'interface name'],
      ['ifname with ":"', 'bridge', { ifName: 'eth:0' }, {}, 4, 'interface name'],
    ] as const)('%s', (_what, plugin, over, merge, code, text) => {
      const r = runPlugin(node, plugin, addEnv(over), { ...(plugin === 'flannel' ? flannel() : bridge()), ...merge });
      expectRefused(r, code, text);
      // Nothing named after the hostile input appeared next to the data dirs either.
      expect(fs.readdirSync(state).sort()).toEqual(['flannel', 'networks', 'subnet.env']);
    });

    it('a network name of 255 bytes is fine and makes a 255-byte directory', () => {
      const name = 'n'.repeat(255);
      withCleanup(
        () => {
          const add = runPlugin(node, 'bridge', addEnv(), bridge({ name }));
          expect(add.status, add.stdout).toBe(0);
          expect(fs.readdirSync(path.join(ipamDir(), name))).toContain('10.96.0.2');
        },
        () => bridge({ name }),
      );
      expect(leftovers()).toEqual(CLEAN);
    });

    it('a 300-byte container id is fine for bridge (it is only file content there)', () => {
      const containerId = 'c'.repeat(300);
      withCleanup(
        () => {
          const add = runPlugin(node, 'bridge', addEnv({ containerId }), bridge());
          expect(add.status, add.stdout).toBe(0);
          expect(fs.readFileSync(path.join(ipamDir(), NET, '10.96.0.2'), 'utf8')).toBe(`${containerId}\r\neth0`);
        },
        bridge,
        'bridge',
        { containerId },
      );
      expect(leftovers()).toEqual(CLEAN);
    });
  });

  // ------------------------------------------------------------ symlinks and modes

  describe('symbolic links never carry a write outside the data directory', () => {
    it('flannel dataDir that is a symlink (a data disk mounted elsewhere) is followed, as the reference does: ADD and DEL work there', () => {
      fs.mkdirSync(path.join(outside, 'fl'));
      const link = path.join(state, 'flannel-link');
      fs.symlinkSync(path.join(outside, 'fl'), link);
      try {
        const conf = flannel({ dataDir: link });
        const add = runPlugin(node, 'flannel', addEnv(), conf);
        expect(add.status, add.stdout + add.stderr).toBe(0);
        expect(fs.readdirSync(path.join(outside, 'fl'))).toEqual(['host1']);
        const del = runPlugin(node, 'flannel', delEnv(), conf);
        expect(del.status, del.stdout + del.stderr).toBe(0);
        expect(fs.readdirSync(path.join(outside, 'fl'))).toEqual([]);
        expect(leftovers()).toEqual(CLEAN);
      } finally {
        fs.rmSync(link);
        fs.rmSync(path.join(outside, 'fl'), { recursive: true });
      }
    });

    it('a scratch file replaced by a symlink to an outside file: ADD replaces the link, the target is untouched', () => {
      const target = path.join(outside, 'precious');
      fs.writeFileSync(target, 'keep me');
      fs.mkdirSync(flannelDir(), { recursive: true, mode: 0o700 });
      fs.symlinkSync(target, path.join(flannelDir(), 'host1'));
      withCleanup(
        () => {
          // DEL first: it must not read the target as a config, nor delete it.
          expect(runPlugin(node, 'flannel', delEnv(), flannel()).status).toBe(0);
          expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
          fs.rmSync(path.join(flannelDir(), 'host1'), { force: true });
          fs.symlinkSync(target, path.join(flannelDir(), 'host1'));
          const add = runPlugin(node, 'flannel', addEnv(), flannel());
          expect(add.status, add.stdout + add.stderr).toBe(0);
          expect(fs.lstatSync(path.join(flannelDir(), 'host1')).isFile()).toBe(true);
          expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
          expect(runPlugin(node, 'flannel', delEnv(), flannel()).status).toBe(0);
          expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
          fs.rmSync(target);
          expect(leftovers()).toEqual(CLEAN);
        },
        flannel,
        'flannel',
      );
    });

    it('ipam.dataDir that is a symlink is followed (resolved once, as the reference does): ADD, and DEL of a reservation made there', () => {
      fs.mkdirSync(path.join(outside, 'ipam'));
      const link = path.join(state, 'ipam-link');
      fs.symlinkSync(path.join(outside, 'ipam'), link);
      const conf = () => bridge({}, { dataDir: link });
      try {
        const add = runPlugin(node, 'bridge', addEnv(), conf());
        expect(add.status, add.stdout + add.stderr).toBe(0);
        const ip = add.json.ips[0].address.split('/')[0];
        expect(fs.readFileSync(path.join(outside, 'ipam', NET, ip), 'latin1')).toBe('host1\r\neth0');
        const del = runPlugin(node, 'bridge', delEnv(), conf());
        expect(del.status, del.stdout + del.stderr).toBe(0);
        expect(fs.readdirSync(path.join(outside, 'ipam', NET)).filter((f) => /^[0-9a-f.:]+$/.test(f))).toEqual([]);
      } finally {
        runPlugin(node, 'bridge', delEnv(), bridge());
        fs.rmSync(link);
        fs.rmSync(path.join(outside, 'ipam'), { recursive: true, force: true });
      }
    });

    it('<dataDir>/<net> that is a symlink pointing outside is refused (code 7 naming it); DEL succeeds writing nothing', () => {
      const dataDir = path.join(state, 'networks2');
      fs.mkdirSync(dataDir);
      fs.mkdirSync(path.join(outside, 'net'));
      fs.symlinkSync(path.join(outside, 'net'), path.join(dataDir, NET));
      const conf = () => bridge({}, { dataDir });
      try {
        withCleanup(() => {
          expectRefused(runPlugin(node, 'bridge', addEnv(), conf()), 7, path.join(dataDir, NET));
          expect(runPlugin(node, 'bridge', delEnv(), conf()).status).toBe(0);
          expect(fs.readdirSync(path.join(outside, 'net'))).toEqual([]);
        }, conf);
      } finally {
        fs.rmSync(dataDir, { recursive: true });
      }
    });

    it('<dataDir>/<net>/lock that is a symlink: code 7 naming it, its target never created', () => {
      const dataDir = path.join(state, 'networks3');
      fs.mkdirSync(path.join(dataDir, NET), { recursive: true });
      const target = path.join(outside, 'made-by-open');
      fs.symlinkSync(target, path.join(dataDir, NET, 'lock'));
      try {
        expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({}, { dataDir })), 7, path.join(dataDir, NET, 'lock'));
        expect(fs.existsSync(target)).toBe(false);
      } finally {
        fs.rmSync(dataDir, { recursive: true });
      }
    });

    it.each(['000', '077'])('IP files are canonical, 0600, in a 0755 network dir; flannel dataDir 0700, scratch 0600 (umask %s)', (umask) => {
      const v6 = flannel({ ipam: { dataDir: ipamDir() } });
      fs.writeFileSync(subnetEnv, `${GOOD_ENV}FLANNEL_IPV6_NETWORK=FD00:95::/48\nFLANNEL_IPV6_SUBNET=FD00:95:0:3::1/64\n`);
      fs.rmSync(flannelDir(), { recursive: true, force: true });
      fs.rmSync(path.join(ipamDir(), NET), { recursive: true, force: true });
      withCleanup(
        () => {
          const add = runRaw('flannel', addEnv({ args: 'IgnoreUnknown=1;IP=FD00:95:0:3:0000::00AB' }), v6, { umask });
          expect(add.status, add.stdout + add.stderr).toBe(0);
          const dir = path.join(ipamDir(), NET);
          expect(fs.statSync(dir).mode & 0o777).toBe(0o755);
          const files = fs.readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f));
          expect(files.sort()).toEqual(['10.95.3.2', 'fd00:95:0:3::ab']);
          for (const f of fs.readdirSync(dir).filter((x) => x !== 'lock')) expect(fs.statSync(path.join(dir, f)).mode & 0o777, f).toBe(0o600);
          expect(fs.statSync(flannelDir()).mode & 0o777).toBe(0o700);
          expect(fs.statSync(path.join(flannelDir(), 'host1')).mode & 0o777).toBe(0o600);
        },
        () => v6,
        'flannel',
      );
      expect(leftovers()).toEqual(CLEAN);
    });
  });

  // ------------------------------------------------------------ stdin size and depth

  describe('stdin that is too big or too deep', () => {
    it('64 MiB on stdin: code 6 quickly, and the plugin stops reading (the writer gets EPIPE)', async () => {
      const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'host1', CNI_NETNS: pod.path, CNI_IFNAME: 'eth0', CNI_PATH: distDir };
      const child = spawn('ip', ['netns', 'exec', node.name, path.join(distDir, 'bridge')], { env: e, stdio: ['pipe', 'pipe', 'pipe'] });
      const t0 = Date.now();
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      let written = 0;
      let writerError: string | undefined;
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const writer = (async () => {
        // A generator of 64 MiB in 64 KiB chunks, honouring back-pressure like a real runtime.
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        child.stdin.on('error', (err: NodeJS.ErrnoException) => (writerError = err.code ?? err.message));
        while (written < 64 * MIB && !writerError && !child.stdin.destroyed) {
          const ok = child.stdin.write(chunk);
          written += chunk.length;
          if (!ok) await Promise.race([new Promise((r) => child.stdin.once('drain', r)), exited, new Promise((r) => setTimeout(r, 2000))]);
        }
      })();
      const code = await exited;
      await writer;
      const elapsed = Date.now() - t0;
      expect(code).toBe(1);
      expect(JSON.parse(stdout)).toMatchObject({ code: 6, msg: expect.stringMatching(/stdin is larger than 1048576 bytes/) });
      // It read a little over 1 MiB and quit: the writer never got near 64 MiB.
      expect(written).toBeLessThan(8 * MIB);
      expect(writerError ?? (child.stdin.destroyed ? 'EPIPE' : undefined)).toBe('EPIPE');
      expect(elapsed).toBeLessThan(5000);
      expect(leftovers()).toEqual(CLEAN);
    });

    it('1e6 "[" on stdin: code 6', () => {
      const t0 = Date.now();
      expectRefused(runPlugin(node, 'flannel', addEnv(), '['.repeat(1_000_000)), 6, 'decode');
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    it('a config nesting 400k levels under delegate: code 6 naming the nesting, not a 999 stack overflow', () => {
      const conf = JSON.stringify(flannel()).replace('"delegate":{', `"delegate":{"x":${'['.repeat(400_000)}${']'.repeat(400_000)},`);
      expect(conf.length).toBeLessThan(MIB);
      expectRefused(runPlugin(node, 'flannel', addEnv(), conf), 6, 'nested deeper than 512 levels');
    });

    it('a subnetFile that is a 256 MiB (sparse) file: code 7, not read into memory', () => {
      const big = path.join(state, 'big.env');
      fs.writeFileSync(big, GOOD_ENV);
      fs.truncateSync(big, 256 * MIB);
      try {
        const t0 = Date.now();
        expectRefused(runPlugin(node, 'flannel', addEnv(), flannel({ subnetFile: big })), 7, 'subnetFile');
        expect(Date.now() - t0).toBeLessThan(5000);
      } finally {
        fs.rmSync(big);
      }
    });

    it('a subnetFile that is a FIFO nobody writes: code 7 at once, no hang', () => {
      const fifo = path.join(state, 'fifo.env');
      sh(['mkfifo', fifo]);
      try {
        const r = runRaw('flannel', addEnv(), flannel({ subnetFile: fifo }), { timeoutMs: 10_000 });
        expect(r.timedOut).toBe(false);
        expectRefused(r, 7, 'not a regular file');
      } finally {
        fs.rmSync(fifo);
      }
    });

    // readResolvConf used readFileSync: a FIFO blocked ADD forever (and /dev/zero would be
    // read until memory ran out). Now: regular files of at most 64 KiB, opened O_NONBLOCK.
    it('ipam.resolvConf that is a FIFO: refused at once, no hang', () => {
      const fifo = path.join(state, 'resolv.fifo');
      sh(['mkfifo', fifo]);
      try {
        withCleanup(() => {
          const r = runRaw('bridge', addEnv(), bridge({}, { resolvConf: fifo }), { timeoutMs: 3000 });
          expect(r.timedOut).toBe(false);
          expectRefused(r, 7, 'resolvConf');
        }, bridge);
      } finally {
        fs.rmSync(fifo);
      }
    });

    it.each(['resolv.zero', 'resolv.big'])('ipam.resolvConf that is %s: code 7 naming resolvConf, not read into memory', (kind) => {
      const file = path.join(state, kind);
      if (kind === 'resolv.zero') fs.symlinkSync('/dev/zero', file); // a symlink is followed, the device is refused
      else {
        fs.writeFileSync(file, 'nameserver 10.0.0.1\n');
        fs.truncateSync(file, 256 * MIB); // sparse
      }
      try {
        const t0 = Date.now();
        expectRefused(runRaw('bridge', addEnv(), bridge({}, { resolvConf: file }), { timeoutMs: 5000 }), 7, 'resolvConf');
        expect(Date.now() - t0).toBeLessThan(5000);
      } finally {
        fs.rmSync(file);
      }
    });

    // tryOpenNetns opened without O_NONBLOCK: a CNI_NETNS that was a FIFO blocked the open
    // forever, for ADD and for DEL.
    it.each(['bridge', 'flannel'])('CNI_NETNS that is a FIFO: %s ADD refused at once (code 4 naming CNI_NETNS), no hang', (plugin) => {
      const fifo = path.join(state, 'netns.fifo');
      sh(['mkfifo', fifo]);
      try {
        const r = runRaw(plugin, addEnv({ netns: fifo }), plugin === 'flannel' ? flannel() : bridge(), { timeoutMs: 3000 });
        expect(r.timedOut).toBe(false);
        expectRefused(r, 4, 'CNI_NETNS');
        expect(r.json.msg).toContain('is a FIFO');
      } finally {
        fs.rmSync(fifo);
      }
    });

    it.each(['a directory', 'a character device'])('CNI_NETNS that is %s: code 4 naming CNI_NETNS', (kind) => {
      const netns = kind === 'a directory' ? state : '/dev/null';
      expectRefused(runPlugin(node, 'bridge', addEnv({ netns }), bridge()), 4, `CNI_NETNS "${netns}" is not a network namespace: it is ${kind}`);
    });

    it('CNI_NETNS that is a regular file, not a namespace: code 4 naming it, nothing created', () => {
      const file = path.join(state, 'not-a-netns');
      fs.writeFileSync(file, '');
      try {
        expectRefused(runPlugin(node, 'bridge', addEnv({ netns: file }), bridge()), 4, `CNI_NETNS "${file}" is not a network namespace`);
        // Another kind of namespace is not a network namespace either.
        expectRefused(runPlugin(node, 'bridge', addEnv({ netns: '/proc/self/ns/mnt' }), bridge()), 4, 'is not a network namespace');
      } finally {
        fs.rmSync(file);
      }
    });

    // DEL must succeed when the netns is unusable: nothing of ours can be inside a
    // non-namespace, and the IP reservation (outside it) must still be released.
    it.each([
      ['bridge', 'a FIFO'],
      ['bridge', 'a regular file'],
      ['flannel', 'a FIFO'],
    ] as const)('%s DEL with CNI_NETNS that is %s: succeeds at once, releases the IP, logs why', (plugin, kind) => {
      const bad = path.join(state, 'bad-netns');
      if (kind === 'a FIFO') sh(['mkfifo', bad]);
      else fs.writeFileSync(bad, '');
      const conf = () => (plugin === 'flannel' ? flannel() : bridge());
      try {
        withCleanup(
          () => {
            const add = runPlugin(node, plugin, addEnv(), conf());
            expect(add.status, add.stdout + add.stderr).toBe(0);
            expect(leftovers().ips).toHaveLength(1);
            const del = runRaw(plugin, delEnv({ netns: bad }), conf(), { timeoutMs: 5000 });
            expect(del.timedOut).toBe(false);
            expect(del.status, del.stdout + del.stderr).toBe(0);
            expect(del.stderr).toContain(`CNI_NETNS "${bad}" is not a network namespace`);
            expect(leftovers().ips).toEqual([]);
            expect(leftovers().scratch).toEqual([]);
          },
          conf,
          plugin,
        );
      } finally {
        fs.rmSync(bad);
      }
      expect(leftovers()).toEqual(CLEAN);
    });

    it("CNI_NETNS that is the plugin's own namespace: code 4", () => {
      expectRefused(runPlugin(node, 'bridge', addEnv({ netns: '/proc/self/ns/net' }), bridge()), 4, "plugin's own network namespace");
    });
  });

  // ------------------------------------------------------------ what gets executed

  describe('nothing outside an absolute CNI_PATH dir is ever executed', () => {
    const marker = () => path.join(state, 'ran.marker');
    const cwd = () => path.join(state, 'cwd');

    it('relative CNI_PATH entries (and the cwd) are skipped: the planted ipam never runs', () => {
      planted(path.join(cwd(), 'rel', 'evil-ipam'), marker());
      planted(path.join(cwd(), 'evil-ipam'), marker());
      try {
        const r = runRaw('bridge', addEnv({ path: 'rel:.::./rel' }), bridge({}, { type: 'evil-ipam' }), { cwd: cwd() });
        expectRefused(r, 7, 'failed to find plugin "evil-ipam"');
        expect(fs.existsSync(marker())).toBe(false);
      } finally {
        fs.rmSync(cwd(), { recursive: true, force: true });
      }
    });

    it('flannel with only relative CNI_PATH entries: the planted "bridge" in them never runs', () => {
      planted(path.join(cwd(), 'rel', 'bridge'), marker());
      planted(path.join(cwd(), 'bridge'), marker());
      try {
        const r = runRaw('flannel', addEnv({ path: 'rel:.' }), flannel(), { cwd: cwd() });
        expectRefused(r, 7, 'failed to find plugin "bridge"');
        expect(fs.existsSync(marker())).toBe(false);
      } finally {
        fs.rmSync(cwd(), { recursive: true, force: true });
      }
    });

    // Refused when flannel parses its config, before the scratch file is written (it used
    // to be saved, and only findInPath refused the name).
    it.each(['', '..', '.', 'evil/', '../bridge'])('flannel delegate.type %j: code 7 naming delegate.type, nothing saved', (type) => {
      expectRefused(runPlugin(node, 'flannel', addEnv(), flannel({ delegate: { type } })), 7, 'delegate.type');
      expect(fs.existsSync(path.join(flannelDir(), 'host1'))).toBe(false);
    });

    it.each([
      ['flannel delegate.type "../evil/evil"', 'flannel', { delegate: { type: '../evil/evil' } }, {}],
      ['flannel delegate.type absolute', 'flannel', { delegate: { type: '__EVIL__' } }, {}],
      ['bridge ipam.type "../evil/evil"', 'bridge', {}, { type: '../evil/evil' }],
      ['bridge ipam.type absolute', 'bridge', {}, { type: '__EVIL__' }],
      ['bridge ipam.type ".."', 'bridge', {}, { type: '..' }],
    ] as const)('a type with a "/" is never run: %s', (_what, plugin, over, ipam) => {
      const evil = path.join(state, 'evil', 'evil');
      planted(evil, marker());
      const fix = (o: object) => JSON.parse(JSON.stringify(o).replaceAll('__EVIL__', evil));
      try {
        // CNI_PATH holds an absolute dir from which "../evil/evil" would resolve to the script.
        const bin = path.join(state, 'bin');
        fs.mkdirSync(bin, { recursive: true });
        for (const p of ['bridge', 'flannel']) if (!fs.existsSync(path.join(bin, p))) fs.symlinkSync(path.join(distDir, p), path.join(bin, p));
        const conf = plugin === 'flannel' ? flannel(fix(over)) : bridge({}, fix(ipam));
        const r = runPlugin(node, plugin, addEnv({ path: bin }), conf);
        expectRefused(r, 7, 'invalid plugin type');
        expect(fs.existsSync(marker())).toBe(false);
      } finally {
        fs.rmSync(path.join(state, 'evil'), { recursive: true, force: true });
        fs.rmSync(path.join(state, 'bin'), { recursive: true, force: true });
      }
    });
  });

  // ------------------------------------------------------------ the bad-input corpus

  describe('bad-input corpus', () => {
    it.each([25, 50, 90, 99])('truncated JSON (the first %s percent of a valid config): code 6', (pct) => {
      const full = JSON.stringify(flannel());
      expectRefused(runPlugin(node, 'flannel', addEnv(), full.slice(0, Math.floor((full.length * pct) / 100))), 6, 'failed to decode');
    });

    // One wrong JSON type per field; the message must name it.
    const BRIDGE_WRONG: [string, Record<string, unknown>, string][] = [
      ['bridge', { bridge: 5 }, 'bridge'],
      ['isGateway', { isGateway: 'yes' }, 'isGateway'],
      ['isDefaultGateway', { isDefaultGateway: 1 }, 'isDefaultGateway'],
      ['forceAddress', { forceAddress: 'true' }, 'forceAddress'],
      ['ipMasq', { ipMasq: [] }, 'ipMasq'],
      ['mtu', { mtu: '1500' }, 'mtu'],
      ['hairpinMode', { hairpinMode: {} }, 'hairpinMode'],
      ['promiscMode', { promiscMode: 0 }, 'promiscMode'],
      ['portIsolation', { portIsolation: 'no' }, 'portIsolation'],
      ['enabledad', { enabledad: 1 }, 'enabledad'],
      ['ipam', { ipam: 'host-local' }, 'ipam'],
      ['ipam.type', { ipam: { type: 7 } }, 'ipam.type'],
      ['vlan', { vlan: '10' }, 'vlan'],
      ['vlanTrunk', { vlanTrunk: { id: 5 } }, 'vlanTrunk'],
      ['preserveDefaultVlan', { preserveDefaultVlan: 'yes' }, 'preserveDefaultVlan'],
      ['macspoofchk', { macspoofchk: 'true' }, 'macspoofchk'],
      ['disableContainerInterface', { disableContainerInterface: 'yes' }, 'disableContainerInterface'],
      ['ipMasqBackend', { ipMasqBackend: 5 }, 'ipmasq backend'],
      ['runtimeConfig.mac', { runtimeConfig: { mac: 5 } }, 'MAC'],
    ];
    it.each(BRIDGE_WRONG)('bridge: wrong type for %s is code 7 naming it', (_f, over, text) => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), { ...bridge(), ...over }), 7, text);
    });

    const IPAM_WRONG: [string, Record<string, unknown>, string][] = [
      ['ipam.dataDir', { dataDir: 5 }, 'dataDir'],
      ['ipam.resolvConf', { resolvConf: ['/etc/resolv.conf'] }, 'resolvConf'],
      ['ipam.ranges', { ranges: { subnet: '10.96.0.0/24' } }, 'ranges'],
      ['ipam.ranges[0]', { ranges: ['10.96.0.0/24'] }, 'ranges[0]'],
      ['ipam.ranges[0][0].subnet', { ranges: [[{ subnet: 10 }]] }, 'subnet'],
      ['ipam.ranges[0][0].gateway', { ranges: [[{ subnet: '10.96.0.0/24', gateway: true }]] }, 'gateway'],
      ['ipam.routes', { routes: '0.0.0.0/0' }, 'routes'],
      ['ipam.routes[0].dst', { routes: [{ dst: 0 }] }, 'dst'],
      ['ipam.routes[0].gw', { routes: [{ dst: '0.0.0.0/0', gw: 1 }] }, 'gw'],
      ['ipam.subnet (legacy)', { ranges: undefined, subnet: ['10.96.0.0/24'] }, 'subnet'],
    ];
    it.each(IPAM_WRONG)('host-local: wrong type for %s is code 7 naming it', (_f, over, text) => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({}, over)), 7, text);
    });
    it.each([
      ['runtimeConfig.ips', { runtimeConfig: { ips: '10.96.0.9' } }, 'runtimeConfig.ips'],
      ['runtimeConfig.ipRanges', { runtimeConfig: { ipRanges: 'x' } }, 'ipRanges'],
      ['args.cni.ips', { args: { cni: { ips: [5] } } }, 'args.cni.ips'],
    ] as const)('host-local: wrong type for %s is code 7 naming it', (_f, over, text) => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), { ...bridge(), ...over }), 7, text);
    });

    const FLANNEL_WRONG: [string, Record<string, unknown>, string][] = [
      ['subnetFile', { subnetFile: 5 }, 'subnetFile'],
      ['dataDir', { dataDir: false }, 'dataDir'],
      ['dataDir (relative)', { dataDir: 'var/lib/cni/flannel' }, 'dataDir'],
      ['delegate', { delegate: 'bridge' }, 'delegate'],
      ['delegate.type', { delegate: { type: 5 } }, 'type'],
      ['delegate.name (forbidden)', { delegate: { name: 'x' } }, "'name'"],
      ['delegate.ipam (forbidden)', { delegate: { ipam: {} } }, "'ipam'"],
      ['ipam', { ipam: [] }, 'ipam'],
      ['ipam.type', { ipam: { type: {} } }, 'ipam.type'],
      ['ipam.routes', { ipam: { routes: {} } }, 'ipam.routes'],
      ['ipam.routes[0].dst', { ipam: { routes: [{ dst: '10.0.0.0' }] } }, 'dst'],
      ['runtimeConfig', { runtimeConfig: 'x' }, 'runtimeConfig'],
      ['delegate.mtu (checked by bridge)', { delegate: { bridge: BR, mtu: 'big' } }, 'mtu'],
    ];
    it.each(FLANNEL_WRONG)('flannel: wrong type for %s is code 7 naming it', (_f, over, text) => {
      expectRefused(runPlugin(node, 'flannel', addEnv(), flannel(over)), 7, text);
    });

    it.each([
      ['an IPv6 subnet in FLANNEL_SUBNET', 'FLANNEL_SUBNET=fd00:95::1/64', 'IPv4'],
      ['a /31 in FLANNEL_SUBNET', 'FLANNEL_SUBNET=10.95.3.0/31', 'too small'],
      ['a /32 in FLANNEL_SUBNET', 'FLANNEL_SUBNET=10.95.3.1/32', 'too small'],
    ])('%s: code 7 naming FLANNEL_SUBNET', (_what, line, why) => {
      withCleanup(() => {
        fs.writeFileSync(subnetEnv, GOOD_ENV.replace(/^FLANNEL_SUBNET=.*$/m, line));
        const r = runPlugin(node, 'flannel', addEnv(), flannel());
        expectRefused(r, 7, 'FLANNEL_SUBNET');
        expect(r.json.msg).toContain(why);
      }, flannel, 'flannel');
    });

    it.each([
      ['CRLF line ends', GOOD_ENV.replaceAll('\n', '\r\n')],
      ['comments, blank lines and indentation', `# written by flanneld\n\n  ${GOOD_ENV.split('\n').join('\n  # a comment\n  ')}\n# end\n`],
    ])('a subnet.env with %s works', (_what, text) => {
      withCleanup(
        () => {
          fs.writeFileSync(subnetEnv, text);
          const add = runPlugin(node, 'flannel', addEnv(), flannel());
          expect(add.status, add.stdout + add.stderr).toBe(0);
          expect(add.json.ips[0].address).toMatch(/^10\.95\.3\.\d+\/24$/);
          expect(pod.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1450);
          const del = runPlugin(node, 'flannel', delEnv(), flannel());
          expect(del.status, del.stdout + del.stderr).toBe(0);
        },
        flannel,
        'flannel',
      );
      expect(leftovers()).toEqual(CLEAN);
    });

    it('duplicate keys: the last one wins everywhere (network dir, MTU, saved config)', () => {
      const dup = (first: string, last: string) => JSON.stringify(flannel()).replace(/^\{/, `{${first},`).replace(/\}$/, `,${last}}`);
      // name: "zzz" first, "dupnet" last; delegate mtu: 70000 first, 1400 last.
      const conf = dup('"name":"zzz","delegate":{"bridge":"cnihost0","mtu":70000}', '"name":"dupnet","delegate":{"bridge":"cnihost0","mtu":1400}').replace(`"name":"${NET}",`, '').replace('"delegate":{"bridge":"cnihost0"},', '');
      expect(conf.match(/"name":/g)).toHaveLength(2);
      withCleanup(
        () => {
          const add = runPlugin(node, 'flannel', addEnv(), conf);
          expect(add.status, add.stdout + add.stderr).toBe(0);
          expect(fs.readdirSync(ipamDir())).toContain('dupnet');
          expect(fs.readdirSync(ipamDir())).not.toContain('zzz');
          expect(pod.json<{ mtu: number }[]>('link show dev eth0')[0].mtu).toBe(1400);
          const saved = JSON.parse(fs.readFileSync(path.join(flannelDir(), 'host1'), 'utf8'));
          expect(saved).toMatchObject({ name: 'dupnet', mtu: 1400 });
        },
        () => JSON.parse(conf),
        'flannel',
      );
      fs.rmSync(path.join(ipamDir(), 'dupnet'), { recursive: true, force: true });
      expect(leftovers()).toEqual(CLEAN);
      // The other way round, the bad value is the one that counts.
      const bad = JSON.stringify(bridge()).replace(/\}$/, ',"mtu":1400,"mtu":70000}');
      expectRefused(runPlugin(node, 'bridge', addEnv(), bad), 7, 'mtu');
    });

    it('a rangeStart outside the subnet: code 7 naming rangeStart', () => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({}, { ranges: [[{ subnet: '10.96.0.0/24', rangeStart: '10.97.0.10' }]] })), 7, 'rangeStart');
    });

    it('a huge MTU (70000): code 7 naming mtu, for bridge and through flannel', () => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({ mtu: 70000 })), 7, 'mtu');
      expectRefused(runPlugin(node, 'flannel', addEnv(), flannel({ delegate: { bridge: BR, mtu: 70000 } })), 7, 'mtu');
    });

    it('a vlan of 4095: code 7 invalid VLAN ID', () => {
      expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({ vlan: 4095 })), 7, 'invalid VLAN ID');
    });

    it('a CNI_ARGS IP that is not an address: code 4 naming CNI_ARGS', () => {
      expectRefused(runPlugin(node, 'bridge', addEnv({ args: 'IgnoreUnknown=1;IP=../../etc/passwd' }), bridge()), 4, 'CNI_ARGS');
    });

    // `dns` members used to go unchecked: ADD built everything, then printing the result
    // threw a TypeError (999) and the attachment was left behind until DEL.
    it.each([
      [{ nameservers: { length: 1 } }, 'nameservers'],
      [['10.0.0.1'], 'dns'],
      [{ nameservers: ['not-an-ip'] }, 'dns.nameservers[0]'],
      [{ search: 'svc' }, 'dns.search'],
      [{ options: [5] }, 'dns.options[0]'],
      [{ domain: {} }, 'dns.domain'],
    ] as const)('dns %j: code 7 naming %s before anything is created', (dns, text) => {
      withCleanup(() => expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({ dns })), 7, text), bridge);
    });

    // IFNAME_RE counts characters; the kernel's IFNAMSIZ (16 with the NUL) counts bytes.
    it('a bridge name of 16 bytes in 8 characters is code 7 naming bridge', () => {
      withCleanup(() => expectRefused(runPlugin(node, 'bridge', addEnv(), bridge({ bridge: 'ü'.repeat(8) })), 7, 'bridge'), bridge);
    });
  });
});
