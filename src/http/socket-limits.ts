import { GraphQLError } from 'graphql';
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { bearerFromParams } from '../auth/bearer.js';
import type { Principal } from '../auth/principal.js';
import type { Config } from '../config.js';
import type { RateLimits } from './rate-limit.js';

export type SocketLimitConfig = Pick<Config, 'wsMaxSubscriptions' | 'wsMaxMessageBytes' | 'wsMessagesPerSecond'>;

/** Close code for a socket that sent messages faster than WS_MESSAGES_PER_SECOND (graphql-ws uses 4429 for "too many"). */
export const TOO_MANY_MESSAGES = 4429;
const CLOSE_GRACE_MS = 500;

/**
 * Per-socket limits of the WebSocket edge, so that one socket cannot stall
 * the process: messages larger than WS_MAX_MESSAGE_BYTES close it (1009, by
 * `ws` itself, before they are buffered further); more than
 * WS_MESSAGES_PER_SECOND (a token bucket, bursts of twice that) close it with
 * 4429 and stop reading it; an operation beyond WS_MAX_SUBSCRIPTIONS running
 * on one socket is refused on its own id. Each check is a few comparisons
 * done before any parse or database round-trip, so refused messages cost
 * next to nothing. Hand-written: graphql-ws has no such hooks, and a token
 * bucket is a dozen lines.
 */
export class SocketLimits {
  private readonly buckets = new WeakMap<WebSocket, { tokens: number; at: number; closed: boolean }>();

  constructor(private readonly config: SocketLimitConfig) {}

  /** Options for `new WebSocketServer`. */
  get serverOptions(): { maxPayload: number } {
    return { maxPayload: this.config.wsMaxMessageBytes };
  }

  /** Counts every message of every socket; must be attached before graphql-ws so it sees each message first. */
  attach(wss: WebSocketServer): void {
    wss.on('connection', (socket) => {
      const burst = this.config.wsMessagesPerSecond * 2;
      const bucket = { tokens: burst, at: performance.now(), closed: false };
      this.buckets.set(socket, bucket);
      socket.on('message', () => {
        if (bucket.closed) return;
        const now = performance.now();
        bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * this.config.wsMessagesPerSecond);
        bucket.at = now;
        if (bucket.tokens >= 1) return void (bucket.tokens -= 1);
        bucket.closed = true;
        // What is already buffered is not even parsed (graphql-ws's listener goes too), nothing more is
        // read; the close frame goes out and the socket is ended shortly after.
        socket.removeAllListeners('message');
        socket.pause();
        socket.close(TOO_MANY_MESSAGES, 'Too many messages');
        setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
      });
    });
  }

  /**
   * Checked first when an operation starts (`subscriptions` is graphql-ws's
   * record of the socket's operations, this one included): errors for this
   * id only, or null to go on.
   */
  refusal(socket: WebSocket, subscriptions: Record<string, unknown>): GraphQLError[] | null {
    if (this.buckets.get(socket)?.closed) return [new GraphQLError('Too many messages on this socket', { extensions: { code: 'RATE_LIMITED' } })];
    if (Object.keys(subscriptions).length > this.config.wsMaxSubscriptions) {
      return [
        new GraphQLError(`At most ${this.config.wsMaxSubscriptions} operations may run on one socket`, {
          extensions: { code: 'RATE_LIMITED' },
        }),
      ];
    }
    return null;
  }

  /** The operation counted against its principal's rate limit (shared with HTTP): errors for this id when over. */
  async rateLimited(
    rateLimits: RateLimits,
    ctx: { connectionParams?: Readonly<Record<string, unknown>> | undefined; extra: { principal?: Principal | null; request: IncomingMessage } },
  ): Promise<GraphQLError[] | null> {
    if (!rateLimits.enabled) return null;
    const admission = await rateLimits.admitOperation(ctx.extra.principal, bearerFromParams(ctx.connectionParams), ctx.extra.request.socket.remoteAddress);
    if (admission.allowed) return null;
    return [
      new GraphQLError('Too many requests: retry later', {
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds: Number(admission.headers['retry-after'] ?? 1) },
      }),
    ];
  }
}
