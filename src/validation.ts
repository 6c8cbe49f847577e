import { z } from 'zod';
import { ValidationError } from './errors.js';

/**
 * Parses input with a zod schema; failures become a ValidationError naming
 * each field relative to that input (give `prefix` for a lone scalar, e.g.
 * `ttlSeconds`). Surfaces add where the input came from (errors.ts).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((i) => ({
      path: [prefix, ...i.path.map(String)].filter((x) => x !== '').join('.'),
      message: i.message,
    })),
  );
}

/** Drops absent keys but keeps explicit nulls ("clear this"), as GraphQL inputs distinguish them. */
export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Stable keys, connector keys and external ids: URL- and file-safe, npm-scope style allowed (`@acme/piece-x`). */
export const KEY_PATTERN = /^[A-Za-z0-9@][A-Za-z0-9._:@/-]{0,127}$/;
export const KEY_MESSAGE = 'letters, digits and . _ - : @ / only; ≤ 128 chars; starts with a letter, digit or @';
export const stableKey = z.string().regex(KEY_PATTERN, KEY_MESSAGE);

/** The size of a value as stored (JSON, UTF-8 bytes). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** Metadata of customers and connections: free-form JSON, at most this many bytes (every list returns it). */
export const MAX_METADATA_BYTES = 16_384;
export const metadata = z
  .record(z.string(), z.unknown())
  .refine((v) => jsonBytes(v) <= MAX_METADATA_BYTES, `at most ${MAX_METADATA_BYTES} bytes as JSON`);

/** A display name: trimmed, 1–200 characters. */
export const displayName = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');

/** Where the first NUL character is in a JSON-like value (`''` for the value itself), or null. PostgreSQL text cannot hold one. */
export function nulPath(value: unknown, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? '' : null;
  // JSON input nests far less than this; deeper is refused rather than walked.
  if (depth > 64) return '';
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner = nulPath(value[i], depth + 1);
      if (inner !== null) return join(String(i), inner);
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000')) return key.replace(/\u0000/g, '\\0');
      const inner = nulPath(item, depth + 1);
      if (inner !== null) return join(key, inner);
    }
  }
  return null;
}

const join = (head: string, tail: string) => (tail ? `${head}.${tail}` : head);
