/**
 * The API benchmark's dataset, loaded into a fresh PostgreSQL database: one
 * organization with `customers` customers, `perCustomer` per-customer
 * connections (a sealed value for every customer, a few of them in ERROR,
 * PENDING or EXPIRED) and `globals` global connections shared with everyone,
 * plus the picker set those imply. The organization, its keys and its
 * connections go through the services; the bulk (customers, values, picker
 * rows) is inserted with SQL — through the services a million values would
 * take hours, and the rows are what the services would write.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { hintFor, sealSecrets } from '../../src/crypto/secrets.js';
import { newKeySpec } from '../../src/crypto/keyring.js';
import { openDatabase } from '../../src/db/database.js';
import { write } from '../../src/op.js';
import { createConnection } from '../../src/modules/connections/service.js';
import { createConnector } from '../../src/modules/connectors/service.js';
import { findConnection } from '../../src/modules/connections/service.js';
import { setValue } from '../../src/modules/values/service.js';
import { adminOf, seedOrg } from '../../src/seed/demo.js';

export interface DatasetSize {
  customers: number;
  perCustomer: number;
  globals: number;
}

export interface Dataset {
  url: string;
  size: DatasetSize;
  values: number;
  /** The environment a gateway (or baseline) needs to serve it. */
  env: { DATABASE_URL: string; AUTH_SECRET: string; ENCRYPTION_KEYS: string };
  adminToken: string;
  apiKey: string;
  /** A runtime token of the first customer, and a connection it resolves. */
  runtimeToken: string;
  resolvable: string;
  loadSeconds: number;
  drop(): Promise<void>;
}

const BATCH = 5000;

