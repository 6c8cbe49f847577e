/**
 * The page's only door to the gateway: the public GraphQL API, as the
 * customer user its credential names (an embed token, or the session a
 * connect link was exchanged for), plus the one link exchange.
 */
export interface FieldDef {
  key: string;
  label: string;
  type: 'STRING' | 'TEXT' | 'NUMBER' | 'BOOLEAN' | 'URL' | 'EMAIL' | 'JSON';
  required: boolean;
  secret: boolean;
  default: unknown;
  description: string | null;
}

export type Status = 'PENDING' | 'ACTIVE' | 'ERROR' | 'EXPIRED';

export interface ConnectionEntry {
  connection: {
    id: string;
    stableKey: string;
    name: string;
    description: string;
    connector: { name: string; authType: string; testable: boolean; fields: FieldDef[] };
    myValue: { status: Status; lastError: string | null; fields: Record<string, unknown>; secrets: { key: string; set: boolean; last4: string | null }[] } | null;
  };
  instances: { id: string; name: string }[];
  workflows: { id: string; name: string }[];
}

export interface PageData {
  viewer: {
    organization: { name: string; branding: { logoUrl: string | null; primaryColor: string | null; backgroundColor: string | null } };
    customer: { name: string } | null;
    expiresAt: string | null;
  };
  customerConnectionOverview: { connections: (Omit<ConnectionEntry, 'connection'> & { opaque: boolean; connection: ConnectionEntry['connection'] | null })[] } | null;
}

export interface Problem {
  path: string;
  message: string;
}

/** A mutation's typed error (`... on Error`), with its problems when it is a validation error. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

const VALUE = 'status lastError fields secrets { key set last4 }';

export const PAGE_QUERY = `query ConnectPage {
  viewer { expiresAt organization { name branding { logoUrl primaryColor backgroundColor } } customer { name } }
  customerConnectionOverview {
    connections {
      opaque
      connection {
        id stableKey name description
        connector { name authType testable fields { key label type required secret default description } }
        myValue { ${VALUE} }
      }
      instances { id name }
      workflows { id name }
    }
  }
}`;

const ERRORS = '... on Error { code message } ... on ValidationError { problems { path message } }';

export const SET_VALUE = `mutation ConnectSetValue($connectionId: ID!, $values: JSON!, $replace: Boolean) {
  setMyConnectionValue(connectionId: $connectionId, values: $values, replace: $replace) {
    __typename ... on MutationSetMyConnectionValueSuccess { data { ${VALUE} } } ${ERRORS}
  }
}`;

export const CLEAR_VALUE = `mutation ConnectClearValue($connectionId: ID!) {
  clearMyConnectionValue(connectionId: $connectionId) { __typename ... on MutationClearMyConnectionValueSuccess { data } ${ERRORS} }
}`;

export const TEST_CONNECTION = `mutation ConnectTest($connectionId: ID!) {
  testConnection(connectionId: $connectionId) {
    __typename ... on MutationTestConnectionSuccess { data { ok message status } } ${ERRORS}
  }
}`;

export const START_OAUTH = `mutation ConnectStartOAuth($connectionId: ID!, $successUrl: String, $failureUrl: String) {
  startOAuthAuthorization(connectionId: $connectionId, successUrl: $successUrl, failureUrl: $failureUrl) {
    __typename ... on MutationStartOAuthAuthorizationSuccess { data { authorizeUrl } } ${ERRORS}
  }
}`;

export class Gateway {
  constructor(private readonly token: string) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError('NETWORK', 'The gateway cannot be reached. Check your connection and try again.');
    }
    if (res.status === 401) throw new ApiError('UNAUTHENTICATED', 'Your session has ended. Open the link again or reload the app that opened this page.');
    const body = (await res.json().catch(() => null)) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | null;
    if (!body?.data || body.errors?.length) {
      const e = body?.errors?.[0];
      throw new ApiError(e?.extensions?.code ?? `HTTP_${res.status}`, e?.message ?? 'The gateway could not answer; try again.');
    }
    return body.data;
  }

  /** Runs a mutation whose result is a `Success | Error` union and returns the success's `data`. */
  async mutate<T>(query: string, field: string, variables: Record<string, unknown>): Promise<T> {
    const data = await this.request<Record<string, { __typename: string; data?: T; code?: string; message?: string; problems?: Problem[] }>>(query, variables);
    const result = data[field]!;
    if (result.__typename.endsWith('Success')) return result.data as T;
    // A validation error's message names paths (`values.apiKey: …`); people read the problems' own words.
    const message = result.problems?.length ? result.problems.map((p) => p.message).join('; ') : result.message;
    throw new ApiError(result.code ?? 'ERROR', sentence(message ?? 'Something went wrong.'), result.problems ?? []);
  }
}

function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

/** A connect link's token → a session token (once; a reload reuses the session kept for this tab). */
export async function exchangeLink(link: string): Promise<{ accessToken: string; expiresAt: string }> {
  const res = await fetch('/connect/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ link }) });
  const body = (await res.json().catch(() => ({}))) as { accessToken?: string; expiresAt?: string; message?: string; code?: string };
  if (!res.ok || !body.accessToken) throw new ApiError(body.code ?? `HTTP_${res.status}`, body.message ?? 'This link could not be opened.');
  return { accessToken: body.accessToken, expiresAt: body.expiresAt! };
}
