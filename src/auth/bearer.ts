import { UnauthenticatedError } from '../errors.js';

/**
 * The one reading of a bearer credential, for every surface: an HTTP
 * `Authorization` header (`Bearer <credential>`) or graphql-ws connection
 * params (`authorization`, `Authorization` or `token`, with or without the
 * `Bearer ` prefix).
 */
export type AuthorizationHeader =
  | { credential: string; problem?: undefined }
  /** No header (or an empty one): an anonymous caller. */
  | { credential: null; problem?: undefined }
  /** A header that is not `Bearer <credential>`: what is wrong with it, never its value. */
  | { credential: null; problem: string };

const WANTED = 'send `Authorization: Bearer <credential>`';

export function parseAuthorization(value: string | null | undefined): AuthorizationHeader {
  const trimmed = value?.trim() ?? '';
  if (!trimmed) return { credential: null };
  const m = /^Bearer(?:\s+(.*))?$/i.exec(trimmed);
  if (m) return m[1]?.trim() ? { credential: m[1].trim() } : { credential: null, problem: `The Authorization header has the \`Bearer \` prefix but no credential after it; ${WANTED}` };
  // `Basic …`, `Token …`: another scheme. A lone word: a credential sent without its prefix.
  if (/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*\s+\S/.test(trimmed)) {
    return { credential: null, problem: `The Authorization header uses another scheme than Bearer; ${WANTED}` };
  }
  return { credential: null, problem: `The Authorization header is missing the \`Bearer \` prefix; ${WANTED}` };
}

/**
 * The credential of a request; a header that is there but not a bearer
 * credential is refused (401 saying what is wrong), rather than read as no
 * credential at all.
 */
export function credentialFromHeader(value: string | null | undefined): string | null {
  const parsed = parseAuthorization(value);
  if (parsed.problem) throw new UnauthenticatedError(parsed.problem);
  return parsed.credential;
}

/** The credential when the header is well formed, else null (for keying rate limits: a malformed header is refused later). */
export function bearerFromHeader(value: string | null | undefined): string | null {
  return parseAuthorization(value).credential;
}

export function bearerFromParams(params: Record<string, unknown> | null | undefined): string | null {
  const value = params?.authorization ?? params?.Authorization ?? params?.token;
  if (typeof value !== 'string' || value.trim() === '') return null;
  return bearerFromHeader(value) ?? value.trim();
}
