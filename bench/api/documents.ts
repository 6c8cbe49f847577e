/**
 * The requests the API benchmark sends, one per workload: the same document
 * goes to the gateway, the bare Yoga and the hand-written baseline, which
 * must all answer the same bytes.
 */
export const ADMIN_LIST = `query AdminList {
  customers(first: 50) {
    edges { node { id externalId name connectionValues(first: 10) { edges { node { id status updatedAt connection { id stableKey name connector { id key name } } } } } } }
  }
}`;

export const CONNECTIONS_LIST = `query ConnectionsList {
  connections(first: 50) { edges { node { stableKey type connector { key } } } }
}`;

export const RESOLVE = `query Resolve($stableKey: String!) {
  resolveConnection(stableKey: $stableKey) {
    __typename
    ... on ResolvedCredential { connectionId stableKey valueKind props }
    ... on ResolutionProblem { code message }
  }
}`;

/** The admin UI's filters, for the scale measurements (30k vs 1M values). */
export const FILTERS = {
  'connectionValues(status: ERROR, first: 50)': `query ErrorValues { connectionValues(status: ERROR, first: 50) { edges { node { id status lastError customer { externalId } connection { stableKey } } } } }`,
  'customers(search: "…", first: 50)': `query SearchCustomers { customers(search: "r 12", first: 50) { edges { node { id externalId name } } } }`,
  'admin list': ADMIN_LIST,
} as const;
