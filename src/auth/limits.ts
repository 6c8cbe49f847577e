import { ForbiddenError } from '../errors.js';
import type { Actor } from './principal.js';

/**
 * What an API key's limits mean, whatever door an operation comes through
 * (GraphQL, REST, manifest import, a credential the key minted). Operation
 * scopes (scopes.ts) refuse a limited key at the door; the services check
 * again here, at the effect, so a new door cannot forget (docs/security.md):
 *
 * - `change` — any write. Refused to `readOnly` keys.
 * - `credentials` — a write that reaches credential values: setting or
 *   clearing them (directly, OAuth2 flows, test connection); deciding where
 *   they are sent (connectors: OAuth2 settings and client secret, test
 *   requests); minting a credential that reaches them — an embed signing key
 *   (its customer users set their own values) or a runtime token (it reads
 *   them decrypted and refreshes OAuth2 tokens). Refused to `readOnly` and
 *   `noCredentialWrites` keys.
 *
 * Only API keys have limits; what other principals may reach is their
 * operation scopes' and row filters' business.
 */
export type Effect = 'change' | 'credentials';

export function assertWithinLimits(actor: Actor, effect: Effect): void {
  if (actor.kind !== 'API_KEY') return;
  if (actor.readOnly) throw new ForbiddenError('This key is read-only');
  if (effect === 'credentials' && actor.noCredentialWrites) throw new ForbiddenError('This key may not write credentials');
}
