import { z } from 'zod';
import { ValidationError } from '../../errors.js';
import type { AuthType } from '../../generated/prisma/enums.js';
import { fillTemplate, type FieldDef } from '../connectors/fields.js';

/**
 * A connector's proxy settings (`Connector.proxy`): where the proxy sends a
 * value's requests and how it adds the credential.
 *
 * - `baseUrl`: a template over the value's non-secret fields
 *   (`https://{{subdomain}}.example.com/api`). A placeholder at the very
 *   start takes a whole URL (a URL field: `{{baseUrl}}`); every other one is
 *   percent-encoded, so a value cannot change the host, add a path segment,
 *   a query or credentials. The result must be an http(s) URL without
 *   user info; the outbound policy then judges the address it resolves to.
 * - `inject`: header and query templates over fields and secrets, or HTTP
 *   Basic from two templates. Absent: the auth type's convention
 *   (`defaultInjection`).
 * - `rateLimit`: requests per interval and requests at once, per value
 *   (default) or per connection, and how long a call may wait for room.
 */
const TEMPLATE_MAX = 2000;
const template = z.string().min(1, 'must not be empty').max(TEMPLATE_MAX);
/** RFC 9110 token: what a header name may be. */
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be an HTTP header name');
const paramName = z.string().min(1, 'must not be empty').max(100);

/** Headers the proxy owns: the connection's framing, never a credential's to set. */
export const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection']);

export const ProxyInjectionSchema = z.object({
  headers: z.record(headerName, template).default({}),
  query: z.record(paramName, template).default({}),
  basic: z.object({ username: template, password: template }).optional(),
});
export type ProxyInjection = z.infer<typeof ProxyInjectionSchema>;

export const ProxyRateLimitSchema = z
  .object({
    /** Requests per window of `intervalSeconds` (a window opens at a request; every instance counts in the same one). */
    requests: z.number().int().min(1).max(1_000_000).optional(),
    intervalSeconds: z.number().int().min(1).max(86_400).default(1),
    /** Requests in flight at once. */
    concurrency: z.number().int().min(1).max(10_000).optional(),
    /** One budget per connection value (default: per customer's credential, or the global one), or one for the whole connection. */
    per: z.enum(['VALUE', 'CONNECTION']).default('VALUE'),
    /** How long a call may wait for room before a 429 (at most PROXY_MAX_WAIT_MS, the default). */
    maxWaitMs: z.number().int().min(0).max(600_000).optional(),
  })
  .refine((r) => r.requests !== undefined || r.concurrency !== undefined, { message: 'give requests (per intervalSeconds), concurrency, or both' });
export type ProxyRateLimit = z.infer<typeof ProxyRateLimitSchema>;

export const ProxySettingsSchema = z.object({
  baseUrl: template,
  inject: ProxyInjectionSchema.nullish(),
  rateLimit: ProxyRateLimitSchema.nullish(),
});
export type ProxySettings = z.infer<typeof ProxySettingsSchema>;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

