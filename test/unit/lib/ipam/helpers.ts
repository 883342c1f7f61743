// Shared fixtures for the IPAM tests: configs, CmdArgs, throwaway data dirs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CniError } from '../../../../lib/cni/errors';
import type { CmdArgs, NetConf } from '../../../../lib/cni/types';
import { type IP, parseIP } from '../../../../lib/ip';

export const ip = (s: string): IP => parseIP(s);

export function netConf(ipam: Record<string, unknown>, extra: Partial<NetConf> = {}): NetConf {
  return { cniVersion: '1.0.0', name: 'testnet', type: 'bridge', ipam: { type: 'host-local', ...ipam }, ...extra };
}

export function cmdArgs(conf: NetConf, containerId = 'c1', ifName = 'eth0', args = ''): CmdArgs {
  return {
    command: 'ADD',
    containerId,
    netns: '/var/run/netns/test',
    ifName,
    args,
    path: ['/opt/cni/bin'],
    stdin: Buffer.from(JSON.stringify(conf)),
    conf,
  };
}

/** Run `fn` and return the CniError it throws; fails the test if it does not throw one. */
export function cniError(fn: () => unknown): CniError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CniError) return e;
    throw new Error(`expected a CniError, got ${String(e)}`);
  }
  throw new Error('expected a CniError, nothing was thrown');
}

/** A fresh data dir per test; `cleanup` removes every one handed out. */
export function tempDirs(): { make(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    make() {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ipam-test-'));
      made.push(d);
      return d;
    },
    cleanup() {
      for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}
