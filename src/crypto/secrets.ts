import type { KeyRing } from './keyring.js';

/**
 * Secret fields of a connection value, sealed one by one. The associated data
 * binds each ciphertext to its row and field, so it cannot be replayed into
 * another value or field.
 */
export type SealedSecrets = Record<string, string>;

export function secretAad(valueId: string, field: string): string {
  return `connectionValue:${valueId}:${field}`;
}

export function sealSecrets(ring: KeyRing, valueId: string, secrets: Record<string, string>): SealedSecrets {
  return Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, ring.encrypt(v, secretAad(valueId, k))]));
}

export function openSecrets(ring: KeyRing, valueId: string, sealed: SealedSecrets): Record<string, string> {
  return Object.fromEntries(Object.entries(sealed).map(([k, v]) => [k, ring.decrypt(v, secretAad(valueId, k))]));
}

/** What reads show of a secret: whether it is set, and its last 4 characters when it is long enough to not give it away. */
export interface SecretHint {
  set: boolean;
  last4: string | null;
}

export function hintFor(secret: string): SecretHint {
  return { set: secret.length > 0, last4: secret.length >= 12 ? secret.slice(-4) : null };
}

/** Associated data for a connector's OAuth client secret. */
export function connectorSecretAad(connectorId: string): string {
  return `connector:${connectorId}:oauthClientSecret`;
}

/** Associated data for the PKCE verifier of a pending OAuth2 flow. */
export function oauthStateAad(stateId: string): string {
  return `oauthState:${stateId}:codeVerifier`;
}

/** Associated data for a webhook endpoint's signing secret. */
export function endpointSecretAad(endpointId: string): string {
  return `webhook-endpoint:${endpointId}`;
}
