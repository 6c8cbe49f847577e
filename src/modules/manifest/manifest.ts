import { z } from 'zod';
import type { KeyRing } from '../../crypto/keyring.js';
import { ValidationError, type FieldProblem } from '../../errors.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { parseInput } from '../../validation.js';
import type { Principal } from '../../auth/principal.js';
import { audit } from '../audit/audit.js';
import { FieldDefsSchema, defaultFields, parseFieldDefs } from '../connections/fields.js';
import {
  KEY_MESSAGE,
  KEY_PATTERN,
  OAuth2SettingsSchema,
  TestRequestSchema,
  createConnection,
  createConnector,
  deleteConnection,
  deleteConnector,
  setArchived,
  updateConnection,
  updateConnector,
} from '../connections/service.js';

/**
 * Tenant configuration as a manifest keyed by stable keys: connectors (by
 * key), connections (by stableKey, connector by key), integrations (by
 * stableKey, connections by stableKey). Never secrets (no values, no OAuth
 * client secrets), never ids, nothing tenant-specific (no customers, so no
 * allow-lists). Every list and every object key is in a fixed order, so the
 * same configuration always exports to the same JSON.
 */
type Tx = Prisma.TransactionClient;

export const MANIFEST_VERSION = 1;

const key = z.string().regex(KEY_PATTERN, KEY_MESSAGE);

