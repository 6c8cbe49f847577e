import type { Context as HonoContext } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { App } from '../app.js';
import { NO_STORE, page, pageErrors } from '../http/answers.js';
import { CALLBACK_PATH, completeAuthorization, openStartLink } from '../modules/oauth/service.js';
import { endpoint } from './endpoint.js';

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
const errors = pageErrors('Connection failed');

/** The flow's cookie goes back to the callback only: HttpOnly, Lax (a top-level redirect from the provider carries it). */
const cookieOptions = (app: App) => ({ path: CALLBACK_PATH, httpOnly: true, sameSite: 'Lax' as const, secure: app.config.publicUrl.startsWith('https:') });

export const oauthStart = endpoint({
  access: 'public',
  errors,
  async handle({ app, c }) {
    const opened = await openStartLink(app, c.req.query('flow') ?? '');
    if (!opened.ok) return page(400, 'Connection failed', opened.message);
    setCookie(c, opened.cookie.name, opened.cookie.value, { ...cookieOptions(app), maxAge: opened.cookie.maxAgeSeconds });
    return redirect(c, opened.providerUrl);
  },
});

export const oauthCallback = endpoint({
  access: 'public',
  errors,
  async handle({ app, c }) {
    const outcome = await completeAuthorization(app, new URL(c.req.url).searchParams, (name) => getCookie(c, name));
    if (outcome.cookie) deleteCookie(c, outcome.cookie, cookieOptions(app));
    if (outcome.redirect) return redirect(c, outcome.redirect);
    if (outcome.ok) return page(200, 'Connected', 'You can close this window.');
    return page(400, 'Connection failed', `${outcome.message} (${outcome.error})`);
  },
});

function redirect(c: HonoContext, location: string): Response {
  for (const [k, v] of Object.entries(NO_STORE)) c.header(k, v);
  return c.redirect(location, 303);
}
