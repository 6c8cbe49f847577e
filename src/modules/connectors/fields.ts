import { z } from 'zod';
import { ValidationError, type FieldProblem } from '../../errors.js';
import { jsonBytes } from '../../validation.js';
import type { AuthType } from '../../generated/prisma/enums.js';
import type { Connector } from '../../generated/prisma/client.js';

/** Input field definitions of a connector, and validation of values against them. */
export const FIELD_TYPES = ['STRING', 'TEXT', 'NUMBER', 'BOOLEAN', 'URL', 'EMAIL', 'JSON'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const FieldDefSchema = z
  .object({
    key: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must start with a letter; letters, digits and _ only; ≤ 64 chars'),
    label: z.string().trim().min(1, 'must not be empty').max(200),
    type: z.enum(FIELD_TYPES),
    required: z.boolean().default(false),
    secret: z.boolean().default(false),
    default: z.unknown().optional(),
    description: z.string().max(2000).optional(),
  })
  .refine((f) => !f.secret || f.type === 'STRING' || f.type === 'TEXT', {
    message: 'secret fields must be STRING or TEXT',
    path: ['secret'],
  })
  .refine((f) => !f.secret || f.default === undefined, { message: 'secret fields cannot have a default', path: ['default'] });

export type FieldDef = z.infer<typeof FieldDefSchema>;

export const FieldDefsSchema = z.array(FieldDefSchema).max(50).superRefine((defs, ctx) => {
  const seen = new Set<string>();
  defs.forEach((d, i) => {
    if (seen.has(d.key)) ctx.addIssue({ code: 'custom', message: 'duplicate field key: an earlier field has it', path: [i, 'key'] });
    seen.add(d.key);
  });
});

/** Fields a connector gets when it defines none, by auth type (Activepieces' conventions). */
export function defaultFields(authType: AuthType): FieldDef[] {
  switch (authType) {
    case 'SECRET_TEXT':
      return [{ key: 'secret_text', label: 'Secret', type: 'STRING', required: true, secret: true }];
    case 'BASIC_AUTH':
      return [
        { key: 'username', label: 'Username', type: 'STRING', required: true, secret: false },
        { key: 'password', label: 'Password', type: 'STRING', required: true, secret: true },
      ];
    default:
      return [];
  }
}

/** OAuth2 values also carry the tokens (pushed by automation or stored by the OAuth2 flow). */
export const OAUTH2_TOKEN_FIELDS: FieldDef[] = [
  { key: 'accessToken', label: 'Access token', type: 'STRING', required: false, secret: true },
  { key: 'refreshToken', label: 'Refresh token', type: 'STRING', required: false, secret: true },
  { key: 'tokenType', label: 'Token type', type: 'STRING', required: false, secret: false },
  { key: 'scope', label: 'Granted scope', type: 'STRING', required: false, secret: false },
];

export function effectiveFields(authType: AuthType, defs: FieldDef[]): FieldDef[] {
  return authType === 'OAUTH2' ? [...defs, ...OAUTH2_TOKEN_FIELDS] : defs;
}

export function parseFieldDefs(raw: unknown): FieldDef[] {
  const r = FieldDefsSchema.safeParse(raw);
  return r.success ? r.data : [];
}

/** A connection field's value (secret or not), at most this many bytes: room for a PEM key or a service-account JSON. */
export const MAX_FIELD_VALUE_BYTES = 16_384;

function typeProblem(def: FieldDef, v: unknown): string | null {
  if ((typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : jsonBytes(v)) > MAX_FIELD_VALUE_BYTES) return `at most ${MAX_FIELD_VALUE_BYTES} bytes`;
  switch (def.type) {
    case 'STRING':
    case 'TEXT':
      return typeof v === 'string' ? null : 'must be a string';
    case 'NUMBER':
      return typeof v === 'number' && Number.isFinite(v) ? null : 'must be a number';
    case 'BOOLEAN':
      return typeof v === 'boolean' ? null : 'must be a boolean';
    case 'URL':
      if (typeof v !== 'string') return 'must be a URL string';
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'must be an http(s) URL';
      } catch {
        return 'must be a valid URL';
      }
    case 'EMAIL':
      return typeof v === 'string' && /^[^\s@]+@[^\s@]+$/.test(v) ? null : 'must be an email address';
    case 'JSON':
      return null;
  }
}

