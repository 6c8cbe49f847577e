import { SignJWT, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { Config } from '../config.js';
import { BadUserInputError, ForbiddenError, ServiceUnavailableError } from '../errors.js';
import { providerErrorCode, providerErrorMeaning } from './provider-errors.js';

/**
 * OpenID Connect sign-in of org users (the protocol, through openid-client):
 * authorization code with PKCE, state and nonce. The flow's secrets travel in
 * a short-lived cookie signed with AUTH_SECRET, so any gateway instance can
 * finish a flow another one started. What comes back is the provider's
 * verified account: its subject and email.
 */
export const SIGN_IN_PATH = '/auth/oidc/login';
export const SIGN_IN_CALLBACK_PATH = '/auth/oidc/callback';
export const FLOW_COOKIE = 'cg_oidc_flow';
const FLOW_TTL_S = 600;
const AUDIENCE = 'oidc-sign-in';

/**
 * A failed sign-in is one of the domain errors (errors.ts), so its route
 * answers it through the one error table: a flow that cannot be completed is
 * 400 (`BadUserInputError`: start again), a refusal by the provider or a
 * missing verified email 403, an unreachable provider 503.
 */

export interface VerifiedAccount {
  subject: string;
  email: string;
}

interface Flow {
  state: string;
  nonce: string;
  verifier: string;
  org: string | null;
}

export class OidcSignIn {
  private discovered: Promise<oidc.Configuration> | null = null;
  private readonly key: Uint8Array;

  constructor(
    private readonly settings: NonNullable<Config['oidc']>,
    authSecret: string,
    private readonly redirectUri: string,
  ) {
    this.key = new TextEncoder().encode(authSecret);
  }

  /** The provider's metadata, fetched once (again after a failure). */
  private configuration(): Promise<oidc.Configuration> {
    this.discovered ??= oidc
      .discovery(new URL(this.settings.issuer), this.settings.clientId, undefined, oidc.ClientSecretBasic(this.settings.clientSecret), {
        // Plain http only for a provider on this machine (development, tests).
        ...(isLoopbackHttp(this.settings.issuer) ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((err: unknown) => {
        this.discovered = null;
        throw new ServiceUnavailableError(`The sign-in provider cannot be reached (${err instanceof Error ? err.message : String(err)}); try again later`);
      });
    return this.discovered;
  }

  /** Where to send the browser, and the cookie that carries the flow. `org`: an organization slug, when the email has users in several. */
  async start(org: string | null): Promise<{ url: string; cookie: string }> {
    const config = await this.configuration();
    const flow: Flow = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), org };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: 'openid email',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    const sealed = await new SignJWT({ ...flow })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${FLOW_TTL_S}s`)
      .sign(this.key);
    return { url: url.toString(), cookie: sealed };
  }

  /** Checks the provider's answer against the flow's cookie and returns the verified account. */
  async finish(callbackUrl: URL, cookie: string | undefined): Promise<{ account: VerifiedAccount; org: string | null }> {
    if (!cookie) throw new BadUserInputError('This sign-in was not started here, or took too long; start again');
    let flow: Flow;
    try {
      flow = (await jwtVerify(cookie, this.key, { audience: AUDIENCE, algorithms: ['HS256'] })).payload as unknown as Flow;
    } catch {
      throw new BadUserInputError('This sign-in expired or was tampered with; start again');
    }
    // The callback's URL is anyone's to craft: a known error code is named, anything else is not repeated.
    const denied = callbackUrl.searchParams.get('error');
    if (denied) {
      const code = providerErrorCode(denied);
      throw new ForbiddenError(code === 'access_denied' ? 'You declined the sign-in at the provider' : `The provider refused the sign-in: ${providerErrorMeaning(denied)} (${code})`);
    }
    const config = await this.configuration();
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch {
      // openid-client's messages can quote the callback's parameters: none is repeated.
      throw new BadUserInputError('The sign-in could not be completed (the provider’s answer did not match this sign-in); start again');
    }
    const claims = tokens.claims()!;
    // Some providers put the email (and whether it is verified) in the ID token, others only in userinfo.
    const inToken = typeof claims.email === 'string' && (claims.email_verified !== undefined || !this.settings.requireEmailVerified);
    const info = inToken ? claims : await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    if (typeof info.email !== 'string' || !info.email) throw new ForbiddenError('The provider did not say which email this account has');
    // A provider that does not vouch for the address (claim false, or absent) could let anyone claim any email.
    const verified = this.settings.requireEmailVerified ? info.email_verified === true : info.email_verified !== false;
    if (!verified) throw new ForbiddenError(`The provider has not verified ${info.email}: only a verified email signs in`);
    return { account: { subject: claims.sub, email: info.email.toLowerCase() }, org: flow.org };
  }
}

function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}