/** One statement on the server's maintenance connection (CREATE / DROP DATABASE). */
export async function admin(base: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function loadDataset(base: string, size: DatasetSize, log: (line: string) => void = () => {}): Promise<Dataset> {
  const t0 = Date.now();
  const name = `cg_bench_api_${randomBytes(4).toString('hex')}`;
  await admin(base, `CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  const url = u.toString();
  const env = { DATABASE_URL: url, AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('bench') };
  const config: Config = loadConfig({ ...env, LOG_LEVEL: 'silent', PORT: '0' });
  const db = await openDatabase(config.database);
  await db.migrate();
  const app = createApp(config, db);
  const org = await seedOrg(app, { name: 'Bench', customers: ['cust-000000'] });
  const adminPrincipal = await adminOf(app, org.orgId);

  // Connectors and connections through the services.
  const connectionIds = await write(app, adminPrincipal, 'system', async (op) => {
    const perCustomer: string[] = [];
    const globals: string[] = [];
    for (let i = 0; i < size.perCustomer + size.globals; i++) {
      const key = `app-${String(i).padStart(2, '0')}`;
      await createConnector(op, { key, name: `App ${i}`, description: `Benchmark app ${i}`, authType: 'SECRET_TEXT' });
      const global = i >= size.perCustomer;
      const type = global ? 'ORG_ACTIVATED_GLOBAL' : i % 2 ? 'ORG_ACTIVATED_CUSTOMER' : 'CUSTOMER_ACTIVATED';
      const c = await createConnection(op, { stableKey: `conn-${String(i).padStart(2, '0')}`, name: `Connection ${i}`, connectorKey: key, type, availableInWorkflows: true });
      (global ? globals : perCustomer).push(c.id);
      if (global) await setValue(op, await findConnection(op, { id: c.id }), { kind: 'GLOBAL' }, { values: { secret_text: `global-${i}-${randomBytes(12).toString('hex')}` } });
    }
    return { perCustomer, globals };
  }, { timeout: 120_000 });
  log(`  ${size.perCustomer + size.globals} connectors and connections`);

  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  const first = org.customers[0]!.id;
  // Distinct creation times, so every list has one order (lists are ordered by createdAt).
  const epoch = Date.parse('2026-01-01T00:00:00Z');
  const customerIds = [first];
  for (let start = 1; start < size.customers; start += BATCH) {
    const ids: string[] = [];
    const ext: string[] = [];
    const names: string[] = [];
    const created: string[] = [];
    for (let i = start; i < Math.min(size.customers, start + BATCH); i++) {
      ids.push(randomUUID());
      ext.push(`cust-${String(i).padStart(6, '0')}`);
      names.push(`Customer ${i}`);
      created.push(new Date(epoch + i * 1000).toISOString());
    }
    await sql.query(
      `INSERT INTO "Customer" (id, "orgId", "externalId", name, "createdAt", "updatedAt")
       SELECT id, $1, ext, name, created, created FROM unnest($2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) AS t(id, ext, name, created)`,
      [org.orgId, ids, ext, names, created],
    );
    customerIds.push(...ids);
  }
  log(`  ${size.customers} customers`);

  // One sealed value per (customer, per-customer connection); 2 % ERROR, 1 % PENDING, 0.5 % EXPIRED.
  const statusOf = (n: number) => (n % 200 === 7 ? 'EXPIRED' : n % 100 === 3 ? 'PENDING' : n % 50 === 1 ? 'ERROR' : 'ACTIVE');
  let values = 0;
  const pending: unknown[][] = [[], [], [], [], [], [], []];
  const flush = async () => {
    if (!pending[0]!.length) return;
    await sql.query(
      `INSERT INTO "ConnectionValue" (id, "orgId", "connectionId", kind, "customerId", slot, secrets, "secretHints", status, "lastError", "activatedAt", "createdAt", "updatedAt")
       SELECT id, $1, conn, 'CUSTOMER', cust, cust::text, secrets, hints, status::"ValueStatus",
              CASE WHEN status = 'ERROR' THEN 'Test request answered HTTP 401' END,
              CASE WHEN status = 'ACTIVE' THEN created END, created, created
       FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::jsonb[], $6::jsonb[], $7::text[], $8::timestamptz[]) AS t(id, conn, cust, secrets, hints, status, created)`,
      [org.orgId, ...pending],
    );
    values += pending[0]!.length;
    for (const p of pending) p.length = 0;
  };
  let n = 0;
  for (const [ci, customerId] of customerIds.entries()) {
    for (const [ki, connectionId] of connectionIds.perCustomer.entries()) {
      const id = randomUUID();
      const secret = `sk_live_${randomBytes(16).toString('hex')}`;
      pending[0]!.push(id);
      pending[1]!.push(connectionId);
      pending[2]!.push(customerId);
      pending[3]!.push(JSON.stringify(sealSecrets(config.keyRing, id, { secret_text: secret })));
      pending[4]!.push(JSON.stringify({ secret_text: hintFor(secret) }));
      pending[5]!.push(ci === 0 ? 'ACTIVE' : statusOf(n++));
      pending[6]!.push(new Date(epoch + ci * 1000 + ki).toISOString());
      if (pending[0]!.length >= BATCH) await flush();
    }
    if (ci % 5000 === 0 && ci) log(`  ${values} values…`);
  }
  await flush();
  log(`  ${values} values`);

  // The picker set those values imply (feed/service.ts computes the same).
  await sql.query(
    `INSERT INTO "AvailableSelection" ("connectionId", "customerId", "orgId", "connectorId", "updatedAt")
     SELECT v."connectionId", v."customerId", v."orgId", c."connectorId", now() FROM "ConnectionValue" v JOIN "Connection" c ON c.id = v."connectionId"
     WHERE v.kind = 'CUSTOMER' AND v.status = 'ACTIVE' AND c."availableInWorkflows"
     ON CONFLICT DO NOTHING`,
  );
  await sql.query(
    `INSERT INTO "AvailableSelection" ("connectionId", "customerId", "orgId", "connectorId", "updatedAt")
     SELECT c.id, cu.id, c."orgId", c."connectorId", now() FROM "Connection" c CROSS JOIN "Customer" cu
     WHERE c.type = 'ORG_ACTIVATED_GLOBAL' AND cu."orgId" = c."orgId"
     ON CONFLICT DO NOTHING`,
  );
  await sql.query('ANALYZE');
  await sql.end();
  await db.close();
  log(`  loaded in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const resolvable = (await (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await c.query(`SELECT "stableKey" FROM "Connection" WHERE id = $1`, [connectionIds.perCustomer[0]]);
    await c.end();
    return r.rows[0].stableKey as string;
  })());
  return {
    url,
    size,
    values,
    env,
    adminToken: await app.tokens.signOrgUser({ id: org.adminUserId, orgId: org.orgId }, 24 * 3600),
    apiKey: org.apiKey,
    runtimeToken: await app.tokens.signRuntime({ orgId: org.orgId, customerId: first }, 24 * 3600),
    resolvable,
    loadSeconds: (Date.now() - t0) / 1000,
    drop: () => admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * The same dataset in an embedded database (PGlite) in `dataDir`/pglite, as a
 * gateway started with `DATA_DIR=dataDir` opens it: migrated by the gateway's
 * own migrations, then every table copied from PostgreSQL in batches
 * (`json_populate_recordset`: the rows as PostgreSQL wrote them, ids and
 * ciphertexts included).
 */
export async function copyToPGlite(ds: Dataset, dataDir: string, log: (line: string) => void = () => {}): Promise<void> {
  const t0 = Date.now();
  const db = await openDatabase({ kind: 'pglite', dataDir: path.join(dataDir, 'pglite') });
  await db.migrate();
  const lite = db.pglite!;
  const source = new pg.Client({ connectionString: ds.url });
  await source.connect();
  const tables = (
    await source.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY tablename`)
  ).rows.map((r) => r.name);
  // Foreign keys are not checked while copying (the rows are consistent in the source; tables come in name order).
  await lite.exec(`SET session_replication_role = replica`);
  for (const table of tables) {
    for (let offset = 0; ; offset += BATCH) {
      const batch = await source.query<{ rows: string | null }>(`SELECT json_agg(t)::text AS rows FROM (SELECT * FROM "${table}" ORDER BY 1 LIMIT ${BATCH} OFFSET ${offset}) t`);
      const rows = batch.rows[0]!.rows;
      if (!rows) break;
      await lite.query(`INSERT INTO "${table}" SELECT * FROM json_populate_recordset(NULL::"${table}", $1::json)`, [rows]);
    }
  }
  // Sequences (audit and history ids) continue after the copied rows, as in the source.
  await lite.exec(`DO $$ DECLARE r record; BEGIN
    FOR r IN SELECT c.relname AS tbl, a.attname AS col, pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS seq
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL
    LOOP EXECUTE format('SELECT setval(%L, (SELECT coalesce(max(%I), 0) + 1 FROM %I), false)', r.seq, r.col, r.tbl); END LOOP; END $$`);
  await lite.exec(`SET session_replication_role = DEFAULT; ANALYZE`);
  await source.end();
  await db.close();
  log(`  copied into PGlite (${tables.length} tables) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
