import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Config } from '../../src/config.js';

/**
 * A fresh, empty database for one test file: in-memory PGlite by default,
 * or a throwaway database on the PostgreSQL server named by DATABASE_URL
 * (created here, dropped by `drop`).
 */
export async function freshDatabase(): Promise<{ database: Config['database']; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) return { database: { kind: 'pglite', dataDir: ':memory:' }, drop: async () => {} };
  const name = `cg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    database: { kind: 'postgres', url: url.toString() },
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
