import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Refuses a stale dist/ (the workers and the CLI run the compiled code).
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // --expose-gc: the API test checks that abandoned WASM contexts are reclaimed after GC.
    execArgv: ['--expose-gc'],
  },
});
