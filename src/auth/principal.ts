/**
 * Who is calling. Every resolver decides visibility from this alone.
 */
export type Principal =
  | { kind: 'ORG_USER'; id: string; orgId: string; email: string }
  | {
      kind: 'API_KEY';
      id: string;
      orgId: string;
      readOnly: boolean;
      noCredentialWrites: boolean;
    }
  | { kind: 'CUSTOMER_USER'; id: string; orgId: string; customerId: string; expiresAt: Date }
  | {
      kind: 'RUNTIME';
      id: string;
      orgId: string;
      customerId: string;
      instanceId: string | null;
      workflowId: string | null;
      expiresAt: Date;
    };

export type PrincipalKind = Principal['kind'];
export type OrgPrincipal = Extract<Principal, { kind: 'ORG_USER' | 'API_KEY' }>;

export function isOrgPrincipal(p: Principal | null): p is OrgPrincipal {
  return p?.kind === 'ORG_USER' || p?.kind === 'API_KEY';
}

/** An org principal allowed to change things (API keys can be read-only). */
export function canWrite(p: Principal | null): boolean {
  if (p?.kind === 'ORG_USER') return true;
  if (p?.kind === 'API_KEY') return !p.readOnly;
  return false;
}

/** An org principal allowed to write credentials. */
export function canWriteCredentials(p: Principal | null): boolean {
  return canWrite(p) && !(p?.kind === 'API_KEY' && p.noCredentialWrites);
}
