import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { Kind, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoContent, type SeededOrg } from '../src/seed/demo.js';
import { http, responseLog } from './helpers/client.js';
import { makeApiKey, putValue, secretsOf } from './helpers/fixtures.js';
import { json, Upstream } from './helpers/upstream.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The documentation cannot rot: every GraphQL and shell example of the
 * README and the guides runs here, as written, against a demo gateway, in
 * the order a reader meets them. Each example says in an HTML comment above
 * it as whom it runs (`<!-- example: admin -->`, `api-key`, `customer-user`,
 * `runtime`, `anyone`, `sh`) or why it does not (`not run (…)`); an example
 * without one fails. `<placeholders>` are filled from the README's table,
 * by running the query the table names.
 */
const FILES = ['README.md', 'docs/product.md', 'docs/api.md'];

interface Example {
  where: string;
  lang: 'graphql' | 'sh' | 'js';
  as: string;
  code: string;
}

function examples(file: string): Example[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(graphql|sh|js)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = lines[i]!.indexOf('`');
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    const annotation = /<!-- example: (.+?) -->/.exec(lines[i - 1] ?? '')?.[1] ?? '';
    found.push({
      where: `${file}:${i + 1}`,
      lang: open[1] as Example['lang'],
      as: annotation,
      code: lines.slice(i + 1, end).map((l) => l.slice(indent)).join('\n'),
    });
    i = end;
  }
  return found;
}

interface Placeholder {
  source: string;
  as: string;
}

/** The README's table: `| \`<name>\` | \`query\` … | as |`. */
function placeholders(): Map<string, Placeholder> {
  const table = new Map<string, Placeholder>();
  for (const line of readFileSync('README.md', 'utf8').split('\n')) {
    const row = /^\| `(<[^`]+>)` \| (.+) \| ([\w-]+) \|$/.exec(line);
    if (row) table.set(row[1]!, { source: row[2]!, as: row[3]! });
  }
  return table;
}

let gw: TestGateway;
let demo: SeededOrg;
let tokens: Record<string, string>;
let nangoSecretKey: string;
const table = placeholders();
const all = FILES.flatMap(examples);

// A stand-in for the Acme API that the demo's acme-api connection proxies to: it checks the customer's key and answers orders.
const acmeApi = new Upstream();
beforeAll(async () => {
  await acmeApi.listen();
});
afterAll(async () => {
  await acmeApi.close();
});

useWorld({ env: { OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { demo: { name: 'Demo Org', slug: 'demo', customers: ['acme-corp', 'globex'] } } }, async (w) => {
  ({ gw, demo } = w);
  await seedDemoContent(gw.app, demo);
  // acme-corp's base URL points at the stand-in (the demo's https://api.acme.example does not exist).
  const acmeConnection = await gw.db.prisma.connection.findFirstOrThrow({ where: { orgId: demo.orgId, stableKey: 'acme-api' } });
  const value = await putValue(gw.app, acmeConnection.id, { kind: 'CUSTOMER', customerId: demo.customers[0]!.id }, { baseUrl: acmeApi.url });
  const apiKey = secretsOf(gw.app, value).apiKey!;
  acmeApi.handler = (req, res) => {
    if (req.headers.authorization !== `Bearer ${apiKey}`) return json(res, 401, { error: 'unauthorized' });
    json(res, 200, { orders: [{ id: 'ord_1', status: req.query.get('status') ?? 'any' }] });
  };
  const acme = demo.customers[0]!;
  // The Nango SDK's secret key: an org API key allowed to read credentials.
  nangoSecretKey = (await makeApiKey(gw.app, demo.orgId, { name: 'nango-sdk', credentialReads: true })).secret;
  tokens = { admin: demo.adminToken, 'api-key': demo.apiKey, 'customer-user': acme.userToken, runtime: acme.runtimeToken };
});

async function graphqlCall(query: string, token: string): Promise<{ status: number; body: { data?: unknown; errors?: unknown[] } }> {
  const res = await http(`${gw.url}/graphql`, { method: 'POST', token, body: { query } });
  return { status: res.status, body: res.json() as { data?: unknown; errors?: unknown[] } };
}

/** The first string in a result, depth first: what a one-value query gives. */
function firstString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') for (const x of Object.values(v)) {
    const s = firstString(x);
    if (s !== undefined) return s;
  }
  return undefined;
}

async function resolvePlaceholder(name: string): Promise<string> {
  const p = table.get(name);
  if (!p) throw new Error(`${name} is not in the README's placeholder table`);
  const [source, jsonPath] = [...p.source.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const token = tokens[p.as]!;
  if (source!.startsWith('GET ')) {
    let value: unknown = (await http(`${gw.url}${source!.slice(4)}`, { token })).json();
    for (const step of jsonPath!.split(/[.[\]]+/).filter(Boolean)) value = (value as Record<string, unknown>)[step];
    if (typeof value !== 'string') throw new Error(`${name}: ${source} gave no ${jsonPath}`);
    return value;
  }
  const res = await graphqlCall(await fill(source!), token);
  const value = firstString(res.body.data);
  if (!value) throw new Error(`${name}: ${source} gave nothing (${JSON.stringify(res.body)})`);
  return value;
}

