import { UnauthenticatedError } from '../errors.js';
import { AuthError, type TokenService } from './tokens.js';
import type { Principal } from './principal.js';

/**
 * The one reading of a bearer credential, for every surface: an HTTP
 * `Authorization` header (`Bearer <credential>`) or graphql-ws connection
 * params (`authorization`, `Authorization` or `token`, with or without the
 * `Bearer ` prefix).
 */
export function bearerFromHeader(value: string | null | undefined): string | null {
  const m = value ? /^Bearer\s+(.+)$/i.exec(value.trim()) : null;
  return m ? m[1]!.trim() : null;
}

export function bearerFromParams(params: Record<string, unknown> | null | undefined): string | null {
  const value = params?.authorization ?? params?.Authorization ?? params?.token;
  if (typeof value !== 'string' || value.trim() === '') return null;
  return bearerFromHeader(value) ?? value.trim();
}

/** The principal of a credential (null without one); a bad credential is UNAUTHENTICATED. */
export async function principalOf(tokens: TokenService, credential: string | null): Promise<Principal | null> {
  if (!credential) return null;
  try {
    return await tokens.authenticate(credential);
  } catch (err) {
    if (err instanceof AuthError) throw new UnauthenticatedError(`Invalid credential: ${err.message}`);
    throw err;
  }
}
