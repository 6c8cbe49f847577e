import type { Context } from '../context.js';
import { inputAt } from '../errors.js';
import { decodeId, encodeId } from '../ids.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { write, type Op } from '../op.js';

/**
 * The mutation ceremony, once. A GraphQL mutation parses its arguments and
 * hands them to a service; `mutate` runs that call as one unit of work on
 * behalf of the caller (the service audits and locks for itself), reporting
 * validation problems under the argument the input came from (`input`,
 * `patch`…). `mutateAndLoad` then reads the result back, in the same
 * transaction, with the client's selection (plugin-prisma's `query`).
 */
export function mutate<T>(ctx: Context, fn: (op: Op) => Promise<T>, opts: { input?: string } = {}): Promise<T> {
  // The `authScopes` of every mutation require a principal before this runs.
  return inputAt(opts.input ?? '', () => write(ctx.app, ctx.principal!, 'graphql', fn));
}

type ModelName = keyof PrismaTypes & string;

export function mutateAndLoad<M extends ModelName>(
  ctx: Context,
  query: object,
  model: M,
  fn: (op: Op) => Promise<{ id: string }>,
  opts: { input?: string } = {},
): Promise<PrismaTypes[M]['Shape']> {
  return mutate(
    ctx,
    async (op) => {
      const { id } = await fn(op);
      // Every model delegate has findUniqueOrThrow; TypeScript cannot index them by name.
      const delegate = (op.tx as unknown as Record<string, { findUniqueOrThrow(args: object): Promise<PrismaTypes[M]['Shape']> }>)[
        model[0]!.toLowerCase() + model.slice(1)
      ]!;
      return delegate.findUniqueOrThrow({ ...query, where: { id } });
    },
    opts,
  );
}

/** A delete mutation: runs the service on the decoded row id and answers the deleted row's global id. */
export function mutateDelete(
  ctx: Context,
  typename: string,
  globalId: string | number | bigint,
  fn: (op: Op, id: string) => Promise<unknown>,
): Promise<string> {
  const id = decodeId(typename, globalId);
  return mutate(ctx, async (op) => {
    await fn(op, id);
    return encodeId(typename, id);
  });
}
