import { z } from 'zod';
import { ValidationError } from '../errors.js';

/**
 * Activepieces-style cursor pagination: `?limit=&cursor=` in, `{ data, next,
 * previous }` out. Rows are ordered by id (stable, unique); a cursor is an
 * opaque base64url of the direction and the boundary id.
 */
export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(10).describe('Page size, 1–100 (default 10).'),
  cursor: z.string().max(200).optional().describe('`next` or `previous` of an earlier page.'),
});

export function pageOf<T>(schema: z.ZodType<T>) {
  return z.object({
    data: z.array(schema),
    next: z.string().nullable().describe('Cursor of the next page, or null.'),
    previous: z.string().nullable().describe('Cursor of the previous page, or null.'),
  });
}

type Dir = 'n' | 'p';

function encode(dir: Dir, id: string): string {
  return Buffer.from(`${dir}:${id}`).toString('base64url');
}

function decode(cursor: string): { dir: Dir; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString();
  const m = /^([np]):([0-9a-f-]{36})$/.exec(raw);
  if (!m) throw ValidationError.field('query.cursor', 'is not a cursor of this API');
  return { dir: m[1] as Dir, id: m[2]! };
}

/** A page as the API answers it: rows mapped to their response DTO. */
export async function pageBody<T extends { id: string }, O>(
  q: { limit: number; cursor?: string | undefined },
  find: Parameters<typeof paginate<T>>[1],
  out: (row: T) => O,
): Promise<{ body: { data: O[]; next: string | null; previous: string | null } }> {
  const page = await paginate(q, find);
  return { body: { ...page, data: page.data.map(out) } };
}

/**
 * Runs one page query. `find` gets an id condition, an order and a take;
 * it must apply the caller's own filters.
 */
export async function paginate<T extends { id: string }>(
  q: { limit: number; cursor?: string | undefined },
  find: (args: { id?: { gt: string } | { lt: string }; orderBy: { id: 'asc' | 'desc' }; take: number }) => Promise<T[]>,
): Promise<{ data: T[]; next: string | null; previous: string | null }> {
  const c = q.cursor ? decode(q.cursor) : null;
  if (!c || c.dir === 'n') {
    const rows = await find({ ...(c ? { id: { gt: c.id } } : {}), orderBy: { id: 'asc' }, take: q.limit + 1 });
    const more = rows.length > q.limit;
    const data = rows.slice(0, q.limit);
    return {
      data,
      next: more && data.length ? encode('n', data[data.length - 1]!.id) : null,
      previous: c && data.length ? encode('p', data[0]!.id) : null,
    };
  }
  const rows = await find({ id: { lt: c.id }, orderBy: { id: 'desc' }, take: q.limit + 1 });
  const more = rows.length > q.limit;
  const data = rows.slice(0, q.limit).reverse();
  return {
    data,
    next: data.length ? encode('n', data[data.length - 1]!.id) : null,
    previous: more && data.length ? encode('p', data[0]!.id) : null,
  };
}
