import { connectorSecretAad, endpointSecretAad, oauthStateAad, secretAad } from './secrets.js';

/**
 * Every column that holds ciphertext, in one list: key rotation
 * (crypto/rotation.ts), the "key still in use" check and anything else that
 * must visit every sealed secret read this list, so a sealed column added
 * later cannot be forgotten by one of them. test/sealed-columns.test.ts fails
 * when a column holds ciphertext (or code seals with associated data) that is
 * not named here.
 */
export interface SealedColumn {
  /** The table (Prisma model name = SQL table name). */
  table: string;
  column: string;
  /** `envelope`: the column is one ciphertext (nullable); `map`: a JSON object of field → ciphertext. */
  shape: 'envelope' | 'map';
  /** The associated data the ciphertext was sealed with (`field` for a map's entries). */
  aad(rowId: string, field: string): string;
  /** Bumped with every re-encryption, so a writer holding an older read fails its own compare-and-set. */
  versionColumn?: string;
  /** Rows whose ciphertext is dead weight (deleted before a rotation instead of re-encrypted), as an SQL condition. */
  disposable?: string;
}

export const SEALED_COLUMNS = {
  connectionValues: { table: 'ConnectionValue', column: 'secrets', shape: 'map', aad: secretAad, versionColumn: 'version' },
  connectors: { table: 'Connector', column: 'oauthClientSecret', shape: 'envelope', aad: connectorSecretAad },
  oauthStates: {
    table: 'OAuthState',
    column: 'codeVerifier',
    shape: 'envelope',
    aad: oauthStateAad,
    // A used or expired flow's verifier is never read again.
    disposable: `"usedAt" IS NOT NULL OR "expiresAt" < now()`,
  },
  webhookEndpoints: { table: 'WebhookEndpoint', column: 'secret', shape: 'envelope', aad: endpointSecretAad },
} as const satisfies Record<string, SealedColumn>;

export type SealedColumnName = keyof typeof SEALED_COLUMNS;

export const SEALED_COLUMN_NAMES = Object.keys(SEALED_COLUMNS) as SealedColumnName[];

/** The ciphertexts a column's stored value holds. */
export function envelopesOf(column: SealedColumn, stored: unknown): string[] {
  if (column.shape === 'envelope') return typeof stored === 'string' && stored !== '' ? [stored] : [];
  if (!stored || typeof stored !== 'object' || Array.isArray(stored)) return [];
  return Object.values(stored as Record<string, unknown>).filter((v): v is string => typeof v === 'string');
}
