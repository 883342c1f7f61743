// Waiting without an event loop: the plugins are synchronous from start to end (a
// netlink exchange, a lock poll, a retry), and a timer would need one.
const cell = new Int32Array(new SharedArrayBuffer(4));

export function sleepSync(ms: number): void {
  Atomics.wait(cell, 0, 0, ms);
}