const ConnectorItem = z.object({
  key,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  authType: z.enum(['OAUTH2', 'SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'NO_AUTH']),
  fields: FieldDefsSchema.default([]),
  oauth2: OAuth2SettingsSchema.nullable().default(null),
  testRequest: TestRequestSchema.nullable().default(null),
});

const ConnectionItem = z.object({
  stableKey: key,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  connector: key.describe('Connector key.'),
  type: z.enum(['CUSTOMER_ACTIVATED', 'ORG_ACTIVATED_CUSTOMER', 'ORG_ACTIVATED_GLOBAL']),
  availableInWorkflows: z.boolean().default(false),
  restrictToAllowList: z.boolean().default(false),
  externalId: key.nullable().default(null),
  metadata: z.record(z.string(), z.unknown()).default({}),
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
      if (seen.has(k(x))) problems.push({ path: `manifest.${path}.${i}`, message: `duplicate "${k(x)}"` });
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
    if (!connectorKeys.has(c.connector)) problems.push({ path: `manifest.connections.${i}.connector`, message: `unknown connector "${c.connector}"` });
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
        problems.push({ path: `manifest.integrations.${i}.connections.${j}.stableKey`, message: `unknown connection "${ref.stableKey}"` });
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

/** Service errors name their own input; point them at the manifest item instead. */
async function at<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new ValidationError(err.problems.map((p) => ({ ...p, path: `${path}.${p.path.replace(/^(input|patch)\.?/, '')}`.replace(/\.$/, '') })));
    }
    throw err;
  }
}

/**
 * Plans the import of a manifest and, unless `dryRun`, applies it in the
 * caller's transaction: creates and updates in dependency order (connectors,
 * connections, integrations), then — only with `prune` — deletes what the
 * manifest does not have, in reverse order. Importing what was just
 * imported plans nothing but UNCHANGED.
 */
export async function importManifest(
  tx: Tx,
  ring: KeyRing,
  principal: Principal,
  orgId: string,
  raw: unknown,
  opts: { dryRun: boolean; prune: boolean },
): Promise<Plan> {
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
  // One import per organization at a time: the plan is computed and applied against a state nobody else changes.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('manifest.import'), hashtext(${orgId}))`;
  const state = await loadState(tx, orgId);
  checkManifest(m, state);
  const items = planFor(m, state, opts.prune);
  const plan: Plan = { dryRun: opts.dryRun, applied: false, prune: opts.prune, items };
  if (opts.dryRun || items.every((i) => i.action === 'UNCHANGED' || i.action === 'EXTRA')) return plan;

  const action = (kind: ItemKind, k: string) => items.find((i) => i.kind === kind && i.key === k)!.action;
  const index = <T>(list: T[], x: T) => list.indexOf(x);

  // Connectors.
  const connectorIds = new Map([...state.connectors].map(([k, v]) => [k, v.row.id]));
  for (const c of m.connectors) {
    const a = action('CONNECTOR', c.key);
    const path = `manifest.connectors.${index(m.connectors, c)}`;
    if (a === 'CREATE') {
      const row = await at(path, () => createConnector(tx, ring, orgId, c));
      connectorIds.set(c.key, row.id);
      await audit(tx, principal, 'connector.create', 'Connector', row.id, { via: 'manifest' });
    } else if (a === 'UPDATE') {
      const { key: _k, ...patch } = c;
      const row = state.connectors.get(c.key)!.row;
      await at(path, () => updateConnector(tx, ring, row, patch));
      await audit(tx, principal, 'connector.update', 'Connector', row.id, { via: 'manifest' });
    }
  }

  // Connections.
  const connectionIds = new Map([...state.connections].map(([k, v]) => [k, v.row.id]));
  for (const c of m.connections) {
    const a = action('CONNECTION', c.stableKey);
    const path = `manifest.connections.${index(m.connections, c)}`;
    const { archived, connector, ...fields } = c;
    if (a === 'CREATE') {
      const row = await at(path, () => createConnection(tx, orgId, { ...fields, connectorId: connectorIds.get(connector)! }));
      if (archived) await setArchived(tx, row, true);
      connectionIds.set(c.stableKey, row.id);
      await audit(tx, principal, 'connection.create', 'Connection', row.id, { via: 'manifest' });
    } else if (a === 'UPDATE') {
      const existing = state.connections.get(c.stableKey)!;
      const { stableKey: _s, type: _t, ...patchable } = fields;
      const changed = Object.fromEntries(Object.entries(patchable).filter(([k, v]) => !same((existing.item as Record<string, unknown>)[k], v)));
      let row = existing.row as Prisma.ConnectionGetPayload<object>;
      if (Object.keys(changed).length) row = await at(path, () => updateConnection(tx, row, changed));
      if (archived !== existing.item.archived) await setArchived(tx, row, archived);
      await audit(tx, principal, 'connection.update', 'Connection', row.id, { via: 'manifest' });
    }
  }

  // Integrations.
  for (const integ of m.integrations) {
    const a = action('INTEGRATION', integ.stableKey);
    if (a !== 'CREATE' && a !== 'UPDATE') continue;
    const requirements = integ.connections.map((r) => ({ connectionId: connectionIds.get(r.stableKey)!, required: r.required }));
    const data = { name: integ.name, description: integ.description };
    let id: string;
    if (a === 'CREATE') {
      id = (await tx.integration.create({ data: { ...data, orgId, stableKey: integ.stableKey }, select: { id: true } })).id;
    } else {
      id = state.integrations.get(integ.stableKey)!.id;
      await tx.integration.update({ where: { id }, data });
      await tx.integrationConnection.deleteMany({ where: { integrationId: id } });
    }
    if (requirements.length) await tx.integrationConnection.createMany({ data: requirements.map((r) => ({ ...r, integrationId: id })) });
    await audit(tx, principal, a === 'CREATE' ? 'integration.create' : 'integration.update', 'Integration', id, { via: 'manifest' });
  }

  // Prune, dependants first.
  if (opts.prune) {
    for (const i of items.filter((x) => x.action === 'DELETE' && x.kind === 'INTEGRATION')) {
      const id = state.integrations.get(i.key)!.id;
      await tx.integration.delete({ where: { id } });
      await audit(tx, principal, 'integration.delete', 'Integration', id, { via: 'manifest' });
    }
    for (const i of items.filter((x) => x.action === 'DELETE' && x.kind === 'CONNECTION')) {
      const row = state.connections.get(i.key)!.row;
      await deleteConnection(tx, row);
      await audit(tx, principal, 'connection.delete', 'Connection', row.id, { via: 'manifest' });
    }
    for (const i of items.filter((x) => x.action === 'DELETE' && x.kind === 'CONNECTOR')) {
      const row = state.connectors.get(i.key)!.row;
      await deleteConnector(tx, row);
      await audit(tx, principal, 'connector.delete', 'Connector', row.id, { via: 'manifest' });
    }
  }
  await audit(tx, principal, 'manifest.import', 'Organization', orgId, {
    counts: Object.fromEntries(
      (['CREATE', 'UPDATE', 'UNCHANGED', 'DELETE', 'EXTRA'] as const).map((a) => [a, items.filter((i) => i.action === a).length]),
    ),
  });
  plan.applied = true;
  return plan;
}
