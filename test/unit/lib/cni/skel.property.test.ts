// The dispatcher and parseConf under hostile env and stdin (issue "Nothing lost, nobody in").
import fc from 'fast-check';
import { sleepSync } from '../../../../lib/time';
import { describe, expect, it } from 'vitest';
import { CniError, Code } from '../../../../lib/cni/errors';
import { dispatch, type PluginSpec } from '../../../../lib/cni/skel';
import { MAX_JSON_DEPTH, MAX_STDIN, jsonDepth, parseConf } from '../../../../lib/cni/conf';
import type { CmdArgs, Result } from '../../../../lib/cni/types';
import { SUPPORTED_VERSIONS } from '../../../../lib/cni/version';
import { check, checkAsync, failure, hostileJson, nastyString, nested, outcome, type Json } from '../../../helpers/arbitraries';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const buf = (s: string | Json): Buffer => Buffer.from(typeof s === 'string' ? s : JSON.stringify(s));
const valid = { cniVersion: '1.1.0', name: 'net1', type: 'fake' };

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

const versionArb = fc.oneof(fc.constantFrom(...SUPPORTED_VERSIONS), fc.constantFrom('', '1.0', '9.9.9', '1.0.0.0', '01.0.0', ' 1.0.0', '1.0.0-rc1'), nastyString);

/** Configs near the valid one: a field removed, or replaced by anything at all. */
const nearValid: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(valid),
  fc.record({ cniVersion: versionArb, name: fc.oneof(fc.constant('net1'), nastyString), type: fc.oneof(fc.constant('fake'), nastyString) }, { requiredKeys: [] }),
  fc.tuple(fc.constantFrom('name', 'type', 'cniVersion'), hostileJson).map(([k, v]) => ({ ...valid, [k]: v })),
  fc.tuple(fc.constantFrom('ipam', 'dns', 'args', 'runtimeConfig', 'prevResult', '__proto__', 'constructor'), hostileJson).map(([k, v]) =>
    Object.fromEntries([...Object.entries(valid), [k, v]]),
  ),
);

const stdinArb: fc.Arbitrary<Buffer> = fc.oneof(
  nearValid.map(buf),
  hostileJson.map(buf),
  fc.json().map(buf),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 200 }).map(buf),
  // Truncated configs: every prefix of a valid one.
  fc.nat(60).map((n) => buf(JSON.stringify(valid).slice(0, n))),
  fc.constantFrom(buf('\uFEFF' + JSON.stringify(valid)), buf(JSON.stringify(valid) + 'x'), buf(JSON.stringify(valid) + '\n\n'), buf('[' .repeat(1000))),
);

describe('parseConf: any stdin ends in a NetConf or a CniError 1/6/7', () => {
  it('holds for arbitrary bytes, JSON and near-valid configs', () => {
    check(
      fc.property(stdinArb, (stdin) => {
        const r = outcome(() => parseConf(stdin));
        if (r.ok) {
          expect(r.value.name).toMatch(NAME_RE);
          expect(r.value.name.length).toBeLessThanOrEqual(255);
          expect(typeof r.value.type).toBe('string');
          expect(r.value.type).not.toBe('');
          expect(SUPPORTED_VERSIONS).toContain(r.value.cniVersion);
        } else {
          expect([Code.IncompatibleVersion, Code.DecodeFailure, Code.InvalidConfig]).toContain(r.err.code);
        }
      }),
      500,
    );
  });

  it('a wrong name or type is code 7 naming the field; a wrong cniVersion is 6/7/1 naming it', () => {
    check(
      fc.property(fc.constantFrom('name', 'type', 'cniVersion'), hostileJson, (field, v) => {
        const r = outcome(() => parseConf(buf({ ...valid, [field]: v })));
        if (r.ok) return; // the value happened to be valid for that field
        if (field === 'cniVersion') {
          expect([Code.DecodeFailure, Code.InvalidConfig, Code.IncompatibleVersion]).toContain(r.err.code);
          expect(`${r.err.message} ${r.err.details ?? ''}`).toMatch(/cniVersion|CNI version|config is/);
        } else {
          expect(r.err.code).toBe(Code.InvalidConfig);
          expect(r.err.message).toContain(field);
        }
      }),
      400,
    );
  });

  it('duplicate keys: the last one wins, as JSON.parse (and Go) decide', () => {
    check(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), (first, last) => {
        const text = `{"cniVersion":"9.9.9","name":${JSON.stringify(first)},"type":"fake","cniVersion":"1.0.0","name":${JSON.stringify(last)}}`;
        const c = parseConf(buf(text));
        expect(c.name).toBe(last);
        expect(c.cniVersion).toBe('1.0.0');
      }),
      100,
    );
    // And the other way round fails: the first value is not what counts.
    expect(failure(() => parseConf(buf('{"cniVersion":"1.0.0","name":"n","type":"fake","cniVersion":"9.9.9"}'))).code).toBe(Code.IncompatibleVersion);
  });

  it('jsonDepth counts nesting exactly, whatever the strings hold', () => {
    check(
      fc.property(hostileJson, (v) => {
        expect(jsonDepth(Buffer.from(JSON.stringify(v)), Infinity)).toBe(depthOf(v));
      }),
      500,
    );
    expect(jsonDepth(buf('{"a":"[[[{{{\\"[[","b":["\\\\",["]"]]}'))).toBe(3);
  });

  it('nesting up to the limit is accepted and one level more is code 6, never a RangeError downstream', () => {
    const at = parseConf(buf({ ...valid, extra: nested(MAX_JSON_DEPTH - 1) }));
    // What the plugins do with a config: clone it, print it. Must not blow the stack at the limit.
    expect(() => JSON.stringify(structuredClone(at))).not.toThrow();
    for (const kind of ['array', 'object'] as const) {
      const e = failure(() => parseConf(buf({ ...valid, extra: nested(MAX_JSON_DEPTH, kind) })));
      expect(e.code).toBe(Code.DecodeFailure);
      expect(e.message).toContain('nested deeper than');
    }
  });

  it('absurd nesting (1e6 "[" and 500k balanced levels) is code 6, fast', () => {
    const t0 = Date.now();
    expect(failure(() => parseConf(Buffer.from('['.repeat(1e6)))).code).toBe(Code.DecodeFailure);
    const deep = `{"cniVersion":"1.0.0","name":"n","type":"t","x":${'['.repeat(500_000)}${']'.repeat(500_000)}}`;
    expect(deep.length).toBeLessThanOrEqual(MAX_STDIN);
    expect(failure(() => parseConf(Buffer.from(deep))).message).toContain('nested deeper than');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('more than MAX_STDIN bytes is code 6 naming stdin, before any parsing', () => {
    const big = Buffer.alloc(MAX_STDIN + 1, 0x20);
    const e = failure(() => parseConf(big));
    expect(e.code).toBe(Code.DecodeFailure);
    expect(e.message).toMatch(/stdin is larger than 1048576 bytes/);
  });
});

