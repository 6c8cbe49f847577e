import DataLoader from 'dataloader';
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { PrismaClient } from '../../generated/prisma/client.js';
import { builder } from '../../schema/builder.js';

/**
 * What a workflow builder may know about a connection it can pick: an opaque
 * option. For org-activated connections customer users get nothing more (no
 * type, no values, no stableKey).
 */
export interface SelectableOption {
  connectionId: string;
  name: string;
  connectorKey: string;
  connectorName: string;
  updatedAt?: Date;
}

export const SelectableConnectionRef = builder.objectRef<SelectableOption>('SelectableConnection').implement({
  description: 'A connection offered in the step picker: an opaque option, to be passed as `connectionId` of a step.',
  fields: (t) => ({
    id: t.id({ description: 'The global id of the connection.', resolve: (o) => encodeGlobalID('Connection', o.connectionId) }),
    name: t.exposeString('name'),
    connectorKey: t.exposeString('connectorKey'),
    connectorName: t.exposeString('connectorName'),
  }),
});

/** Per-request batched lookup: is (connection, customer) in the AvailableSelection set? */
const loaders = new WeakMap<object, DataLoader<string, boolean>>();

export function selectableLoader(ctx: { prisma: PrismaClient }): DataLoader<string, boolean> {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (keys: readonly string[]) => {
      const pairs = keys.map((k) => k.split('/') as [string, string]);
      const rows = await ctx.prisma.availableSelection.findMany({
        where: { connectionId: { in: [...new Set(pairs.map((p) => p[0]))] }, customerId: { in: [...new Set(pairs.map((p) => p[1]))] } },
        select: { connectionId: true, customerId: true },
      });
      const set = new Set(rows.map((r) => `${r.connectionId}/${r.customerId}`));
      return keys.map((k) => set.has(k));
    });
    loaders.set(ctx, loader);
  }
  return loader;
}
