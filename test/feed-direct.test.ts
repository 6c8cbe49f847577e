import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeId } from '../src/ids.js';
import type { SeededOrg } from '../src/seed/demo.js';
import { http, rawPost } from './helpers/client.js';
import { makeConnection, makeConnector, putValue } from './helpers/fixtures.js';
import type { TestGateway } from './helpers/gateway.js';
import { useWorld } from './helpers/world.js';

/**
 * Live-feed events go straight from the feed to a subscriber's socket while
 * it keeps up, and through its subscription's queue while it is behind
 * (pubsub/direct.ts): either way each event arrives once, in order, in the
 * frame graphql-ws writes; a subscriber that caught up is written to directly
 * again.
 */
let gw: TestGateway;
let org: SeededOrg;
let connectionId: string;
let customerId: string;
const sockets: WebSocket[] = [];

// Room for a document whose every event is ~26 KB (aliases of the connection), to fill a stalled socket quickly.
const LIMITS = { MAX_ALIASES: '100' };

useWorld({ env: LIMITS, orgs: { org: { customers: ['a'] } } }, async (w) => {
  ({ gw, org } = w);
  const fields = [{ key: 'token', label: 'Token', type: 'STRING', required: true, secret: true }];
  await makeConnector(gw.app, org.orgId, { key: 'chat', name: 'C'.repeat(200), authType: 'SECRET_TEXT', fields });
  const c = await makeConnection(gw.app, org.orgId, { stableKey: 'everyone', name: 'Everyone', connectorKey: 'chat', type: 'ORG_ACTIVATED_GLOBAL', availableInWorkflows: true });
  await putValue(gw.app, c.id, { kind: 'GLOBAL' }, { token: 'global-secret' });
  connectionId = encodeId('Connection', c.id);
  customerId = encodeId('Customer', org.customers[0]!.id);
});
afterAll(() => {
  for (const s of sockets) s.terminate();
});

type Msg = { id?: string; type: string; payload?: { data?: { availableConnectionsChanged?: Record<string, unknown> } } };

/** A raw graphql-transport-ws socket: every frame as received (text), and the parsed messages. */
async function rawSocket(token: string) {
  const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
  sockets.push(ws);
  const frames: string[] = [];
  ws.on('message', (data) => frames.push(String(data)));
  ws.on('error', () => {});
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  const messages = () => frames.map((f) => JSON.parse(f) as Msg);
  await until(() => messages().some((m) => m.type === 'connection_ack'));
  const events = () => messages().filter((m) => m.type === "next").map((m) => {
    if (!m.payload?.data?.availableConnectionsChanged) throw new Error(`not an event: ${JSON.stringify(m).slice(0, 500)}`);
    return m.payload.data.availableConnectionsChanged;
  });
  return { ws, frames, messages, events };
}

async function until(cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function deliveries(): Promise<{ direct: number; queued: number }> {
  const text = (await http(`${gw.url}/metrics`)).body;
  const value = (path: string) => Number(new RegExp(`gateway_subscription_deliveries_total\\{path="${path}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { direct: value('direct'), queued: value('queued') };
}

async function rename(name: string): Promise<void> {
  const query = 'mutation ($id: ID!, $patch: ConnectionPatch!) { updateConnection(id: $id, patch: $patch) { __typename } }';
  const r = await rawPost(gw.url, JSON.stringify({ query, variables: { id: connectionId, patch: { name } } }), { authorization: `Bearer ${org.adminToken}` });
  expect(r.body).toContain('MutationUpdateConnectionSuccess');
}

/** Renames until the subscription (no replay: live only) receives something: it is live from then on. */
async function live(events: () => unknown[]): Promise<void> {
  for (let n = 0; events().length === 0; n++) {
    if (n > 100) throw new Error('the subscription never started');
    await rename(`warm-up ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function subscribe(ws: WebSocket, id: string, selection: string): void {
  const query = `subscription ($customerId: ID) { availableConnectionsChanged(customerId: $customerId) { ${selection} } }`;
  ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: { customerId } } }));
}

describe('direct delivery of live events', () => {
  it('a live event is written to the socket as the feed reads it, in the frame graphql-ws writes', async () => {
    const s = await rawSocket(org.apiKey);
    subscribe(s.ws, 'feed-1', 'cursor kind connection { id name }');
    await live(s.events);
    const before = await deliveries();
    const count = s.frames.length;
    await rename('direct');
    await until(() => s.frames.length > count, 20_000, 'the event');
    const after = await deliveries();
    expect(after.direct - before.direct).toBe(1);
    expect(after.queued - before.queued).toBe(0);
    const frame = s.frames.at(-1)!;
    const event = s.events().at(-1)!;
    expect(event).toMatchObject({ kind: 'UPDATED', connection: { id: connectionId, name: 'direct' } });
    // Byte for byte what graphql-ws writes for a result: id, type, payload, in that order.
    expect(frame).toBe(JSON.stringify({ id: 'feed-1', type: 'next', payload: { data: { availableConnectionsChanged: event } } }));
    s.ws.close();
    await new Promise((resolve) => s.ws.once('close', resolve));
  });

  it('a subscriber that stops reading: its events queue, then arrive once each and in order, and direct delivery resumes', { timeout: 120_000 }, async () => {
    const s = await rawSocket(org.apiKey);
    // ~26 KB an event (names of 200 characters, as many times as the breadth limit allows): the socket's buffers fill within some hundreds.
    const aliases = Array.from({ length: 64 }, (_, i) => `c${i}: connection { name connectorName }`).join(' ');
    subscribe(s.ws, 'big', `cursor kind connection { name } ${aliases}`);
    await live(s.events);
    const first = await deliveries();
    s.ws.pause();
    const names: string[] = [];
    let i = 0;
    // Until the socket is behind: events then take the queued path (graphql-ws waits for each write).
    while ((await deliveries()).queued === first.queued) {
      names.push(`${'stalled '.repeat(24)}${++i}`);
      await rename(names.at(-1)!);
      if (i > 3000) throw new Error('the socket never fell behind');
    }
    expect(i).toBeGreaterThan(1);
    for (let k = 0; k < 5; k++) {
      names.push(`behind ${k}`);
      await rename(names.at(-1)!);
    }
    s.ws.resume();
    await until(() => s.events().some((e) => (e.connection as { name: string } | null)?.name === names.at(-1)), 60_000, 'the backlog');
    const seen = s.events().map((e) => (e.connection as { name: string }).name);
    const from = seen.indexOf(names[0]!);
    expect(seen.slice(from)).toEqual(names);
    const cursors = s.events().map((e) => BigInt(e.cursor as string));
    expect(cursors.every((c, k) => k === 0 || c > cursors[k - 1]!)).toBe(true);
    const mid = await deliveries();
    expect(mid.direct).toBeGreaterThan(first.direct);
    expect(mid.queued).toBeGreaterThan(first.queued);

    // Caught up: the next event goes straight to the socket again.
    await new Promise((r) => setTimeout(r, 100));
    const count = s.events().length;
    const settled = await deliveries();
    await rename('caught up');
    await until(() => s.events().length > count, 20_000, 'the event after catching up');
    const end = await deliveries();
    expect(end.direct - settled.direct).toBe(1);
    expect(end.queued - settled.queued).toBe(0);
    expect(s.events().at(-1)!.connection).toMatchObject({ name: 'caught up' });
  });
});
