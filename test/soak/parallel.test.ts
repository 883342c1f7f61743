// Parallel pods: N ADDs at once on one node (distinct containers and namespaces), then
// N DELs at once, several rounds. Every call succeeds, no IP is handed out twice, the
// store is empty at the end, and the bridge keeps one gateway address and a stable MAC.
// Also with ours and the reference host-local allocating from one data directory.
// SOAK_PARALLEL / SOAK_ROUNDS set the size (npm run test:soak: 64 × 5).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, tempDir, uniqueName } from '../helpers/ns';

const N = Number(process.env.SOAK_PARALLEL ?? 16);
const ROUNDS = Number(process.env.SOAK_ROUNDS ?? 2);
const TIMEOUT_MS = 60_000 + N * ROUNDS * 500;
const REF = '/usr/lib/cni';

interface Run {
  status: number;
  stdout: string;
}

function runAsync(node: Netns, file: string, env: Record<string, string>, stdin: object): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', node.name, file], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end(JSON.stringify(stdin));
    // 'close', not 'exit': the exit can be seen before the last of stdout is read.
    child.on('close', (code) => resolve({ status: code ?? -1, stdout: out }));
  });
}

describe.skipIf(!isRoot).each(builds)('parallel pods (%s)', (dir) => {
  let node: Netns;
  let pods: Netns[];
  let state: string;
  let bridge: string;
  const conf = () => ({
    cniVersion: '1.0.0',
    name: 'parnet',
    type: 'bridge',
    bridge,
    isGateway: true,
    ipam: { type: 'host-local', dataDir: state, ranges: [[{ subnet: '10.97.0.0/22' }]] },
  });
  const files = () => fs.readdirSync(path.join(state, 'parnet')).filter((f) => /^[0-9a-f.:]+$/.test(f));

  beforeAll(() => {
    node = Netns.create('cnit-par-node-');
    pods = Array.from({ length: N }, () => Netns.create('cnit-par-pod-'));
    state = tempDir('cnit-par-');
    bridge = uniqueName('cnipr');
  });
  afterAll(() => {
    for (const p of pods) p.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  async function round(useRefFor: (i: number) => boolean): Promise<void> {
    const envOf = (command: string, i: number) => ({
      CNI_COMMAND: command,
      CNI_CONTAINERID: `par${i}`,
      CNI_NETNS: pods[i].path,
      CNI_IFNAME: 'eth0',
      CNI_PATH: useRefFor(i) ? REF : dir,
    });
    const fileOf = (i: number) => (useRefFor(i) ? path.join(REF, 'bridge') : path.join(dir, 'bridge'));
    const adds = await Promise.all(pods.map((_, i) => runAsync(node, fileOf(i), envOf('ADD', i), { ...conf(), cniVersion: useRefFor(i) ? '0.4.0' : '1.0.0' })));
    adds.forEach((r, i) => expect(r.status, `ADD par${i}: ${r.stdout}`).toBe(0));
    adds.forEach((r, i) => expect(r.stdout, `ADD par${i} (${useRefFor(i) ? "reference" : "ours"}) printed no result`).not.toBe(""));
    const ips = adds.map((r) => JSON.parse(r.stdout).ips[0].address as string);
    expect(new Set(ips).size, `IPs handed out: ${ips.join(' ')}`).toBe(N);
    expect(files()).toHaveLength(N);
    const gw = node.json<{ addr_info: { local: string; family: string }[] }[]>(`addr show dev ${bridge}`)[0].addr_info.filter((a) => a.family === 'inet');
    expect(gw.map((a) => a.local)).toEqual(['10.97.0.1']);
    const dels = await Promise.all(pods.map((_, i) => runAsync(node, fileOf(i), envOf('DEL', i), { ...conf(), cniVersion: useRefFor(i) ? '0.4.0' : '1.0.0' })));
    dels.forEach((r, i) => expect(r.status, `DEL par${i}: ${r.stdout}`).toBe(0));
    expect(files()).toEqual([]);
    expect(node.json('link show type veth')).toEqual([]);
  }

  it(`${N} ADDs then ${N} DELs at once, ${ROUNDS} rounds`, async () => {
    let mac: string | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      await round(() => false);
      const now = node.json<{ address: string }[]>(`link show dev ${bridge}`)[0].address;
      mac ??= now;
      expect(now).toBe(mac);
    }
  }, TIMEOUT_MS);

  it.skipIf(!fs.existsSync(path.join(REF, 'host-local')))('half of them through the reference bridge + host-local on the same store', async () => {
    for (let r = 0; r < ROUNDS; r++) await round((i) => i % 2 === 1);
  }, TIMEOUT_MS);
});
