import type { Actor } from '../../auth/principal.js';
import { ForbiddenError } from '../../errors.js';
import { orgOwned } from '../tenancy/scope.js';

/**
 * Who sees and manages the org's credentials of access: API keys and embed
 * signing keys are org principals' business only (never their secrets, which
 * are not stored).
 */
export const apiKeyWhere = orgOwned;
export const embedKeyWhere = orgOwned;

/** No privilege escalation through key creation: a key may only create keys at least as limited as itself. */
export function assertMayMintKey(p: Actor, requested: { readOnly: boolean; noCredentialWrites: boolean; credentialReads?: boolean }): void {
  // Reading decrypted credentials is granted by a person, never by a key to another key.
  if (requested.credentialReads && p.kind !== 'ORG_USER') {
    throw new ForbiddenError('Only an org admin (signed in) may create a key with credentialReads');
  }
  if (p.kind === 'API_KEY' && p.noCredentialWrites && !requested.noCredentialWrites) {
    throw new ForbiddenError('A key without credential writes may only create keys without credential writes');
  }
}
