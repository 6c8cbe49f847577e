/**
 * Migrations through the Wasm schema engine (src/db/migrate.ts), against an
 * in-memory PGlite and a throwaway PostgreSQL database. Self-contained: the
 * Prisma schemas and migration folders live in a temp directory.
 *
 * Slow-ish by nature: each in-memory PGlite runs initdb (~3-5 s) and every
 * diff replays the migrations into one, hence the generous timeouts.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applyMigrations, DEFAULT_LOCKFILE, diffSchemaToSql } from '../src/db/migrate.js';

const TIMEOUT = 120_000;
const PG_ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

const SCHEMA_V1 = `
datasource db {
  provider = "postgresql"
}

model Author {
  id    Int    @id @default(autoincrement())
  name  String
  books Book[]
}

model Book {
  id       Int    @id @default(autoincrement())
  title    String
  authorId Int
  author   Author @relation(fields: [authorId], references: [id])
}
`;
// Second migration: one new nullable column.
const SCHEMA_V2 = SCHEMA_V1.replace('  title    String\n', '  title    String\n  isbn     String?\n');

const INIT = '20240101000000_init';
const SECOND = '20240102000000_add_isbn';

/** Is PostgreSQL listening? Only "connection refused" counts as absent; other errors fail the suite. */
async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client(PG_ADMIN);
  try {
    await client.connect();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return false;
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
const hasPostgres = await postgresAvailable();

let tmp: string;
/** Migrations folder holding only the first migration. */
let dirV1: string;
/** Migrations folder holding both migrations. */
let dirV2: string;
let initSql: string;
let secondSql: string;

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(path.join(dir, name), { recursive: true });
  await writeFile(path.join(dir, name, 'migration.sql'), sql);
  await writeFile(path.join(dir, 'migration_lock.toml'), DEFAULT_LOCKFILE);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'migrate-test-'));
  const schemaV1 = path.join(tmp, 'v1.prisma');
  const schemaV2 = path.join(tmp, 'v2.prisma');
  await writeFile(schemaV1, SCHEMA_V1);
  await writeFile(schemaV2, SCHEMA_V2);
  dirV1 = path.join(tmp, 'migrations-v1');
  dirV2 = path.join(tmp, 'migrations-v2');

  // A folder that does not exist yet is an empty history.
  initSql = await diffSchemaToSql({ migrationsDir: dirV1, schemaPath: schemaV1 });
  await writeMigration(dirV1, INIT, initSql);

  await cp(dirV1, dirV2, { recursive: true });
  secondSql = await diffSchemaToSql({ migrationsDir: dirV2, schemaPath: schemaV2 });
  await writeMigration(dirV2, SECOND, secondSql);
}, TIMEOUT);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

type Query = (sql: string) => Promise<Record<string, unknown>[]>;

async function expectTables(query: Query, ...tables: string[]): Promise<void> {
  for (const table of tables) {
    const [row] = await query(`SELECT to_regclass('public."${table}"')::text AS t`);
    expect(row?.t, `table ${table}`).toBe(`"${table}"`);
  }
}

async function migrationRows(query: Query): Promise<{ migration_name: string; finished: boolean }[]> {
  const rows = await query(
    'SELECT migration_name, finished_at IS NOT NULL AS finished FROM _prisma_migrations ORDER BY migration_name',
  );
  return rows as { migration_name: string; finished: boolean }[];
}

async function hasColumn(query: Query, table: string, column: string): Promise<boolean> {
  const rows = await query(
    `SELECT 1 FROM information_schema.columns WHERE table_name = '${table}' AND column_name = '${column}'`,
  );
  return rows.length === 1;
}

