
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
