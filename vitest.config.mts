import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/runtimes has its own config and command (npm run test:runtimes).
    exclude: ['test/runtimes/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Root tests spawn the built plugins; two cores, so keep the pool small.
    maxWorkers: 2,
  },
});
