import { ValidationError } from '../errors.js';
import { activepiecesErrors } from '../http/answers.js';
import { workerAppConnection } from '../modules/dropin/activepieces.js';
import { endpoint } from './endpoint.js';

/**
 * The Activepieces engine's run-time connection fetch, as the engine sends it
 * (its `apiUrl` = the gateway, or the gateway's `/api/`):
 *
 *   GET /v1/worker/app-connections/:externalId?projectId=<project id>
 *   GET /api/v1/worker/app-connections/:externalId?projectId=…
 *   Authorization: Bearer <runtime token of the project's customer>
 *
 * 200 an `AppConnection` (ACTIVE with its `value`, or ERROR); 404 when the
 * token may not use it or it has no usable value; errors as Activepieces'
 * `{ code, params }` (answers.ts). Mapping only: modules/dropin/activepieces.ts.
 */
export const WORKER_APP_CONNECTIONS_PATHS = ['/v1/worker/app-connections/:externalId', '/api/v1/worker/app-connections/:externalId'] as const;

export const workerAppConnectionEndpoint = endpoint({
  access: 'runtime',
  errors: activepiecesErrors,
  async handle({ app, c, principal }) {
    const externalId = c.req.param('externalId') ?? '';
    if (!externalId || externalId.length > 256) throw ValidationError.field('params.externalId', '1 to 256 characters');
    const projectId = c.req.query('projectId') || undefined;
    if (projectId !== undefined && projectId.length > 64) throw ValidationError.field('query.projectId', 'at most 64 characters');
    const body = await workerAppConnection(app, principal, externalId, projectId);
    return Response.json(body, { headers: { 'cache-control': 'no-store' } });
  },
});
