import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // One graphql module instance: Vite would otherwise load both its ESM and
  // CJS builds ("Cannot use GraphQLScalarType from another module or realm").
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite runs on its own servers: npm run test:faults (vitest.faults.config.ts).
    exclude: ['test/faults/**', 'node_modules/**'],
    // The database is created and migrated once per run; each test file starts
    // its own gateway on its own copy (test/helpers/database.ts).
    globalSetup: ['test/setup/template.ts'],
    pool: 'forks',
    // Files are independent (each has its own database), so they run side by side, at least two at
    // a time: one file waiting on the network or a timer leaves the other the CPU.
    maxWorkers: Math.max(2, availableParallelism()),
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // expect.poll waits for a state to arrive (a page rendered, an event fanned out). Its default
    // of 1 s is shorter than a browser page's first render on a CI machine running other files'
    // gateways at the same time (connect-page failed so in CI); a state that never arrives still
    // fails, only later.
    expect: { poll: { timeout: 15_000 } },
    reporters: ['default'],
  },
});
