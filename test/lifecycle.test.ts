import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPGlite } from '../src/db/pglite.js';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

/**
 * The process as an operator runs it: `npm start` (the documented command).
 * Start-up fails fast and clearly on a busy port or a bad HOST, before it
 * writes anything; SIGTERM to the npm process drains in-flight requests,
 * closes WebSockets with 1001 and stops the gateway.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const temps: string[] = [];
const children: ChildProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cg-lifecycle-'));
  temps.push(dir);
  return dir;
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `npm start` with only what the test gives (the embedded database; no DATABASE_URL or REDIS_URL of the test run). */
function npmStart(env: Record<string, string>): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const { DATABASE_URL: _d, REDIS_URL: _r, ...inherited } = process.env;
  const child = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...inherited, LOG_FORMAT: 'json', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  child.stdout!.on('data', (d) => (err += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

describe('start-up fails fast and clearly', () => {
  let blocker: Server;
  afterAll(() => blocker?.close());

  it('on a busy port: exit 1, one line naming PORT, nothing written to a fresh data directory', { timeout: 60_000 }, async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const port = (blocker.address() as AddressInfo).port;
    const dataDir = path.join(tempDir(), 'data');
    const started = Date.now();
    const run = npmStart({ PORT: String(port), DATA_DIR: dataDir });
    expect(await run.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    const lines = run.stderr().trim().split('\n').filter((l) => l.trim());
    expect(lines).toEqual([`Cannot start: PORT: port ${port} is already in use on 0.0.0.0 (another gateway?); stop it or set PORT`]);
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);
  });

  it('on a host that does not resolve: exit 1, one line naming HOST', { timeout: 60_000 }, async () => {
    const dataDir = path.join(tempDir(), 'data');
    const run = npmStart({ PORT: String(await freePort()), HOST: 'not-a-host.invalid', DATA_DIR: dataDir });
    expect(await run.exited).toBe(1);
    const lines = run.stderr().trim().split('\n').filter((l) => l.trim());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^Cannot start: HOST: unknown host "not-a-host.invalid"/);
    expect(() => readdirSync(dataDir)).toThrow(/ENOENT/);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM to `npm start`: in-flight writes complete and are kept, sockets close with 1001, the gateway exits', { timeout: 180_000 }, async () => {
    const dataDir = path.join(tempDir(), 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const run = npmStart({ PORT: String(port), DATA_DIR: dataDir, SHUTDOWN_TIMEOUT: '20' });
    await expect.poll(() => /ADMIN_TOKEN=(\S+)/.exec(run.stderr())?.[1], { timeout: 150_000, interval: 200 }).toBeTruthy();
    const token = /ADMIN_TOKEN=(\S+)/.exec(run.stderr())![1]!;
    await expect.poll(async () => (await fetch(`${url}/ready`).catch(() => null))?.status, { timeout: 30_000 }).toBe(200);

    // A live-feed socket.
    const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      ws.on('message', (m) => JSON.parse(String(m)).type === 'connection_ack' && resolve());
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    // 20 writes in flight when the signal arrives.
    let signalledAt = 0;
    const writes = Array.from({ length: 20 }, async (_, i) => {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: `mutation { createCustomer(input: { externalId: "drain-${i}", name: "Drain ${i}" }) { __typename ... on MutationCreateCustomerSuccess { data { externalId } } } }` }),
      });
      return { status: res.status, body: await res.text(), at: Date.now() };
    });
    await new Promise((r) => setTimeout(r, 30));
    signalledAt = Date.now();
    expect(run.child.kill('SIGTERM')).toBe(true);

    const answers = await Promise.all(writes);
    for (const a of answers) expect(a).toMatchObject({ status: 200, body: expect.stringContaining('MutationCreateCustomerSuccess') });
    expect(answers.some((a) => a.at > signalledAt)).toBe(true);
    expect(await closed).toBe(1001);
    expect(await run.exited).toBe(0);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    expect(run.stderr()).toContain('shutting down');

    // Every acknowledged write is in the database.
    const db = await openPGlite(path.join(dataDir, 'pglite'));
    try {
      const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Customer" WHERE "externalId" LIKE 'drain-%'`);
      expect(r.rows[0]!.n).toBe(20);
    } finally {
      await db.close();
    }
  });
});
