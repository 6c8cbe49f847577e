/**
 * The outbound policy (src/outbound.ts): what the gateway may connect to,
 * checked on the address it actually connects to, on every redirect, with a
 * time limit and a size cap — through real sockets to servers on this
 * machine, and through the gateway's own paths (OAuth2 token endpoint).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { addressAllowed, createOutbound, parseNetworks, type Outbound } from '../src/outbound.js';
import { seedOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gid, gql } from './helpers/client.js';
import { makeConnection, makeConnector } from './helpers/fixtures.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';

const ConnectClientCredentials = graphql(`
  mutation OutboundClientCredentials($connectionId: ID!) {
    connectOAuthClientCredentials(connectionId: $connectionId) {
      __typename
      ... on Error { code message }
    }
  }
`);

let server: Server;
let base: string;
let port: number;
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/redirect-to-other-loopback') {
      res.writeHead(302, { location: `http://127.0.0.2:${port}/landed` });
      return res.end();
    }
    if (req.url === '/big') {
      res.writeHead(200);
      return res.end(Buffer.alloc(2 * 1024 * 1024, 'x'));
    }
    if (req.url === '/hang') return; // accepts, never answers
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"access_token":"t","token_type":"Bearer"}');
  });
  // Every loopback address, so that 127.0.0.2 is a listening (but not allowed) address.
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('which addresses', () => {
  it('refuses loopback, private, link-local, CGNAT, unique-local, multicast and unspecified addresses; admits public ones', () => {
    const refused = [
      '127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '[::1]', '0.0.0.0', '::',
      '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.100.100.200',
      '169.254.169.254', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '224.0.0.1', '255.255.255.255', '::ffff:10.1.2.3', 'not-an-address',
    ];
    const admitted = ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '172.32.0.1', '100.128.0.1'];
    expect(refused.filter((a) => addressAllowed(a, []))).toEqual([]);
    expect(admitted.filter((a) => !addressAllowed(a, []))).toEqual([]);
  });

  it('the allow-list admits exactly its networks (on-premise targets)', () => {
    const allowed = parseNetworks('10.20.0.0/16, 127.0.0.1, fd12::/16');
    expect(['10.20.3.4', '127.0.0.1', 'fd12::5', '::ffff:10.20.0.1'].filter((a) => !addressAllowed(a, allowed))).toEqual([]);
    expect(['10.21.0.1', '127.0.0.2', 'fd13::5'].filter((a) => addressAllowed(a, allowed))).toEqual([]);
  });

  it('a bad network or origin in the configuration stops the gateway, naming the variable', () => {
    const base = { AUTH_SECRET: 'x'.repeat(32), ENCRYPTION_KEYS: 'k:' + Buffer.alloc(32).toString('base64'), DATA_DIR: '/tmp/cg-outbound-config' };
    expect(() => loadConfig({ ...base, OUTBOUND_ALLOWED_NETWORKS: '10.0.0.0/8,nope' })).toThrow(/OUTBOUND_ALLOWED_NETWORKS/);
    expect(() => loadConfig({ ...base, CORS_ORIGINS: 'https://app.example/path' })).toThrow(ConfigError);
    expect(loadConfig({ ...base, OUTBOUND_ALLOWED_NETWORKS: '10.0.0.0/8' }).outboundAllowedNetworks).toHaveLength(1);
  });
});

describe('requests', () => {
  let strict: Outbound;
  let local: Outbound;
  beforeAll(() => {
    strict = createOutbound({ allowedNetworks: [] });
    local = createOutbound({ allowedNetworks: parseNetworks('127.0.0.1/32') });
  });
  afterAll(async () => {
    await strict.close();
    await local.close();
  });

  it('by default nothing local is reached, by address or by name', async () => {
    const before = hits.length;
    for (const url of [base, `http://localhost:${port}`, `http://[::ffff:127.0.0.1]:${port}`, `http://2130706433:${port}`, `http://127.1:${port}`]) {
      await expect(strict.request(url, { timeoutMs: 5000 }), url).rejects.toMatchObject({ reason: 'not_allowed' });
    }
    expect(hits.length).toBe(before);
  });

  it('an allowed address is reached; a redirect to a refused one is refused too, when redirects are followed', async () => {
    expect((await local.request(`${base}/ok`, { timeoutMs: 5000, readBody: true })).body).toContain('access_token');
    // Not followed by default: the 302 is the answer.
    expect((await local.request(`${base}/redirect-to-other-loopback`, { timeoutMs: 5000 })).status).toBe(302);
    const before = hits.length;
    await expect(local.request(`${base}/redirect-to-other-loopback`, { timeoutMs: 5000, redirect: 'follow' })).rejects.toMatchObject({ reason: 'not_allowed' });
    expect(hits.slice(before)).toEqual(['/redirect-to-other-loopback']);
  });

  it('a time limit for the whole exchange, a cap on the response size, http(s) only', async () => {
    const t0 = Date.now();
    await expect(local.request(`${base}/hang`, { timeoutMs: 500 })).rejects.toMatchObject({ reason: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(5000);
    await expect(local.request(`${base}/big`, { timeoutMs: 5000, readBody: true, maxBytes: 64 * 1024 })).rejects.toMatchObject({ reason: 'too_large' });
    await expect(local.request(`file:///etc/passwd`, { timeoutMs: 500 })).rejects.toMatchObject({ reason: 'invalid_url' });
  });
});

describe('the gateway’s own requests', () => {
  let gw: TestGateway;
  afterAll(async () => gw?.close());

  it('an OAuth2 token endpoint on an internal address is never called (default policy)', async () => {
    gw = await startGateway();
    const org = await seedOrg(gw.app);
    const connector = await makeConnector(gw.app, org.orgId, {
      key: 'internal-idp',
      name: 'Internal IdP',
      authType: 'OAUTH2',
      oauth2: { grantType: 'client_credentials', tokenUrl: `${base}/token`, clientId: 'cid', scopes: [] },
      oauthClientSecret: 'internal-client-secret-1',
    });
    const conn = await makeConnection(gw.app, org.orgId, { stableKey: 'internal', name: 'i', connectorId: connector.id, type: 'ORG_ACTIVATED_GLOBAL' });
    const before = hits.length;
    const r = await gql(gw.url, ConnectClientCredentials, { connectionId: gid('Connection', conn.id) }, org.adminToken);
    expect(r.data?.connectOAuthClientCredentials).toMatchObject({ __typename: 'ValidationError' });
    expect((r.data?.connectOAuthClientCredentials as { message: string }).message).toMatch(/not allowed/);
    expect(hits.length).toBe(before);
  });
});
