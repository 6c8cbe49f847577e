import { canWrite, canWriteCredentials, isOrgPrincipal, type Principal } from './principal.js';

/**
 * Operation scopes: who may call which GraphQL field, mutation, subscription
 * or REST route. The schema builder, the REST routes and the runtime path all
 * use this one table; which *rows* a principal then sees is the business of
 * each module's scope.ts.
 */
export const SCOPES = {
  /** Any principal. */
  authenticated: (p: Principal | null) => p !== null,
  /** An org user or org API key. */
  org: (p: Principal | null) => isOrgPrincipal(p),
  /** An org principal that may change things (not a read-only key). */
  orgWrite: (p: Principal | null) => canWrite(p),
  /** An org principal that may write credentials. */
  credentialWrite: (p: Principal | null) => canWriteCredentials(p),
  /** A customer's user in the embedded builder. */
  customerUser: (p: Principal | null) => p?.kind === 'CUSTOMER_USER',
  /** A customer user who builds workflows: not the session of a connect link (it sets its connections' credentials, nothing else). */
  workflowBuilder: (p: Principal | null) => p?.kind === 'CUSTOMER_USER' && p.connectionIds === null,
  /** The step runtime of one customer. */
  runtime: (p: Principal | null) => p?.kind === 'RUNTIME',
} as const;

export type Scope = keyof typeof SCOPES;

export function scopesOf(p: Principal | null): Record<Scope, boolean> {
  return Object.fromEntries(Object.entries(SCOPES).map(([name, test]) => [name, test(p)])) as Record<Scope, boolean>;
}

export function hasScope(p: Principal | null, scope: Scope): boolean {
  return SCOPES[scope](p);
}
