import DataLoader from 'dataloader';
import type { Context } from '../context.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';

type ModelName = keyof PrismaTypes & string;

const loaders = new WeakMap<object, Map<string, DataLoader<string, unknown>>>();

/**
 * Rows of a model by id, with the client's selection (plugin-prisma's
 * `query`), batched across every parent of a response into one statement.
 * For fields whose parent is not a Prisma row (an overview entry, a plain
 * object) and that would otherwise load their rows one parent at a time.
 */
export async function rowsById<M extends ModelName>(ctx: Context, model: M, query: object, ids: readonly string[]): Promise<PrismaTypes[M]['Shape'][]> {
  let byQuery = loaders.get(ctx);
  if (!byQuery) loaders.set(ctx, (byQuery = new Map()));
  const key = `${model}:${JSON.stringify(query)}`;
  let loader = byQuery.get(key);
  if (!loader) {
    // Every model delegate has findMany; TypeScript cannot index them by name.
    const delegate = (ctx.prisma as unknown as Record<string, { findMany(args: object): Promise<{ id: string }[]> }>)[
      model[0]!.toLowerCase() + model.slice(1)
    ]!;
    loader = new DataLoader(async (keys: readonly string[]) => {
      const rows = await delegate.findMany({ ...query, where: { id: { in: [...keys] } } });
      const byId = new Map(rows.map((r) => [r.id, r]));
      return keys.map((k) => byId.get(k) ?? null);
    });
    byQuery.set(key, loader);
  }
  const rows = await loader.loadMany(ids);
  return rows.filter((r): r is PrismaTypes[M]['Shape'] => r !== null && !(r instanceof Error));
}
