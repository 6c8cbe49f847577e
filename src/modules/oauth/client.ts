import { createHash, randomBytes } from 'node:crypto';
import { OutboundError, type Outbound } from '../../outbound.js';
import type { OAuth2Settings } from '../connectors/service.js';

/**
 * OAuth 2.0 client side (RFC 6749, PKCE RFC 7636), its requests sent
 * through the gateway's outbound policy (src/outbound.ts).
 *
 * Why not a client library: connectors point at arbitrary third-party
 * providers, many of them not OpenID Providers and some not strictly
 * conformant (form-encoded token responses, `expires_in` as a string, no
 * issuer metadata). The strict libraries (oauth4webapi, openid-client) refuse
 * those by design; the protocol surface needed here is two small requests.
 *
 * Nothing here logs; errors carry the provider's error code/description,
 * never request bodies (which hold codes, secrets and tokens).
 */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  tokenType?: string;
  scope?: string;
  /** Absolute expiry of the access token, when the provider says. */
  expiresAt?: Date;
}

export class OAuthGrantError extends Error {
  override name = 'OAuthGrantError';
  constructor(
    /** RFC 6749 error code (`invalid_grant`…), or `network_error` / `server_error` / `invalid_response` / `destination_not_allowed`. */
    readonly error: string,
    message: string,
    /** Worth retrying (network, 5xx, 429). */
    readonly transient: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

export function newCodeVerifier(): string {
  return randomBytes(32).toString('base64url');
}

export function codeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export function authorizeUrl(
  settings: OAuth2Settings,
  args: { redirectUri: string; state: string; codeVerifier?: string },
): string {
  if (!settings.authorizeUrl) throw new Error('connector has no authorizeUrl');
  const url = new URL(settings.authorizeUrl);
  const p = url.searchParams;
  for (const [k, v] of Object.entries(settings.extraAuthorizeParams ?? {})) p.set(k, v);
  p.set('response_type', 'code');
  p.set('client_id', settings.clientId);
  p.set('redirect_uri', args.redirectUri);
  if (settings.scopes.length) p.set('scope', settings.scopes.join(' '));
  if (settings.audience) p.set('audience', settings.audience);
  p.set('state', args.state);
  if (args.codeVerifier) {
    p.set('code_challenge', codeChallenge(args.codeVerifier));
    p.set('code_challenge_method', 'S256');
  }
  return url.toString();
}

export interface TokenRequestOptions {
  /** Per attempt. */
  timeoutMs?: number;
  /** Attempts for transient failures (network, 5xx, 429), with exponential backoff. */
  attempts?: number;
  backoffMs?: number;
  /** Called before each retry (counts only). */
  onRetry?: (attempt: number, err: OAuthGrantError) => void;
}

/** Client authentication per RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret. */
function basicAuth(clientId: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64');
}

/** One token-endpoint call with retries for transient failures. */
export async function tokenRequest(
  outbound: Outbound,
  settings: OAuth2Settings,
  clientSecret: string | null,
  params: Record<string, string>,
  opts: TokenRequestOptions = {},
): Promise<TokenSet> {
  const attempts = opts.attempts ?? 3;
  const backoff = opts.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await tokenRequestOnce(outbound, settings, clientSecret, params, opts.timeoutMs ?? 10_000);
    } catch (err) {
      if (!(err instanceof OAuthGrantError) || !err.transient || attempt >= attempts) throw err;
      opts.onRetry?.(attempt, err);
      const delay = backoff * 2 ** (attempt - 1);
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}

/** Token responses are small; anything bigger is not one. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

async function tokenRequestOnce(
  outbound: Outbound,
  settings: OAuth2Settings,
  clientSecret: string | null,
  params: Record<string, string>,
  timeoutMs: number,
): Promise<TokenSet> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (clientSecret) headers.authorization = basicAuth(settings.clientId, clientSecret);
  else body.set('client_id', settings.clientId);

  let res;
  try {
    res = await outbound.request(settings.tokenUrl, { method: 'POST', headers, body, timeoutMs, readBody: true, maxBytes: MAX_TOKEN_RESPONSE_BYTES });
  } catch (err) {
    if (!(err instanceof OutboundError)) throw err;
    // Only the network may get better by itself; a refused destination or an oversized answer will not.
    if (err.reason === 'not_allowed' || err.reason === 'invalid_url') throw new OAuthGrantError('destination_not_allowed', `token endpoint not allowed: ${err.message}`, false);
    if (err.reason === 'too_large') throw new OAuthGrantError('invalid_response', `token endpoint answered too much: ${err.message}`, false);
    throw new OAuthGrantError('network_error', `token endpoint unreachable: ${err.message}`, true);
  }
  const payload = parsePayload(res.body ?? '', res.headers.get('content-type'));
  if (res.status < 200 || res.status >= 300) {
    const code = typeof payload?.error === 'string' ? payload.error : res.status >= 500 ? 'server_error' : 'invalid_response';
    const description = typeof payload?.error_description === 'string' ? payload.error_description : undefined;
    const transient = res.status >= 500 || res.status === 429 || code === 'temporarily_unavailable';
    throw new OAuthGrantError(
      code,
      `token endpoint answered ${res.status} ${code}${description ? `: ${description.slice(0, 300)}` : ''}`,
      transient,
      res.status,
    );
  }
  const accessToken = payload?.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new OAuthGrantError('invalid_response', 'token endpoint answered without an access_token', false, res.status);
  }
  const expiresIn = Number(payload?.expires_in);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    accessToken,
    refreshToken: str(payload?.refresh_token),
    tokenType: str(payload?.token_type),
    scope: str(payload?.scope),
    expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? new Date(Date.now() + expiresIn * 1000) : undefined,
  };
}

function parsePayload(text: string, contentType: string | null): Record<string, unknown> | null {
  if (!text) return null;
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The stored token fields after a grant: a refresh token the provider did not send again is kept. */
export function mergeTokens(
  previous: { refreshToken?: string | null },
  fresh: TokenSet,
): { secrets: Record<string, string>; fields: Record<string, string>; expiresAt: Date | null } {
  const refreshToken = fresh.refreshToken ?? previous.refreshToken ?? undefined;
  return {
    secrets: { accessToken: fresh.accessToken, ...(refreshToken ? { refreshToken } : {}) },
    fields: { ...(fresh.tokenType ? { tokenType: fresh.tokenType } : {}), ...(fresh.scope ? { scope: fresh.scope } : {}) },
    expiresAt: fresh.expiresAt ?? null,
  };
}
