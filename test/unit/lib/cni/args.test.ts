import { describe, expect, it } from 'vitest';
import { COMMON_ARGS, parseCniArgs, pick } from '../../../../lib/cni/args';
import { CniError, Code } from '../../../../lib/cni/errors';

function argsError(s: string, known: readonly string[] = []): CniError {
  try {
    parseCniArgs(s, known);
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(Code.InvalidEnv);
    return err as CniError;
  }
  throw new Error(`parseCniArgs(${JSON.stringify(s)}) did not throw`);
}

const K8S = ['IgnoreUnknown=1', 'K8S_POD_NAME=p', 'K8S_POD_NAMESPACE=n', 'K8S_POD_INFRA_CONTAINER_ID=x', 'K8S_POD_UID=u'];

/** Every ordering of a small list. */
function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('parseCniArgs', () => {
  it('lists the keys CRI runtimes always send', () => {
    expect([...COMMON_ARGS].sort()).toEqual(['IgnoreUnknown', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_UID']);
  });

  it('maps an empty string to no args', () => {
    expect(parseCniArgs('', [])).toEqual({});
  });

  it('accepts the containerd set in any order', () => {
    const want = { IgnoreUnknown: '1', K8S_POD_NAME: 'p', K8S_POD_NAMESPACE: 'n', K8S_POD_INFRA_CONTAINER_ID: 'x', K8S_POD_UID: 'u' };
    for (const order of permutations(K8S)) expect(parseCniArgs(order.join(';'), [])).toEqual(want);
  });

  it('accepts the common keys without IgnoreUnknown (older runtimes, no UID)', () => {
    expect(parseCniArgs('K8S_POD_NAMESPACE=n;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=x', [])).toEqual({
      K8S_POD_NAMESPACE: 'n',
      K8S_POD_NAME: 'p',
      K8S_POD_INFRA_CONTAINER_ID: 'x',
    });
  });

  it('ignores empty segments such as a trailing ";"', () => {
    expect(parseCniArgs('IP=10.0.0.5;', ['IP'])).toEqual({ IP: '10.0.0.5' });
    expect(parseCniArgs(';;IP=10.0.0.5;;K8S_POD_NAME=p;', ['IP'])).toEqual({ IP: '10.0.0.5', K8S_POD_NAME: 'p' });
    expect(parseCniArgs(';', [])).toEqual({});
  });

  it('splits on the first "=" only and keeps empty values', () => {
    expect(parseCniArgs('X=a=b==c;K8S_POD_NAME=', ['X'])).toEqual({ X: 'a=b==c', K8S_POD_NAME: '' });
  });

  it('lets a later duplicate win', () => {
    expect(parseCniArgs('IP=10.0.0.1;IP=10.0.0.2', ['IP'])).toEqual({ IP: '10.0.0.2' });
  });

  it.each(['K8S_POD_NAME', 'IP=1;bare', '=v', 'IP=1; '])('rejects a segment without key=value: %j', (s) => {
    const seg = s.split(';').find((x) => x !== '' && x.indexOf('=') <= 0)!;
    expect(argsError(s, ['IP']).message).toBe(`CNI_ARGS: invalid pair "${seg}"`);
  });

  it('rejects unknown keys naming each of them once, in order', () => {
    expect(argsError('FOO=1;K8S_POD_NAME=p;BAR=2;FOO=3').message).toBe('CNI_ARGS: unknown args [FOO BAR]');
  });

  it('matches keys case-sensitively', () => {
    expect(argsError('ip=10.0.0.1', ['IP']).message).toBe('CNI_ARGS: unknown args [ip]');
    expect(argsError('k8s_pod_name=p').message).toMatch(/unknown args \[k8s_pod_name\]/);
    expect(argsError('ignoreunknown=1;X=1').message).toMatch(/unknown args \[ignoreunknown X\]/);
  });

  it.each(['1', 'true', 'TRUE', 'True'])('IgnoreUnknown=%s anywhere drops unknown keys', (v) => {
    expect(parseCniArgs(`FOO=1;IP=10.0.0.1;IgnoreUnknown=${v};BAR=x=y`, ['IP'])).toEqual({ IP: '10.0.0.1', IgnoreUnknown: v });
    expect(parseCniArgs(`IgnoreUnknown=${v};FOO=1`, [])).toEqual({ IgnoreUnknown: v });
  });

  it.each(['0', 'false', 'FALSE'])('IgnoreUnknown=%s keeps parsing strict', (v) => {
    expect(argsError(`FOO=1;IgnoreUnknown=${v}`).message).toBe('CNI_ARGS: unknown args [FOO]');
    expect(parseCniArgs(`IgnoreUnknown=${v};K8S_POD_NAME=p`, [])).toEqual({ IgnoreUnknown: v, K8S_POD_NAME: 'p' });
  });

  it.each(['yes', '', '2', ' 1', 'on'])('rejects IgnoreUnknown=%j even without unknown keys', (v) => {
    expect(argsError(`IgnoreUnknown=${v}`).message).toMatch(/IgnoreUnknown/);
  });

  it('still rejects a malformed pair when IgnoreUnknown is set', () => {
    expect(argsError('IgnoreUnknown=1;garbage').message).toBe('CNI_ARGS: invalid pair "garbage"');
  });

  it('keeps hostile key names as plain data', () => {
    const args = parseCniArgs('__proto__=x;constructor=y', ['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(pick(args, '__proto__')).toBe('x');
    expect(pick(args, 'constructor')).toBe('y');
  });
});

describe('pick', () => {
  it('returns own values only', () => {
    const args = parseCniArgs('K8S_POD_NAME=p;K8S_POD_UID=', []);
    expect(pick(args, 'K8S_POD_NAME')).toBe('p');
    expect(pick(args, 'K8S_POD_UID')).toBe('');
    expect(pick(args, 'K8S_POD_NAMESPACE')).toBeUndefined();
    expect(pick(args, 'toString')).toBeUndefined();
    expect(pick(args, 'hasOwnProperty')).toBeUndefined();
  });
});
