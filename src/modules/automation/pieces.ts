import type { SecretHint } from '../../crypto/secrets.js';
import { ValidationError } from '../../errors.js';
import type { AuthType, ConnectionValue, Connector } from '../../generated/prisma/client.js';
import type { FieldDef } from '../connectors/fields.js';
import type { GlobalValueInput } from '../connections/service.js';

/**
 * Activepieces' words in ours: a piece is a connector (`pieceName` → its
 * key), a connection type is an auth type, a connection's `value` is a
 * credential in the piece's shape (OAuth2 tokens in snake case, SECRET_TEXT
 * and BASIC_AUTH fields at the top of `value` or in `props`), and a value's
 * status is ACTIVE, MISSING or ERROR. When a piece has no connector yet, its
 * fields are inferred from the props sent: which of them are secret is
 * decided here.
 */
export const AP_TYPES = ['SECRET_TEXT', 'BASIC_AUTH', 'CUSTOM_AUTH', 'PLATFORM_OAUTH2', 'OAUTH2', 'CLOUD_OAUTH2', 'NO_AUTH'] as const;
export type ApType = (typeof AP_TYPES)[number];

/** A connection's credential as Activepieces sends it. */
export interface ApValue {
  type: ApType;
  props?: Record<string, unknown> | undefined;
  [top: string]: unknown;
}

export function authTypeOf(t: ApType): AuthType {
  return t === 'PLATFORM_OAUTH2' || t === 'CLOUD_OAUTH2' || t === 'OAUTH2' ? 'OAUTH2' : t;
}

export function apTypeOf(c: Pick<Connector, 'authType'>): ApType {
  return c.authType;
}

/** A piece's name as a connector key: characters a key cannot hold become `-` (`@activepieces/piece-gelato` is kept as it is). */
export function pieceNameToKey(pieceName: string): string {
  return pieceName
    .replace(/^[^A-Za-z0-9@]+/, '')
    .replace(/[^A-Za-z0-9._:@/-]/g, '-')
    .slice(0, 128);
}

/** A value's status in Activepieces' terms. */
export function apStatus(v: Pick<ConnectionValue, 'status'> | undefined): 'ACTIVE' | 'MISSING' | 'ERROR' {
  return !v || v.status === 'PENDING' ? 'MISSING' : v.status === 'ACTIVE' ? 'ACTIVE' : 'ERROR';
}

/** A value's props as they may be shown: non-secret fields as stored, secret ones masked (`****` + the last 4 characters of long ones). */
export function visibleProps(v: Pick<ConnectionValue, 'fields' | 'secretHints'>): Record<string, unknown> {
  const hints = (v.secretHints ?? {}) as unknown as Record<string, SecretHint>;
  return {
    ...(v.fields as Record<string, unknown>),
    ...Object.fromEntries(Object.keys(hints).map((k) => [k, '****' + (hints[k]?.last4 ?? '')])),
  };
}

const PROP_KEY = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

const NOT_SECRET =
  /^(base_?url|url|endpoint|host(_?name)?|domain|sub_?domain|region|environment|env|user_?name|username|user|email|login|account(_?id)?|instance(_?url)?|site(_?url)?|tenant(_?id)?|org(anization)?(_?id)?|workspace(_?id)?|project(_?id)?|client_?id|api_?version|version|port|store(_?name)?|shop(_?name)?|locale|timezone)$/i;

/** Field definitions of a CUSTOM_AUTH connector made for a piece, inferred from the props' names and types. */
export function inferFields(props: Record<string, unknown>): FieldDef[] {
  return Object.entries(props)
    .filter(([key]) => PROP_KEY.test(key))
    .map(([key, v]): FieldDef => {
      const label = key.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase());
      if (typeof v === 'number') return { key, label, type: 'NUMBER', required: false, secret: false };
      if (typeof v === 'boolean') return { key, label, type: 'BOOLEAN', required: false, secret: false };
      if (v !== null && typeof v === 'object') return { key, label, type: 'JSON', required: false, secret: false };
      // Strings: secret unless the name says otherwise. When in doubt, secret.
      return { key, label, type: 'STRING', required: false, secret: !NOT_SECRET.test(key) };
    });
}

/** Props that can become fields: names start with a letter; letters, digits and _ only. */
export function checkPropKeys(props: Record<string, unknown>): void {
  const bad = Object.keys(props).filter((k) => !PROP_KEY.test(k));
  if (bad.length) {
    throw new ValidationError(bad.map((k) => ({ path: `value.props.${k}`, message: 'field names start with a letter; letters, digits and _ only' })));
  }
}

/** A piece the org has no connector for yet: the connector's definition, inferred from the credential's props. */
export function pieceConnector(pieceName: string, type: ApType, value: ApValue) {
  const authType = authTypeOf(type);
  const props = { ...value.props };
  if (authType === 'CUSTOM_AUTH') checkPropKeys(props);
  return {
    key: pieceNameToKey(pieceName),
    name: pieceName,
    description: `Created by the REST API for piece ${pieceName}`,
    authType,
    ...(authType === 'CUSTOM_AUTH' ? { fields: inferFields(props) } : {}),
  };
}

/** An Activepieces credential as our GLOBAL value (and, for OAuth2, the access token's expiry). */
export function globalValue(value: ApValue): GlobalValueInput {
  const authType = authTypeOf(value.type);
  const { type: _type, props, ...top } = value;
  // Activepieces puts SECRET_TEXT / BASIC_AUTH fields at the top of `value`; the seed puts them in `props`.
  const merged: Record<string, unknown> = { ...top, ...(props ?? {}) };
  if (authType !== 'OAUTH2') return { authType, values: authType === 'NO_AUTH' ? {} : merged };
  const { access_token, refresh_token, token_type, scope, expires_in, claimed_at, ...rest } = merged;
  // What the engine keeps about how the token was obtained is not a credential field here.
  for (const k of ['client_id', 'client_secret', 'redirect_url', 'code', 'code_challenge', 'authorization_method', 'token_url', 'props', 'data']) {
    delete rest[k];
  }
  if (access_token === undefined) {
    throw ValidationError.field('value.props.access_token', 'is required: the gateway does not exchange authorization codes over REST');
  }
  const values: Record<string, unknown> = { ...rest, accessToken: access_token };
  if (refresh_token !== undefined) values.refreshToken = refresh_token;
  if (token_type !== undefined) values.tokenType = token_type;
  if (scope !== undefined) values.scope = scope;
  let expiresAt: Date | null = null;
  if (typeof expires_in === 'number') {
    const base = typeof claimed_at === 'number' ? claimed_at * 1000 : Date.now();
    expiresAt = new Date(base + expires_in * 1000);
  }
  return { authType, values, expiresAt };
}
