import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A third-party API for the proxy tests: a real HTTP server on loopback (the
 * gateway reaches it through OUTBOUND_ALLOWED_NETWORKS) that records every
 * request it receives — method, URL, headers, body, when, how many at once —
 * and answers what the test says (by default a small JSON that never echoes
 * a header or the query, so a credential it received cannot leak back into
 * the responses the tests scan).
 */
export interface Received {
  method: string;
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

export type Handler = (req: Received, res: ServerResponse) => void | Promise<void>;

export class Upstream {
  readonly received: Received[] = [];
  inFlight = 0;
  maxInFlight = 0;
  handler: Handler = (req, res) => json(res, 200, { ok: true, method: req.method, path: req.path });
  private server: Server | null = null;
  url = '';
  port = 0;

  async listen(host = '127.0.0.1'): Promise<this> {
    // A request the gateway cut off (an upload over its cap) ends here, not as an unhandled rejection.
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((r) => this.server!.listen(0, host, r));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://${host}:${this.port}`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => this.inFlight--);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://upstream');
    const received: Received = { method: req.method ?? 'GET', url: req.url ?? '/', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
    this.received.push(received);
    try {
      await this.handler(received, res);
    } catch (err) {
      if (!res.headersSent) json(res, 500, { error: String(err) });
    }
  }

  reset(handler?: Handler): void {
    this.received.length = 0;
    this.maxInFlight = this.inFlight;
    if (handler) this.handler = handler;
    else this.handler = (req, res) => json(res, 200, { ok: true, method: req.method, path: req.path });
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
