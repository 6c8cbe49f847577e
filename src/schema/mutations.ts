import type { Context } from '../context.js';
import { inputAt } from '../errors.js';
import { decodeId, encodeId } from '../ids.js';
import type PrismaTypes from '../generated/pothos-prisma-types.js';
import { write, type Op } from '../op.js';
import { builder } from './builder.js';
import { mutationErrors } from './errors.js';

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
      // The change's availability set is written before the client's selection reads it.
      await op.settle();
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

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** The declaration every delete mutation shares: `(id: ID!): ID` (the deleted row's global id), typed errors. */
export function deleteField(
  t: PothosSchemaTypes.MutationFieldBuilder<Types, Types['Root']>,
  opts: { typename: string; description: string; authScopes: Parameters<typeof t.field>[0]['authScopes']; remove: (op: Op, id: string) => Promise<unknown> },
) {
  return t.field({
    type: 'ID',
    description: opts.description,
    authScopes: opts.authScopes,
    errors: { types: mutationErrors },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => mutateDelete(ctx, opts.typename, args.id, opts.remove),
  });
}
