import type { Hono } from 'hono';
import type { App } from '../app.js';
import { connectLinkRoutes } from './connect-links.js';
import { globalConnectionRoutes } from './global-connections.js';
import { openApiDocument } from './openapi.js';
import { projectRoutes } from './projects.js';
import { webhookRoutes } from './webhooks.js';
import { mountRoutes } from './route.js';

/** The Activepieces-compatible backend automation API, and its OpenAPI document. */
export const REST_PREFIX = '/api/v1';
export const restRoutes = [...projectRoutes, ...globalConnectionRoutes, ...connectLinkRoutes, ...webhookRoutes];

export function mountRestApi(edge: Hono, app: App): void {
  let doc: string | undefined;
  edge.get(`${REST_PREFIX}/openapi.json`, () => {
    doc ??= JSON.stringify(openApiDocument(restRoutes, REST_PREFIX));
    return new Response(doc, { headers: { 'content-type': 'application/json' } });
  });
  mountRoutes(edge, app, REST_PREFIX, restRoutes);
}