// ------------------------------------------------------------------ dispatch

type Behaviour = 'ok' | 'garbage' | 'cni' | 'error' | 'null' | 'undefined' | 'string' | 'nullproto' | 'proxy' | 'symbol' | 'bigint' | 'late';
const BEHAVIOURS: Behaviour[] = ['ok', 'garbage', 'cni', 'error', 'null', 'undefined', 'string', 'nullproto', 'proxy', 'symbol', 'bigint', 'late'];

const GOOD_RESULT: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', sandbox: '/x', mtu: 1400 }],
  ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0' }],
};

const hostileProxy = (): object =>
  new Proxy(
    {},
    {
      get() {
        throw new Error('proxy get');
      },
      getPrototypeOf() {
        throw new Error('proxy getPrototypeOf');
      },
    },
  );

function thrown(b: Behaviour): unknown {
  switch (b) {
    case 'cni':
      return new CniError(Code.TryAgainLater, 'busy');
    case 'error':
      return new TypeError('handler bug');
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'string':
      return 'a string';
    case 'nullproto':
      return Object.create(null);
    case 'proxy':
      return hostileProxy();
    case 'symbol':
      return Symbol('s');
    case 'bigint':
      return 10n;
    default:
      return new Error(b);
  }
}

function fakeSpec(b: Behaviour, calls: CmdArgs[]): PluginSpec {
  const run = (a: CmdArgs): void => {
    calls.push(a);
    if (b === 'late') sleepSync(1);
    if (b !== 'ok' && b !== 'garbage' && b !== 'late') throw thrown(b);
  };
  return {
    about: 'fake',
    add: (a) => {
      run(a);
      // A buggy handler's result: not a Result at all.
      return b === 'garbage' ? ({ interfaces: 'eth0', ips: [{ address: 5n }] } as unknown as Result) : GOOD_RESULT;
    },
    del: run,
    check: run,
    gc: run,
    status: run,
  };
}

const envValue = (good: string[]) => fc.option(fc.oneof(fc.constantFrom(...good), nastyString), { nil: undefined });
const goodEnv = fc.record({
  CNI_COMMAND: fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'),
  CNI_CONTAINERID: fc.constantFrom('ctr1', 'A1_b.c-d'),
  CNI_NETNS: fc.constant('/run/netns/prop-test-missing'),
  CNI_IFNAME: fc.constantFrom('eth0', 'net1'),
  CNI_PATH: fc.constant('/opt/cni/bin'),
});
const hostileEnv = fc.record(
  {
    CNI_COMMAND: envValue(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION', 'add', 'FROB']),
    CNI_CONTAINERID: envValue(['ctr1', 'A1_b.c-d', '-abc', 'a/b', 'a'.repeat(300)]),
    CNI_NETNS: envValue(['/run/netns/prop-test-missing', '/proc/self/ns/net', '']),
    CNI_IFNAME: envValue(['eth0', 'eth0123456789abc', '..', 'a:b']),
    CNI_ARGS: envValue(['IgnoreUnknown=1;K8S_POD_NAME=p']),
    CNI_PATH: envValue(['/opt/cni/bin', 'rel:.']),
    CNI_NETNS_OVERRIDE: envValue(['1', 'true']),
  },
  { requiredKeys: [] },
);
const envArb = fc.oneof(goodEnv, hostileEnv);

const readerArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SUPPORTED_VERSIONS).map((v) => () => buf({ ...valid, cniVersion: v })) },
  { weight: 5, arbitrary: stdinArb.map((b) => () => b) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<() => Buffer>(
      () => {
        throw new CniError(Code.DecodeFailure, 'config on stdin is larger than 1048576 bytes');
      },
      () => {
        throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      },
      () => {
        throw Object.create(null);
      },
    ),
  },
);

