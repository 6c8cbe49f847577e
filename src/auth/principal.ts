/**
 * Who is calling. Every authorization decision starts from this alone:
 * operation scopes (auth/scopes.ts) and row filters (modules/<domain>/scope.ts).
 */
export type Principal =
  | { kind: 'ORG_USER'; id: string; orgId: string; email: string }
  | {
      kind: 'API_KEY';
      id: string;
      orgId: string;
      readOnly: boolean;
      noCredentialWrites: boolean;
      /** The key may read decrypted credentials (the Nango-compatible routes); set by an org admin only. */
      credentialReads: boolean;
    }
  | {
      kind: 'CUSTOMER_USER';
      id: string;
      orgId: string;
      customerId: string;
      /**
       * What granted the session, and whose revocation ends what the user has
       * open: the embed signing key its token was verified with, or the
       * connect link it was exchanged for (modules/connect).
       */
      signingKeyId: string;
      /**
       * The connections this user may configure, when limited (a connect
       * link's session); null: every customer-activated connection. Every row
       * filter of connections, values and connectors honours it
       * (connections/scope.ts).
       */
      connectionIds: readonly string[] | null;
      expiresAt: Date;
    }
  | {
      kind: 'RUNTIME';
      id: string;
      orgId: string;
      customerId: string;
      /** The customer's own id in the vendor's system (the proxy's `Connection-Id`). */
      customerExternalId: string;
      instanceId: string | null;
      workflowId: string | null;
      /** The token may call APIs through the proxy but never read a credential (resolution refuses it). */
      proxyOnly: boolean;
      expiresAt: Date;
    };

export type PrincipalKind = Principal['kind'];
export type OrgPrincipal = Extract<Principal, { kind: 'ORG_USER' | 'API_KEY' }>;
export type CustomerUserPrincipal = Extract<Principal, { kind: 'CUSTOMER_USER' }>;
export type RuntimePrincipal = Extract<Principal, { kind: 'RUNTIME' }>;

/**
 * Who a change is attributed to in the audit log: a principal; the OAuth
 * callback (no principal: the provider's redirect carries the flow's signed
 * state, and the change is attributed to that flow); or the gateway itself
 * (`SYSTEM`: work nobody asked for at that moment — background refresh,
 * retention, bookkeeping of a credential's use — `id` names the task).
 */
export type Actor = Principal | { kind: 'OAUTH_CALLBACK'; id: string; orgId: string } | { kind: 'SYSTEM'; id: string; orgId: string };

/** The gateway acting by itself in an organization, for `task`. */
export function systemActor(orgId: string, task: string): Actor {
  return { kind: 'SYSTEM', id: task, orgId };
}

/** The principal behind an actor, or null when no principal acts (the OAuth callback, the gateway itself). */
export function principalOfActor(a: Actor): Principal | null {
  return a.kind === 'OAUTH_CALLBACK' || a.kind === 'SYSTEM' ? null : a;
}

export function isOrgPrincipal(p: Actor | null): p is OrgPrincipal {
  return p?.kind === 'ORG_USER' || p?.kind === 'API_KEY';
}

export function isCustomerUser(p: Actor | null): p is CustomerUserPrincipal {
  return p?.kind === 'CUSTOMER_USER';
}

/** An org principal allowed to change things (API keys can be read-only). */
export function canWrite(p: Actor | null): boolean {
  if (p?.kind === 'ORG_USER') return true;
  if (p?.kind === 'API_KEY') return !p.readOnly;
  return false;
}

/** An org principal allowed to write credentials. */
export function canWriteCredentials(p: Actor | null): boolean {
  return canWrite(p) && !(p?.kind === 'API_KEY' && p.noCredentialWrites);
}

/** The customer a customer user or runtime token belongs to (null for org principals). */
export function ownCustomerId(p: Actor | null): string | null {
  return p?.kind === 'CUSTOMER_USER' || p?.kind === 'RUNTIME' ? p.customerId : null;
}

/**
 * What decides what a principal may see, without who it is: two principals
 * with the same key pass the same scope checks and row filters (its kind,
 * organization, customer, an API key's limits, a runtime token's binding),
 * so a result computed for one is the result for the other (shared live-feed
 * results, http/shared-subscriptions.ts). Identity, contact and lifetime are
 * left out; every other field is in, so a field added to `Principal` later
 * makes the key finer (less sharing), never coarser.
 */
export function visibilityKey(p: Principal): string {
  const rest: Record<string, unknown> = { ...p };
  for (const identity of ['id', 'email', 'signingKeyId', 'expiresAt']) delete rest[identity];
  return JSON.stringify(Object.keys(rest).sort().map((k) => [k, rest[k]]));
}
