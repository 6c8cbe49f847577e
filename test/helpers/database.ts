import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import type { Config } from '../../src/config.js';

/**
 * A fresh database for one test file, already migrated: a copy of the run's
 * template (test/setup/template.ts) — an in-memory PGlite loaded from the
 * template's dump by default, or a database created from the template on
 * the PostgreSQL server named by DATABASE_URL (dropped by `drop`).
 */
export interface FreshDatabase {
  database: Config['database'];
  /** PGlite: the migrated data directory to start from. */
  loadDataDir?: Blob;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<FreshDatabase> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const file = inject('pgliteTemplate');
    return { database: { kind: 'pglite', dataDir: ':memory:' }, loadDataDir: new Blob([await readFile(file)]), drop: async () => {} };
  }
  const name = `cg_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(base, `CREATE DATABASE ${name} TEMPLATE ${inject('postgresTemplate')}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    database: { kind: 'postgres', url: url.toString() },
    drop: () => adminQuery(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

async function adminQuery(base: string, sql: string): Promise<void> {
  // Copies of one template may not start at the same instant (PostgreSQL: "source database is being accessed").
  for (let attempt = 1; ; attempt++) {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
    } finally {
      await c.end();
    }
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}
