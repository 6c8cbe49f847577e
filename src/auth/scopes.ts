import {
  canWrite,
  canWriteCredentials,
  isOrgPrincipal,
  type CustomerUserPrincipal,
  type OrgPrincipal,
  type Principal,
  type RuntimePrincipal,
} from './principal.js';

/**
 * Operation scopes: who may call which GraphQL field, mutation, subscription
 * or HTTP route. The schema builder and every route outside GraphQL
 * (rest/endpoint.ts) use this one table; which *rows* a principal then sees
 * is the business of each module's scope.ts.
 */
export interface ScopePrincipals {
  authenticated: Principal;
  org: OrgPrincipal;
  orgWrite: OrgPrincipal;
  credentialWrite: OrgPrincipal;
  customerUser: CustomerUserPrincipal;
  workflowBuilder: CustomerUserPrincipal;
  runtime: RuntimePrincipal;
}

export type Scope = keyof ScopePrincipals;

/** The principal a scope admits. */
export type PrincipalOf<S extends Scope> = ScopePrincipals[S];

export const SCOPES: { readonly [S in Scope]: (p: Principal | null) => p is ScopePrincipals[S] } = {
  /** Any principal. */
  authenticated: (p: Principal | null): p is Principal => p !== null,
  /** An org user or org API key. */
  org: (p: Principal | null): p is OrgPrincipal => isOrgPrincipal(p),
  /** An org principal that may change things (not a read-only key). */
  orgWrite: (p: Principal | null): p is OrgPrincipal => canWrite(p),
  /** An org principal that may write credentials. */
  credentialWrite: (p: Principal | null): p is OrgPrincipal => canWriteCredentials(p),
  /** A customer's user in the embedded builder. */
  customerUser: (p: Principal | null): p is CustomerUserPrincipal => p?.kind === 'CUSTOMER_USER',
  /** A customer user who builds workflows: not the session of a connect link (it sets its connections' credentials, nothing else). */
  workflowBuilder: (p: Principal | null): p is CustomerUserPrincipal => p?.kind === 'CUSTOMER_USER' && p.connectionIds === null,
  /** The step runtime of one customer. */
  runtime: (p: Principal | null): p is RuntimePrincipal => p?.kind === 'RUNTIME',
};

export function scopesOf(p: Principal | null): Record<Scope, boolean> {
  return Object.fromEntries(Object.entries(SCOPES).map(([name, test]) => [name, test(p)])) as Record<Scope, boolean>;
}

export function hasScope<S extends Scope>(p: Principal | null, scope: S): p is PrincipalOf<S> {
  return SCOPES[scope](p);
}

/** What the caller should send, for a route that needs one of these scopes (the 401's message). */
export function credentialWanted(scopes: readonly Scope[]): string {
  const names = [...new Set(scopes.map((s) => CREDENTIAL_NAMES[s]))];
  return `Send \`Authorization: Bearer <${names.join(' or ')}>\``;
}

const CREDENTIAL_NAMES: Record<Scope, string> = {
  authenticated: 'credential',
  org: 'API key',
  orgWrite: 'API key',
  credentialWrite: 'API key',
  customerUser: 'embed token',
  workflowBuilder: 'embed token',
  runtime: 'runtime token',
};

/** Why `p` is refused a route that needs one of these scopes (the 403's message). */
export function refusalOf(p: Principal, scopes: readonly Scope[]): string {
  if (scopes.length > 1) return `This needs ${[...new Set(scopes.map((s) => withArticle(CREDENTIAL_NAMES[s])))].join(' or ')}`;
  const scope = scopes[0]!;
  switch (scope) {
    case 'org':
    case 'orgWrite':
    case 'credentialWrite':
      if (!isOrgPrincipal(p)) return 'This API needs an organization API key or org user token';
      return scope === 'credentialWrite' ? 'This key may not write credentials' : 'This key is read-only';
    case 'runtime':
      return 'A runtime token is required';
    case 'customerUser':
    case 'workflowBuilder':
      return 'This needs a customer user';
    case 'authenticated':
      return 'Authentication required';
  }
}

function withArticle(name: string): string {
  return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
}
