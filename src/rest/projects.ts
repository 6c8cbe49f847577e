import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { OrgPrincipal } from '../auth/principal.js';
import { NotFoundError } from '../errors.js';
import { transaction } from '../db/transaction.js';
import type { Customer, PrismaClient } from '../generated/prisma/client.js';
import type { Services } from '../services.js';
import { audit } from '../modules/audit/audit.js';
import { createCustomerRecord } from '../modules/tenancy/service.js';
import { uuidOrNone } from '../modules/tenancy/scope.js';
import { ErrorBody, route } from './router.js';
import { PageQuery, pageOf, paginate } from './pagination.js';
import { lockKey, retryOnUniqueRace } from './retry.js';

/** An Activepieces project is one of our customers; `externalId` is the customer's externalId. */
export const Project = z
  .object({
    id: z.string().describe('The customer id.'),
    created: z.string().describe('ISO 8601 timestamp.'),
    updated: z.string(),
    displayName: z.string().describe('The customer name.'),
    externalId: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    platformId: z.string().describe('Your organization id.'),
  })
  .describe('Project (a customer)');

export function projectOut(c: Customer): z.infer<typeof Project> {
  return {
    id: c.id,
    created: c.createdAt.toISOString(),
    updated: c.updatedAt.toISOString(),
    displayName: c.name,
    externalId: c.externalId,
    metadata: (c.metadata ?? {}) as Record<string, unknown>,
    platformId: c.orgId,
  };
}

const externalId = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
const metadata = z.record(z.string(), z.unknown());

const CreateProjectBody = z.object({
  displayName: z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters'),
  externalId: externalId.optional().describe('Your id for the customer; generated when absent. Unique in your organization.'),
  metadata: metadata.optional(),
});

const UpdateProjectBody = z.object({
  displayName: CreateProjectBody.shape.displayName.optional(),
  metadata: metadata.optional(),
});

const IdParams = z.object({ id: z.string().min(1) });

async function findProject(prisma: PrismaClient, p: OrgPrincipal, id: string): Promise<Customer> {
  const c = await prisma.customer.findFirst({ where: { id: uuidOrNone(id), orgId: p.orgId } });
  if (!c) throw new NotFoundError('Project');
  return c;
}

/**
 * The customer with this externalId, created when missing. Safe under
 * concurrency: two simultaneous calls yield one customer.
 */
export async function getOrCreateCustomer(
  ctx: { prisma: PrismaClient; services: Services },
  p: OrgPrincipal,
  input: { externalId: string; name: string; metadata?: Record<string, unknown> | undefined },
): Promise<{ customer: Customer; created: boolean }> {
  return retryOnUniqueRace(() =>
    transaction(ctx, async (tx) => {
      await lockKey(tx, 'customer.externalId', `${p.orgId}:${input.externalId}`);
      const existing = await tx.customer.findUnique({
        where: { orgId_externalId: { orgId: p.orgId, externalId: input.externalId } },
      });
      if (existing) return { customer: existing, created: false };
      const customer = await createCustomerRecord(tx, p, { orgId: p.orgId, ...input }, { detail: { via: 'rest' } });
      return { customer, created: true };
    }),
  );
}

export const projectRoutes = [
  route({
    method: 'GET',
    path: '/projects',
    operationId: 'listProjects',
    summary: 'List projects (customers)',
    description: 'Filter by `externalId` to look one up: `{ data: [] }` when there is none.',
    tag: 'Projects',
    access: 'org',
    query: PageQuery.extend({ externalId: z.string().optional().describe('Exact externalId.') }),
    responses: { 200: { description: 'A page of projects', schema: pageOf(Project) } },
    async handler({ prisma, principal, query }) {
      const page = await paginate(query, (args) =>
        prisma.customer.findMany({
          where: {
            orgId: principal.orgId,
            ...(query.externalId !== undefined ? { externalId: query.externalId } : {}),
            ...(args.id ? { id: args.id } : {}),
          },
          orderBy: args.orderBy,
          take: args.take,
        }),
      );
      return { body: { ...page, data: page.data.map(projectOut) } };
    },
  }),
  route({
    method: 'POST',
    path: '/projects',
    operationId: 'createProject',
    summary: 'Create a project (customer)',
    description:
      'Creates the customer with this `externalId`. When it exists already, returns it unchanged (200) instead of making a duplicate.',
    tag: 'Projects',
    access: 'orgWrite',
    body: CreateProjectBody,
    responses: {
      201: { description: 'Created', schema: Project },
      200: { description: 'A project with this externalId existed already', schema: Project },
      400: { description: 'Invalid body', schema: ErrorBody },
    },
    async handler({ prisma, services, principal, body }) {
      const { customer, created } = await getOrCreateCustomer({ prisma, services }, principal, {
        externalId: body.externalId ?? `prj_${randomBytes(9).toString('base64url')}`,
        name: body.displayName,
        metadata: body.metadata,
      });
      return { status: created ? 201 : 200, body: projectOut(customer) };
    },
  }),
  route({
    method: 'GET',
    path: '/projects/:id',
    operationId: 'getProject',
    summary: 'Get a project (customer)',
    tag: 'Projects',
    access: 'org',
    params: IdParams,
    responses: { 200: { description: 'The project', schema: Project }, 404: { description: 'Not found', schema: ErrorBody } },
    async handler({ prisma, principal, params }) {
      return { body: projectOut(await findProject(prisma, principal, params.id)) };
    },
  }),
  route({
    method: 'POST',
    path: '/projects/:id',
    operationId: 'updateProject',
    summary: 'Update a project (customer)',
    tag: 'Projects',
    access: 'orgWrite',
    params: IdParams,
    body: UpdateProjectBody,
    responses: { 200: { description: 'The project', schema: Project }, 404: { description: 'Not found', schema: ErrorBody } },
    async handler({ prisma, services, principal, params, body }) {
      const found = await findProject(prisma, principal, params.id);
      const updated = await transaction({ prisma, services }, async (tx) => {
        const c = await tx.customer.update({
          where: { id: found.id },
          data: {
            ...(body.displayName !== undefined ? { name: body.displayName } : {}),
            ...(body.metadata !== undefined ? { metadata: body.metadata as object } : {}),
          },
        });
        await audit(tx, principal, 'customer.update', 'Customer', c.id, { via: 'rest' });
        return c;
      });
      return { body: projectOut(updated) };
    },
  }),
];
