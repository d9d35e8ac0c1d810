import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `#platform` (package.json "imports") is the TypeScript source under test, not dist/'s build;
  // an alias rather than a condition, which vitest would hand on to the compiled pool workers too.
  resolve: { alias: { '#platform': fileURLToPath(new URL('./src/platform/node.ts', import.meta.url)) } },
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