export interface ValidatedValues {
  fields: Record<string, unknown>;
  secrets: Record<string, string>;
}

/**
 * Checks values against field definitions. Unknown fields, missing required
 * ones and wrong types are reported together, each naming `values.<key>`.
 * With `partial`, absent fields are left alone (the caller keeps what it has);
 * `null` clears an optional field. Messages never quote the value.
 */
export function validateValues(defs: FieldDef[], values: unknown, opts: { partial?: boolean } = {}): ValidatedValues {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw ValidationError.field('values', 'must be an object of field values');
  }
  const input = values as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const byKey = new Map(defs.map((d) => [d.key, d]));
  for (const key of Object.keys(input)) {
    if (!byKey.has(key)) problems.push({ path: `values.${key}`, message: 'unknown field' });
  }
  const out: ValidatedValues = { fields: {}, secrets: {} };
  for (const def of defs) {
    let v = input[def.key];
    if (v === undefined && opts.partial) continue;
    if (v === undefined && def.default !== undefined) v = def.default;
    if (v === undefined || v === null || v === '') {
      if (def.required) problems.push({ path: `values.${def.key}`, message: 'is required' });
      continue;
    }
    const problem = typeProblem(def, v);
    if (problem) {
      problems.push({ path: `values.${def.key}`, message: problem });
      continue;
    }
    if (def.secret) out.secrets[def.key] = v as string;
    else out.fields[def.key] = v;
  }
  if (problems.length) throw new ValidationError(problems);
  return out;
}

/** The fields a connector's values have: its definitions, plus the token fields of OAuth2. */
export function connectorFields(connector: Pick<Connector, 'authType' | 'fields'>): FieldDef[] {
  return effectiveFields(connector.authType, parseFieldDefs(connector.fields));
}

/** Keys that `partial` input explicitly clears (null). */
export function clearedKeys(values: unknown): string[] {
  if (typeof values !== 'object' || values === null) return [];
  return Object.entries(values as Record<string, unknown>)
    .filter(([, v]) => v === null)
    .map(([k]) => k);
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Fills `{{field}}` placeholders (test requests) from a value's fields and secrets; unknown ones become empty. */
export function fillTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (_m, k: string) => vars[k] ?? '');
}

/**
 * Where a test request goes, as a message may say it: the template's host
 * with the non-secret fields filled and every other placeholder left as it
 * is written (`{{apiKey}}.eu.example.com`), without user info. Never the
 * filled URL: a secret field may be part of the host, and the message is
 * stored (lastError, status history) and sent (webhooks) to principals who
 * only ever see a secret's hint.
 */
export function templateHost(template: string, fields: Record<string, string>): string {
  const shown = template.replace(PLACEHOLDER, (m, k: string) => (Object.hasOwn(fields, k) ? fields[k]! : m));
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(shown)?.[1] ?? '';
  return authority.slice(authority.lastIndexOf('@') + 1) || 'the test request URL';
}

/** Field values as the strings templates are filled with. */
export function templateVars(fields: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}

/** Where a connector's test request goes for these field values (scheme, host, port), or null without a usable one. */
export function testRequestOrigin(connector: Pick<Connector, 'testRequest'>, fields: Record<string, unknown>): string | null {
  const url = (connector.testRequest as { url?: unknown } | null)?.url;
  if (typeof url !== 'string') return null;
  try {
    return new URL(fillTemplate(url, templateVars(fields))).origin;
  } catch {
    return null;
  }
}
