import { defineConfig } from 'vitest/config';

// npm run test:runtimes: real container runtimes driving the built plugins (test/runtimes).
// Kept out of `npm test`: it needs the runtimes unpacked by scripts/runtimes/setup.sh and
// takes minutes of a busy two-core machine.
export default defineConfig({
  test: {
    include: ['test/runtimes/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    maxWorkers: 2,
  },
});
