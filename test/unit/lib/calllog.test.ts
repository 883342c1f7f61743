import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CniError, Code } from '../../../lib/cni/errors';
import { dispatch, type PluginSpec } from '../../../lib/cni/skel';
import { mark } from '../../../lib/trace';

const spec: PluginSpec = {
  about: 'test',
  add() {
    mark('ADD: step one');
    return { cniVersion: '1.0.0', ips: [{ address: '10.1.2.3/24' }] };
  },
  del() {
    throw new CniError(Code.TryAgainLater, 'busy', 'come back later');
  },
  check() {},
  status() {},
  gc() {},
};

describe('the call log', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnit-calllog-'));
    file = path.join(dir, 'calls.log');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = (command: string, extra: Record<string, string> = {}) => ({ CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...extra });
  const conf = (extra: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'fake', ...extra }));
  const lines = () => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));

  it('writes one JSON line per call when CNI_CALL_LOG names a file', async () => {
    const ok = await dispatch(spec, env('ADD', { CNI_CALL_LOG: file }), () => conf());
    expect(ok.exitCode).toBe(0);
    const bad = await dispatch(spec, env('DEL', { CNI_CALL_LOG: file }), () => conf());
    expect(bad.exitCode).toBe(1);
    const [a, d] = lines();
    expect(a).toMatchObject({ plugin: 'fake', verb: 'ADD', network: 'net1', containerId: 'c1', ifName: 'eth0', ips: ['10.1.2.3/24'], result: 'ok' });
    expect(a.steps.map((s: { step: string }) => s.step)).toEqual(['ADD: config parsed', 'ADD: step one', 'ADD: handler done']);
    expect(typeof a.ms).toBe('number');
    expect(d).toMatchObject({ verb: 'DEL', result: 'error', error: { code: 11, msg: 'busy', details: 'come back later' } });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // stdout stays the protocol: the result document only.
    expect(JSON.parse(ok.stdout).ips[0].address).toBe('10.1.2.3/24');
  });

  it('the config key callLog turns it on for that plugin; off by default', async () => {
    await dispatch(spec, env('ADD'), () => conf());
    expect(fs.existsSync(file)).toBe(false);
    await dispatch(spec, env('ADD'), () => conf({ callLog: file }));
    expect(lines()).toHaveLength(1);
    // Only absolute paths: a relative one would land wherever the runtime started us.
    await dispatch(spec, env('ADD', { CNI_CALL_LOG: 'relative.log' }), () => conf());
    expect(lines()).toHaveLength(1);
  });

  it('logs calls that fail before the config is understood', async () => {
    await dispatch(spec, env('ADD', { CNI_CALL_LOG: file }), () => Buffer.from('{broken'));
    expect(lines()[0]).toMatchObject({ verb: 'ADD', plugin: 'unknown', result: 'error', error: { code: 6 } });
  });
});
