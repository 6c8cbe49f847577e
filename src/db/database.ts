import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.js';
import type { Config } from '../config.js';
import { applyMigrations } from './migrate.js';

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../prisma/migrations',
);

export interface Database {
  prisma: PrismaClient;
  kind: 'postgres' | 'pglite';
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** The in-process database, when embedded (tests dump a migrated one as their template). */
  pglite?: PGlite;
  /** Applies pending committed migrations; idempotent. Returns the names applied. */
  migrate(): Promise<string[]>;
  close(): Promise<void>;
}

/** Observer of every SQL statement the client sends, with its parameters as JSON (tests count them; benchmarks EXPLAIN them). */
export type QueryListener = (sql: string, params: string) => void;

export interface OpenOptions {
  onQuery?: QueryListener;
  /** PGlite only: start from this dumped data directory (`PGlite.dumpDataDir()`), e.g. an already migrated template. */
  loadDataDir?: Blob;
}

export async function openDatabase(database: Config['database'], opts: OpenOptions = {}): Promise<Database> {
  let adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  let closeDriver: () => Promise<void>;
  let pglite: PGlite | undefined;
  if (database.kind === 'postgres') {
    adapterFactory = new PrismaPg({ connectionString: database.url, max: 10 });
    closeDriver = async () => {};
  } else {
    // ':memory:' gives a throwaway in-process database (tests, benchmarks).
    const inMemory = database.dataDir === ':memory:';
    const unlock = inMemory ? () => {} : lockDataDir(database.dataDir);
    pglite = await PGlite.create(inMemory ? undefined : database.dataDir, opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {});
    adapterFactory = new PrismaPGlite(pglite);
    const instance = pglite;
    closeDriver = async () => {
      await instance.close();
      unlock();
    };
  }
  const base = new PrismaClient({
    adapter: adapterFactory,
    log: opts.onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  if (opts.onQuery) {
    const listen = opts.onQuery;
    (base as unknown as { $on(e: 'query', cb: (ev: { query: string; params: string }) => void): void }).$on(
      'query',
      (ev) => listen(ev.query, ev.params),
    );
  }
  const prisma = withoutEmptySelects(base);
  return {
    prisma,
    kind: database.kind,
    adapterFactory,
    ...(pglite ? { pglite } : {}),
    migrate: () => applyMigrations(adapterFactory, MIGRATIONS_DIR),
    async close() {
      await prisma.$disconnect();
      await closeDriver();
    },
  };
}

/**
 * Pothos hands resolvers `select: {}` when a client asks for nothing but
 * `__typename` of a record (e.g. `createX { __typename }`); Prisma rejects an
 * empty select. An empty select means "no particular fields": drop it.
 * Query hooks leave the client's API and types unchanged.
 */
function withoutEmptySelects(client: PrismaClient): PrismaClient {
  return client.$extends({
    query: {
      $allModels: {
        $allOperations({ args, query }) {
          const a = args as { select?: Record<string, unknown> } | undefined;
          if (a?.select && Object.keys(a.select).length === 0) delete a.select;
          return query(args);
        },
      },
    },
  }) as unknown as PrismaClient;
}

/**
 * PGlite is single-process: a second process opening the same data directory
 * would not see the first one's writes and could corrupt it. Refuse clearly.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = `${dataDir}.lock`;
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(lockFile, 'utf8').trim());
  } catch {}
  if (holder && holder !== process.pid && isAlive(holder)) {
    throw new Error(
      `The embedded database in ${dataDir} is in use by process ${holder} (probably a running gateway). ` +
        'Stop it first: PGlite allows one process per data directory.',
    );
  }
  writeFileSync(lockFile, String(process.pid));
  const unlock = () => rmSync(lockFile, { force: true });
  process.once('exit', unlock);
  return unlock;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
