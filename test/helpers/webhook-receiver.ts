import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A webhook receiver on a real port that verifies every signature with the `standardwebhooks` package. */
export interface Received {
  id: string;
  type: string;
  payload: { type: string; timestamp: string; data: Record<string, unknown> };
}

export class Receiver {
  server: Server;
  url = '';
  received: Received[] = [];
  /** Answers this status (503: down) — or `hang` to never answer. */
  mode: number | 'hang' = 200;
  secret = '';
  private waiters: (() => void)[] = [];
  hanging: ServerResponse[] = [];

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    // The receiver's side of the contract: verify with the standard library, reject what does not verify.
    let payload: Received['payload'];
    try {
      payload = new Webhook(this.secret).verify(body, headers) as Received['payload'];
    } catch {
      res.writeHead(401).end();
      return;
    }
    if (this.mode === 'hang') {
      this.received.push({ id: headers['webhook-id']!, type: payload.type, payload });
      this.hanging.push(res);
      this.notify();
      return;
    }
    if (this.mode === 200) this.received.push({ id: headers['webhook-id']!, type: payload.type, payload });
    res.writeHead(this.mode).end();
    this.notify();
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(pred: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('timed out waiting for the receiver');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  close(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
