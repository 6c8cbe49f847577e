import { z } from 'zod';
import { lockKey } from '../../db/locks.js';
import type { Tx } from '../../db/transaction.js';
import { ValidationError, inputAt, type FieldProblem } from '../../errors.js';
import { AuthType, ConnectionType, type Prisma } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { parseInput, stableKey, metadata } from '../../validation.js';
import { archiveConnection, createConnection, deleteConnection, updateConnection } from '../connections/service.js';
import { FieldDefsSchema, defaultFields, parseFieldDefs } from '../connectors/fields.js';
import { OAuth2SettingsSchema, TestRequestSchema, createConnector, deleteConnector, updateConnector } from '../connectors/service.js';
import { ProxySettingsSchema } from '../proxy/settings.js';
import { createIntegration, deleteIntegration, updateIntegration } from '../integrations/service.js';
import { orgOwned } from '../tenancy/scope.js';

/**
 * Tenant configuration as a manifest keyed by stable keys: connectors (by
 * key), connections (by stableKey, connector by key), integrations (by
 * stableKey, connections by stableKey). Never secrets (no values, no OAuth
 * client secrets), never ids, nothing tenant-specific (no customers, so no
 * allow-lists). Every list and every object key is in a fixed order, so the
 * same configuration always exports to the same JSON.
 */
export const MANIFEST_VERSION = 1;

const key = stableKey;

const ConnectorItem = z.object({
  key,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  authType: z.enum(AuthType),
  fields: FieldDefsSchema.default([]),
  oauth2: OAuth2SettingsSchema.nullable().default(null),
  testRequest: TestRequestSchema.nullable().default(null),
  proxy: ProxySettingsSchema.nullable().default(null),
});

const ConnectionItem = z.object({
  stableKey: key,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  connector: key.describe('Connector key.'),
  type: z.enum(ConnectionType),
  availableInWorkflows: z.boolean().default(false),
  restrictToAllowList: z.boolean().default(false),
  externalId: key.nullable().default(null),
  metadata: metadata.default({}),
  proxyOnly: z.boolean().default(false),
  archived: z.boolean().default(false),
});

const IntegrationItem = z.object({
  stableKey: key,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  connections: z.array(z.object({ stableKey: key, required: z.boolean().default(true) })).default([]),
});

export const ManifestSchema = z.object({
  version: z.literal(MANIFEST_VERSION),
  connectors: z.array(ConnectorItem).default([]),
  connections: z.array(ConnectionItem).default([]),
  integrations: z.array(IntegrationItem).default([]),
});

export type Manifest = z.infer<typeof ManifestSchema>;
type ConnectorM = z.infer<typeof ConnectorItem>;
type ConnectionM = z.infer<typeof ConnectionItem>;
type IntegrationM = z.infer<typeof IntegrationItem>;

const byString = <T>(f: (x: T) => string) => (a: T, b: T) => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0);

