import { PothosValidationError, getConnectionPageSize, validateConnectionArguments } from '@pothos/core';

/**
 * A relation read as a connection, paged by keyset in SQL.
 *
 * plugin-prisma's `relatedConnection` hands Prisma a `cursor`; Prisma pages a
 * cursor inside a nested read in memory: under a list (the connections, or
 * the webhook endpoints) a page after a cursor loads every row of every
 * parent past the cursor and keeps a few. Here the cursor becomes a `where`
 * on the ordering keys (`(createdAt, id) < (…)`), so the nested read keeps
 * its per-parent `LIMIT` and relation join — the same statement as a first
 * page. Pothos has no keyset option for relations, hence these few lines.
 *
 * Cursors are the ordering keys' values, base64url JSON: opaque to clients
 * and stable (a row added meanwhile shifts nothing).
 */
export interface KeysetOrder<Row> {
  /** Ordering keys, the last one unique (e.g. `id`). */
  keys: readonly { field: keyof Row & string; direction: 'asc' | 'desc' }[];
}

export interface ConnectionArgs {
  first?: number | null;
  last?: number | null;
  after?: string | null;
  before?: string | null;
}

type Key = string | number;

function encodeCursor(values: Key[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, arity: number): Key[] {
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    values = null;
  }
  if (!Array.isArray(values) || values.length !== arity || !values.every((v) => typeof v === 'string' || typeof v === 'number')) {
    // Translated by errors.ts into "the cursor is not one this list gave out", without the cursor.
    throw new PothosValidationError('Invalid cursor');
  }
  return values as Key[];
}

/** What a row's key holds, as a cursor keeps it (dates as ISO strings, big integers as strings). */
function keyOf(value: unknown): Key {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw new Error('a keyset key must be a string, number, bigint or date');
}

/** A cursor's key value as the column takes it. */
function columnValue(type: 'date' | 'bigint' | 'plain', value: Key): unknown {
  if (type === 'date') {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) throw new PothosValidationError('Invalid cursor');
    return at;
  }
  if (type === 'bigint') {
    if (!/^\d{1,19}$/.test(String(value))) throw new PothosValidationError('Invalid cursor');
    return BigInt(value);
  }
  return value;
}

export interface KeysetPlan {
  /** Absent on a first page. */
  where?: Record<string, unknown>;
  orderBy: Record<string, 'asc' | 'desc'>[];
  take: number;
}

export interface KeysetSpec<Row> extends KeysetOrder<Row> {
  /** How each key's column is typed (for turning a cursor back into values). */
  types: Partial<Record<keyof Row & string, 'date' | 'bigint'>>;
  defaultSize?: number;
  maxSize?: number;
}

/**
 * The relation query of one page: keyset `where` (with the caller's own
 * `filter`, when given), order (reversed for a backward page), one row more
 * than the page.
 */
export function keysetQuery<Row>(spec: KeysetSpec<Row>, args: ConnectionArgs, filter?: Record<string, unknown>): KeysetPlan {
  const plan = keysetOnly(spec, args);
  if (!filter) return plan;
  return { ...plan, where: plan.where ? { AND: [filter, plan.where] } : filter };
}

function keysetOnly<Row>(spec: KeysetSpec<Row>, args: ConnectionArgs): KeysetPlan {
  validateConnectionArguments(args);
  if (args.before != null && args.after != null) throw new PothosValidationError('Arguments "before" and "after" are not supported at the same time');
  const backward = args.before != null || args.last != null;
  const { limit } = getConnectionPageSize({ args, defaultSize: spec.defaultSize ?? 20, maxSize: spec.maxSize ?? 100 });
  const cursor = args.after ?? args.before ?? null;
  const flip = (d: 'asc' | 'desc') => (backward ? (d === 'asc' ? 'desc' : 'asc') : d);
  const orderBy = spec.keys.map((k) => ({ [k.field]: flip(k.direction) }));
  if (cursor == null) return { orderBy, take: limit };
  const values = decodeCursor(cursor, spec.keys.length).map((v, i) => columnValue(spec.types[spec.keys[i]!.field] ?? 'plain', v));
  // (k1, k2, …) past the cursor in the page's direction: k1 past, or k1 equal and (k2, …) past.
  const past = (i: number): Record<string, unknown> => {
    const { field, direction } = spec.keys[i]!;
    const op = flip(direction) === 'asc' ? 'gt' : 'lt';
    if (i === spec.keys.length - 1) return { [field]: { [op]: values[i] } };
    return { OR: [{ [field]: { [op]: values[i] } }, { AND: [{ [field]: values[i] }, past(i + 1)] }] };
  };
  return { where: past(0), orderBy, take: limit };
}

export interface KeysetPage<Row> {
  edges: { cursor: string; node: Row }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** The connection of the rows a `keysetQuery` read. */
export function keysetPage<Row>(spec: KeysetSpec<Row>, args: ConnectionArgs, rows: Row[]): KeysetPage<Row> {
  const backward = args.before != null || args.last != null;
  const { expectedSize } = getConnectionPageSize({ args, defaultSize: spec.defaultSize ?? 20, maxSize: spec.maxSize ?? 100 });
  const more = rows.length > expectedSize;
  const page = rows.slice(0, expectedSize);
  if (backward) page.reverse();
  const edges = page.map((node) => ({ cursor: encodeCursor(spec.keys.map((k) => keyOf(node[k.field]))), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: backward ? args.before != null : more,
      hasPreviousPage: backward ? more : args.after != null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
  };
}

/** The relation query of a page: the node's selection (its ordering keys selected too), the page's where, order and size. */
export function keysetSelection<Row, Q extends object>(spec: KeysetSpec<Row>, nodeQuery: Q, plan: KeysetPlan): Q {
  const select = (nodeQuery as { select?: Record<string, unknown> }).select;
  const withKeys = select ? { ...nodeQuery, select: { ...select, ...Object.fromEntries(spec.keys.map((k) => [k.field, true])) } } : nodeQuery;
  // The plan's where/orderBy/take are the relation query's own fields (typed loosely here: one helper for every model).
  return { ...withKeys, ...plan } as Q;
}