function validIfName(n: string): boolean {
  return n !== '' && Buffer.byteLength(n) <= 15 && n !== '.' && n !== '..' && !/[/:\s\0]/.test(n);
}

describe('dispatch: any env, stdin and handler behaviour gives exactly one protocol outcome', () => {
  it('never rejects, never hangs, prints one JSON error with a numeric code or a proper success', async () => {
    await checkAsync(
      fc.asyncProperty(envArb, readerArb, fc.constantFrom(...BEHAVIOURS), async (env, read, behaviour) => {
        const calls: CmdArgs[] = [];
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), 2000)));
        const o = await Promise.race([dispatch(fakeSpec(behaviour, calls), env, read), timeout]);
        clearTimeout(timer);
        if (o === 'hang') throw new Error('dispatch did not finish within 2 s');
        expect([0, 1]).toContain(o.exitCode);
        const cmd = env.CNI_COMMAND;
        if (o.exitCode === 1) {
          expect(o.stdout.endsWith('\n')).toBe(true);
          expect(o.stdout.trim().split('\n')).toHaveLength(1);
          const e = JSON.parse(o.stdout);
          expect(Number.isInteger(e.code) && e.code >= 0).toBe(true);
          expect(typeof e.msg).toBe('string');
          if (e.cniVersion !== undefined) expect(SUPPORTED_VERSIONS).toContain(e.cniVersion);
          // Before any handler ran, only the dispatcher's own codes are possible.
          if (calls.length === 0) expect([Code.IncompatibleVersion, Code.InvalidEnv, Code.IOFailure, Code.DecodeFailure, Code.InvalidConfig]).toContain(e.code);
        } else if (cmd === 'VERSION') {
          expect(JSON.parse(o.stdout).supportedVersions).toEqual(SUPPORTED_VERSIONS);
        } else if (cmd === 'ADD') {
          expect(JSON.parse(o.stdout).cniVersion).toBe(calls[0]!.conf.cniVersion);
        } else {
          expect(o.stdout).toBe('');
        }
        // A handler only ever sees validated input.
        for (const a of calls) {
          expect(a.conf.name).toMatch(NAME_RE);
          expect(SUPPORTED_VERSIONS).toContain(a.conf.cniVersion);
          if (['ADD', 'DEL', 'CHECK'].includes(a.command)) {
            expect(a.containerId).toMatch(NAME_RE);
            expect(validIfName(a.ifName)).toBe(true);
          }
          if (a.command === 'ADD' || a.command === 'CHECK') expect(a.netns).not.toBe('/proc/self/ns/net');
          for (const dir of a.path) expect(dir).not.toBe('');
        }
      }),
      400,
    );
  });

  it('a handler throwing a value that cannot be printed still yields a 999 error JSON', async () => {
    for (const b of ['nullproto', 'proxy', 'symbol', 'bigint', 'null', 'undefined'] as Behaviour[]) {
      const o = await dispatch(fakeSpec(b, []), { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, () => buf(valid));
      expect(o.exitCode, b).toBe(1);
      expect(JSON.parse(o.stdout), b).toMatchObject({ code: Code.Internal, msg: expect.any(String) });
    }
  });

  it('an over-long, NUL-carrying or path-like container id or ifname never reaches a handler', async () => {
    await checkAsync(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('..', '.', 'a/b', '../x', 'a\0b', '-x', ' x', 'x y'), nastyString),
        fc.oneof(fc.constantFrom('..', '.', 'a/b', 'a\0b', 'x'.repeat(16), 'ü'.repeat(8)), nastyString),
        async (id, ifName) => {
          const calls: CmdArgs[] = [];
          const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: '/run/netns/x', CNI_IFNAME: ifName, CNI_PATH: '/x' };
          const o = await dispatch(fakeSpec('ok', calls), env, () => buf(valid));
          const idOk = NAME_RE.test(id);
          if (!idOk || !validIfName(ifName)) {
            expect(o.exitCode).toBe(1);
            const e = JSON.parse(o.stdout);
            expect(e.code).toBe(Code.InvalidEnv);
            // Empty is "missing" (checked first, naming the variables), then the ID, then the ifname.
            const want = id === '' || ifName === '' ? /required env variables \[.*CNI_(CONTAINERID|IFNAME)/ : idOk ? /interface name/ : /containerID/;
            expect(e.msg).toMatch(want);
            expect(calls).toHaveLength(0);
          }
        },
      ),
      300,
    );
  });
});
