// Random names for temp files and host-side veths. Web Crypto's getRandomValues is a
// global in Node and Bun alike; `node:crypto` would cost the standalone build ~7 MB of
// RSS and 1–2 ms of start-up in every plugin call only to name a file (docs/performance.md).

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