/** The scenario both back ends must pass: first apply, idempotent re-apply, later migration. */
async function runApplyScenario(
  factory: () => Parameters<typeof applyMigrations>[0],
  query: Query,
): Promise<void> {
  expect(await applyMigrations(factory(), dirV1)).toEqual([INIT]);
  await expectTables(query, 'Author', 'Book');
  expect(await migrationRows(query)).toEqual([{ migration_name: INIT, finished: true }]);
  expect(await hasColumn(query, 'Book', 'isbn')).toBe(false);

  expect(await applyMigrations(factory(), dirV1)).toEqual([]);
  expect(await migrationRows(query)).toHaveLength(1);

  expect(await applyMigrations(factory(), dirV2)).toEqual([SECOND]);
  expect(await hasColumn(query, 'Book', 'isbn')).toBe(true);
  expect(await migrationRows(query)).toEqual([
    { migration_name: INIT, finished: true },
    { migration_name: SECOND, finished: true },
  ]);
  expect(await applyMigrations(factory(), dirV2)).toEqual([]);
}

describe('diffSchemaToSql', () => {
  it('generates the initial migration from an empty history', () => {
    expect(initSql).toMatch(/CREATE TABLE "Author"/);
    expect(initSql).toMatch(/CREATE TABLE "Book"/);
    expect(initSql).toMatch(/FOREIGN KEY \("authorId"\) REFERENCES "Author"\("id"\)/);
  });

  it('generates only the delta for a later schema change', () => {
    expect(secondSql).toMatch(/ALTER TABLE "Book" ADD COLUMN\s+"isbn" TEXT/);
    expect(secondSql).not.toMatch(/CREATE TABLE/);
  });

  it(
    'returns an empty string when the migrations match the schema',
    async () => {
      const sql = await diffSchemaToSql({ migrationsDir: dirV2, schemaPath: path.join(tmp, 'v2.prisma') });
      expect(sql).toBe('');
    },
    TIMEOUT,
  );
});

describe('applyMigrations on in-memory PGlite', () => {
  let db: PGlite;
  beforeAll(() => {
    db = new PGlite();
  });
  afterAll(async () => {
    await db?.close();
  });

  it(
    'applies, is idempotent, and applies a later migration alone',
    async () => {
      const query: Query = async (sql) => (await db.query<Record<string, unknown>>(sql)).rows;
      await runApplyScenario(() => new PrismaPGlite(db), query);
    },
    TIMEOUT,
  );
});

describe.skipIf(!hasPostgres)('applyMigrations on PostgreSQL', () => {
  const admin = new pg.Client(PG_ADMIN);
  const created: string[] = [];

  /** A fresh database; returns its connection string. */
  async function createDatabase(): Promise<string> {
    const name = `mig_test_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${name}`);
    created.push(name);
    return `postgresql://${PG_ADMIN.user}@${PG_ADMIN.host}:${PG_ADMIN.port}/${name}`;
  }

  async function withClient<T>(connectionString: string, fn: (query: Query) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      return await fn(async (sql) => (await client.query<Record<string, unknown>>(sql)).rows);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    await admin.connect();
  });
  afterAll(async () => {
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });

  it(
    'applies, is idempotent, and applies a later migration alone',
    async () => {
      const connectionString = await createDatabase();
      await withClient(connectionString, (query) =>
        runApplyScenario(() => new PrismaPg({ connectionString }), query),
      );
    },
    TIMEOUT,
  );

  it(
    'serialises concurrent appliers: each migration is applied exactly once',
    async () => {
      const connectionString = await createDatabase();
      const results = await Promise.all([
        applyMigrations(new PrismaPg({ connectionString }), dirV2),
        applyMigrations(new PrismaPg({ connectionString }), dirV2),
      ]);
      // One caller did all the work, the other found nothing left to do.
      expect(results.flat().sort()).toEqual([INIT, SECOND]);
      expect(results.some((names) => names.length === 0)).toBe(true);

      await withClient(connectionString, async (query) => {
        expect(await migrationRows(query)).toEqual([
          { migration_name: INIT, finished: true },
          { migration_name: SECOND, finished: true },
        ]);
        await expectTables(query, 'Author', 'Book');
      });
    },
    TIMEOUT,
  );
});
