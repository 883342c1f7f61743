// Fault injection: ADD killed with SIGKILL at random points (config, subnet.env, the
// saved delegate config, IPAM, veth, addresses, masquerade rules), then what a runtime
// does: DEL (retried until it succeeds), ADD again, DEL. After every cycle nothing may
// be left: no reservation, veth, scratch file or masquerade chain, and no IP owned twice.
// SOAK_CYCLES sets the length (npm run test:soak runs 200; the default suite runs fewer).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, builds, isRoot, runPlugin, tempDir, uniqueName } from '../helpers/ns';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 25);
// Each cycle is four plugin calls; the full run (200 cycles) takes minutes.
const TIMEOUT_MS = 60_000 + CYCLES * 2_000;

describe.skipIf(!isRoot).each(builds)('SIGKILL during ADD, then DEL and ADD again (%s)', (dir) => {
  let node: Netns;
  let stable: Netns;
  let churn: Netns;
  let state: string;
  let bridge: string;
  const conf = () => ({
    cniVersion: '1.0.0',
    name: 'soaknet',
    type: 'flannel',
    subnetFile: path.join(state, 'subnet.env'),
    dataDir: path.join(state, 'flannel'),
    ipam: { dataDir: path.join(state, 'networks') },
    delegate: { bridge, hairpinMode: true, isDefaultGateway: true },
  });
  const ipDir = () => path.join(state, 'networks', 'soaknet');
  const reservations = () =>
    fs.existsSync(ipDir())
      ? fs
          .readdirSync(ipDir())
          .filter((f) => /^[0-9a-f.:]+$/.test(f))
          .map((f) => ({ ip: f, owner: fs.readFileSync(path.join(ipDir(), f), 'latin1') }))
      : [];
  const masqChains = () => node.exec(['iptables', '-t', 'nat', '-S']).stdout.split('\n').filter((l) => l.startsWith('-N CNI-'));
  const env = (command: string, id: string, p: Netns) => ({ command, containerId: id, netns: p.path, ifName: 'eth0' });

  beforeAll(() => {
    node = Netns.create('cnit-soak-node-');
    stable = Netns.create('cnit-soak-pod-');
    churn = Netns.create('cnit-soak-pod-');
    state = tempDir('cnit-soak-');
    bridge = uniqueName('cnisk');
    // FLANNEL_IPMASQ=false makes the delegate masquerade itself, so the masq rules are in play.
    fs.writeFileSync(path.join(state, 'subnet.env'), 'FLANNEL_NETWORK=10.96.0.0/16\nFLANNEL_SUBNET=10.96.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    const add = runPlugin(node, 'flannel', env('ADD', 'stable', stable), conf(), dir);
    expect(add.status, add.stdout).toBe(0);
  });
  afterAll(() => {
    churn.destroy();
    stable.destroy();
    node.destroy();
    fs.rmSync(state, { recursive: true, force: true });
  });

  /** Start an ADD and SIGKILL it after `delayMs` (it may finish first). */
  function killedAdd(id: string, delayMs: number): Promise<'killed' | 'finished'> {
    return new Promise((resolve) => {
      const child = spawn('ip', ['netns', 'exec', node.name, path.join(dir, 'flannel')], {
        env: { PATH: process.env.PATH, CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: churn.path, CNI_IFNAME: 'eth0', CNI_PATH: dir },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      child.stdin.end(JSON.stringify(conf()));
      // `ip netns exec` execs the plugin in place, so this pid is the plugin itself.
      const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      child.on('exit', (_code, signal) => {
        clearTimeout(timer);
        resolve(signal === 'SIGKILL' ? 'killed' : 'finished');
      });
    });
  }

  it(`survives ${CYCLES} killed ADDs without leaking or double-allocating`, async () => {
    let kills = 0;
    const leaks: string[] = [];
    for (let i = 0; i < CYCLES; i++) {
      const id = `churn${i}`;
      // The kill lands anywhere in an ADD: the standalone build finishes one in ~25 ms, Node in ~80;
      // a window a little longer than that also lets some complete.
      const outcome = await killedAdd(id, Math.floor(Math.random() * (dir.endsWith('standalone') ? 45 : 90)));
      if (outcome === 'killed') kills++;
      // The runtime always follows a failed ADD with DEL, retrying until it succeeds.
      let del = runPlugin(node, 'flannel', env('DEL', id, churn), conf(), dir);
      for (let t = 0; t < 3 && del.status !== 0; t++) del = runPlugin(node, 'flannel', env('DEL', id, churn), conf(), dir);
      expect(del.status, `cycle ${i}: DEL after a killed ADD: ${del.stdout}`).toBe(0);
      const after = reservations();
      if (after.length !== 1) leaks.push(`cycle ${i}: ${after.length} reservations after DEL: ${JSON.stringify(after)}`);
      if (churn.json<{ ifname: string }[]>('link show').some((l) => l.ifname !== 'lo')) leaks.push(`cycle ${i}: pod interface left`);
      const scratch = fs.readdirSync(path.join(state, 'flannel')).filter((f) => f !== 'stable');
      if (scratch.length) leaks.push(`cycle ${i}: scratch files left: ${scratch.join(' ')}`);
      if (masqChains().length !== 1) leaks.push(`cycle ${i}: ${masqChains().length} masq chains`);
      // ADD again, fully: it must work and must not reuse the stable pod's address.
      const add = runPlugin(node, 'flannel', env('ADD', id, churn), conf(), dir);
      expect(add.status, `cycle ${i}: ADD after recovery: ${add.stdout}`).toBe(0);
      const ips = reservations().map((r) => r.ip);
      if (new Set(ips).size !== 2 || new Set(reservations().map((r) => r.owner)).size !== 2) leaks.push(`cycle ${i}: owners ${JSON.stringify(reservations())}`);
      expect(runPlugin(node, 'flannel', env('DEL', id, churn), conf(), dir).status).toBe(0);
      if (node.json<{ ifname: string }[]>('link show type veth').length !== 1) leaks.push(`cycle ${i}: veth count wrong`);
    }
    console.log(`fault injection (${path.basename(dir)}): ${CYCLES} cycles, ${kills} kills, ${leaks.length} leaks found`);
    expect(leaks).toEqual([]);
    expect(kills).toBeGreaterThan(0);
  }, TIMEOUT_MS);
});
