import { z } from 'zod';
import { ErrorBody, type Route } from './route.js';

/**
 * The OpenAPI 3.1 document of the REST API, generated from the routes' own
 * zod schemas (JSON Schema 2020-12 is OpenAPI 3.1's schema dialect).
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => {
    const { description, ...rest } = prop;
    return {
      name,
      in: where,
      required: where === 'path' || (s.required ?? []).includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

export function openApiDocument(routes: Route[], prefix: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = prefix + r.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[p] ??= {};
    paths[p][r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      'x-access': r.access,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } }
        : {}),
      responses: {
        ...(r.body ? { 400: { description: 'Invalid body', content: { 'application/json': { schema: jsonSchema(ErrorBody, 'output') } } } } : {}),
        ...(r.params ? { 404: { description: 'Not found', content: { 'application/json': { schema: jsonSchema(ErrorBody, 'output') } } } } : {}),
        ...Object.fromEntries(
          Object.entries(r.responses).map(([status, res]) => [
            status,
            {
              description: res.description,
              ...(res.schema ? { content: { 'application/json': { schema: jsonSchema(res.schema, 'output') } } } : {}),
            },
          ]),
        ),
        401: { description: 'Missing or invalid API key' },
        403: { description: 'The key may not do this (read-only, or no credential writes)' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Connections gateway — backend automation API',
      version: '1',
      description:
        'Activepieces-compatible REST endpoints for projects (customers) and global connections. ' +
        'Authenticate with an organization API key: `Authorization: Bearer cgk_…`. ' +
        'Errors are JSON `{ statusCode, code, message, problems? }`; `problems[].path` names the field at fault. ' +
        'Secret values are write-only: responses mask them.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'Organization API key' } } },
    paths,
  };
}
