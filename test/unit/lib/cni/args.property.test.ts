// CNI_ARGS under hostile input: a map of known keys or a code-4 CniError, never
// prototype pollution, never dependent on pair order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COMMON_ARGS, parseCniArgs, pick } from '../../../../lib/cni/args';
import { Code } from '../../../../lib/cni/errors';
import { check, failure, nastyString, outcome } from '../../../helpers/arbitraries';

const KNOWN = ['IP', 'MAC'];
// A key or value as a runtime could put it in the string: no ";" (the separator, no escaping).
const keyArb = fc.oneof(
  fc.constantFrom(...KNOWN, ...COMMON_ARGS, '__proto__', 'constructor', 'toString', 'ip', 'Mac', 'UNKNOWN'),
  fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '' && !k.includes('=') && !k.includes(';')),
);
const valueArb = fc.oneof(fc.constantFrom('', '1', 'true', '10.1.2.3', 'a=b', '=', '\0', 'ü'), fc.string({ unit: 'binary', maxLength: 10 })).map((v) => v.replaceAll(';', ''));

describe('parseCniArgs', () => {
  it('any string: a map or a code-4 CniError naming CNI_ARGS', () => {
    check(
      fc.property(fc.oneof(nastyString, fc.string({ unit: 'binary', maxLength: 80 }), fc.array(fc.tuple(keyArb, valueArb)).map((p) => p.map(([k, v]) => `${k}=${v}`).join(';'))), fc.array(fc.oneof(fc.constantFrom(...KNOWN), nastyString), { maxLength: 3 }), (s, known) => {
        const r = outcome(() => parseCniArgs(s, known));
        if (!r.ok) {
          expect(r.err.code).toBe(Code.InvalidEnv);
          expect(r.err.message).toMatch(/^CNI_ARGS: /);
          return;
        }
        expect(Object.getPrototypeOf(r.value)).toBe(Object.prototype);
        for (const k of Object.keys(r.value)) expect([...known, ...COMMON_ARGS]).toContain(k);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'IP')).toBe(false);
      }),
      500,
    );
  });

  it('matches a model: last duplicate wins, unknown keys dropped with IgnoreUnknown, order irrelevant', () => {
    check(
      fc.property(fc.array(fc.tuple(keyArb, valueArb), { maxLength: 8 }), fc.boolean(), fc.boolean(), (pairs, lenient, trailing) => {
        const all = lenient ? [...pairs, ['IgnoreUnknown', '1'] as [string, string]] : pairs;
        const text = all.map(([k, v]) => `${k}=${v}`).join(';') + (trailing ? ';' : '');
        const model = new Map<string, string>();
        for (const [k, v] of all) model.set(k, v);
        const known = new Set([...KNOWN, ...COMMON_ARGS]);
        const unknown = [...model.keys()].filter((k) => !known.has(k));
        const ig = model.get('IgnoreUnknown');
        const igValid = ig === undefined || /^(1|true|0|false)$/i.test(ig);
        const r = outcome(() => parseCniArgs(text, KNOWN));
        if (!igValid) {
          expect(r.ok).toBe(false);
          return;
        }
        const isLenient = ig !== undefined && /^(1|true)$/i.test(ig);
        if (unknown.length && !isLenient) {
          expect(r.ok ? r.value : r.err.code).toBe(Code.InvalidEnv);
          if (!r.ok) expect(r.err.message).toContain(unknown[0]);
          return;
        }
        if (!r.ok) throw r.err;
        expect(r.value).toEqual(Object.fromEntries([...model].filter(([k]) => known.has(k))));
        for (const [k, v] of model) if (known.has(k)) expect(pick(r.value, k)).toBe(v);
        // Reversing the pairs with distinct keys must not change anything.
        if (new Set(all.map(([k]) => k)).size === all.length) {
          expect(parseCniArgs([...all].reverse().map(([k, v]) => `${k}=${v}`).join(';'), KNOWN)).toEqual(r.value);
        }
      }),
      500,
    );
  });

  it('pick never reads the prototype chain', () => {
    check(
      fc.property(fc.constantFrom('toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'), (k) => {
        expect(pick(parseCniArgs('', KNOWN), k)).toBeUndefined();
      }),
      20,
    );
    expect(pick(parseCniArgs('IgnoreUnknown=1;__proto__=x', ['__proto__']), '__proto__')).toBe('x');
  });

  it('a bare key or an empty key is an invalid pair, code 4', () => {
    for (const s of ['IP', '=x', 'IP=1;MAC', ';;=;']) {
      const e = failure(() => parseCniArgs(s, KNOWN));
      expect(e.code).toBe(Code.InvalidEnv);
      expect(e.message).toContain('invalid pair');
    }
  });
});
