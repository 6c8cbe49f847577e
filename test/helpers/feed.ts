import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { PrismaClient } from '../../src/generated/prisma/client.js';

/** A real graphql-ws client over a real WebSocket, authenticated like the embedded builder. */
export function wsClient(httpUrl: string, token: string | null, opts: { retry?: boolean } = {}): Client & { closeCode(): number | undefined } {
  let closeCode: number | undefined;
  const client = createClient({
    url: httpUrl.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    lazy: true,
    retryAttempts: opts.retry ? 1000 : 0,
    retryWait: async () => new Promise((r) => setTimeout(r, 200)),
    shouldRetry: () => !!opts.retry,
    on: { closed: (e) => (closeCode = (e as { code?: number }).code) },
  });
  return Object.assign(client, { closeCode: () => closeCode });
}

export interface FeedEventOut {
  cursor: string;
  kind: string;
  connectionId?: string | null;
  connection?: { id: string; name: string; connectorKey: string; connectorName: string } | null;
}

/** Collects what one subscription receives. */
export class Collector<T = FeedEventOut> {
  readonly events: T[] = [];
  readonly errors: unknown[] = [];
  completed = false;
  private closed = false;
  private readonly dispose: () => void;
  private waiters: (() => void)[] = [];

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(client: Client, document: TypedDocumentNode<any, any>, variables: Record<string, unknown>, field = 'availableConnectionsChanged') {
    this.dispose = client.subscribe(
      { query: print(document), variables },
      {
        next: (r) => {
          // What arrives after close() was not seen by the caller (its cursor is already taken).
          if (this.closed) return;
          if (r.errors) this.errors.push(r.errors);
          const data = r.data as Record<string, unknown> | null | undefined;
          if (data?.[field]) this.events.push(data[field] as T);
          this.notify();
        },
        error: (e) => {
          this.errors.push(e);
          this.notify();
        },
        complete: () => {
          this.completed = true;
          this.notify();
        },
      },
    );
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds, or rejects after `timeoutMs` with what was received. */
  async until(pred: (c: this) => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out waiting for ${what}; received ${this.events.length} events, errors: ${JSON.stringify(this.errors).slice(0, 500)}, completed: ${this.completed}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  count(n: number, timeoutMs?: number): Promise<void> {
    return this.until((c) => c.events.length >= n, timeoutMs, `${n} events`);
  }

  close(): void {
    this.closed = true;
    this.dispose();
  }
}

/** The newest committed cursor: subscribing with it as `after` makes a test independent of subscription set-up time. */
export async function currentCursor(prisma: PrismaClient): Promise<string> {
  const r = await prisma.feedEvent.aggregate({ _max: { id: true } });
  return (r._max.id ?? 0n).toString();
}
