import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.js';
import { describeFsError, type Config } from '../config.js';
import { applyMigrations, readMigrationsList } from './migrate.js';
import { openPGlite } from './pglite.js';
import { limitWriters } from './transaction.js';

export const MIGRATIONS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../prisma/migrations',
);

/**
 * PostgreSQL pool and lock limits. A statement waits at most LOCK_TIMEOUT_MS
 * for a lock (row or advisory), then fails as SERVICE_UNAVAILABLE, retryable;
 * at most WRITE_SLOTS of the POOL_SIZE connections run write transactions,
 * so readers always have READER_RESERVE; a writer waits at most
 * WRITE_SLOT_WAIT_MS for its turn (db/transaction.ts).
 */
export const POOL_SIZE = 10;
export const READER_RESERVE = 3;
export const WRITE_SLOTS = POOL_SIZE - READER_RESERVE;
export const LOCK_TIMEOUT_MS = 5_000;
export const WRITE_SLOT_WAIT_MS = 10_000;

export interface Database {
  prisma: PrismaClient;
  kind: 'postgres' | 'pglite';
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** The in-process database, when embedded (tests dump a migrated one as their template). */
  pglite?: PGlite;
  /** The connection pool, on PostgreSQL (its use is a metric). */
  pool?: pg.Pool;
  /**
   * Work to finish before any read of the audit log through `prisma` (rows
   * held in memory, written in groups: audit.ts `UsageAudit`), so a reader on
   * this instance sees every call answered before its read. Returns a function
   * that removes it.
   */
  beforeAuditRead(flush: () => Promise<void>): () => void;
  /**
   * One statement straight on the driver (no ORM), outside any transaction,
   * rows as arrays: the hot paths (schema/list-reads.ts, the runtime read,
   * credential checks, the audit trail's inserts). Seen by the query listener
   * like every other statement.
   */
  driverQuery(sql: string, params: readonly unknown[]): Promise<unknown[][]>;
  /** Applies pending committed migrations; idempotent. Returns the names applied. */
  migrate(): Promise<string[]>;
  /** The committed migrations this database has not applied yet (all of them on a new database). */
  pendingMigrations(): Promise<string[]>;
  close(): Promise<void>;
}

/** The database cannot be opened; the message names the variable to fix (DATABASE_URL, DATA_DIR) and where it points. */
export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

/** Where a PostgreSQL URL points, without its password: `host:port, database "name", user "u"`. */
export function describeDatabaseUrl(url: string): string {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  return `${u.hostname || 'localhost'}:${u.port || 5432}, database "${database}"${u.username ? `, user "${decodeURIComponent(u.username)}"` : ''}`;
}

