import type { Context as HonoContext } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { App } from '../app.js';
import { errorSummary } from '../logging.js';
import { CALLBACK_PATH, completeAuthorization, openStartLink } from '../modules/oauth/service.js';

/**
 * The browser's side of an OAuth2 flow:
 *
 * - `GET /oauth/start?flow=…`: the link `startOAuthAuthorization` returns.
 *   The first browser to open it gets the flow's cookie and goes on to the
 *   provider; the link never works twice.
 * - `GET /oauth/callback`: where providers send the browser back (register
 *   `PUBLIC_URL/oauth/callback` as the redirect URI). Completes only with
 *   that cookie, then redirects to the flow's success/failure URL, or shows a
 *   minimal page when none was given.
 */
export const NO_STORE = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' };

/** The flow's cookie goes back to the callback only: HttpOnly, Lax (a top-level redirect from the provider carries it). */
const cookieOptions = (app: App) => ({ path: CALLBACK_PATH, httpOnly: true, sameSite: 'Lax' as const, secure: app.config.publicUrl.startsWith('https:') });

export async function oauthStart(app: App, c: HonoContext): Promise<Response> {
  const opened = await openStartLink(app, c.req.query('flow') ?? '');
  if (!opened.ok) return withCookies(c, page(400, 'Connection failed', opened.message));
  setCookie(c, opened.cookie.name, opened.cookie.value, { ...cookieOptions(app), maxAge: opened.cookie.maxAgeSeconds });
  return redirect(c, opened.providerUrl);
}

export async function oauthCallback(app: App, c: HonoContext): Promise<Response> {
  let outcome;
  try {
    outcome = await completeAuthorization(app, new URL(c.req.url).searchParams, (name) => getCookie(c, name));
  } catch (err) {
    app.log.error({ err: errorSummary(err) }, 'oauth callback crashed');
    return withCookies(c, page(500, 'Connection failed', 'Something went wrong; please try again.'));
  }
  if (outcome.cookie) deleteCookie(c, outcome.cookie, cookieOptions(app));
  if (outcome.redirect) return redirect(c, outcome.redirect);
  if (outcome.ok) return withCookies(c, page(200, 'Connected', 'You can close this window.'));
  return withCookies(c, page(400, 'Connection failed', `${outcome.message} (${outcome.error})`));
}

function redirect(c: HonoContext, location: string): Response {
  for (const [k, v] of Object.entries(NO_STORE)) c.header(k, v);
  return c.redirect(location, 303);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function page(status: number, title: string, text: string): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`;
  return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8', ...NO_STORE } });
}

/** Hono keeps cookies set on the context in its own headers; a Response built by hand gets them here. */
export function withCookies(c: HonoContext, res: Response): Response {
  for (const v of c.res.headers.getSetCookie()) res.headers.append('set-cookie', v);
  return res;
}
