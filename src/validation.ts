import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** Parses input with a zod schema; failures become a ValidationError naming each field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = 'input'): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((i) => ({
      path: [prefix, ...i.path.map(String)].join('.'),
      message: i.message,
    })),
  );
}

/** Drops absent keys but keeps explicit nulls ("clear this"), as GraphQL inputs distinguish them. */
export function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
