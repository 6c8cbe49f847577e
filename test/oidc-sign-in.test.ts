import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { write } from '../src/op.js';
import { addOrgUser } from '../src/modules/tenancy/service.js';
import { adminOf, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import type { TestGateway } from './helpers/gateway.js';
import { browseToCallback, CLIENT_ID, CLIENT_SECRET, startProvider, type TestProvider } from './helpers/oidc-provider.js';
import { useWorld } from './helpers/world.js';

/**
 * Org users sign in to the admin UI with OpenID Connect against a real
 * provider (oidc-provider, in process) and receive the gateway's org-user
 * token; what the provider does not vouch for gets no token.
 */
const Viewer = graphql(`
  query OidcViewer {
    viewer { kind organization { slug } }
  }
`);

let gw: TestGateway;
let provider: TestProvider;
let acme: SeededOrg;
let globex: SeededOrg;
const account: Record<string, unknown> = {};

// Registered first, so it runs after the gateway has closed (afterAll hooks run in reverse).
afterAll(async () => {
  await provider?.close();
});
useWorld({ orgs: { acme: { slug: 'acme-oidc', customers: [] }, globex: { slug: 'globex-oidc', customers: [] } } }, async (w) => {
  ({ gw, acme, globex } = w);
  provider = await startProvider({ redirectUris: [`${gw.url}/auth/oidc/callback`], account });
  gw.app.config.oidc = { issuer: provider.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, adminUiUrl: null, requireEmailVerified: true };
  await write(gw.app, await adminOf(gw.app, acme.orgId), 'system', (op) => addOrgUser(op, { email: 'dana@example.com', name: 'Dana' }));
  await write(gw.app, await adminOf(gw.app, acme.orgId), 'system', (op) => addOrgUser(op, { email: 'both@example.com', name: 'Both' }));
  await write(gw.app, await adminOf(gw.app, globex.orgId), 'system', (op) => addOrgUser(op, { email: 'both@example.com', name: 'Both' }));
});

/** A browser signing in: the gateway's login, the provider, back to the gateway's callback with the flow cookie. */
async function signIn(query = ''): Promise<{ status: number; body: string; location: string | null }> {
  const start = await http(`${gw.url}/auth/oidc/login${query}`);
  if (start.status !== 302) return start;
  const cookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const callback = await browseToCallback(start.location!, `${gw.url}/auth/oidc/callback`);
  return http(callback, { headers: { cookie } });
}

const tokenIn = (body: string) => /(eyJ[\w-]+\.[\w-]+\.[\w-]+)/.exec(body)?.[1];

describe('OpenID Connect sign-in', () => {
  it('gives a verified org user the gateway\'s org-user token', async () => {
    Object.assign(account, { email: 'Dana@Example.com', email_verified: true });
    const res = await signIn();
    expect(res.status, res.body).toBe(200);
    expect(res.body).toContain('dana@example.com');
    const token = tokenIn(res.body)!;
    const viewer = await gql(gw.url, Viewer, {}, token);
    expect(viewer.data?.viewer).toEqual({ kind: 'ORG_USER', organization: { slug: 'acme-oidc' } });
    const audited = await gw.app.db.prisma.auditEvent.findFirst({ where: { orgId: acme.orgId, action: 'orgUser.signIn' } });
    expect(audited?.detail).toMatchObject({ via: 'oidc' });
  });

  it('sends the token to ADMIN_UI_URL in the fragment when configured', async () => {
    Object.assign(account, { email: 'dana@example.com', email_verified: true });
    gw.app.config.oidc = { ...gw.app.config.oidc!, adminUiUrl: 'https://admin.example/signed-in' };
    try {
      const res = await signIn();
      expect(res.status).toBe(303);
      const url = new URL(res.location!);
      expect(url.origin + url.pathname).toBe('https://admin.example/signed-in');
      expect(url.search).toBe('');
      const token = new URLSearchParams(url.hash.slice(1)).get('token')!;
      expect((await gql(gw.url, Viewer, {}, token)).data?.viewer.kind).toBe('ORG_USER');
    } finally {
      gw.app.config.oidc = { ...gw.app.config.oidc!, adminUiUrl: null };
    }
  });

  it('an email in several organizations signs in naming one', async () => {
    Object.assign(account, { email: 'both@example.com', email_verified: true });
    const ambiguous = await signIn();
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body).toContain('?org=');
    const named = await signIn('?org=globex-oidc');
    expect(named.status).toBe(200);
    expect((await gql(gw.url, Viewer, {}, tokenIn(named.body)!)).data?.viewer.organization.slug).toBe('globex-oidc');
    expect((await http(`${gw.url}/auth/oidc/login?org=${encodeURIComponent('<x>')}`)).status).toBe(400);
  });

  it('no token for an unknown or unverified email, a callback without its flow, or a replayed one', async () => {
    Object.assign(account, { email: 'stranger@example.com', email_verified: true });
    const stranger = await signIn();
    expect(stranger.status).toBe(403);
    expect(stranger.body).toContain('npm run admin -- user add');
    expect(tokenIn(stranger.body)).toBeUndefined();

    Object.assign(account, { email: 'dana@example.com', email_verified: false });
    const unverified = await signIn();
    expect(unverified.status).toBe(403);
    expect(tokenIn(unverified.body)).toBeUndefined();

    Object.assign(account, { email: 'dana@example.com', email_verified: true });
    const start = await http(`${gw.url}/auth/oidc/login`);
    const cookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const callback = await browseToCallback(start.location!, `${gw.url}/auth/oidc/callback`);
    const withoutFlow = await http(callback);
    expect(withoutFlow.status).toBe(400);
    const forged = await http(callback, { headers: { cookie: `cg_oidc_flow=${'x'.repeat(40)}` } });
    expect(forged.status).toBe(400);
    const first = await http(callback, { headers: { cookie } });
    expect(first.status).toBe(200);
    const replay = await http(callback, { headers: { cookie } });
    expect(replay.status).toBe(400);
    expect(tokenIn(replay.body)).toBeUndefined();
  });

  it('requires `email_verified: true` (issue 20): a missing claim gets no token unless OIDC_REQUIRE_EMAIL_VERIFIED=false', async () => {
    for (const key of Object.keys(account)) delete account[key];
    Object.assign(account, { email: 'dana@example.com' });
    const missing = await signIn();
    expect(missing.status).toBe(403);
    expect(missing.body).toMatch(/not verified/);
    expect(tokenIn(missing.body)).toBeUndefined();

    gw.app.config.oidc = { ...gw.app.config.oidc!, requireEmailVerified: false };
    try {
      const allowed = await signIn();
      expect(allowed.status, allowed.body).toBe(200);
      expect(tokenIn(allowed.body)).toBeDefined();
      // An explicit `false` is refused whatever the setting.
      Object.assign(account, { email_verified: false });
      expect((await signIn()).status).toBe(403);
    } finally {
      gw.app.config.oidc = { ...gw.app.config.oidc!, requireEmailVerified: true };
    }
    expect(loadConfig({ OIDC_ISSUER: provider.issuer, OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's' }).oidc?.requireEmailVerified).toBe(true);
    expect(loadConfig({ OIDC_ISSUER: provider.issuer, OIDC_CLIENT_ID: 'c', OIDC_CLIENT_SECRET: 's', OIDC_REQUIRE_EMAIL_VERIFIED: 'false' }).oidc?.requireEmailVerified).toBe(false);
  });

  it('a refusal by the provider says so without repeating what the callback carried (issue 20)', async () => {
    const echo = `zqEcho${Date.now().toString(36)}`;
    for (const [error, says] of [
      [echo, /refused the sign-in/],
      ['access_denied', /declined/],
    ] as const) {
      const start = await http(`${gw.url}/auth/oidc/login`);
      const cookie = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const state = new URL(start.location!).searchParams.get('state')!;
      const res = await http(`${gw.url}/auth/oidc/callback?error=${encodeURIComponent(error)}&error_description=${echo}&state=${state}`, { headers: { cookie } });
      expect(res.status).toBe(403);
      expect(res.body).toMatch(says);
      expect(res.body).not.toContain(echo);
    }
    expect(gw.logs.join('\n')).not.toContain(echo);
  });

  it('is off without configuration', async () => {
    const saved = gw.app.config.oidc;
    gw.app.config.oidc = null;
    try {
      expect((await http(`${gw.url}/auth/oidc/login`)).status).toBe(404);
      expect((await http(`${gw.url}/auth/oidc/callback?code=x&state=y`)).status).toBe(404);
    } finally {
      gw.app.config.oidc = saved;
    }
  });
});