/** One round-trip at start, so an unreachable or missing database is reported by name rather than at the first query. */
async function probe(pool: pg.Pool, url: string): Promise<void> {
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    const code = (err as { code?: string }).code;
    const where = describeDatabaseUrl(url);
    const reason =
      code === '3D000' ? 'the database does not exist (create it, e.g. `createdb`, or fix the name)'
      : code === '28P01' || code === '28000' ? 'authentication failed (check the user and password)'
      : code === 'ECONNREFUSED' ? 'connection refused (is PostgreSQL running, on this host and port?)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'unknown host'
      : err instanceof Error ? err.message : String(err);
    await pool.end().catch(() => {});
    throw new DatabaseError(`DATABASE_URL: cannot connect to PostgreSQL at ${where}: ${reason}`);
  }
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
  let pool: pg.Pool | undefined;
  if (database.kind === 'postgres') {
    const pgPool = (pool = new pg.Pool({ connectionString: database.url, max: POOL_SIZE, options: `-c lock_timeout=${LOCK_TIMEOUT_MS}` }));
    // Idle clients whose server went away emit 'error'; queries report it, the process must not crash.
    pgPool.on('error', () => {});
    await probe(pgPool, database.url);
    adapterFactory = new PrismaPg(pgPool);
    closeDriver = () => pgPool.end();
  } else {
    // ':memory:' gives a throwaway in-process database (tests, benchmarks).
    const inMemory = database.dataDir === ':memory:';
    const unlock = inMemory ? () => {} : lockDataDir(database.dataDir);
    try {
      pglite = await openPGlite(inMemory ? undefined : database.dataDir, opts.loadDataDir ? { loadDataDir: opts.loadDataDir } : {});
    } catch (err) {
      unlock();
      throw new DatabaseError(`DATA_DIR: cannot open the embedded database in ${database.dataDir}: ${describeFsError(err)}`);
    }
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
  const listen = opts.onQuery;
  if (listen) {
    (base as unknown as { $on(e: 'query', cb: (ev: { query: string; params: string }) => void): void }).$on(
      'query',
      (ev) => listen(ev.query, ev.params),
    );
  }
  const driverRows =
    pool !== undefined
      ? async (sql: string, params: readonly unknown[]) => (await pool!.query<unknown[]>({ text: sql, values: [...params], rowMode: 'array' })).rows
      : async (sql: string, params: readonly unknown[]) => (await pglite!.query<unknown[]>(sql, [...params], { rowMode: 'array' })).rows;
  const driverQuery = (sql: string, params: readonly unknown[]) => {
    listen?.(sql, JSON.stringify(params));
    return driverRows(sql, params);
  };
  const auditReadHooks = new Set<() => Promise<void>>();
  const prisma = flushBeforeAuditReads(withoutEmptySelects(base), auditReadHooks);
  // PGlite has one connection and runs one transaction at a time: nothing to reserve for readers.
  if (database.kind === 'postgres') limitWriters(prisma, WRITE_SLOTS, WRITE_SLOT_WAIT_MS);
  return {
    prisma,
    kind: database.kind,
    beforeAuditRead(flush) {
      auditReadHooks.add(flush);
      return () => void auditReadHooks.delete(flush);
    },
    adapterFactory,
    driverQuery,
    ...(pglite ? { pglite } : {}),
    ...(pool ? { pool } : {}),
    // On PostgreSQL, migrations run on a pool of their own without the lock timeout: a migration
    // may wait as long as it must for another instance's (or a long statement's) locks.
    migrate: async () => {
      if (database.kind !== 'postgres') return applyMigrations(adapterFactory, MIGRATIONS_DIR);
      const migrationPool = new pg.Pool({ connectionString: database.url, max: 2 });
      migrationPool.on('error', () => {});
      try {
        return await applyMigrations(new PrismaPg(migrationPool), MIGRATIONS_DIR);
      } finally {
        await migrationPool.end();
      }
    },
    async pendingMigrations() {
      const { migrationDirectories } = await readMigrationsList(MIGRATIONS_DIR);
      let applied = new Set<string>();
      try {
        const rows = await prisma.$queryRawUnsafe<{ name: string }[]>(
          'SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        );
        applied = new Set(rows.map((r) => r.name));
      } catch {
        // No _prisma_migrations table yet: a new database, every migration pending.
      }
      return migrationDirectories.map((d) => d.path).filter((name) => !applied.has(name));
    },
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

const AUDIT_READS = new Set(['findMany', 'findFirst', 'findFirstOrThrow', 'findUnique', 'findUniqueOrThrow', 'count', 'aggregate', 'groupBy']);

/** Reads of the audit log wait for the rows held in memory to be written (`Database.beforeAuditRead`). */
function flushBeforeAuditReads(client: PrismaClient, hooks: Set<() => Promise<void>>): PrismaClient {
  return client.$extends({
    query: {
      auditEvent: {
        async $allOperations({ operation, args, query }) {
          if (hooks.size && AUDIT_READS.has(operation)) await Promise.all([...hooks].map((flush) => flush()));
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
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new DatabaseError(`DATA_DIR: cannot create the embedded database directory ${dataDir}: ${describeFsError(err)}`);
  }
  const lockFile = `${dataDir}.lock`;
  let holder: number | undefined;
  try {
    holder = Number(readFileSync(lockFile, 'utf8').trim());
  } catch {}
  if (holder && holder !== process.pid && isAlive(holder)) {
    throw new DatabaseError(
      `DATA_DIR: the embedded database in ${dataDir} is in use by process ${holder} (probably a running gateway). ` +
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
