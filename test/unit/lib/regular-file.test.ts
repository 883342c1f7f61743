// lib/regular-file.ts: what every reader of a config-named or shared-directory file
// relies on: no hang on a FIFO, no endless read of a device, a hard size bound.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileTooLarge, NotRegularFile, fileContains, readRegularFile } from '../../../lib/regular-file';
import { tempDir } from '../../helpers/ns';

describe('readRegularFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('cnit-regfile-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const refusal = (file: string, max = 1024, opts = {}): unknown => {
    try {
      readRegularFile(file, max, opts);
    } catch (e) {
      return e;
    }
    throw new Error(`${file} was read`);
  };

  it('reads a regular file, and one behind a symlink', () => {
    fs.writeFileSync(path.join(dir, 'a'), 'hello');
    fs.symlinkSync('a', path.join(dir, 'link'));
    expect(readRegularFile(path.join(dir, 'a'), 5).toString()).toBe('hello');
    expect(readRegularFile(path.join(dir, 'link'), 5).toString()).toBe('hello');
    expect(readRegularFile(path.join(dir, 'a'), 5, { noFollow: true }).toString()).toBe('hello');
  });

  it('a FIFO nobody writes: refused at once, naming what it is', () => {
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const t0 = Date.now();
    const e = refusal(fifo);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(NotRegularFile);
    expect((e as NotRegularFile).message).toBe(`${fifo} is not a regular file (it is a FIFO)`);
  });

  it.each([
    ['/dev/zero', 'a character device'],
    ['/', 'a directory'],
  ])('%s, also behind a symlink: refused as %s', (target, type) => {
    const link = path.join(dir, 'link');
    fs.symlinkSync(target, link);
    expect(refusal(target)).toMatchObject({ type });
    expect(refusal(link)).toMatchObject({ type, file: link });
  });

  it('a unix socket (open fails with ENXIO): refused as a socket', async () => {
    const sock = path.join(dir, 'sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      expect(refusal(sock)).toMatchObject({ type: 'a socket' });
    } finally {
      server.close();
    }
  });

  it('noFollow: a symlink itself is refused by the open (ELOOP)', () => {
    fs.writeFileSync(path.join(dir, 'a'), 'x');
    fs.symlinkSync('a', path.join(dir, 'link'));
    expect(refusal(path.join(dir, 'link'), 10, { noFollow: true })).toMatchObject({ code: 'ELOOP' });
  });

  it('the bound: exactly maxBytes is read, one more is refused, a 256 MiB sparse file without reading it', () => {
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, 'x'.repeat(5000));
    expect(readRegularFile(f, 5000).length).toBe(5000);
    expect(refusal(f, 4999)).toBeInstanceOf(FileTooLarge);
    fs.truncateSync(f, 256 * 1024 * 1024);
    const t0 = Date.now();
    expect((refusal(f, 1 << 20) as FileTooLarge).message).toBe(`${f} is larger than 1048576 bytes`);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('a file whose size says 0 (procfs) is read to its end, within the bound', () => {
    const text = readRegularFile('/proc/self/status', 1 << 20).toString();
    expect(text).toMatch(/^Name:/);
    expect(refusal('/proc/self/status', 16)).toBeInstanceOf(FileTooLarge);
  });

  it('errors of the open come through with their errno', () => {
    expect(refusal(path.join(dir, 'absent'))).toMatchObject({ code: 'ENOENT' });
  });
});

describe('fileContains', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('cnit-contains-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds a needle anywhere, also across the boundary of two reads, within the bound only', () => {
    const f = path.join(dir, 'exe');
    const needle = 'built by cni-flannel-bridge';
    // the needle straddles the 1 MiB read
    fs.writeFileSync(f, Buffer.concat([Buffer.alloc((1 << 20) - 5), Buffer.from(needle), Buffer.alloc(100)]));
    expect(fileContains(f, needle, 16 << 20)).toBe(true);
    expect(fileContains(f, 'not in there', 16 << 20)).toBe(false);
    expect(fileContains(f, needle, 1 << 20)).toBe(false);
  });

  it('a FIFO is refused at once, without waiting for a writer', () => {
    const fifo = path.join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    expect(() => fileContains(fifo, 'x', 1024)).toThrow(NotRegularFile);
  });
});
