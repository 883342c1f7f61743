import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findExecutable, renderCommand } from '../../../lib/exec';

const COMMENT = 'name: "mynet" id: "ctr-abc123"';

describe('renderCommand', () => {
  it('quotes only what a shell would need quoted', () => {
    expect(renderCommand('iptables', ['-w', '-t', 'nat', '!', '-d', '224.0.0.0/4', '--comment', COMMENT])).toBe(
      `iptables -w -t nat ! -d 224.0.0.0/4 --comment 'name: "mynet" id: "ctr-abc123"'`,
    );
    expect(renderCommand('x', ["it's"])).toBe(`x 'it'\\''s'`);
  });
});

describe('findExecutable', () => {
  it('looks in PATH first, then the fallback directories, and wants an executable file', () => {
    const a = fs.mkdtempSync(path.join(os.tmpdir(), 'exec-unit-a-'));
    const b = fs.mkdtempSync(path.join(os.tmpdir(), 'exec-unit-b-'));
    try {
      fs.writeFileSync(path.join(a, 'iptables'), '', { mode: 0o644 }); // not executable
      fs.mkdirSync(path.join(a, 'ip6tables')); // a directory
      fs.writeFileSync(path.join(b, 'iptables'), '#!/bin/sh\n', { mode: 0o755 });
      expect(findExecutable('iptables', `relative:${a}`, [])).toBeUndefined();
      expect(findExecutable('iptables', a, [b])).toBe(path.join(b, 'iptables'));
      expect(findExecutable('iptables', `${b}:${a}`, [])).toBe(path.join(b, 'iptables'));
      expect(findExecutable('ip6tables', a, [b])).toBeUndefined();
      expect(findExecutable('iptables', undefined, [])).toBeUndefined();
    } finally {
      fs.rmSync(a, { recursive: true, force: true });
      fs.rmSync(b, { recursive: true, force: true });
    }
  });
});
