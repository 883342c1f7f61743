// The doors between the rooms of the house, checked on the import statements of the
// source: tools reach the plugins only through their public files, lib/ knows nothing
// of plugins or tools, and the netlink library and the namespace handle know nothing
// of CNI. A plain scan of the text (no type checker): import/export ... from,
// side-effect imports, require() and import().
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** The only files of plugins/ a tool may import (without the .ts). */
const PUBLIC_PLUGIN_FILES = ['plugins/bridge/public', 'plugins/flannel/public'];

const SPECIFIER_RES = [
  // import x from '...', import { a,\n b } from '...', import type ..., export { a } from '...', export * from '...'
  /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  // import '...'
  /^\s*import\s*['"]([^'"]+)['"]/gm,
  // require('...'), import('...'), typeof import('...')
  /\b(?:require|import)\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** Every module specifier the source text imports. */
function specifiersOf(text: string): string[] {
  const out = new Set<string>();
  for (const re of SPECIFIER_RES) for (const m of text.matchAll(re)) out.add(m[1]);
  return [...out];
}

/** A relative specifier as a repository path without extension; undefined for a package or node: import. */
function resolveFrom(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const abs = path.resolve(repoRoot, path.dirname(file), spec);
  return path.relative(repoRoot, abs).split(path.sep).join('/').replace(/\.(ts|js|mjs|cjs)$/, '');
}

interface Rule {
  /** which files (repository paths) the rule governs */
  applies: (file: string) => boolean;
  /** why an import target is refused, or undefined when allowed */
  refuse: (target: string) => string | undefined;
}

const under = (dir: string) => (p: string) => p === dir || p.startsWith(`${dir}/`);

const RULES: Rule[] = [
  {
    applies: under('tools'),
    refuse: (t) => (under('plugins')(t) && !PUBLIC_PLUGIN_FILES.includes(t) ? `tools use only the plugins' public files (${PUBLIC_PLUGIN_FILES.join(', ')})` : undefined),
  },
  {
    applies: under('lib'),
    refuse: (t) => (under('plugins')(t) || under('tools')(t) ? 'lib/ knows nothing of plugins or tools' : undefined),
  },
  {
    applies: (f) => under('lib/netlink')(f) || f === 'lib/netns.ts',
    refuse: (t) => (under('lib/cni')(t) ? 'lib/netlink and lib/netns.ts import nothing from lib/cni' : undefined),
  },
];

/** Every refused import of one file: "file imports 'spec': why". */
function violationsOf(file: string, text: string, rules: Rule[] = RULES): string[] {
  const out: string[] = [];
  for (const spec of specifiersOf(text)) {
    const target = resolveFrom(file, spec);
    if (target === undefined) continue;
    for (const rule of rules) {
      if (!rule.applies(file)) continue;
      const why = rule.refuse(target);
      if (why) out.push(`${file} imports '${spec}': ${why}`);
    }
  }
  return out;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...tsFiles(rel));
    else if (e.isFile() && e.name.endsWith('.ts')) out.push(rel);
  }
  return out.sort();
}

describe('import boundaries', () => {
  const files = [...tsFiles('lib'), ...tsFiles('tools')];

  it('finds the sources it guards', () => {
    expect(files).toContain('tools/cnictl/doctor/gather.ts');
    expect(files).toContain('lib/netns.ts');
    expect(files.filter(under('lib/netlink')).length).toBeGreaterThan(3);
    for (const f of PUBLIC_PLUGIN_FILES) expect(fs.existsSync(path.join(repoRoot, `${f}.ts`)), f).toBe(true);
  });

  it('tools import from plugins/ only their public files; lib/ nothing of plugins or tools; netlink and netns nothing of lib/cni', () => {
    const bad = files.flatMap((f) => violationsOf(f, fs.readFileSync(path.join(repoRoot, f), 'utf8')));
    expect(bad).toEqual([]);
  });

  it('the cnictl doctor does use the public files (the scan sees real imports)', () => {
    const gather = fs.readFileSync(path.join(repoRoot, 'tools/cnictl/doctor/gather.ts'), 'utf8');
    const targets = specifiersOf(gather).map((s) => resolveFrom('tools/cnictl/doctor/gather.ts', s));
    expect(targets).toContain('plugins/flannel/public');
    expect(targets).toContain('plugins/bridge/public');
  });

  describe('the scan catches each kind of import', () => {
    const cases: [string, string][] = [
      ['tools/cnictl/doctor/x.ts', "import { readScratch } from '../../../plugins/flannel/scratch';"],
      ['tools/cnictl/doctor/x.ts', "import type {\n  SubnetEnv,\n} from '../../../plugins/flannel/subnet-env';"],
      ['tools/cnictl/x.ts', "export { serve } from '../../plugins/bridge/serve';"],
      ['tools/cnictl/x.ts', "export * from '../../plugins/bridge/config';"],
      ['tools/cnictl/x.ts', "import '../../plugins/bridge/main';"],
      ['tools/cnictl/x.ts', "const m = require('../../plugins/bridge/add') as typeof import('../../plugins/bridge/add');"],
      ['tools/cnictl/x.ts', "const m = await import('../../plugins/flannel/commands');"],
      ['lib/ipam/x.ts', "import { DEFAULT_BRIDGE } from '../../plugins/bridge/public';"],
      ['lib/x.ts', "import { runCli } from '../tools/cnictl/cli';"],
      ['lib/netlink/x.ts', "import { CniError } from '../cni/errors';"],
      ['lib/netns.ts', "import { Code } from './cni/errors';"],
    ];
    it.each(cases)('%s: %s', (file, text) => {
      expect(violationsOf(file, text)).toHaveLength(1);
    });

    it('allows the public files, lib/, packages and node: modules', () => {
      const ok = [
        "import { readSubnetEnv } from '../../../plugins/flannel/public';",
        "import { DEFAULT_BRIDGE } from '../../../plugins/bridge/public';",
        "import { errorText } from '../../../lib/cni/errors';",
        "import * as fs from 'node:fs';",
        "import { Address4 } from 'ip-address';",
        "// import { x } from '../../../plugins/flannel/scratch'; (a comment)",
      ].join('\n');
      expect(violationsOf('tools/cnictl/doctor/x.ts', ok)).toEqual([]);
      expect(violationsOf('lib/netlink/x.ts', "import { log } from '../log';")).toEqual([]);
      expect(violationsOf('lib/ipam/x.ts', "import { CniError } from '../cni/errors';")).toEqual([]);
    });
  });
});
