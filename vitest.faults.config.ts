import { defineConfig } from 'vitest/config';

/** The fault suite (`npm run test:faults`): its own PostgreSQL cluster, Redis and gateway processes (test/faults/servers.ts). */
export default defineConfig({
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    include: ['test/faults/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 90_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
