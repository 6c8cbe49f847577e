/**
 * `npm run sync -- --from <url> --from-key <key> --to <url> --to-key <key> [--dry-run] [--prune] [--json]`
 *
 * Copies one organization's configuration (connectors, connections,
 * integrations; never secrets) to another gateway by stable keys: exports the
 * manifest from the source, imports it into the target and prints the plan.
 * With --dry-run nothing changes; without it the target applies the plan in
 * one transaction. With --prune the target deletes what the source does not
 * have. URLs are gateway base URLs (`http://host:4000`) or GraphQL endpoints.
 * Keys can also come from SYNC_FROM_KEY / SYNC_TO_KEY (keeps them out of `ps`).
 * Exit status: 0 done, 1 the target refused the manifest, 2 bad usage or unreachable.
 */
import { parseArgs } from 'node:util';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: SYNC_FROM_KEY=cgk_… SYNC_TO_KEY=cgk_… npm run sync -- --from <url> --to <url> [--dry-run] [--prune] [--json]

Copies one organization's configuration (connectors, connections,
integrations; never secrets) from one gateway to another by stable keys and
prints the plan. --dry-run changes nothing; --prune deletes in the target what
the source does not have; --json prints the plan as JSON. URLs are gateway
base URLs (http://host:4000) or GraphQL endpoints.

Keys (org API keys) come from SYNC_FROM_KEY / SYNC_TO_KEY. --from-key and
--to-key also work but show the key in \`ps\` and in npm's echo of the command.

Exit status: 0 done, 1 the target refused the manifest, 2 bad usage or unreachable.
`);

const EXPORT = 'query SyncExport { exportManifest }';
const IMPORT = `mutation SyncImport($manifest: JSON!, $dryRun: Boolean!, $prune: Boolean) {
  importManifest(manifest: $manifest, dryRun: $dryRun, prune: $prune) {
    __typename
    ... on MutationImportManifestSuccess { data { dryRun applied prune changed items { kind key action changes } } }
    ... on Error { code message }
    ... on ValidationError { problems { path message } }
  }
}`;

interface PlanItem {
  kind: string;
  key: string;
  action: string;
  changes: string[];
}
interface Plan {
  dryRun: boolean;
  applied: boolean;
  prune: boolean;
  changed: number;
  items: PlanItem[];
}

class UsageError extends Error {}

function endpoint(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith('/graphql')) u.pathname = u.pathname.replace(/\/$/, '') + '/graphql';
  return u.toString();
}

async function call<T>(url: string, key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(endpoint(url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new UsageError(`cannot reach ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const body = (await res.json().catch(() => null)) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | null;
  if (!body) throw new UsageError(`${url} answered HTTP ${res.status} without a GraphQL response`);
  if (body.errors?.length) {
    const e = body.errors[0]!;
    throw new UsageError(`${url}: ${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  return body.data as T;
}

function printPlan(plan: Plan): void {
  const width = Math.max(6, ...plan.items.map((i) => i.action.length));
  for (const i of plan.items) {
    const changes = i.changes.length ? `  (${i.changes.join(', ')})` : '';
    console.log(`${i.action.padEnd(width)}  ${i.kind.toLowerCase().padEnd(11)}  ${i.key}${changes}`);
  }
  const count = (a: string) => plan.items.filter((i) => i.action === a).length;
  const extra = count('EXTRA');
  console.log(
    `\n${count('CREATE')} to create, ${count('UPDATE')} to update, ${count('UNCHANGED')} unchanged, ` +
      `${count('DELETE')} to delete${extra ? `, ${extra} extra (kept; --prune deletes them)` : ''}.`,
  );
  console.log(plan.dryRun ? 'Dry run: nothing was changed.' : plan.applied ? 'Applied in one transaction.' : 'Nothing to change.');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      'from-key': { type: 'string' },
      to: { type: 'string' },
      'to-key': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      prune: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const from = values.from;
  const to = values.to;
  if (values['from-key'] || values['to-key']) {
    console.error('sync: warning: a key given as an argument is visible in `ps` and in npm\'s echo; prefer SYNC_FROM_KEY / SYNC_TO_KEY');
  }
  const fromKey = values['from-key'] ?? process.env.SYNC_FROM_KEY;
  const toKey = values['to-key'] ?? process.env.SYNC_TO_KEY;
  const missing = [!from && '--from', !fromKey && '--from-key', !to && '--to', !toKey && '--to-key'].filter(Boolean);
  if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`);

  const { exportManifest: manifest } = await call<{ exportManifest: unknown }>(from!, fromKey!, EXPORT);
  const result = await call<{ importManifest: { __typename: string; data?: Plan; code?: string; message?: string; problems?: { path: string; message: string }[] } }>(
    to!,
    toKey!,
    IMPORT,
    { manifest, dryRun: values['dry-run'], prune: values.prune },
  );
  const r = result.importManifest;
  if (!r.data) {
    console.error(`The target refused the manifest: ${r.code}: ${r.message}`);
    for (const p of r.problems ?? []) console.error(`  ${p.path}: ${p.message}`);
    return 1;
  }
  if (values.json) console.log(JSON.stringify(r.data, null, 2));
  else printPlan(r.data);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError || (err instanceof TypeError && /parseArgs|option/i.test(err.message)) ? `sync: ${err.message}` : err);
    process.exit(2);
  },
);
