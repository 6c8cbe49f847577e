import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database.js';

/**
 * Vitest global setup: the test database is created and migrated once per
 * run, and each test file starts from a copy (test/helpers/database.ts):
 * - embedded (default): a migrated in-memory PGlite, dumped to a file that
 *   each file's PGlite loads;
 * - PostgreSQL (DATABASE_URL): a migrated template database that each file's
 *   database is created from (`CREATE DATABASE … TEMPLATE …`).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    postgresTemplate: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = process.env.DATABASE_URL;
  if (!base) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cg-test-'));
    const file = path.join(dir, 'template.tar');
    const db = await openDatabase({ kind: 'pglite', dataDir: ':memory:' });
    await db.migrate();
    const dump = await db.pglite!.dumpDataDir('none');
    await writeFile(file, Buffer.from(await dump.arrayBuffer()));
    await db.close();
    project.provide('pgliteTemplate', file);
    project.provide('postgresTemplate', '');
    return () => rm(dir, { recursive: true, force: true });
  }
  const name = `cg_template_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const db = await openDatabase({ kind: 'postgres', url: url.toString() });
  await db.migrate();
  await db.close();
  project.provide('pgliteTemplate', '');
  project.provide('postgresTemplate', name);
  return async () => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  };
}