async function fill(code: string): Promise<string> {
  let out = code;
  for (const name of table.keys()) if (out.includes(name)) out = out.replaceAll(name, await resolvePlaceholder(name));
  return out;
}

/** Objects a mutation answers when it refused: `{ code, message }` errors, `problems` lists. */
function refusals(v: unknown, path = 'data'): string[] {
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  const here = ('code' in o && 'message' in o) || 'problems' in o ? [`${path}: ${JSON.stringify(o)}`] : [];
  return [...here, ...Object.entries(o).flatMap(([k, x]) => refusals(x, `${path}.${k}`))];
}

describe('documentation examples', () => {
  it('every GraphQL block holds one operation, so it runs pasted whole (issue 20)', () => {
    const several = all
      .filter((e) => e.lang === 'graphql' && !e.as.startsWith('not run'))
      .filter((e) => parse(e.code).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length !== 1)
      .map((e) => e.where);
    expect(several).toEqual([]);
  });

  it('every example says as whom it runs, or why it does not', () => {
    expect(all.length).toBeGreaterThan(20);
    const known = new Set(['anyone', 'sh', 'node', ...['admin', 'api-key', 'customer-user', 'runtime']]);
    const unmarked = all.filter((e) => !known.has(e.as) && !e.as.startsWith('not run (')).map((e) => `${e.where} "${e.as}"`);
    expect(unmarked).toEqual([]);
    const leftover = all.filter((e) => !e.as.startsWith('not run')).flatMap((e) =>
      [...e.code.matchAll(/<[A-Z][^<>\n"]*>|<[a-z][^<>\n"]* (?:id|token)[^<>\n"]*>/g)].map((m) => m[0]).filter((p) => !table.has(p)).map((p) => `${e.where} ${p}`),
    );
    expect(leftover, 'placeholders missing from the README table').toEqual([]);
  });

  it('no link leaves the repository (but for web addresses)', () => {
    for (const file of FILES) {
      const links = [...readFileSync(file, 'utf8').matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
      for (const link of links) {
        if (/^(https?:|#)/.test(link)) continue;
        const target = new URL(link.split('#')[0]!, `file://${process.cwd()}/${file}`).pathname;
        expect(target.startsWith(process.cwd() + '/'), `${file}: ${link}`).toBe(true);
        expect(() => readFileSync(target), `${file}: ${link}`).not.toThrow();
      }
    }
  });

  it('every example runs on the demo data, in order, without an error', async () => {
    const ran: string[] = [];
    for (const ex of all) {
      if (ex.as.startsWith('not run')) continue;
      const env = {
        PATH: process.env.PATH!,
        GATEWAY: gw.url,
        ADMIN_TOKEN: tokens.admin!,
        API_KEY: tokens['api-key']!,
        USER_TOKEN: tokens['customer-user']!,
        RUNTIME_TOKEN: tokens.runtime!,
        NANGO_SECRET_KEY: nangoSecretKey,
      };
      if (ex.lang === 'js') {
        // A Node module, run from the project so that its packages (@nangohq/node…) resolve; an uncaught error fails it.
        const out = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', ex.code], { env }).catch((err: { stdout: string; stderr: string }) => {
          throw new Error(`${ex.where} failed:\n${ex.code}\n${err.stdout}\n${err.stderr}`);
        });
        responseLog.push(out.stdout);
        ran.push(ex.where);
        continue;
      }
      if (ex.lang === 'sh') {
        const code = await fill(ex.code);
        const prelude = 'set -euo pipefail\ncurl() { command curl -sS --fail-with-body "$@"; echo; }\n';
        const out = await promisify(execFile)('bash', ['-c', prelude + code], { env }).catch((err: { stdout: string; stderr: string }) => {
          throw new Error(`${ex.where} failed:\n${code}\n${err.stdout}\n${err.stderr}`);
        });
        responseLog.push(out.stdout);
        ran.push(ex.where);
        continue;
      }
      // Sent whole, as a reader would paste it (no operationName): a block of several operations would fail here.
      const query = await fill(ex.code);
      const as = ex.as === 'anyone' ? ['admin', 'api-key', 'customer-user', 'runtime'] : [ex.as];
      for (const who of as) {
        const res = await graphqlCall(query, tokens[who]!);
        const context = `${ex.where} as ${who}: ${query.slice(0, 200)}\n→ ${JSON.stringify(res.body).slice(0, 600)}`;
        expect(res.status, context).toBe(200);
        expect(res.body.errors, context).toBeUndefined();
        expect(refusals(res.body.data), context).toEqual([]);
      }
      ran.push(ex.where);
    }
    expect(ran.length).toBeGreaterThan(15);
  });
});