function placeholders(t: string): string[] {
  return [...t.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** The conventional injection of an auth type for these fields, or why there is none. */
export function defaultInjection(authType: AuthType, fields: FieldDef[]): ProxyInjection | string {
  const secrets = fields.filter((f) => f.secret);
  switch (authType) {
    case 'NO_AUTH':
      return { headers: {}, query: {} };
    case 'OAUTH2':
      return { headers: { Authorization: 'Bearer {{accessToken}}' }, query: {} };
    case 'BASIC_AUTH': {
      const user = fields.find((f) => f.key === 'username');
      const password = fields.find((f) => f.key === 'password');
      if (user && password) return { headers: {}, query: {}, basic: { username: '{{username}}', password: '{{password}}' } };
      return 'say how the credential is sent (inject.basic): the connector has no username and password fields';
    }
    case 'SECRET_TEXT':
    case 'CUSTOM_AUTH':
      if (secrets.length === 1) return { headers: { Authorization: `Bearer {{${secrets[0]!.key}}}` }, query: {} };
      return `say how the credential is sent (inject.headers, inject.query or inject.basic): the connector has ${secrets.length} secret fields`;
  }
}

/** The injection the proxy uses: the connector's own, else the convention (null when neither says). */
export function injectionOf(settings: ProxySettings, authType: AuthType, fields: FieldDef[]): ProxyInjection | null {
  if (settings.inject) return settings.inject;
  const d = defaultInjection(authType, fields);
  return typeof d === 'string' ? null : d;
}

/** The connector's proxy settings, parsed (null: none, or unusable stored JSON). */
export function proxySettingsOf(connector: { proxy: unknown }): ProxySettings | null {
  if (connector.proxy === null || connector.proxy === undefined) return null;
  const parsed = ProxySettingsSchema.safeParse(connector.proxy);
  return parsed.success ? parsed.data : null;
}

/**
 * Proxy settings checked against the connector's fields (`fields`: the
 * effective ones, OAuth2 token fields included): the base URL names only
 * non-secret fields and makes an http(s) URL; injection templates name
 * existing fields; a NO_AUTH connector injects nothing; without `inject`,
 * the auth type's convention must apply. Problems name `proxy.…`.
 */
export function checkProxySettings(settings: ProxySettings, authType: AuthType, fields: FieldDef[]): void {
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const problems: { path: string; message: string }[] = [];
  for (const name of placeholders(settings.baseUrl)) {
    const f = byKey.get(name);
    if (!f) problems.push({ path: 'proxy.baseUrl', message: `{{${name}}} names no field of the connector` });
    else if (f.secret) problems.push({ path: 'proxy.baseUrl', message: `{{${name}}} is a secret field: a base URL may only use non-secret fields` });
  }
  if (!problems.length) {
    // A sample value for each placeholder: the template must make a URL whatever the fields hold.
    const leading = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/.exec(settings.baseUrl)?.[1];
    const sample = Object.fromEntries(placeholders(settings.baseUrl).map((k) => [k, k === leading ? 'https://example.com' : 'x']));
    if (!baseUrlFrom(settings.baseUrl, sample)) problems.push({ path: 'proxy.baseUrl', message: 'must make an http(s) URL without user info' });
  }
  const inject = settings.inject;
  if (inject) {
    if (authType === 'NO_AUTH' && (Object.keys(inject.headers).length || Object.keys(inject.query).length || inject.basic)) {
      problems.push({ path: 'proxy.inject', message: 'a NO_AUTH connector has no credential to send' });
    }
    const check = (path: string, t: string) => {
      for (const name of placeholders(t)) if (!byKey.has(name)) problems.push({ path, message: `{{${name}}} names no field of the connector` });
    };
    for (const [name, t] of Object.entries(inject.headers)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push({ path: `proxy.inject.headers.${name}`, message: 'is set by the proxy itself' });
      check(`proxy.inject.headers.${name}`, t);
    }
    for (const [name, t] of Object.entries(inject.query)) check(`proxy.inject.query.${name}`, t);
    if (inject.basic) {
      check('proxy.inject.basic.username', inject.basic.username);
      check('proxy.inject.basic.password', inject.basic.password);
      if (Object.keys(inject.headers).some((h) => h.toLowerCase() === 'authorization')) {
        problems.push({ path: 'proxy.inject.basic', message: 'sets Authorization, as inject.headers.Authorization does: keep one' });
      }
    }
  } else {
    const d = defaultInjection(authType, fields);
    if (typeof d === 'string') problems.push({ path: 'proxy.inject', message: d });
  }
  if (problems.length) throw new ValidationError(problems);
}

/**
 * The base URL for one value's fields, or null when they do not make an
 * http(s) URL (a field missing, a value that is not a URL where one is
 * needed, user info). See the module comment for the encoding rules.
 */
export function baseUrlFrom(template: string, fields: Record<string, string>): URL | null {
  let missing = false;
  const filled = template.replace(PLACEHOLDER, (_m, key: string, offset: number) => {
    const v = fields[key];
    if (v === undefined || v === '') {
      missing = true;
      return '';
    }
    // Only a leading placeholder may bring a scheme, a host and a path; anywhere else a value is one opaque piece.
    return offset === 0 ? v : encodeURIComponent(v);
  });
  if (missing) return null;
  let url: URL;
  try {
    url = new URL(filled);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || !url.hostname) return null;
  // A base URL is a prefix: a query or fragment of its own would be lost or misplaced.
  url.search = '';
  url.hash = '';
  return url;
}

export interface Injected {
  headers: Record<string, string>;
  query: Record<string, string>;
}

/**
 * The headers and query parameters carrying the credential, filled from a
 * value's fields and secrets. A value that cannot travel in a header
 * (CR, LF, NUL) is refused rather than sent: null.
 */
export function injected(inject: ProxyInjection, vars: Record<string, string>): Injected | null {
  const headers: Record<string, string> = {};
  for (const [name, t] of Object.entries(inject.headers)) headers[name.toLowerCase()] = fillTemplate(t, vars);
  if (inject.basic) {
    const pair = `${fillTemplate(inject.basic.username, vars)}:${fillTemplate(inject.basic.password, vars)}`;
    headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }
  if (Object.values(headers).some((v) => /[\r\n\0]/.test(v))) return null;
  const query = Object.fromEntries(Object.entries(inject.query).map(([k, t]) => [k, fillTemplate(t, vars)]));
  return { headers, query };
}

/** Where the proxy sends a value's requests (scheme, host, port) for these field values, or null. */
export function proxyOrigin(connector: { proxy: unknown }, fields: Record<string, unknown>): string | null {
  const settings = proxySettingsOf(connector);
  if (!settings) return null;
  const vars = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  return baseUrlFrom(settings.baseUrl, vars)?.origin ?? null;
}
