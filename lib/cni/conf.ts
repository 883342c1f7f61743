// The network config on stdin and the names the spec constrains (https://github.com/containernetworking/cni/blob/main/SPEC.md#parameters, #section-1-network-configuration-format):
// decoded once, with the Go skel's codes (6 undecodable, 7 invalid, 1 incompatible).
import { CniError, Code, errorText } from './errors';
import type { NetConf, Verb } from './types';
import { SUPPORTED_VERSIONS, parseVersion } from './version';

import { MAX_STDIN } from './versions';

export { MAX_STDIN };
/**
 * JSON.parse itself copes with any depth, but everything after it recurses
 * (structuredClone, JSON.stringify, lib/gojson's marshalGo) and would die with a
 * RangeError (999) half-way through a verb. Real configs are < 10 levels deep.
 */
export const MAX_JSON_DEPTH = 512;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$/;

export function validateContainerId(id: string): void {
  if (!NAME_RE.test(id)) throw new CniError(Code.InvalidEnv, `invalid characters in containerID "${id}"`);
}

export function validateIfName(name: string): void {
  let why: string | undefined;
  if (name === '') why = 'is empty';
  else if (Buffer.byteLength(name) > 15) why = 'is longer than 15 bytes';
  else if (name === '.' || name === '..') why = 'is "." or ".."';
  // "%" too: the kernel expands "eth%d" into the first free eth<N>, so the link the
  // result names would not exist and DEL would release an address still in use.
  else if (/[/:%\s\0]/.test(name)) why = 'contains "/", ":", "%", a NUL or white space';
  if (why) throw new CniError(Code.InvalidEnv, `invalid interface name "${name}": it ${why}`);
}

export function validateNetworkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new CniError(Code.InvalidConfig, 'missing network name: the config needs a "name"');
  if (name.length > 255 || !NAME_RE.test(name)) {
    throw new CniError(Code.InvalidConfig, `invalid characters in network name "${name}": it must match ${NAME_RE.source}`);
  }
}

/** Deepest `[`/`{` nesting of JSON text, counted on the bytes (strings skipped); stops past `limit`. */
export function jsonDepth(buf: Buffer, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte (multi-byte UTF-8 never contains '"' or '\\')
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Parse and validate stdin into a NetConf: codes 6 and 7, then 6/1 for the version. */
export function parseConf(stdin: Buffer, verb?: Verb): NetConf {
  if (stdin.length > MAX_STDIN) throw new CniError(Code.DecodeFailure, `config on stdin is larger than ${MAX_STDIN} bytes`);
  if (jsonDepth(stdin) > MAX_JSON_DEPTH) {
    throw new CniError(Code.DecodeFailure, `failed to decode the network config: JSON on stdin is nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let conf: unknown;
  try {
    conf = JSON.parse(stdin.toString('utf8'));
  } catch (err) {
    const what = stdin.length === 0 ? 'stdin is empty' : errorText(err);
    throw new CniError(Code.DecodeFailure, `failed to decode the network config: ${what}`);
  }
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
    throw new CniError(Code.DecodeFailure, 'failed to decode the network config: it is not a JSON object');
  }
  return checkConf(conf as Record<string, unknown>, verb);
}

/**
 * The checks of a decoded config, in the Go skel's order and codes: name and type (7),
 * cniVersion (7 when missing, 6 when not a version, 1 when unsupported). Also for a
 * delegate's config handed over in-process, which never was JSON on a stdin.
 */
export function checkConf(c: Record<string, unknown>, verb?: Verb): NetConf {
  validateNetworkName(c.name);
  if (typeof c.type !== 'string' || c.type === '') throw new CniError(Code.InvalidConfig, `network "${c.name}": missing plugin "type"`);
  if ((c.cniVersion === undefined || c.cniVersion === '') && verb === 'DEL') {
    // An attachment made by the reference under a config without cniVersion (which it
    // reads as 0.1.0) must still be deletable after switching plugins, or its IP leaks.
    c.cniVersion = '0.1.0';
  }
  if (c.cniVersion === undefined || c.cniVersion === '') {
    throw new CniError(Code.InvalidConfig, `network "${c.name}": missing "cniVersion" (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  if (typeof c.cniVersion !== 'string') throw new CniError(Code.DecodeFailure, `network "${c.name}": "cniVersion" must be a string`);
  try {
    parseVersion(c.cniVersion);
  } catch (err) {
    throw new CniError(Code.DecodeFailure, `network "${c.name}": "cniVersion": ${errorText(err)}`);
  }
  if (!SUPPORTED_VERSIONS.includes(c.cniVersion)) {
    throw new CniError(Code.IncompatibleVersion, 'incompatible CNI versions', `config is "${c.cniVersion}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`);
  }
  return c as NetConf;
}
