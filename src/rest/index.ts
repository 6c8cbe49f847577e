import type { Plugin } from 'graphql-yoga';
import type { Services } from '../services.js';
import { globalConnectionRoutes } from './global-connections.js';
import { openApiDocument } from './openapi.js';
import { projectRoutes } from './projects.js';
import { Router } from './router.js';

export const REST_PREFIX = '/api/v1';
export const restRoutes = [...projectRoutes, ...globalConnectionRoutes];

/**
 * Serves the REST API under /api/v1 from the same HTTP server as GraphQL
 * (a Yoga plugin: same process, same services, same principal resolution).
 */
export function restPlugin(services: Services): Plugin {
  const router = new Router(REST_PREFIX, restRoutes);
  let doc: string | undefined;
  return {
    async onRequest({ request, url, endResponse }) {
      if (!url.pathname.startsWith(REST_PREFIX)) return;
      if (url.pathname === `${REST_PREFIX}/openapi.json` && request.method === 'GET') {
        doc ??= JSON.stringify(openApiDocument(restRoutes, REST_PREFIX));
        endResponse(new Response(doc, { headers: { 'content-type': 'application/json' } }));
        return;
      }
      const response = await router.handle(request, url, services);
      if (response) endResponse(response);
    },
  };
}
