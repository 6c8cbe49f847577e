import type { PrismaClient } from '../generated/prisma/client.js';
import { KeyRing } from './keyring.js';
import { connectorSecretAad, oauthStateAad, secretAad } from './secrets.js';

/**
 * Re-encrypts every sealed secret under the key ring's primary key, while the
 * gateway keeps serving. Rows are read in id-ordered batches and each row is
 * written back with a compare-and-set on what was read (`version`/`updatedAt`
 * for connection values, the ciphertext itself for the others): a row changed
 * concurrently (an OAuth refresh, a user update) is re-read and retried, never
 * overwritten with stale data. No long transaction, no table lock.
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

export interface RotationReport {
  primaryKeyId: string;
  connectionValues: RotationCounts;
  connectors: RotationCounts;
  oauthStates: RotationCounts;
  /** Key ids still referenced after the run (should be just the primary). */
  remainingKeyIds: string[];
}

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
  const report: RotationReport = {
    primaryKeyId: ring.primaryId,
    connectionValues: zero(),
    connectors: zero(),
    oauthStates: zero(),
    remainingKeyIds: [],
  };
  // A writer that read a row before this pass re-encrypted it may write the
  // old ciphertext back (e.g. a merge of untouched secret fields): further
  // passes pick those up. Rows already current cost one read.
  for (let pass = 1; pass <= MAX_PASSES; pass++) {
    add(report.connectionValues, await rotateValues(prisma, ring, batchSize, opts.onBatch), pass === 1);
    add(report.connectors, await rotateConnectors(prisma, ring, batchSize, opts.onBatch), pass === 1);
    add(report.oauthStates, await rotateStates(prisma, ring, batchSize, opts.onBatch), pass === 1);
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

type Sealed = Record<string, string>;

function asSealed(json: unknown): Sealed {
  return json && typeof json === 'object' && !Array.isArray(json) ? (json as Sealed) : {};
}

type Table = 'ConnectionValue' | 'Connector' | 'OAuthState';

/**
 * Visits every row a batch reads, in id order, a batch at a time: `page`
 * reads the batch after a cursor. Progress is reported and the event loop
 * gets a turn between batches.
 */
async function forEachBatch<R extends { id: string }>(
  table: Table,
  counts: RotationCounts,
  onBatch: RotationOptions['onBatch'],
  page: (after: { cursor?: { id: string }; skip?: number }) => Promise<R[]>,
  visit: (row: R) => Promise<void>,
): Promise<RotationCounts> {
  let cursor: string | undefined;
  for (;;) {
    const rows = await page(cursor ? { cursor: { id: cursor }, skip: 1 } : {});
    if (rows.length === 0) return counts;
    for (const row of rows) {
      counts.scanned++;
      await visit(row);
    }
    cursor = rows[rows.length - 1]!.id;
    onBatch?.(table, counts);
    await yieldToEventLoop();
  }
}

/**
 * One row re-encrypted by compare-and-set: `attempt` reads it and writes it
 * back only if unchanged; a row changed meanwhile is read again (`retried`),
 * one that keeps changing stops the run.
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

const byId = { select: { id: true }, orderBy: { id: 'asc' as const } };

function rotateValues(prisma: PrismaClient, ring: KeyRing, batchSize: number, onBatch?: RotationOptions['onBatch']): Promise<RotationCounts> {
  const counts = zero();
  return forEachBatch(
    'ConnectionValue',
    counts,
    onBatch,
    (after) => prisma.connectionValue.findMany({ ...byId, take: batchSize, ...after }),
    ({ id }) =>
      rotateRow(counts, `connection value ${id}`, async () => {
        const row = await prisma.connectionValue.findUnique({ where: { id }, select: { secrets: true, version: true, updatedAt: true } });
        if (!row) return 'gone';
        const sealed = asSealed(row.secrets);
        if (!Object.values(sealed).some((v) => ring.needsRotation(v))) return 'current';
        const next = Object.fromEntries(Object.entries(sealed).map(([k, v]) => [k, ring.reseal(v, secretAad(id, k))]));
        const { count } = await prisma.connectionValue.updateMany({
          where: { id, version: row.version, updatedAt: row.updatedAt },
          data: { secrets: next, version: { increment: 1 } },
        });
        return count === 1 ? 'rotated' : 'changed';
      }),
  );
}

function rotateConnectors(prisma: PrismaClient, ring: KeyRing, batchSize: number, onBatch?: RotationOptions['onBatch']): Promise<RotationCounts> {
  const counts = zero();
  return forEachBatch(
    'Connector',
    counts,
    onBatch,
    (after) => prisma.connector.findMany({ ...byId, where: { oauthClientSecret: { not: null } }, take: batchSize, ...after }),
    ({ id }) =>
      rotateRow(counts, `connector ${id}`, async () => {
        const sealed = (await prisma.connector.findUnique({ where: { id }, select: { oauthClientSecret: true } }))?.oauthClientSecret;
        if (!sealed) return 'gone';
        if (!ring.needsRotation(sealed)) return 'current';
        const { count } = await prisma.connector.updateMany({
          where: { id, oauthClientSecret: sealed },
          data: { oauthClientSecret: ring.reseal(sealed, connectorSecretAad(id)) },
        });
        return count === 1 ? 'rotated' : 'changed';
      }),
  );
}

async function rotateStates(prisma: PrismaClient, ring: KeyRing, batchSize: number, onBatch?: RotationOptions['onBatch']): Promise<RotationCounts> {
  const counts = zero();
  // Used or expired flows are dead weight: drop them rather than re-encrypt.
  await prisma.oAuthState.deleteMany({ where: { OR: [{ usedAt: { not: null } }, { expiresAt: { lt: new Date() } }] } });
  return forEachBatch(
    'OAuthState',
    counts,
    onBatch,
    (after) => prisma.oAuthState.findMany({ select: { id: true, codeVerifier: true }, orderBy: { id: 'asc' }, take: batchSize, ...after }),
    async ({ id, codeVerifier }) => {
      if (!ring.needsRotation(codeVerifier)) {
        counts.current++;
        return;
      }
      // A flow consumed meanwhile no longer matters: a miss is not retried.
      const { count } = await prisma.oAuthState.updateMany({
        where: { id, codeVerifier },
        data: { codeVerifier: ring.reseal(codeVerifier, oauthStateAad(id)) },
      });
      if (count === 1) counts.rotated++;
      else counts.retried++;
    },
  );
}

/** Every key id some stored ciphertext was made with. */
export async function keyIdsInUse(prisma: PrismaClient): Promise<Set<string>> {
  const ids = new Set<string>();
  const add = (envelope: string | null | undefined) => {
    const id = envelope ? KeyRing.keyIdOf(envelope) : undefined;
    if (id) ids.add(id);
  };
  let cursor: string | undefined;
  for (;;) {
    const rows = await prisma.connectionValue.findMany({
      select: { id: true, secrets: true },
      orderBy: { id: 'asc' },
      take: 500,
      ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
    });
    if (rows.length === 0) break;
    for (const r of rows) Object.values(asSealed(r.secrets)).forEach(add);
    cursor = rows[rows.length - 1]!.id;
  }
  for (const c of await prisma.connector.findMany({ where: { oauthClientSecret: { not: null } }, select: { oauthClientSecret: true } })) {
    add(c.oauthClientSecret);
  }
  for (const s of await prisma.oAuthState.findMany({ select: { codeVerifier: true } })) add(s.codeVerifier);
  return ids;
}
