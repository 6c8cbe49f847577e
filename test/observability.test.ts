import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeySpec } from '../src/crypto/keyring.js';
import { seedDemoContent, type SeededOrg } from '../src/seed/demo.js';
import { graphql } from './gql/index.js';
import { gql, http } from './helpers/client.js';
import { startGateway, type TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * What an operator sees of a running gateway: Prometheus metrics by
 * operation, a request id in every response and log line, OpenTelemetry
 * spans when (and only when) its variables are set, JSON or readable logs.
 */
const Viewer = graphql(`
  query ObsViewer {
    viewer { kind }
  }
`);
const Resolve = graphql(`
  query ObsResolve($stableKey: String!) {
    resolveConnection(stableKey: $stableKey) { __typename }
  }
`);

/** An OTLP/HTTP receiver: what the gateway's exporter sends. */
async function otlpReceiver(): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push(`${req.url} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, server };
}

let gw: TestGateway;
let org: SeededOrg;
let receiver: Awaited<ReturnType<typeof otlpReceiver>>;

// The receiver is there before the gateway (its address is in the gateway's environment) and stops after it.
beforeAll(async () => {
  receiver = await otlpReceiver();
});
afterAll(async () => {
  receiver?.server.close();
});
useWorld({ env: () => ({ LOG_LEVEL: 'debug', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'gateway-under-test' }), orgs: { org: { customers: ['acme-corp'] } } }, async (w) => {
  ({ gw, org } = w);
  await seedDemoContent(gw.app, org);
});

describe('metrics', () => {
  it('counts requests and latency by operation, resolutions by outcome, feed subscribers and the pool', async () => {
    await gql(gw.url, Viewer, {}, org.adminToken);
    await gql(gw.url, Viewer, {}, 'not-a-token');
    await http(`${gw.url}/api/v1/projects`, { token: org.apiKey });
    await http(`${gw.url}/api/v1/projects/00000000-0000-4000-8000-000000000000`, { token: org.apiKey });
    await gql(gw.url, Resolve, { stableKey: 'twilio-sms' }, org.customers[0]!.runtimeToken, { resolution: true });
    await gql(gw.url, Resolve, { stableKey: 'nope' }, org.customers[0]!.runtimeToken, { resolution: true });

    const res = await http(`${gw.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = res.body;
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}()[\]|.*+?^$\\]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('gateway_requests_total{surface="graphql",operation="query viewer",outcome="ok"}')).toBe(1);
    expect(value('gateway_requests_total{surface="graphql",operation="none",outcome="error"}')).toBe(1);
    expect(value('gateway_requests_total{surface="http",operation="GET /api/v1/projects",outcome="ok"}')).toBe(1);
    expect(value('gateway_requests_total{surface="http",operation="GET /api/v1/projects/:id",outcome="error"}')).toBe(1);
    expect(value('gateway_request_duration_seconds_count{surface="graphql",operation="query resolveConnection"}')).toBe(2);
    expect(value('gateway_resolutions_total{outcome="RESOLVED"}')).toBe(1);
    expect(value('gateway_resolutions_total{outcome="NOT_FOUND"}')).toBe(1);
    expect(value('gateway_feed_subscribers')).toBe(0);
    expect(text).toContain('gateway_feed_lag_seconds_bucket');
    expect(text).toContain('gateway_oauth_refreshes_total');
    expect(text).toContain('gateway_process_cpu_seconds_total');
    if (gw.db.kind === 'postgres') expect(value('gateway_db_pool_connections{state="total"}')).toBeGreaterThan(0);
    // Labels name operations and routes, never ids, tokens or tenants.
    expect(text).not.toContain('00000000-0000-4000');
    expect(text).not.toContain(org.orgId);
  });
});

describe('request ids', () => {
  it('every response carries one; a sane caller id is kept; every log line of the request names it', async () => {
    const fresh = await http(`${gw.url}/health`);
    expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const given = await http(`${gw.url}/api/v1/projects`, { token: org.apiKey, headers: { 'x-request-id': 'lb-7f3a.42' } });
    expect(given.headers.get('x-request-id')).toBe('lb-7f3a.42');
    const hostile = await http(`${gw.url}/health`, { headers: { 'x-request-id': 'a b <script>' } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    gw.logs.splice(0);
    const res = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${org.adminToken}`, 'x-request-id': 'req-graphql-1' },
      body: JSON.stringify({ query: '{ viewer { kind } }' }),
    });
    expect(res.headers.get('x-request-id')).toBe('req-graphql-1');
    await res.text();
    const lines = gw.logs.map((l) => JSON.parse(l) as { requestId?: string; msg: string });
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.requestId, line.msg).toBe('req-graphql-1');
  });
});

describe('tracing', () => {
  it('with OTEL_EXPORTER_OTLP_ENDPOINT, a request is a server span continuing the caller\'s trace, named by its operation', async () => {
    const traceId = randomBytes(16).toString('hex');
    const res = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${org.adminToken}`, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      body: JSON.stringify({ query: '{ viewer { kind } }' }),
    });
    await res.text();
    await gw.app.tracing.flush();
    const sent = receiver.bodies.join('\n');
    expect(sent).toContain('/v1/traces');
    expect(sent).toContain(traceId);
    expect(sent).toContain('graphql query viewer');
    expect(sent).toContain('gateway-under-test');
    expect(sent).not.toContain(org.adminToken);
  });

  it('without its variables, tracing is off', async () => {
    const plain = await startGateway();
    try {
      expect(plain.app.tracing.enabled).toBe(false);
    } finally {
      await plain.close();
    }
  });
});

describe('log format', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cg-logs-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function startMain(format: 'json' | 'pretty'): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: path.join(dataDir, format), SEED_DEMO: 'false', PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: format, AUTH_SECRET: randomBytes(32).toString('base64url'), ENCRYPTION_KEYS: newKeySpec('l1') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await expect.poll(() => out, { timeout: 60_000, interval: 200 }).toContain('listening');
      return out;
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }

  it('JSON lines in production, readable lines in development', async () => {
    const json = (await startMain('json')).trim().split('\n');
    for (const line of json) expect(() => JSON.parse(line), line).not.toThrow();
    const pretty = await startMain('pretty');
    expect(pretty).toMatch(/WARN.*No organization yet/);
    expect(pretty.trim().split('\n').some((l) => l.startsWith('{'))).toBe(false);
  });
});
