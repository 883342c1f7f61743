// Digests for names derived from ids (masquerade chains, long container ids). `node:crypto`
// is required on first use, not at load: most calls never hash, and loading it costs the
// standalone build ~7 MB of RSS.
import type * as Crypto from 'node:crypto';

let crypto: typeof Crypto | undefined;

/** The hex digest of `text` (UTF-8) with `algorithm` (sha256, sha512). */
export function hexDigest(algorithm: 'sha256' | 'sha512', text: string): string {
  crypto ??= require('node:crypto') as typeof Crypto;
  return crypto.createHash(algorithm).update(text, 'utf8').digest('hex');
}
