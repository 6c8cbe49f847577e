import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError } from '../errors.js';
import type { Customer } from '../generated/prisma/client.js';
import { rawId } from '../ids.js';
import { customerWhere } from '../modules/tenancy/scope.js';
import { CustomerFields, ensureCustomer, updateCustomer } from '../modules/tenancy/service.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { ErrorBody, IdParams, route } from './route.js';

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

const CreateProjectBody = z.object({
  displayName: CustomerFields.shape.name,
  externalId: CustomerFields.shape.externalId.optional().describe('Your id for the customer; generated when absent. Unique in your organization.'),
  metadata: CustomerFields.shape.metadata,
});

const UpdateProjectBody = z.object({
  displayName: CreateProjectBody.shape.displayName.optional(),
  metadata: CustomerFields.shape.metadata,
});

/** Service input names → this API's. */
const NAMES = { name: 'displayName' };

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
    handler: ({ app, principal, query }) =>
      pageBody(
        query,
        (args) =>
          app.db.prisma.customer.findMany({
            where: {
              AND: [customerWhere(principal), query.externalId !== undefined ? { externalId: query.externalId } : {}, args.id ? { id: args.id } : {}],
            },
            orderBy: args.orderBy,
            take: args.take,
          }),
        projectOut,
      ),
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
    async handler({ body, write }) {
      const input = { externalId: body.externalId ?? `prj_${randomBytes(9).toString('base64url')}`, name: body.displayName, metadata: body.metadata };
      const { customer, created } = await write((op) => ensureCustomer(op, input), NAMES);
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
    async handler({ app, principal, params }) {
      const customer = await app.db.prisma.customer.findFirst({ where: { id: rawId(params.id), AND: [customerWhere(principal)] } });
      if (!customer) throw new NotFoundError('Project');
      return { body: projectOut(customer) };
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
    async handler({ params, body, write }) {
      const patch = { ...(body.displayName !== undefined ? { name: body.displayName } : {}), ...(body.metadata !== undefined ? { metadata: body.metadata } : {}) };
      const customer = await write((op) => updateCustomer(op, rawId(params.id), patch), NAMES).catch((err: unknown) => {
        throw err instanceof NotFoundError ? new NotFoundError('Project') : err;
      });
      return { body: projectOut(customer) };
    },
  }),
];
