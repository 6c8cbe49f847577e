import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * A real OAuth 2.0 / OpenID Connect provider (the `oidc-provider` package)
 * running in-process on an ephemeral port, for the OAuth2 tests. Only the
 * user interaction is automated: `/interaction/:uid` logs in a fixed account
 * and grants what the client asked for, as a user clicking "Allow" would.
 * Every grant the token endpoint answers is counted from the provider's own
 * events.
 */
export const CLIENT_ID = 'gateway-client';
export const CLIENT_SECRET = 'provider-client-secret-3c9f0b8e51d2';
export const CC_CLIENT_ID = 'gateway-machine';
export const CC_CLIENT_SECRET = 'provider-machine-secret-77a1e04b9c6f';

export interface TestProvider {
  issuer: string;
  authorizeUrl: string;
  tokenUrl: string;
  userinfoUrl: string;
  revocationUrl: string;
  provider: Provider;
  /** Successful token-endpoint answers by grant type. */
  grants: Record<string, number>;
  /** Failed token-endpoint answers by error code. */
  grantErrors: Record<string, number>;
  /** Every access/refresh token the provider issued (for secret scans). */
  issued: Set<string>;
  /** Authorization requests the provider saw (query parameters). */
  authorizations: URLSearchParams[];
  /** Stops answering (connections refused) until `resume()`. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** A connector for the provider's machine client (client-credentials grant): the input `makeConnector` takes, under the name given. */
export function machineConnector(idp: TestProvider, name: string) {
  return {
    key: 'idp-machine',
    name,
    authType: 'OAUTH2',
    oauth2: { grantType: 'client_credentials', tokenUrl: idp.tokenUrl, scopes: [], clientId: CC_CLIENT_ID, pkce: false },
    oauthClientSecret: CC_CLIENT_SECRET,
  };
}

export async function startProvider(opts: {
  redirectUris: string[];
  rotateRefreshToken?: boolean;
  accessTokenTtl?: number;
  /** The signed-in account's claims besides `sub` (e.g. email, email_verified); read at each sign-in, so a test may change them. */
  account?: Record<string, unknown>;
}): Promise<TestProvider> {
  let server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: CC_CLIENT_ID,
        client_secret: CC_CLIENT_SECRET,
        redirect_uris: [],
        grant_types: ['client_credentials'],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'offline_access', 'email'],
    claims: { email: ['email', 'email_verified'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    pkce: { required: () => true },
    issueRefreshToken: async () => true,
    rotateRefreshToken: () => opts.rotateRefreshToken ?? true,
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 3600,
      ClientCredentials: opts.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      RefreshToken: 86_400,
      Grant: 86_400,
      Session: 86_400,
      Interaction: 600,
    },
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, ...opts.account }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['provider-cookie-key-for-tests-only'] },
  });

  const grants: Record<string, number> = {};
  const grantErrors: Record<string, number> = {};
  const issued = new Set<string>();
  const authorizations: URLSearchParams[] = [];
  provider.on('grant.success', (ctx) => {
    const type = String(ctx.oidc.params?.grant_type ?? 'unknown');
    grants[type] = (grants[type] ?? 0) + 1;
    const body = ctx.body as { access_token?: string; refresh_token?: string } | undefined;
    if (body?.access_token) issued.add(body.access_token);
    if (body?.refresh_token) issued.add(body.refresh_token);
  });
  provider.on('grant.error', (_ctx, err) => {
    const code = (err as { error?: string }).error ?? 'unknown';
    grantErrors[code] = (grantErrors[code] ?? 0) + 1;
  });
  provider.on('authorization.accepted', (ctx) => {
    authorizations.push(new URLSearchParams(ctx.oidc.params as Record<string, string>));
  });

  const callback = provider.callback();
  const handle = async (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    if (req.url?.startsWith('/interaction/')) {
      try {
        // The "user": logs in as user-1 and allows what the client asked for.
        const details = await provider.interactionDetails(req, res);
        const accountId = 'user-1';
        const grant = details.grantId
          ? ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ accountId, clientId: String(details.params.client_id) }))
          : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
        grant.addOIDCScope(String(details.params.scope ?? 'openid'));
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
      } catch (err) {
        res.statusCode = 500;
        res.end(String((err as Error).message));
      }
      return;
    }
    callback(req, res);
  };
  server.on('request', handle);

  return {
    issuer,
    authorizeUrl: `${issuer}/auth`,
    tokenUrl: `${issuer}/token`,
    userinfoUrl: `${issuer}/me`,
    revocationUrl: `${issuer}/token/revocation`,
    provider,
    grants,
    grantErrors,
    issued,
    authorizations,
    async pause() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    async resume() {
      server = createServer(handle);
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Plays the user's browser through an authorization link: follows redirects
 * (keeping cookies in `jar`, one jar per browser) until the next URL starts
 * with `stopAt` (the gateway callback, or the provider), and returns that URL
 * without visiting it. Cookies are shared across ports of one host, as in a
 * browser.
 */
export async function browseToCallback(authorizeUrl: string, stopAt: string, jar = new Map<string, string>()): Promise<string> {
  let url = authorizeUrl;
  for (let hop = 0; hop < 10; hop++) {
    if (url.startsWith(stopAt)) return url;
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      // Max-Age=0 deletes the cookie.
      if (/;\s*max-age=0/i.test(c)) jar.delete(name);
      else jar.set(name, pair!.slice(eq + 1));
    }
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) {
      throw new Error(`authorization stopped at ${new URL(url).pathname} with HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    }
    await res.body?.cancel();
    url = new URL(location, url).toString();
  }
  throw new Error('too many redirects');
}

/** The `Cookie` header a browser with this jar sends. */
export function cookieHeader(jar: Map<string, string>): string {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
