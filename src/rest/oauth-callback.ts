import type { Context as HonoContext } from 'hono';
import type { App } from '../app.js';
import { completeAuthorization } from '../modules/oauth/service.js';

/**
 * `GET /oauth/callback`: where OAuth2 providers send the user's browser back
 * (register `PUBLIC_URL/oauth/callback` as the redirect URI). Redirects to the
 * flow's success/failure URL, or shows a minimal page when none was given.
 */
export const NO_STORE = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };

export async function oauthCallback(app: App, c: HonoContext): Promise<Response> {
  let outcome;
  try {
    outcome = await completeAuthorization(app, new URL(c.req.url).searchParams);
  } catch (err) {
    app.log.error({ err: err instanceof Error ? err.name : 'unknown' }, 'oauth callback crashed');
    return page(500, 'Connection failed', 'Something went wrong; please try again.');
  }
  if (outcome.redirect) return new Response(null, { status: 303, headers: { ...NO_STORE, location: outcome.redirect } });
  if (outcome.ok) return page(200, 'Connected', 'You can close this window.');
  return page(400, 'Connection failed', `${outcome.message} (${outcome.error})`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(status: number, title: string, text: string): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`;
  return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8', ...NO_STORE } });
}