/** JSON with object keys sorted at every level: deterministic, and a plain equality test. */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(
      Object.keys(v as object)
        .sort()
        .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** Normalises one item through its schema (defaults filled), so exports and imports compare equal. */
function norm<S extends z.ZodType>(schema: S, v: unknown): z.output<S> {
  return canonical(schema.parse(v)) as z.output<S>;
}

// ───────────────────────────── export ─────────────────────────────

interface State {
  connectors: Map<string, { row: Prisma.ConnectorGetPayload<object>; item: ConnectorM }>;
  connections: Map<string, { row: Prisma.ConnectionGetPayload<{ include: { connector: true } }>; item: ConnectionM }>;
  integrations: Map<string, { id: string; item: IntegrationM }>;
}

async function loadState(tx: Tx | Prisma.DefaultPrismaClient, orgId: string): Promise<State> {
  const [connectors, connections, integrations] = await Promise.all([
    tx.connector.findMany({ where: { orgId } }),
    tx.connection.findMany({ where: { orgId }, include: { connector: true } }),
    tx.integration.findMany({
      where: { orgId },
      include: { connections: { include: { connection: { select: { stableKey: true } } } } },
    }),
  ]);
  return {
    connectors: new Map(
      connectors.map((c) => [
        c.key,
        {
          row: c,
          item: norm(ConnectorItem, {
            key: c.key,
            name: c.name,
            description: c.description,
            authType: c.authType,
            fields: parseFieldDefs(c.fields),
            oauth2: c.oauth2 ?? null,
            testRequest: c.testRequest ?? null,
            proxy: c.proxy ?? null,
          }),
        },
      ]),
    ),
    connections: new Map(
      connections.map((c) => [
        c.stableKey,
        {
          row: c,
          item: norm(ConnectionItem, {
            stableKey: c.stableKey,
            name: c.name,
            description: c.description,
            connector: c.connector.key,
            type: c.type,
            availableInWorkflows: c.availableInWorkflows,
            restrictToAllowList: c.restrictToAllowList,
            externalId: c.externalId,
            metadata: c.metadata ?? {},
            proxyOnly: c.proxyOnly,
            archived: c.archivedAt !== null,
          }),
        },
      ]),
    ),
    integrations: new Map(
      integrations.map((i) => [
        i.stableKey,
        {
          id: i.id,
          item: norm(IntegrationItem, {
            stableKey: i.stableKey,
            name: i.name,
            description: i.description,
            connections: i.connections
              .map((ic) => ({ stableKey: ic.connection.stableKey, required: ic.required }))
              .sort(byString((x) => x.stableKey)),
          }),
        },
      ]),
    ),
  };
}

export async function exportManifest(tx: Tx | Prisma.DefaultPrismaClient, orgId: string): Promise<Manifest> {
  const s = await loadState(tx, orgId);
  const sorted = <T>(m: Map<string, { item: T }>) => [...m.entries()].sort(byString(([k]) => k)).map(([, v]) => v.item);
  return {
    version: MANIFEST_VERSION,
    connectors: sorted(s.connectors),
    connections: sorted(s.connections),
    integrations: sorted(s.integrations),
  };
}

// ───────────────────────────── plan ─────────────────────────────

export type ItemKind = 'CONNECTOR' | 'CONNECTION' | 'INTEGRATION';
/** EXTRA: exists here, not in the manifest; deleted only with `prune` (then DELETE). */
export type Action = 'CREATE' | 'UPDATE' | 'UNCHANGED' | 'DELETE' | 'EXTRA';

export interface PlanItem {
  kind: ItemKind;
  key: string;
  action: Action;
  /** Changed properties, for UPDATE. */
  changes: string[];
}

export interface Plan {
  dryRun: boolean;
  applied: boolean;
  prune: boolean;
  items: PlanItem[];
}

function changedProps(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  return Object.keys(after)
    .filter((k) => !same(before[k], after[k]))
    .sort();
}

function checkManifest(m: Manifest, state: State): void {
  const problems: FieldProblem[] = [];
  const dupes = <T>(list: T[], k: (x: T) => string, path: string) => {
    const seen = new Set<string>();
    list.forEach((x, i) => {
      if (seen.has(k(x))) problems.push({ path: `manifest.${path}.${i}`, message: 'duplicate: an earlier item has the same key' });
      seen.add(k(x));
    });
  };
  dupes(m.connectors, (c) => c.key, 'connectors');
  dupes(m.connections, (c) => c.stableKey, 'connections');
  dupes(m.integrations, (c) => c.stableKey, 'integrations');
  const externalIds = new Set<string>();
  const connectorKeys = new Set([...m.connectors.map((c) => c.key), ...state.connectors.keys()]);
  const connectionKeys = new Set([...m.connections.map((c) => c.stableKey), ...state.connections.keys()]);
  m.connections.forEach((c, i) => {
    if (!connectorKeys.has(c.connector)) problems.push({ path: `manifest.connections.${i}.connector`, message: 'no connector has this key (in the manifest or the organization)' });
    const existing = state.connections.get(c.stableKey)?.item;
    if (existing && existing.type !== c.type) {
      problems.push({ path: `manifest.connections.${i}.type`, message: `cannot change (the connection here is ${existing.type})` });
    }
    if (existing && existing.connector !== c.connector) {
      problems.push({ path: `manifest.connections.${i}.connector`, message: `cannot change (the connection here uses "${existing.connector}")` });
    }
    if (c.externalId) {
      if (externalIds.has(c.externalId)) problems.push({ path: `manifest.connections.${i}.externalId`, message: 'duplicate' });
      externalIds.add(c.externalId);
    }
  });
  m.integrations.forEach((integ, i) =>
    integ.connections.forEach((ref, j) => {
      if (!connectionKeys.has(ref.stableKey)) {
        problems.push({ path: `manifest.integrations.${i}.connections.${j}.stableKey`, message: 'no connection has this stableKey (in the manifest or the organization)' });
      }
    }),
  );
  if (problems.length) throw new ValidationError(problems);
}

export function planFor(m: Manifest, state: State, prune: boolean): PlanItem[] {
  const items: PlanItem[] = [];
  const diff = <T extends Record<string, unknown>>(
    kind: ItemKind,
    wanted: T[],
    keyOf: (x: T) => string,
    have: Map<string, { item: T }>,
  ) => {
    const wantedKeys = new Set<string>();
    for (const w of [...wanted].sort(byString(keyOf))) {
      const k = keyOf(w);
      wantedKeys.add(k);
      const h = have.get(k);
      if (!h) items.push({ kind, key: k, action: 'CREATE', changes: [] });
      else {
        const changes = changedProps(h.item, w);
        items.push({ kind, key: k, action: changes.length ? 'UPDATE' : 'UNCHANGED', changes });
      }
    }
    for (const k of [...have.keys()].sort()) {
      if (!wantedKeys.has(k)) items.push({ kind, key: k, action: prune ? 'DELETE' : 'EXTRA', changes: [] });
    }
  };
  diff('CONNECTOR', m.connectors, (c) => c.key, state.connectors);
  diff('CONNECTION', m.connections, (c) => c.stableKey, state.connections);
  diff('INTEGRATION', m.integrations, (c) => c.stableKey, state.integrations);
  return items;
}

// ───────────────────────────── apply ─────────────────────────────

/**
 * Plans the import of a manifest and, unless `dryRun`, applies it in the
 * caller's transaction, through the same services as every other surface:
 * creates and updates in dependency order (connectors, connections,
 * integrations), then — only with `prune` — deletes what the manifest does
 * not have, in reverse order. Importing what was just imported plans nothing
 * but UNCHANGED. Problems name the manifest item (`manifest.connectors.3.key`).
 */
export async function importManifest(op: Op, raw: unknown, opts: { dryRun: boolean; prune: boolean }): Promise<Plan> {
  const parsed = parseInput(ManifestSchema, raw, 'manifest');
  const m: Manifest = {
    version: parsed.version,
    // As createConnector does: no fields means the auth type's conventional ones (so a second import is UNCHANGED).
    connectors: parsed.connectors.map((c) => norm(ConnectorItem, { ...c, fields: c.fields.length ? c.fields : defaultFields(c.authType) })),
    connections: parsed.connections.map((c) => norm(ConnectionItem, c)),
    integrations: parsed.integrations.map((i) =>
      norm(IntegrationItem, { ...i, connections: [...i.connections].sort(byString((x) => x.stableKey)) }),
    ),
  };
  const { orgId } = orgOwned(op.actor);
  // One import per organization at a time: the plan is computed and applied against a state nobody else changes.
  await lockKey(op.tx, 'manifest.import', orgId);
  const state = await loadState(op.tx, orgId);
  checkManifest(m, state);
  const items = planFor(m, state, opts.prune);
  const plan: Plan = { dryRun: opts.dryRun, applied: false, prune: opts.prune, items };
  if (opts.dryRun || items.every((i) => i.action === 'UNCHANGED' || i.action === 'EXTRA')) return plan;

  const via = op.through('manifest');
  const action = (kind: ItemKind, k: string) => items.find((i) => i.kind === kind && i.key === k)!.action;
  const at = <T>(list: T[], x: T, name: string) => `manifest.${name}.${list.indexOf(x)}`;

  for (const c of m.connectors) {
    const a = action('CONNECTOR', c.key);
    const path = at(m.connectors, c, 'connectors');
    if (a === 'CREATE') await inputAt(path, () => createConnector(via, c));
    else if (a === 'UPDATE') {
      const { key: _k, ...patch } = c;
      await inputAt(path, () => updateConnector(via, state.connectors.get(c.key)!.row.id, patch));
    }
  }

  for (const c of m.connections) {
    const a = action('CONNECTION', c.stableKey);
    const path = at(m.connections, c, 'connections');
    const { archived, connector, ...fields } = c;
    if (a === 'CREATE') {
      const row = await inputAt(path, () => createConnection(via, { ...fields, connectorKey: connector }));
      if (archived) await archiveConnection(via, row.id, true);
    } else if (a === 'UPDATE') {
      const existing = state.connections.get(c.stableKey)!;
      const { stableKey: _s, type: _t, ...patchable } = fields;
      const changed = Object.fromEntries(Object.entries(patchable).filter(([k, v]) => !same((existing.item as Record<string, unknown>)[k], v)));
      if (Object.keys(changed).length) await inputAt(path, () => updateConnection(via, existing.row.id, changed));
      if (archived !== existing.item.archived) await archiveConnection(via, existing.row.id, archived);
    }
  }

  for (const integ of m.integrations) {
    const a = action('INTEGRATION', integ.stableKey);
    const path = at(m.integrations, integ, 'integrations');
    const connections = integ.connections.map((r) => ({ connectionStableKey: r.stableKey, required: r.required }));
    if (a === 'CREATE') await inputAt(path, () => createIntegration(via, { ...integ, connections }));
    else if (a === 'UPDATE') {
      await inputAt(path, () => updateIntegration(via, state.integrations.get(integ.stableKey)!.id, integ, connections));
    }
  }

  // Prune, dependants first.
  if (opts.prune) {
    const deleted = (kind: ItemKind) => items.filter((x) => x.action === 'DELETE' && x.kind === kind);
    for (const i of deleted('INTEGRATION')) await deleteIntegration(via, state.integrations.get(i.key)!.id, true);
    for (const i of deleted('CONNECTION')) await deleteConnection(via, state.connections.get(i.key)!.row.id);
    for (const i of deleted('CONNECTOR')) await deleteConnector(via, state.connectors.get(i.key)!.row.id);
  }
  await op.audit('manifest.import', 'Organization', orgId, {
    counts: Object.fromEntries(
      (['CREATE', 'UPDATE', 'UNCHANGED', 'DELETE', 'EXTRA'] as const).map((a) => [a, items.filter((i) => i.action === a).length]),
    ),
  });
  plan.applied = true;
  return plan;
}
