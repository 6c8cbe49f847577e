import { randomBytes } from 'node:crypto';
import { assertWithinLimits } from '../../auth/limits.js';
import type { Principal } from '../../auth/principal.js';
import type { Tx } from '../../db/transaction.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Connection, ConnectionValue, Connector, Customer, PrismaClient } from '../../generated/prisma/client.js';
import type { Op } from '../../op.js';
import { deleteConnection, updateGlobalConnection, upsertGlobalConnection } from '../connections/service.js';
import { ensureCustomer, updateCustomer } from '../tenancy/service.js';
import { globalValue, pieceConnector, type ApType, type ApValue } from './pieces.js';
import { globalConnectionWhere, projectWhere, type GlobalConnectionFilter } from './scope.js';

/**
 * Backend automation in Activepieces' terms (its projects and global
 * connections API), through the services of the modules that own the rows:
 * a project is a customer (tenancy), a global connection an
 * ORG_ACTIVATED_GLOBAL connection with its GLOBAL value and allow-list
 * (connections, values). Inputs use Activepieces' names, and so do the
 * problems reported about them (`displayName`, `projectIds`, `value.props`).
 */

/** A page by id: a boundary, an order and a size. */
export interface Page {
  id?: { gt: string } | { lt: string };
  orderBy: { id: 'asc' | 'desc' };
  take: number;
}

/** The other modules' input names → Activepieces'. */
const AP_NAMES = {
  name: 'displayName',
  allowedCustomerIds: 'projectIds',
  'connector.key': 'pieceName',
  'connector.authType': 'type',
  'value.authType': 'value.type',
  'value.values': 'value.props',
};

async function inApNames<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof ValidationError ? err.renamed(AP_NAMES) : err;
  }
}

// ───────────────────────────── projects ─────────────────────────────

export interface ProjectInput {
  displayName: string;
  /** Generated (`prj_…`) when absent. */
  externalId?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
}

/** The project with this externalId, created when missing (returned unchanged when it exists). */
export function ensureProject(op: Op, input: ProjectInput): Promise<{ customer: Customer; created: boolean }> {
  const externalId = input.externalId ?? `prj_${randomBytes(9).toString('base64url')}`;
  return inApNames(() => ensureCustomer(op, { externalId, name: input.displayName, metadata: input.metadata }));
}

export function updateProject(op: Op, id: string, patch: { displayName?: string | undefined; metadata?: Record<string, unknown> | undefined }): Promise<Customer> {
  return inApNames(() =>
    updateCustomer(op, id, {
      ...(patch.displayName !== undefined ? { name: patch.displayName } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    }),
  ).catch((err: unknown) => {
    throw err instanceof NotFoundError ? new NotFoundError('Project') : err;
  });
}

/** A page of the principal's projects, ordered and bounded by the caller's `page` (rest/pagination.ts). */
export function listProjects(db: PrismaClient | Tx, p: Principal, filter: { externalId?: string | undefined }, page: Page): Promise<Customer[]> {
  return db.customer.findMany({ where: { AND: [projectWhere(p, filter), page.id ? { id: page.id } : {}] }, orderBy: page.orderBy, take: page.take });
}

export async function findProject(db: PrismaClient | Tx, p: Principal, id: string): Promise<Customer> {
  const customer = await db.customer.findFirst({ where: { AND: [{ id }, projectWhere(p)] } });
  if (!customer) throw new NotFoundError('Project');
  return customer;
}

// ───────────────────────── global connections ─────────────────────────

/** A global connection as automation reads it: with its connector, GLOBAL value and allow-list. */
export type GlobalConnectionRow = Connection & { connector: Connector; values: ConnectionValue[]; allowances: { customerId: string }[] };

export const globalConnectionInclude = {
  connector: true,
  values: { where: { slot: 'GLOBAL' } },
  allowances: { select: { customerId: true }, orderBy: { customerId: 'asc' as const } },
} as const;

export async function findGlobalConnection(db: PrismaClient | Tx, p: Principal, id: string): Promise<GlobalConnectionRow> {
  const c = await db.connection.findFirst({ where: globalConnectionWhere(p, { id }), include: globalConnectionInclude });
  if (!c) throw new NotFoundError('Global connection');
  return c;
}

/** One page of the principal's global connections (ordered and bounded by the caller's `page`). */
export function listGlobalConnections(
  db: PrismaClient | Tx,
  p: Principal,
  filter: GlobalConnectionFilter,
  page: Page,
): Promise<GlobalConnectionRow[]> {
  return db.connection.findMany({
    where: { AND: [globalConnectionWhere(p, filter), page.id ? { id: page.id } : {}] },
    include: globalConnectionInclude,
    orderBy: page.orderBy,
    take: page.take,
  });
}

export interface PieceConnectionInput {
  displayName: string;
  pieceName: string;
  type: ApType;
  value: ApValue;
  projectIds: string[];
  metadata?: Record<string, unknown> | undefined;
  /** Generated (`gc_…`) when absent; creating again with a known one updates. */
  externalId?: string | undefined;
}

/**
 * Creates the global connection for a piece — and the piece's connector when
 * the org has none (its fields inferred from the props) — or, for a known
 * external id, updates it. Its GLOBAL value is stored ACTIVE; `projectIds`
 * become its allow-list (and the customers that may pick it in workflows).
 */
export function upsertPieceConnection(op: Op, input: PieceConnectionInput): Promise<{ connection: Connection; created: boolean }> {
  return inApNames(async () => {
    if (input.value.type !== input.type) throw ValidationError.field('value.type', 'must equal `type`');
    return upsertGlobalConnection(op, {
      externalId: input.externalId ?? `gc_${randomBytes(12).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`,
      name: input.displayName,
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      connector: pieceConnector(input.pieceName, input.type, input.value),
      allowedCustomerIds: input.projectIds,
      value: globalValue(input.value),
    });
  });
}

export function updatePieceConnection(
  op: Op,
  id: string,
  patch: { displayName?: string | undefined; metadata?: Record<string, unknown> | undefined; projectIds?: string[] | undefined; value?: ApValue | undefined },
): Promise<Connection> {
  // A new credential needs a principal that may write credentials; nothing else is changed without it.
  if (patch.value) assertWithinLimits(op.actor, 'credentials');
  return inApNames(() =>
    updateGlobalConnection(op, id, {
      ...(patch.displayName !== undefined ? { name: patch.displayName } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
      ...(patch.projectIds !== undefined ? { allowedCustomerIds: patch.projectIds } : {}),
      ...(patch.value ? { value: globalValue(patch.value) } : {}),
    }),
  );
}

export async function deletePieceConnection(op: Op, p: Principal, id: string): Promise<void> {
  const found = await findGlobalConnection(op.tx, p, id);
  await deleteConnection(op, found.id);
}
