// Running a CNI plugin the way a runtime does, but inside the namespace standing in
// for the node: `ip netns exec NODE <plugin>` with the CNI env and the config on stdin.
// Both implementations go through exactly the same path, so the wrapper's cost
// (measured separately as the "ip netns exec" floor) hits both equally.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const BASE_PATH = process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment a plugin sees. Built from scratch (only PATH is inherited), so a
 * CNI_TRACE or NODE_OPTIONS in the bench's own environment cannot skew the figures.
 */
export function cniEnv({ command, id, netns, ifName = 'eth0', cniPath, podName }) {
  const env = { PATH: BASE_PATH, CNI_COMMAND: command, CNI_PATH: cniPath };
  if (id !== undefined) env.CNI_CONTAINERID = id;
  if (netns !== undefined) env.CNI_NETNS = netns;
  if (ifName !== undefined && command !== 'VERSION') env.CNI_IFNAME = ifName;
  if (podName !== undefined) {
    env.CNI_ARGS = `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${id}`;
  }
  return env;
}

function argvFor(node, file, wrap, args = []) {
  const base = node ? ['ip', 'netns', 'exec', node.name, file, ...args] : [file, ...args];
  return wrap ? [...wrap, ...base] : base;
}

function outcome(status, signal, stdout, stderr, ms, error) {
  let json;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  // EPIPE: the plugin exited without reading all of stdin (VERSION may not read it);
  // its exit status is what counts then.
  const benign = error && error.code === 'EPIPE' && status !== -1;
  const ok = status === 0 && (!error || benign);
  return { ok, status, signal, stdout, stderr, ms, json, error: error ? String(error.message ?? error) : undefined };
}

/**
 * One plugin invocation, synchronously, timed from just before the spawn until the
 * process has exited and its output is collected. `node` null runs it directly.
 * `wrap` prefixes the argv (e.g. /usr/bin/time).
 */
export function invokeSync({ node, file, env, stdin = '', wrap, args }) {
  const argv = argvFor(node, file, wrap, args);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { input: stdin, env, encoding: 'utf8', maxBuffer: 16 << 20 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return outcome(r.status ?? -1, r.signal, r.stdout ?? '', r.stderr ?? '', ms, r.error);
}

const live = new Set();

/** SIGKILL every plugin still running from invokeAsync (interrupted bursts); returns how many. */
export function killLiveChildren() {
  let n = 0;
  for (const child of live) {
    try {
      if (child.kill('SIGKILL')) n++;
    } catch {
      // already gone
    }
  }
  live.clear();
  return n;
}

/** The same, asynchronously (for bursts): resolves when the process has exited. */
export function invokeAsync({ node, file, env, stdin = '' }) {
  const argv = argvFor(node, file);
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      resolve(outcome(-1, null, '', '', 0, err));
      return;
    }
    live.add(child);
    const out = [];
    const errOut = [];
    let spawnError;
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => errOut.push(b));
    child.on('error', (err) => (spawnError = err));
    child.stdin.on('error', () => {}); // EPIPE if the plugin exits without reading
    child.stdin.end(stdin);
    child.on('close', (code, signal) => {
      live.delete(child);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve(outcome(code ?? -1, signal, Buffer.concat(out).toString('utf8'), Buffer.concat(errOut).toString('utf8'), ms, spawnError));
    });
  });
}

/** A one-line description of a failed invocation for the error log. */
export function failureText(r) {
  const msg = r.json && typeof r.json.msg === 'string' ? `${r.json.code}: ${r.json.msg}${r.json.details ? ` (${r.json.details})` : ''}` : (r.stdout || r.stderr || r.error || '').trim();
  return `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}${r.error ? ` [${r.error}]` : ''}: ${msg.replace(/\s+/g, ' ').slice(0, 400)}`;
}

// The marker both builds carry (scripts/build.mjs, scripts/build-standalone.mjs).
const BANNER = Buffer.from('// built by cni-flannel-bridge (TypeScript CNI plugins) build ');
const BUILD_ID = /^[0-9A-Za-z._-]+/;

/**
 * The build id in a build's banner (`// built by ... build <id>`), or null. The Node
 * bundles carry it in their first lines; the standalone executable somewhere inside its
 * ~100 MB (Bun puts the bundled source, banner first, after its own runtime), so the
 * file is scanned in chunks from the end rather than read whole.
 */
export function buildIdOf(file) {
  const idAt = (buf, at) => {
    const m = BUILD_ID.exec(buf.subarray(at + BANNER.length, at + BANNER.length + 64).toString('latin1'));
    return m ? m[0] : null;
  };
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(512);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    const at = head.subarray(0, n).indexOf(BANNER);
    if (at >= 0) return idAt(head, at);
    const size = fs.fstatSync(fd).size;
    const chunk = 4 << 20;
    // Consecutive windows overlap by the banner plus an id, so a banner cut by a window edge is still found whole.
    const overlap = BANNER.length + 64;
    const buf = Buffer.alloc(chunk + overlap);
    for (let end = size; end > 0; end -= chunk) {
      const start = Math.max(0, end - chunk);
      const len = Math.min(size, end + overlap) - start;
      const got = fs.readSync(fd, buf, 0, len, start);
      const i = buf.subarray(0, got).lastIndexOf(BANNER);
      if (i >= 0) return idAt(buf.subarray(0, got), i);
    }
    return null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * A private copy of dist/ (bundles plus the .node files beside them), so a teammate
 * running `npm run build` (which empties dist/) mid-bench cannot break the run.
 * Retries if it catches a half-written build (bundles with different build ids).
 */
export function snapshotDist(dist, into) {
  for (let attempt = 0; attempt < 5; attempt++) {
    fs.rmSync(into, { recursive: true, force: true });
    fs.mkdirSync(into, { recursive: true });
    try {
      for (const name of fs.readdirSync(dist)) {
        const from = path.join(dist, name);
        // The standalone build: bridge and flannel are links to one executable.
        if (fs.lstatSync(from).isSymbolicLink()) {
          fs.symlinkSync(fs.readlinkSync(from), path.join(into, name));
          continue;
        }
        if (!fs.statSync(from).isFile()) continue;
        fs.copyFileSync(from, path.join(into, name));
        fs.chmodSync(path.join(into, name), fs.statSync(from).mode & 0o7777);
      }
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      continue;
    }
    const b = buildIdOf(path.join(into, 'bridge'));
    const f = buildIdOf(path.join(into, 'flannel'));
    const complete = ['bridge', 'flannel'].every((n) => fs.existsSync(path.join(into, n)));
    if (complete && b === f) return { bridgeBuild: b, flannelBuild: f };
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  }
  throw new Error(`could not take a consistent copy of ${dist} (a build in progress?); run npm run build and retry`);
}
