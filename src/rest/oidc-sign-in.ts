import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import type { App } from '../app.js';
import { FLOW_COOKIE, OidcSignIn, SIGN_IN_CALLBACK_PATH } from '../auth/oidc.js';
import { ValidationError } from '../errors.js';
import { NO_STORE, page, pageErrors } from '../http/answers.js';
import { signInOrgUser } from '../modules/access/service.js';
import { endpoint } from './endpoint.js';

/**
 * Org users sign in to the admin UI with OpenID Connect (`OIDC_ISSUER`,
 * `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`; register `PUBLIC_URL/auth/oidc/callback`
 * as the redirect URI):
 *
 *   GET /auth/oidc/login[?org=<slug>]  → the provider
 *   GET /auth/oidc/callback            → the gateway's org-user token: to
 *       ADMIN_UI_URL#token=…&expiresAt=… (a fragment: never sent to a server,
 *       never logged), or, without ADMIN_UI_URL, a page that shows it.
 *
 * Without OIDC configuration both answer 404.
 */
/** One client per settings: new settings (a test changing them) are a new client. */
const clients = new WeakMap<NonNullable<App['config']['oidc']>, OidcSignIn>();

function client(app: App): OidcSignIn | null {
  const settings = app.config.oidc;
  if (!settings) return null;
  let c = clients.get(settings);
  if (!c) clients.set(settings, (c = new OidcSignIn(settings, app.config.authSecret, app.config.publicUrl + SIGN_IN_CALLBACK_PATH)));
  return c;
}

const notConfigured = () => page(404, 'Not found', 'OpenID Connect sign-in is not configured on this gateway.');

const errors = pageErrors('Sign-in failed');

export const signInStart = endpoint({
  access: 'public',
  errors,
  async handle({ app, c }) {
    const oidc = client(app);
    if (!oidc) return notConfigured();
    const org = c.req.query('org');
    if (org !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(org)) throw ValidationError.field('org', 'not an organization slug');
    const { url, cookie } = await oidc.start(org ?? null);
    setCookie(c, FLOW_COOKIE, cookie, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: app.config.publicUrl.startsWith('https:'),
      path: SIGN_IN_CALLBACK_PATH,
      maxAge: 600,
    });
    c.header('cache-control', 'no-store');
    return c.redirect(url, 302);
  },
});

export const signInCallback = endpoint({
  access: 'public',
  errors,
  async handle({ app, c }) {
    const oidc = client(app);
    if (!oidc) return notConfigured();
    const cookie = getCookie(c, FLOW_COOKIE);
    // One flow, one answer: whatever happens, the cookie is spent (an error's answer carries it too: endpoint.ts).
    deleteCookie(c, FLOW_COOKIE, { path: SIGN_IN_CALLBACK_PATH });
    const { account, org } = await oidc.finish(new URL(c.req.url), cookie);
    const signedIn = await signInOrgUser(app, { email: account.email, subject: account.subject, orgSlug: org });
    const adminUi = app.config.oidc?.adminUiUrl;
    if (adminUi) {
      const fragment = new URLSearchParams({ token: signedIn.token, expiresAt: signedIn.expiresAt.toISOString() });
      return new Response(null, { status: 303, headers: { ...NO_STORE, location: `${adminUi}#${fragment}` } });
    }
    return page(200, 'Signed in', `${signedIn.email} (${signedIn.organization}). Your token, valid until ${signedIn.expiresAt.toISOString()}: ${signedIn.token}`);
  },
});
