// The result cache cnictl writes must be libcni's, byte for byte, so a runtime, cnitool
// and cnictl read each other's entries.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheFile, listAttachments, parseCache, readCache, serializeCache, writeCache, type CachedAttachment } from '../../../../tools/cnictl/cache';
import { tempDir } from '../../../helpers/ns';

const config = Buffer.from('{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"flannel","x":"<&>"}]}\n');
const att = (over: Partial<CachedAttachment> = {}): CachedAttachment => ({
  containerId: 'abc123',
  ifName: 'eth0',
  networkName: 'cbr0',
  netns: '/run/netns/p1',
  config,
  cniArgs: [
    ['K8S_POD_NAME', 'web'],
    ['IgnoreUnknown', '1'],
  ],
  capabilityArgs: { portMappings: [{ HostPort: 80, ContainerPort: 8080 }], mac: '02:00:00:00:00:01' },
  result: { cniVersion: '1.0.0', ips: [{ interface: 2, address: '10.244.1.2/24', gateway: '10.244.1.1' }], interfaces: [{ name: 'eth0', sandbox: '/run/netns/p1' }] },
  ...over,
});

describe('libcni result cache', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('cnit-ctl-cache-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serializes as Go marshals cachedInfo: field order, base64 config, sorted map keys, HTML escapes', () => {
    const b64 = config.toString('base64');
    expect(serializeCache(att())).toBe(
      `{"kind":"cniCacheV1","containerId":"abc123","config":"${b64}","ifName":"eth0","networkName":"cbr0","netns":"/run/netns/p1",` +
        `"cniArgs":[["K8S_POD_NAME","web"],["IgnoreUnknown","1"]],` +
        `"capabilityArgs":{"mac":"02:00:00:00:00:01","portMappings":[{"ContainerPort":8080,"HostPort":80}]},` +
        `"result":{"cniVersion":"1.0.0","dns":{},"interfaces":[{"name":"eth0","sandbox":"/run/netns/p1"}],"ips":[{"address":"10.244.1.2/24","gateway":"10.244.1.1","interface":2}]}}`,
    );
    expect(Buffer.from(b64, 'base64').equals(config)).toBe(true);
    // A DNS the result has is kept as it is.
    expect(serializeCache(att({ result: { cniVersion: '0.2.0', dns: { nameservers: ['10.0.0.53'] } } }))).toContain('"result":{"cniVersion":"0.2.0","dns":{"nameservers":["10.0.0.53"]}}}');
    // Go escapes <, > and & in strings.
    expect(serializeCache(att({ netns: '/run/netns/a<b>&c' }))).toContain('"netns":"/run/netns/a\\u003cb\\u003e\\u0026c"');
  });

  it('leaves out the omitempty fields when empty', () => {
    expect(serializeCache(att({ netns: '', cniArgs: [], capabilityArgs: {}, result: undefined }))).toBe(
      `{"kind":"cniCacheV1","containerId":"abc123","config":"${config.toString('base64')}","ifName":"eth0","networkName":"cbr0"}`,
    );
  });

  it('writes <cacheDir>/results/<network>-<containerID>-<ifname>, dir 0700, file 0600, nothing else left', () => {
    const cacheDir = path.join(dir, 'deep', 'cni');
    const file = writeCache(cacheDir, att());
    expect(file).toBe(path.join(cacheDir, 'results', 'cbr0-abc123-eth0'));
    expect(fs.readFileSync(file, 'utf8')).toBe(serializeCache(att()));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(cacheDir, 'results')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(cacheDir).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(cacheDir)).toEqual(['results']);
    expect(fs.readdirSync(path.join(cacheDir, 'results'))).toEqual(['cbr0-abc123-eth0']);
    // Written again (a second ADD after a failed DEL): replaced whole.
    writeCache(cacheDir, att({ netns: '/run/netns/p2' }));
    expect(parseCache(fs.readFileSync(file, 'utf8'))!.netns).toBe('/run/netns/p2');
  });

  it('reads back what it wrote, and what libcni writes', () => {
    writeCache(dir, att());
    const r = readCache(dir, 'cbr0', 'abc123', 'eth0');
    expect(r.state).toBe('ok');
    if (r.state === 'ok') expect(r.attachment).toEqual({ ...att(), result: { ...att().result, dns: {} } });
    expect(readCache(dir, 'cbr0', 'other', 'eth0').state).toBe('absent');
    // libcni's older format: the bare result.
    fs.writeFileSync(cacheFile(dir, 'cbr0', 'old', 'eth0'), '{"cniVersion":"0.4.0","ips":[]}');
    expect(readCache(dir, 'cbr0', 'old', 'eth0')).toEqual({ state: 'legacy', result: { cniVersion: '0.4.0', ips: [] } });
    fs.writeFileSync(cacheFile(dir, 'cbr0', 'torn', 'eth0'), '{"kind":"cniCac');
    expect(readCache(dir, 'cbr0', 'torn', 'eth0').state).toBe('broken');
  });

  it('lists attachments as libcni does: every cniCacheV1 file with a network and an ifname, in name order', () => {
    writeCache(dir, att({ containerId: 'b' }));
    writeCache(dir, att({ containerId: 'a', networkName: 'other' }));
    fs.writeFileSync(path.join(dir, 'results', 'junk'), 'not json');
    fs.writeFileSync(path.join(dir, 'results', 'noif'), serializeCache(att({ ifName: '' })));
    expect(listAttachments(dir).map((a) => `${a.networkName}/${a.containerId}`)).toEqual(['cbr0/b', 'other/a']);
    expect(listAttachments(path.join(dir, 'absent'))).toEqual([]);
  });

  it('a FIFO or a link to /dev/zero in results/ is neither waited on nor read: skipped in the list, broken when named', () => {
    writeCache(dir, att({ containerId: 'b' }));
    expect(spawnSync('mkfifo', [cacheFile(dir, 'cbr0', 'fifo', 'eth0')]).status).toBe(0);
    fs.symlinkSync('/dev/zero', cacheFile(dir, 'cbr0', 'zero', 'eth0'));
    expect(listAttachments(dir).map((a) => a.containerId)).toEqual(['b']);
    expect(readCache(dir, 'cbr0', 'fifo', 'eth0')).toEqual({ state: 'broken', why: `${cacheFile(dir, 'cbr0', 'fifo', 'eth0')} is not a regular file (it is a FIFO)` });
    expect(readCache(dir, 'cbr0', 'zero', 'eth0')).toMatchObject({ state: 'broken', why: expect.stringContaining('a character device') });
  });
});
