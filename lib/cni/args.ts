// CNI_ARGS (github.com/containernetworking/cni pkg/types LoadArgs). Deprecated, but every Kubernetes
// runtime still sends it, so parsing must be tolerant where runtimes are sloppy and
// as strict as Go's types.LoadArgs where the content is wrong.
import { CniError, Code } from './errors';

/** Keys Kubernetes CRI runtimes always send (containerd's toCNILabels); never an error. */
export const COMMON_ARGS: readonly string[] = Object.freeze([
  'IgnoreUnknown',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
]);

const argsError = (msg: string) => new CniError(Code.InvalidEnv, `CNI_ARGS: ${msg}`);

function ignoreUnknown(value: string | undefined): boolean {
  if (value === undefined) return false;
  // Go decodes the field as a boolean: only these spellings, any case.
  if (/^(1|true)$/i.test(value)) return true;
  if (/^(0|false)$/i.test(value)) return false;
  throw argsError(`invalid IgnoreUnknown value "${value}": expected 1, true, 0 or false`);
}

/**
 * "K1=V1;K2=V2" → map of the known keys (`knownKeys` plus COMMON_ARGS).
 * Unknown keys are an error unless IgnoreUnknown is true, and are then dropped,
 * as Go drops what its args struct has no field for.
 */
export function parseCniArgs(s: string, knownKeys: readonly string[]): Record<string, string> {
  const pairs = new Map<string, string>();
  // Empty segments are skipped because runtimes leave a trailing ";" (Go would fail).
  for (const seg of s.split(';')) {
    if (seg === '') continue;
    // Split on the first "=" only: a value may itself contain "=" (Go would fail).
    const eq = seg.indexOf('=');
    if (eq <= 0) throw argsError(`invalid pair "${seg}"`);
    const key = seg.slice(0, eq);
    pairs.set(key, seg.slice(eq + 1)); // a later duplicate wins
  }
  // Decided after all pairs are read: containerd sends them in random order.
  const lenient = ignoreUnknown(pairs.get('IgnoreUnknown'));
  const known = new Set([...COMMON_ARGS, ...knownKeys]);
  const unknown = [...pairs.keys()].filter((k) => !known.has(k));
  if (unknown.length && !lenient) throw argsError(`unknown args [${unknown.join(' ')}]`);
  // fromEntries defines own properties, so a key such as "__proto__" stays plain data.
  return Object.fromEntries([...pairs].filter(([k]) => known.has(k)));
}

/** Own-property lookup: CNI_ARGS keys come from outside and may be "toString" or "__proto__". */
export function pick(args: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(args, key) ? args[key] : undefined;
}
