/**
 * A reference system under the API benchmark, in a process of its own (the
 * runner pins it to one core): `BENCH_SYSTEM` = `baseline` (hand-written:
 * node:http + pg, the same pool size, the same bearer check, the same JSON;
 * a resolution appends its audit row), `baseline-noaudit` (the same, a
 * resolution without the audit row), or `yoga` (a bare Yoga serving the same
 * answers from memory: the cost of HTTP + GraphQL alone). The gateway itself
 * is bench/api/gateway.ts. Prints `{"url": …}` on stdout when listening.
 */
import { createDecipheriv } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { ADMIN_LIST, CONNECTIONS_LIST, RESOLVE } from './documents.js';

const system = process.env.BENCH_SYSTEM;
let url = '';

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

if (system === 'yoga') {
  // The answers the gateway gave, served by a Yoga with the same schema and no data source.
  const answers = JSON.parse(readFileSync(process.env.BENCH_ANSWERS!, 'utf8')) as Record<string, unknown>;
  const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
  const yoga = createYoga({
    schema,
    landingPage: false,
    graphiql: false,
    logging: false,
    plugins: [{ onExecute: ({ args }: { args: { rootValue: unknown } }) => void (args.rootValue = answers) }],
  });
  await listen(yoga);
} else if (system === 'baseline' || system === 'baseline-noaudit') {
  await listen(baseline(system === 'baseline'));
} else {
  throw new Error(`BENCH_SYSTEM must be baseline, baseline-noaudit or yoga (the gateway is bench/api/gateway.ts), not ${system}`);
}
process.stdout.write(JSON.stringify({ url }) + '\n');
// A normal exit on a signal, so `--cpu-prof` can write its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));

/**
 * The hand-written server: what the same answers cost with nothing between
 * HTTP and SQL. The same checks as the gateway — the bearer's signature,
 * issuer, audience and expiry, the user or customer exists in its org — but
 * folded into the one statement each answer needs; JSON built by hand.
 */
