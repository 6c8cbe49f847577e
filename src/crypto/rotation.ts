import type { PrismaClient } from '../generated/prisma/client.js';
import { KeyRing } from './keyring.js';
import { SEALED_COLUMN_NAMES, SEALED_COLUMNS, envelopesOf, type SealedColumn, type SealedColumnName } from './sealed.js';

/**
 * Re-encrypts every sealed secret under the key ring's primary key, while the
 * gateway keeps serving. It visits every column of the one registry of sealed
 * columns (crypto/sealed.ts). Rows are read in id-ordered batches and each row
 * is written back with a compare-and-set on the ciphertext that was read (and
 * a bump of the row's version where it has one, so a writer holding an older
 * read fails its own compare-and-set): a row changed concurrently (an OAuth
 * refresh, a user update) is re-read and retried, never overwritten with stale
 * data. No long transaction, no table lock.
 *
 * Every gateway must already hold the new primary key in its ring before this
 * runs (README, "Keys and rotation"), or it could not read what this writes.
 */
export interface RotationCounts {
  /** Rows looked at. */
  scanned: number;
  /** Rows re-encrypted. */
  rotated: number;
  /** Rows already under the primary key. */
  current: number;
  /** Compare-and-set misses that were re-read and retried. */
  retried: number;
}

/** Counts per sealed column (named as in crypto/sealed.ts). */
export type RotationReport = {
  primaryKeyId: string;
  /** Key ids still referenced after the run (should be just the primary). */
  remainingKeyIds: string[];
} & Record<SealedColumnName, RotationCounts>;

export interface RotationOptions {
  batchSize?: number;
  /** Progress callback (counts only, never values). */
  onBatch?: (table: string, counts: RotationCounts) => void;
}

const MAX_ATTEMPTS = 20;

function zero(): RotationCounts {
  return { scanned: 0, rotated: 0, current: 0, retried: 0 };
}

export async function rotateSecrets(prisma: PrismaClient, ring: KeyRing, opts: RotationOptions = {}): Promise<RotationReport> {
  const batchSize = opts.batchSize ?? 200;
  const report = { primaryKeyId: ring.primaryId, remainingKeyIds: [] as string[] } as RotationReport;
  for (const name of SEALED_COLUMN_NAMES) report[name] = zero();
  // A writer that read a row before this pass re-encrypted it may write the
  // old ciphertext back (e.g. a merge of untouched secret fields): further
  // passes pick those up. Rows already current cost one read.
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    for (const name of SEALED_COLUMN_NAMES) {
      add(report[name], await rotateColumn(prisma, ring, name, batchSize, opts.onBatch), pass === 1);
    }
    report.remainingKeyIds = [...(await keyIdsInUse(prisma))].sort();
    if (report.remainingKeyIds.every((id) => id === ring.primaryId)) break;
  }
  return report;
}

const MAX_PASSES = 3;

/** Adds a later pass's work; `scanned`/`current` describe the first pass only. */
function add(total: RotationCounts, pass: RotationCounts, first: boolean): void {
  total.rotated += pass.rotated;
  total.retried += pass.retried;
  if (first) {
    total.scanned = pass.scanned;
    total.current = pass.current;
  } else {
    total.current -= pass.rotated;
  }
}

/** Lets other work on this process run between batches (in-process databases answer without yielding). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * SQL over a registry entry. Table and column names come only from the
 * constant registry (crypto/sealed.ts), never from input; values are bound.
 */
const q = (name: string) => `"${name}"`;

interface StoredRow {
  id: string;
  stored: unknown;
}

/** A batch of a sealed column's rows after `after` (id order). */
function pageOf(prisma: PrismaClient, col: SealedColumn, after: string | null, take: number): Promise<StoredRow[]> {
  return prisma.$queryRawUnsafe<StoredRow[]>(
    `SELECT "id"::text AS id, ${q(col.column)} AS stored FROM ${q(col.table)}
      WHERE ${q(col.column)} IS NOT NULL AND ($1::uuid IS NULL OR "id" > $1::uuid)
      ORDER BY "id" LIMIT $2`,
    after,
    take,
  );
}

