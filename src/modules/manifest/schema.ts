import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { mutate } from '../../schema/mutations.js';
import { orgOwned } from '../tenancy/scope.js';
import { assertMayImport } from './scope.js';
import { exportManifest, importManifest, type Plan, type PlanItem } from './service.js';

const ItemKindEnum = builder.enumType('ManifestItemKind', {
  values: ['CONNECTOR', 'CONNECTION', 'INTEGRATION'] as const,
});

const ActionEnum = builder.enumType('ManifestAction', {
  values: {
    CREATE: { description: 'In the manifest, not here: created.' },
    UPDATE: { description: 'Here and in the manifest, different: updated (see `changes`).' },
    UNCHANGED: { description: 'Here and in the manifest, the same.' },
    DELETE: { description: 'Here, not in the manifest, and `prune` was asked: deleted.' },
    EXTRA: { description: 'Here, not in the manifest: kept (would be deleted with `prune`).' },
  } as const,
});

const PlanItemRef = builder.objectRef<PlanItem>('ManifestPlanItem').implement({
  fields: (t) => ({
    kind: t.field({ type: ItemKindEnum, resolve: (i) => i.kind }),
    key: t.exposeString('key', { description: 'Connector key or stable key.' }),
    action: t.field({ type: ActionEnum, resolve: (i) => i.action }),
    changes: t.exposeStringList('changes', { description: 'Changed properties (UPDATE).' }),
  }),
});

const PlanRef = builder.objectRef<Plan>('ManifestPlan').implement({
  description: 'What an import does (dry run) or did.',
  fields: (t) => ({
    dryRun: t.exposeBoolean('dryRun'),
    applied: t.exposeBoolean('applied', { description: 'True when changes were committed (never for a dry run or a plan without changes).' }),
    prune: t.exposeBoolean('prune'),
    items: t.field({ type: [PlanItemRef], resolve: (p) => p.items }),
    changed: t.int({
      description: 'Items created, updated or deleted.',
      resolve: (p) => p.items.filter((i) => i.action === 'CREATE' || i.action === 'UPDATE' || i.action === 'DELETE').length,
    }),
  }),
});

builder.queryField('exportManifest', (t) =>
  t.field({
    type: 'JSON',
    description:
      "Your organization's configuration — connectors, connections, integrations — keyed by stable keys, " +
      'for `importManifest` in another tenant. Never secrets, ids or customers; deterministic ordering.',
    authScopes: { org: true },
    resolve: (_root, _args, ctx) => exportManifest(ctx.prisma, orgOwned(ctx.principal).orgId),
  }),
);

builder.mutationField('importManifest', (t) =>
  t.field({
    type: PlanRef,
    description:
      'Plans a manifest import: create / update / unchanged / extra (or delete with `prune`) per item. ' +
      'Unless `dryRun`, applies it in one transaction. Importing the same manifest twice changes nothing.',
    authScopes: { org: true },
    errors: { types: mutationErrors },
    args: {
      manifest: t.arg({ type: 'JSON', required: true }),
      dryRun: t.arg.boolean({ required: true }),
      prune: t.arg.boolean({ defaultValue: false, description: 'Delete what the manifest does not have.' }),
    },
    resolve: (_root, args, ctx) => {
      assertMayImport(ctx.principal, args.dryRun);
      return mutate(ctx, (op) => importManifest(op, args.manifest, { dryRun: args.dryRun, prune: args.prune ?? false }));
    },
  }),
);
