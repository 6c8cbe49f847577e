import type { Plugin } from 'graphql-yoga';
import type { Services } from '../../services.js';
import { CALLBACK_PATH, completeAuthorization } from './flow.js';

/**
 * `GET /oauth/callback`: where OAuth2 providers send the user's browser back
 * (register `PUBLIC_URL/oauth/callback` as the redirect URI). Redirects to the
 * flow's success/failure URL, or shows a minimal page when none was given.
 */
export function oauthCallbackPlugin(services: Services): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== CALLBACK_PATH) return;
      if (request.method !== 'GET') {
        endResponse(new fetchAPI.Response('Method not allowed', { status: 405, headers: { allow: 'GET' } }));
        return;
      }
      let outcome;
      try {
        outcome = await completeAuthorization(services, url.searchParams);
      } catch (err) {
        services.log.error({ err: err instanceof Error ? err.name : 'unknown' }, 'oauth callback crashed');
        endResponse(page(fetchAPI, 500, 'Connection failed', 'Something went wrong; please try again.'));
        return;
      }
      const headers = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };
      if (outcome.redirect) {
        endResponse(new fetchAPI.Response(null, { status: 303, headers: { ...headers, location: outcome.redirect } }));
      } else if (outcome.ok) {
        endResponse(page(fetchAPI, 200, 'Connected', 'You can close this window.'));
      } else {
        endResponse(page(fetchAPI, 400, 'Connection failed', `${outcome.message} (${outcome.error})`));
      }
    },
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(fetchAPI: { Response: typeof Response }, status: number, title: string, text: string): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`;
  return new fetchAPI.Response(html, {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' },
  });
}