async function reread(prisma: PrismaClient, col: SealedColumn, id: string): Promise<unknown> {
  const rows = await prisma.$queryRawUnsafe<{ stored: unknown }[]>(`SELECT ${q(col.column)} AS stored FROM ${q(col.table)} WHERE "id" = $1::uuid`, id);
  return rows[0]?.stored;
}

/** Writes `next` only if the column still holds `read`: true when it did. */
async function compareAndSet(prisma: PrismaClient, col: SealedColumn, id: string, read: unknown, next: unknown): Promise<boolean> {
  const cast = col.shape === 'map' ? '::jsonb' : '';
  const encode = (v: unknown) => (col.shape === 'map' ? JSON.stringify(v) : v);
  const bump = col.versionColumn ? `, ${q(col.versionColumn)} = ${q(col.versionColumn)} + 1` : '';
  const count = await prisma.$executeRawUnsafe(
    `UPDATE ${q(col.table)} SET ${q(col.column)} = $2${cast}${bump} WHERE "id" = $1::uuid AND ${q(col.column)} = $3${cast}`,
    id,
    encode(next),
    encode(read),
  );
  return count === 1;
}

/** The stored value re-encrypted under the primary key, or null when it already is. */
function resealed(ring: KeyRing, col: SealedColumn, id: string, stored: unknown): unknown {
  if (!envelopesOf(col, stored).some((e) => ring.needsRotation(e))) return null;
  if (col.shape === 'envelope') return ring.reseal(stored as string, col.aad(id, col.column));
  return Object.fromEntries(Object.entries(stored as Record<string, string>).map(([k, v]) => [k, ring.reseal(v, col.aad(id, k))]));
}

async function rotateColumn(prisma: PrismaClient, ring: KeyRing, name: SealedColumnName, batchSize: number, onBatch?: RotationOptions['onBatch']): Promise<RotationCounts> {
  const col: SealedColumn = SEALED_COLUMNS[name];
  const counts = zero();
  if (col.disposable) await prisma.$executeRawUnsafe(`DELETE FROM ${q(col.table)} WHERE ${col.disposable}`);
  let after: string | null = null;
  for (;;) {
    const rows = await pageOf(prisma, col, after, batchSize);
    if (rows.length === 0) return counts;
    for (const row of rows) {
      counts.scanned++;
      let stored = row.stored;
      await rotateRow(counts, `${col.table} ${row.id}`, async () => {
        if (stored === undefined || stored === null) return 'gone';
        const next = resealed(ring, col, row.id, stored);
        if (next === null) return 'current';
        if (await compareAndSet(prisma, col, row.id, stored, next)) return 'rotated';
        stored = await reread(prisma, col, row.id);
        return 'changed';
      });
    }
    after = rows[rows.length - 1]!.id;
    onBatch?.(col.table, counts);
    await yieldToEventLoop();
  }
}

/**
 * One row re-encrypted by compare-and-set: `attempt` writes it back only if
 * unchanged; a row changed meanwhile is read again (`retried`), one that keeps
 * changing stops the run.
 */
async function rotateRow(counts: RotationCounts, what: string, attempt: () => Promise<'gone' | 'current' | 'rotated' | 'changed'>): Promise<void> {
  for (let n = 1; ; n++) {
    const outcome = await attempt();
    if (outcome === 'current') counts.current++;
    if (outcome === 'rotated') counts.rotated++;
    if (outcome !== 'changed') return;
    counts.retried++;
    if (n >= MAX_ATTEMPTS) throw new Error(`${what} kept changing; rerun the rotation`);
  }
}

/** Every key id some stored ciphertext was made with, over every sealed column. */
export async function keyIdsInUse(prisma: PrismaClient): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const name of SEALED_COLUMN_NAMES) {
    const col: SealedColumn = SEALED_COLUMNS[name];
    let after: string | null = null;
    for (;;) {
      const rows = await pageOf(prisma, col, after, 500);
      if (rows.length === 0) break;
      for (const r of rows) {
        for (const e of envelopesOf(col, r.stored)) {
          const id = KeyRing.keyIdOf(e);
          if (id) ids.add(id);
        }
      }
      after = rows[rows.length - 1]!.id;
    }
  }
  return ids;
}
