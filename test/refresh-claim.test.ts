import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { refreshDueTokens } from '../src/modules/health/refresh.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { makeConnection, makeConnector, putValue, valueOf } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * The background refresher's claim against another instance that renews the
 * same value meanwhile (PostgreSQL: instances run concurrently). A claim is
 * one statement over every due value; with 100,000 of them it runs long
 * enough that another instance can claim, renew and release a value after
 * the statement's snapshot was taken and before its insert reaches that
 * value — the lease is gone by then, so the insert succeeds. `bench:health`
 * found 2,445 provider calls for values already renewed (two instances,
 * 100,000 values). Here the interleaving is made certain: "the other
 * instance" is an open transaction that claims, renews and releases the
 * value; the refresher's claim waits on its lease row, then gets the value.
 * It must see that the value is no longer due and call no provider.
 */
const enabled = !!process.env.DATABASE_URL;

const provider = {
  calls: 0,
  server: createServer((req, res) => {
    provider.calls++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `renewed-${provider.calls}`, token_type: 'Bearer', expires_in: 3600 }));
  }),
  url: '',
};

let gw: TestGateway;
let org: SeededOrg;

afterAll(async () => {
  provider.server.closeAllConnections();
  await new Promise((r) => provider.server.close(r));
});

describe.skipIf(!enabled)('the refresher’s claim', () => {
  useWorld({ env: { HEALTH_WORKERS: 'false', OUTBOUND_ALLOWED_NETWORKS: '127.0.0.1/32' }, orgs: { org: { customers: ['acme'] } }, timeout: 60_000 }, async (w) => {
    ({ gw, org } = w);
    await new Promise<void>((r) => provider.server.listen(0, '127.0.0.1', r));
    provider.url = `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}`;
  });

  it('a value another instance renewed while the claim ran is released, not renewed again', async () => {
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'machine',
      name: 'Machine',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: `${provider.url}/token`, clientId: 'cid', scopes: [] },
      oauthClientSecret: 'machine-secret',
    });
    const connection = await makeConnection(gw.app, org.orgId, { stableKey: 'machine', name: 'Machine', connectorId: connector.id, type: 'ORG_ACTIVATED_GLOBAL' });
    const value = await putValue(gw.app, connection.id, { kind: 'GLOBAL' }, { accessToken: 'old-token' }, { status: 'ACTIVE', expiresAt: new Date(Date.now() + 30_000) });

    // "The other instance": claims the value (its lease row), renews it and lets the lease go — not committed yet.
    const other = new pg.Client({ connectionString: gw.app.config.database.kind === 'postgres' ? gw.app.config.database.url : '' });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO "ValueRefreshLease" ("valueId", until, busy) VALUES ($1, now() + interval '2 minutes', true)`, [value.id]);
      await other.query(`UPDATE "ConnectionValue" SET "expiresAt" = (now() AT TIME ZONE 'UTC') + interval '1 hour', version = version + 1 WHERE id = $1`, [value.id]);
      await other.query(`DELETE FROM "ValueRefreshLease" WHERE "valueId" = $1`, [value.id]);
      // This instance's pass: its claim saw the value due and no lease, and now waits on the other's lease row.
      const pass = refreshDueTokens(gw.app);
      await new Promise((r) => setTimeout(r, 500));
      await other.query('COMMIT');
      await pass;
    } finally {
      await other.end();
    }
    expect(provider.calls).toBe(0);
    const after = await valueOf(gw.app, connection.id, 'GLOBAL');
    expect(after.version).toBe(value.version + 1);
    // Released: the next pass claims nothing either (the value is not due), and a due value is claimable again.
    expect(await gw.db.prisma.valueRefreshLease.count({ where: { valueId: value.id } })).toBe(0);
    await gw.db.prisma.connectionValue.update({ where: { id: value.id }, data: { expiresAt: new Date(Date.now() + 10_000) } });
    expect(await refreshDueTokens(gw.app)).toBe(1);
    expect(provider.calls).toBe(1);
  });
});
