import { z } from 'zod';
import type { Customer } from '../generated/prisma/client.js';
import { ensureProject, findProject, listProjects, updateProject } from '../modules/automation/service.js';
import { CustomerFields } from '../modules/tenancy/service.js';
import { PageQuery, pageBody, pageOf } from './pagination.js';
import { readById, route, routeGroup } from './route.js';

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

export const projectRoutes = routeGroup('Projects', [
  route({
    method: 'GET',
    path: '/projects',
    operationId: 'listProjects',
    summary: 'List projects (customers)',
    description: 'Filter by `externalId` to look one up: `{ data: [] }` when there is none.',
    access: 'org',
    query: PageQuery.extend({ externalId: z.string().optional().describe('Exact externalId.') }),
    responses: { 200: { description: 'A page of projects', schema: pageOf(Project) } },
    handler: ({ app, principal, query }) =>
      pageBody(
        query,
        (page) => listProjects(app.db.prisma, principal, { externalId: query.externalId }, page),
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
    access: 'orgWrite',
    body: CreateProjectBody,
    responses: {
      201: { description: 'Created', schema: Project },
      200: { description: 'A project with this externalId existed already', schema: Project },
    },
    async handler({ body, write }) {
      const { customer, created } = await write((op) => ensureProject(op, body));
      return { status: created ? 201 : 200, body: projectOut(customer) };
    },
  }),
  route({
    method: 'GET',
    path: '/projects/:id',
    operationId: 'getProject',
    summary: 'Get a project (customer)',
    access: 'org',
    responses: { 200: { description: 'The project', schema: Project } },
    handler: readById(findProject, projectOut),
  }),
  route({
    method: 'POST',
    path: '/projects/:id',
    operationId: 'updateProject',
    summary: 'Update a project (customer)',
    access: 'orgWrite',
    body: UpdateProjectBody,
    responses: { 200: { description: 'The project', schema: Project } },
    async handler({ params, body, write }) {
      return { body: projectOut(await write((op) => updateProject(op, params.id, body))) };
    },
  }),
]);
