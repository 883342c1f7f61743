import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTempOf, listScratch, readScratch, removeScratch, removeTemp, saveScratch, scratchPath } from '../../../../plugins/flannel/scratch';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flannel-scratch-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const mode = (p: string): number => fs.statSync(p).mode & 0o777;

describe('scratch files', () => {
  it('creates the dir (with parents) 0700 and the file 0600, leaving no temp file', () => {
    const dataDir = path.join(tmp, 'var', 'lib', 'cni', 'flannel');
    const old = process.umask(0o022);
    try {
      saveScratch(dataDir, 'abc123', Buffer.from('{"type":"bridge"}'));
    } finally {
      process.umask(old);
    }
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(path.join(tmp, 'var'))).toBe(0o700);
    expect(mode(path.join(dataDir, 'abc123'))).toBe(0o600);
    expect(fs.readdirSync(dataDir)).toEqual(['abc123']);
    expect(readScratch(dataDir, 'abc123')?.toString()).toBe('{"type":"bridge"}');
  });

  it('overwrites an existing file in place of the old content, no temp left', () => {
    saveScratch(tmp, 'c1', Buffer.from('old old old old'));
    saveScratch(tmp, 'c1', Buffer.from('new'));
    expect(readScratch(tmp, 'c1')?.toString()).toBe('new');
    expect(fs.readdirSync(tmp)).toEqual(['c1']);
  });

  it('a failed write leaves no temp file behind', () => {
    // the final name is a directory: rename fails after the temp file was written
    fs.mkdirSync(path.join(tmp, 'c2'));
    fs.writeFileSync(path.join(tmp, 'c2', 'x'), '');
    expect(() => saveScratch(tmp, 'c2', Buffer.from('x'))).toThrow();
    expect(fs.readdirSync(tmp)).toEqual(['c2']);
  });

  it('read of a missing file is undefined; remove is idempotent', () => {
    expect(readScratch(tmp, 'nope')).toBeUndefined();
    saveScratch(tmp, 'c3', Buffer.from('x'));
    removeScratch(tmp, 'c3');
    removeScratch(tmp, 'c3');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('refuses names that could leave dataDir', () => {
    for (const bad of ['../x', 'a/b', '..', '.', '', '.hidden', '/abs']) {
      expect(() => scratchPath(tmp, bad)).toThrow(/invalid container ID/);
      expect(() => saveScratch(tmp, bad, Buffer.from('x'))).toThrow(/invalid container ID/);
    }
    expect(scratchPath(tmp, 'a..b')).toBe(path.join(tmp, 'a..b'));
  });

  it('lists only regular files named like container IDs, and temp files separately', () => {
    saveScratch(tmp, 'b', Buffer.from('x'));
    saveScratch(tmp, 'a', Buffer.from('x'));
    fs.mkdirSync(path.join(tmp, 'dir'));
    fs.symlinkSync(path.join(tmp, 'a'), path.join(tmp, 'link'));
    fs.writeFileSync(path.join(tmp, '.a.tmp-0a1b2c3d4e5f'), 'x');
    fs.writeFileSync(path.join(tmp, '.other'), 'x');
    const l = listScratch(tmp);
    expect(l.ids).toEqual(['a', 'b']);
    expect(l.temps.map((t) => t.name)).toEqual(['.a.tmp-0a1b2c3d4e5f']);
    removeTemp(tmp, '.a.tmp-0a1b2c3d4e5f');
    expect(() => removeTemp(tmp, 'a')).toThrow();
    expect(listScratch(path.join(tmp, 'missing'))).toEqual({ ids: [], temps: [] });
  });

  it("a container's temp files are matched exactly: never another ID's, not even one it is a prefix of", () => {
    const long1 = `${'x'.repeat(200)}-one`;
    const long2 = `${'x'.repeat(200)}-two`;
    const hex = '0a1b2c3d4e5f';
    expect(isTempOf(`.abc.tmp-${hex}`, 'abc')).toBe(true);
    expect(isTempOf(`.abc.tmp-${hex}`, 'ab')).toBe(false);
    expect(isTempOf(`.abc.tmp-${hex}.tmp-${hex}`, 'abc')).toBe(false);
    expect(isTempOf(`.abc.tmp-${hex}.tmp-${hex}`, `abc.tmp-${hex}`)).toBe(true);
    // IDs too long for NAME_MAX share no prefix-derived stem: each has its own hash.
    const hashed = `.@${createHash('sha256').update(long1).digest('hex')}.tmp-${hex}`;
    expect(isTempOf(hashed, long1)).toBe(true);
    expect(isTempOf(hashed, long2)).toBe(false);
  });
});
