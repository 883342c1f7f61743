// cnictl's config loading against libcni's rules: discovery order, parse errors,
// cniVersion negotiation, single-config wrapping, the per-plugin stdin.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findNetwork, loadFile, negotiateVersion, parseList, pluginStdin, runtimeConfigFor, wrapSingle, type SkippedConf } from '../../../../tools/cnictl/conf';
import { tempDir } from '../../../helpers/ns';

const list = (name: string, extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }], ...extra });

describe('config discovery (libcni LoadNetworkConf)', () => {
  let dir: string;
  const write = (file: string, text: string) => fs.writeFileSync(path.join(dir, file), text);
  beforeEach(() => {
    dir = tempDir('cnit-ctl-conf-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes the first *.conflist in lexicographic order whose name matches', () => {
    write('20-b.conflist', list('net', { plugins: [{ type: 'second' }] }));
    write('10-a.conflist', list('net', { plugins: [{ type: 'first' }] }));
    write('05-other.conflist', list('other'));
    const l = findNetwork(dir, 'net');
    expect(l.source).toBe(path.join(dir, '10-a.conflist'));
    expect(l.plugins.map((p) => p.type)).toEqual(['first']);
    // Byte order, as Go's sort.Strings: "Z" (0x5a) sorts before "a" (0x61).
    write('Z.conflist', list('net', { plugins: [{ type: 'upper' }] }));
    expect(findNetwork(dir, 'net').plugins[0]!.type).toBe('first');
    write('0.conflist', list('net', { plugins: [{ type: 'zero' }] }));
    expect(findNetwork(dir, 'net').plugins[0]!.type).toBe('zero');
  });

  it('prefers any matching conflist over a single .conf, whatever the file names', () => {
    write('00-single.conf', JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'single' }));
    write('99-list.conflist', list('net', { plugins: [{ type: 'listed' }] }));
    expect(findNetwork(dir, 'net').plugins[0]!.type).toBe('listed');
  });

  it('falls back to *.conf and *.json (in order) and wraps the single config into a list', () => {
    write('10-x.conflist', list('other'));
    write('30-net.json', JSON.stringify({ cniVersion: '0.4.0', name: 'net', type: 'from-json' }));
    write('20-net.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'net', type: 'from-conf', bridge: 'br9' }));
    write('05-net.txt', JSON.stringify({ cniVersion: '0.4.0', name: 'net', type: 'ignored' }));
    const l = findNetwork(dir, 'net');
    expect(l.plugins).toEqual([{ cniVersion: '0.4.0', name: 'net', type: 'from-conf', bridge: 'br9' }]);
    expect(l.cniVersion).toBe('0.4.0');
    // What libcni caches as the list's bytes: the wrapping list, marshalled like Go's map.
    expect(l.bytes.toString()).toBe('{"cniVersion":"0.4.0","name":"net","plugins":[{"bridge":"br9","cniVersion":"0.4.0","name":"net","type":"from-conf"}]}');
  });

  it('a file that fails to parse stops the search and is named, even if a later file matches', () => {
    write('10-broken.conflist', '{"name": "x", ');
    write('20-good.conflist', list('net'));
    expect(() => findNetwork(dir, 'net')).toThrow(`${path.join(dir, '10-broken.conflist')}: not valid JSON`);
    fs.rmSync(path.join(dir, '10-broken.conflist'));
    write('10-notype.conflist', JSON.stringify({ name: 'x', cniVersion: '1.0.0', plugins: [{ bridge: 'cni0' }] }));
    expect(() => findNetwork(dir, 'net')).toThrow(/10-notype\.conflist: plugins\[0\]: missing "type"/);
  });

  it('passes over a FIFO and a link to /dev/zero (told through onSkip) and goes on with the next file', () => {
    expect(spawnSync('mkfifo', [path.join(dir, '01-fifo.conflist')]).status).toBe(0);
    fs.symlinkSync('/dev/zero', path.join(dir, '02-zero.conflist'));
    fs.symlinkSync('/dev/zero', path.join(dir, '00-zero.conf'));
    fs.mkdirSync(path.join(dir, 'net'));
    expect(spawnSync('mkfifo', [path.join(dir, 'net', 'a.conf')]).status).toBe(0);
    write('10-net.conflist', list('net'));
    const skipped: SkippedConf[] = [];
    const t0 = Date.now();
    const l = findNetwork(dir, 'net', (s) => skipped.push(s));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(l.source).toBe(path.join(dir, '10-net.conflist'));
    expect(l.plugins.map((p) => p.type)).toEqual(['bridge']);
    expect(skipped).toEqual([
      { file: path.join(dir, '01-fifo.conflist'), type: 'a FIFO' },
      { file: path.join(dir, '02-zero.conflist'), type: 'a character device' },
      { file: path.join(dir, 'net', 'a.conf'), type: 'a FIFO' },
    ]);
    // Only those: the single configs are never reached once a list matched.
    fs.rmSync(path.join(dir, '10-net.conflist'));
    skipped.length = 0;
    expect(() => findNetwork(dir, 'net', (s) => skipped.push(s))).toThrow(`no network configs (*.conflist, *.conf, *.json) in ${dir}`);
    expect(skipped.map((s) => path.basename(s.file))).toEqual(['01-fifo.conflist', '02-zero.conflist', '00-zero.conf']);
  });

  it('a config larger than a plugin takes on stdin (1 MiB) stops the search, without reading it whole', () => {
    write('10-big.conflist', list('net'));
    fs.truncateSync(path.join(dir, '10-big.conflist'), 256 * 1024 * 1024);
    write('20-net.conflist', list('net'));
    expect(() => findNetwork(dir, 'net')).toThrow(`${path.join(dir, '10-big.conflist')} is larger than 1048576 bytes`);
  });

  it('says what it found when the name is not there, and when the directory has no configs', () => {
    write('10-a.conflist', list('alpha'));
    write('20-b.conf', JSON.stringify({ cniVersion: '1.0.0', name: 'beta', type: 'bridge' }));
    expect(() => findNetwork(dir, 'gamma')).toThrow(`no network named "gamma" in ${dir}; found: alpha (10-a.conflist), beta (20-b.conf)`);
    expect(() => findNetwork(path.join(dir, 'absent'), 'x')).toThrow('no network configs (*.conflist, *.conf, *.json) in');
  });

  it('appends <dir>/<name>/*.conf plugins unless loadOnlyInlinedPlugins (libcni, spec main)', () => {
    write('10-net.conflist', list('net'));
    fs.mkdirSync(path.join(dir, 'net'));
    fs.writeFileSync(path.join(dir, 'net', '2-b.conf'), JSON.stringify({ type: 'tuning' }));
    fs.writeFileSync(path.join(dir, 'net', '1-a.conf'), JSON.stringify({ type: 'portmap' }));
    expect(findNetwork(dir, 'net').plugins.map((p) => p.type)).toEqual(['bridge', 'portmap', 'tuning']);
    write('10-net.conflist', list('net', { loadOnlyInlinedPlugins: true }));
    expect(findNetwork(dir, 'net').plugins.map((p) => p.type)).toEqual(['bridge']);
  });

  it('--conf FILE: a conflist, a single .conf, or a list in a .json', () => {
    write('a.conflist', list('net'));
    write('b.conf', JSON.stringify({ cniVersion: '1.0.0', name: 'single', type: 'bridge' }));
    write('c.json', list('injson'));
    expect(loadFile(path.join(dir, 'a.conflist')).name).toBe('net');
    expect(loadFile(path.join(dir, 'b.conf')).plugins).toHaveLength(1);
    expect(loadFile(path.join(dir, 'c.json')).name).toBe('injson');
    expect(() => loadFile(path.join(dir, 'nope.conflist'))).toThrow(/cannot read .*nope\.conflist/);
    // Named on purpose, so refused rather than skipped.
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero.conflist'));
    expect(() => loadFile(path.join(dir, 'zero.conflist'))).toThrow(`${path.join(dir, 'zero.conflist')} is not a regular file (it is a character device)`);
  });
});

describe('list parsing', () => {
  it('refuses what libcni refuses', () => {
    const bad = (o: unknown) => () => parseList(Buffer.from(JSON.stringify(o)), 'f');
    expect(bad({ cniVersion: '1.0.0', plugins: [{ type: 'x' }] })).toThrow('f: no "name"');
    expect(bad({ name: 7, plugins: [{ type: 'x' }] })).toThrow('"name" must be a string');
    expect(bad({ name: 'n', cniVersion: 1, plugins: [{ type: 'x' }] })).toThrow('"cniVersion" must be a string');
    expect(bad({ name: 'n', plugins: [] })).toThrow('no plugins');
    expect(bad({ name: 'n', plugins: {} })).toThrow('"plugins" must be a list');
    expect(bad({ name: 'n', plugins: [{ type: 3 }] })).toThrow('"type" must be a string');
    expect(bad({ name: 'n', disableCheck: 'yes', plugins: [{ type: 'x' }] })).toThrow('invalid value "yes" for "disableCheck"');
    expect(bad({ name: 'n', loadOnlyInlinedPlugins: true })).toThrow('no "plugins"');
    expect(bad({ name: 'n', cniVersions: ['1.0.0', 2], plugins: [{ type: 'x' }] })).toThrow('"cniVersions" must be a list of strings');
    expect(bad({ name: 'n', cniVersion: '1.0.0.0', plugins: [{ type: 'x' }] })).toThrow('invalid version "1.0.0.0"');
  });

  it('reads disableCheck / disableGC as booleans or the strings "true"/"false" in any case', () => {
    const l = parseList(Buffer.from(list('n', { disableCheck: 'TRUE', disableGC: true })), 'f', false);
    expect([l.disableCheck, l.disableGC]).toEqual([true, true]);
    const m = parseList(Buffer.from(list('n', { disableCheck: 'False' })), 'f', false);
    expect([m.disableCheck, m.disableGC]).toEqual([false, false]);
  });

  it('keeps the file bytes as they are (what the cache stores)', () => {
    const text = `{ "name": "n",\n  "cniVersion": "1.0.0", "plugins": [ {"type": "bridge"} ] }\n`;
    expect(parseList(Buffer.from(text), 'f', false).bytes.toString()).toBe(text);
  });

  it('a single config without cniVersion gives "" (0.1.0 to the gates)', () => {
    const l = wrapSingle({ name: 'old', type: 'bridge' }, 'f');
    expect(l.cniVersion).toBe('');
    expect(l.bytes.toString()).toBe('{"cniVersion":"","name":"old","plugins":[{"name":"old","type":"bridge"}]}');
  });
});

describe('cniVersion negotiation', () => {
  it('takes the highest of cniVersion ∪ cniVersions, numerically', () => {
    expect(negotiateVersion('0.3.1', ['0.3.1', '1.0.0', '0.4.0'])).toBe('1.0.0');
    expect(negotiateVersion('1.1.0', ['0.3.1'])).toBe('1.1.0');
    expect(negotiateVersion(undefined, ['0.4.0', '0.10.0', '0.9.0'])).toBe('0.10.0');
    expect(negotiateVersion('0.3.1', undefined)).toBe('0.3.1');
  });

  it('drops versions above 1.1.0, and refuses a config that has nothing else', () => {
    expect(negotiateVersion('0.3.1', ['1.1.0', '1.2.0', '2.0.0'])).toBe('1.1.0');
    expect(negotiateVersion('9.9.9', ['1.0.0'])).toBe('1.0.0');
    expect(() => negotiateVersion('1.2.0', undefined, 'x.conflist')).toThrow('x.conflist: no usable cniVersion: 1.2.0 is newer than 1.1.0');
    expect(() => negotiateVersion(undefined, ['1.2.0', '2.0.0'])).toThrow('are all newer than 1.1.0');
  });

  it('no version at all is the legacy ""', () => {
    expect(negotiateVersion(undefined, undefined)).toBe('');
    expect(negotiateVersion('', [])).toBe('');
  });

  it('parsed into the list: the negotiated version is what every plugin gets', () => {
    const l = parseList(Buffer.from(JSON.stringify({ name: 'n', cniVersion: '0.3.1', cniVersions: ['0.3.1', '1.0.0', '1.1.0', '1.5.0'], plugins: [{ type: 'a', cniVersion: '0.2.0', name: 'wrong' }] })), 'f', false);
    expect(l.cniVersion).toBe('1.1.0');
    expect(JSON.parse(pluginStdin(l.plugins[0]!, l).toString())).toEqual({ type: 'a', cniVersion: '1.1.0', name: 'n' });
  });
});

describe('runtimeConfig: capabilities ∩ capability args', () => {
  const caps = {
    portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'tcp', HostIP: '' }],
    bandwidth: { IngressRate: 1000, EgressBurst: 5 },
    mac: '02:00:00:00:00:09',
    'io.kubernetes.cri.pod-annotations': { a: 'b' },
  };

  it('passes only the capabilities the plugin declares true, values untouched (containerd PascalCase kept)', () => {
    expect(runtimeConfigFor({ portMappings: true, bandwidth: false, ips: true }, caps)).toEqual({ portMappings: caps.portMappings });
    expect(runtimeConfigFor({ mac: true, 'io.kubernetes.cri.pod-annotations': true }, caps)).toEqual({ mac: caps.mac, 'io.kubernetes.cri.pod-annotations': { a: 'b' } });
    // Capability names match exactly, as a Go map lookup.
    expect(runtimeConfigFor({ PortMappings: true, portmappings: true }, caps)).toEqual({});
    expect(runtimeConfigFor(undefined, caps)).toEqual({});
    expect(runtimeConfigFor({ mac: 'true' }, caps)).toEqual({});
  });

  it('is omitted from stdin when empty, and a runtimeConfig written in the file then stays', () => {
    const l = parseList(Buffer.from(list('n')), 'f', false);
    const stdin = (plugin: Record<string, unknown>) => pluginStdin(plugin, l, { capabilityArgs: caps }).toString();
    expect(stdin({ type: 'bridge' })).toBe('{"cniVersion":"1.0.0","name":"n","type":"bridge"}');
    expect(stdin({ type: 'bridge', runtimeConfig: { own: 1 } })).toBe('{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"own":1},"type":"bridge"}');
    // The exact bytes a plugin reads: keys sorted at every level, as Go marshals a map;
    // the capability value's PascalCase keys are there as given.
    expect(stdin({ type: 'portmap', capabilities: { portMappings: true } })).toBe(
      '{"capabilities":{"portMappings":true},"cniVersion":"1.0.0","name":"n","runtimeConfig":{"portMappings":[{"ContainerPort":80,"HostIP":"","HostPort":8080,"Protocol":"tcp"}]},"type":"portmap"}',
    );
  });

  it('a capability named __proto__ stays data', () => {
    const args = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    const rc = runtimeConfigFor(JSON.parse('{"__proto__": true}'), args);
    expect(Object.keys(rc)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('injects prevResult and the GC keys where given', () => {
    const l = parseList(Buffer.from(list('n')), 'f', false);
    const s = JSON.parse(pluginStdin({ type: 'x' }, l, { prevResult: { cniVersion: '1.0.0' }, extra: { 'cni.dev/valid-attachments': [] } }).toString());
    expect(s).toEqual({ type: 'x', name: 'n', cniVersion: '1.0.0', prevResult: { cniVersion: '1.0.0' }, 'cni.dev/valid-attachments': [] });
  });
});