function baseline(audited: boolean) {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
  const key = new TextEncoder().encode(process.env.AUTH_SECRET);
  const [keyId, keyB64] = process.env.ENCRYPTION_KEYS!.split(',')[0]!.split(':') as [string, string];
  const aesKey = Buffer.from(keyB64, 'base64');
  const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');
  const json = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const open = (valueId: string, field: string, envelope: string): string => {
    const [, kid, nonce, body] = envelope.split('.') as [string, string, string, string];
    if (kid !== keyId) throw new Error('unknown key');
    const data = Buffer.from(body, 'base64url');
    const d = createDecipheriv('aes-256-gcm', aesKey, Buffer.from(nonce, 'base64url'));
    d.setAAD(Buffer.from(`connectionValue:${valueId}:${field}`));
    d.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString('utf8');
  };
  const verify = async (req: IncomingMessage, audience: 'org' | 'runtime') => {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return null;
    try {
      const { payload } = await jwtVerify(m[1]!, key, { issuer: 'connections-gateway', audience, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
      return { sub: payload.sub!, org: payload.org as string };
    } catch {
      return null;
    }
  };
  const unauthenticated = '{"errors":[{"message":"Invalid credential","extensions":{"code":"UNAUTHENTICATED"}}]}';

  async function adminList(t: { sub: string; org: string }): Promise<string> {
    const { rows } = await pool.query(
      `WITH me AS (SELECT 1 FROM "OrgUser" WHERE id = $1 AND "orgId" = $2),
            cust AS (SELECT id, "externalId", name, "createdAt" FROM "Customer" WHERE "orgId" = $2 AND EXISTS (SELECT 1 FROM me) ORDER BY "createdAt" LIMIT 50)
       SELECT c.id, c."externalId", c.name, v.id AS vid, v.status, v."updatedAt", k.id AS kid, k."stableKey", k.name AS kname, n.id AS nid, n.key, n.name AS nname
       FROM cust c
       LEFT JOIN LATERAL (SELECT id, status, "updatedAt", "connectionId", "createdAt" FROM "ConnectionValue" WHERE "customerId" = c.id AND "orgId" = $2 ORDER BY "createdAt" LIMIT 10) v ON true
       LEFT JOIN "Connection" k ON k.id = v."connectionId" LEFT JOIN "Connector" n ON n.id = k."connectorId"
       ORDER BY c."createdAt", v."createdAt"`,
      [t.sub, t.org],
    );
    const customers: { node: Record<string, unknown> }[] = [];
    let current: { id: string; edges: unknown[] } | null = null;
    for (const r of rows) {
      if (current?.id !== r.id) {
        const edges: unknown[] = [];
        customers.push({ node: { id: gid('Customer', r.id), externalId: r.externalId, name: r.name, connectionValues: { edges } } });
        current = { id: r.id, edges };
      }
      if (r.vid) {
        current!.edges.push({
          node: {
            id: gid('ConnectionValue', r.vid),
            status: r.status,
            updatedAt: (r.updatedAt as Date).toISOString(),
            connection: { id: gid('Connection', r.kid), stableKey: r.stableKey, name: r.kname, connector: { id: gid('Connector', r.nid), key: r.key, name: r.nname } },
          },
        });
      }
    }
    return JSON.stringify({ data: { customers: { edges: customers } } });
  }

  async function connectionsList(t: { sub: string; org: string }): Promise<string> {
    const { rows } = await pool.query(
      `SELECT c."stableKey", c.type, n.key FROM "Connection" c JOIN "Connector" n ON n.id = c."connectorId"
       WHERE c."orgId" = $2 AND c."archivedAt" IS NULL AND EXISTS (SELECT 1 FROM "OrgUser" WHERE id = $1 AND "orgId" = $2)
       ORDER BY c."createdAt" LIMIT 50`,
      [t.sub, t.org],
    );
    return JSON.stringify({ data: { connections: { edges: rows.map((r) => ({ node: { stableKey: r.stableKey, type: r.type, connector: { key: r.key } } })) } } });
  }

  /** Verify the runtime token, one SELECT, decrypt, append the audit record (unless `audited` is false). */
  async function resolve(t: { sub: string; org: string }, stableKey: string) {
    const { rows } = await pool.query(
      `SELECT k.id, k."stableKey", v.id AS vid, v.kind, v.secrets, v.fields, v.status FROM "Connection" k
       JOIN "Customer" cu ON cu.id = $1 AND cu."orgId" = $2
       JOIN "ConnectionValue" v ON v."connectionId" = k.id AND v.slot = CASE WHEN k.type = 'ORG_ACTIVATED_GLOBAL' THEN 'GLOBAL' ELSE $1::text END
       WHERE k."orgId" = $2 AND k."stableKey" = $3 AND k."archivedAt" IS NULL AND v.status = 'ACTIVE'`,
      [t.sub, t.org, stableKey],
    );
    const r = rows[0];
    if (audited)
      await pool.query(
      `INSERT INTO "AuditEvent" ("orgId", "principalKind", "principalId", action, "targetType", "targetId", detail) VALUES ($1, 'RUNTIME', $2, 'connection.resolve', 'Connection', $3, $4)`,
      [t.org, t.sub, r?.id ?? null, JSON.stringify({ stableKey, customerId: t.sub, outcome: r ? 'RESOLVED' : 'NOT_FOUND' })],
    );
    if (!r) return null;
    const secrets = Object.fromEntries(Object.entries(r.secrets as Record<string, string>).map(([f, e]) => [f, open(r.vid, f, e)]));
    return { id: r.id as string, stableKey: r.stableKey as string, kind: r.kind as string, props: { ...(r.fields as object), ...secrets } };
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const u = new URL(req.url!, 'http://x');
      if (req.method === 'GET' && u.pathname === '/runtime/v1/connection') {
        const t = await verify(req, 'runtime');
        if (!t) return json(res, 401, '{"status":"UNAUTHENTICATED"}');
        const r = await resolve(t, u.searchParams.get('stableKey') ?? '');
        return r
          ? json(res, 200, JSON.stringify({ status: 'RESOLVED', connectionId: gid('Connection', r.id), stableKey: r.stableKey, props: r.props }))
          : json(res, 404, '{"status":"NOT_FOUND"}');
      }
      let body = '';
      for await (const chunk of req) body += chunk;
      const { query, variables } = JSON.parse(body) as { query: string; variables?: Record<string, string> };
      if (query === RESOLVE) {
        const t = await verify(req, 'runtime');
        if (!t) return json(res, 401, unauthenticated);
        const r = await resolve(t, variables!.stableKey!);
        const answer = r
          ? { __typename: 'ResolvedCredential', connectionId: gid('Connection', r.id), stableKey: r.stableKey, valueKind: r.kind, props: r.props }
          : { __typename: 'ResolutionNotFound', code: 'NOT_FOUND', message: 'Connection not found' };
        return json(res, 200, JSON.stringify({ data: { resolveConnection: answer } }));
      }
      const t = await verify(req, 'org');
      if (!t) return json(res, 401, unauthenticated);
      if (query === ADMIN_LIST) return json(res, 200, await adminList(t));
      if (query === CONNECTIONS_LIST) return json(res, 200, await connectionsList(t));
      json(res, 400, '{"errors":[{"message":"unknown document"}]}');
    })().catch((err: unknown) => json(res, 500, JSON.stringify({ errors: [{ message: String(err) }] })));
  };
}
