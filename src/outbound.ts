import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, fetch, request as undiciRequest } from 'undici';

/**
 * Every request the gateway sends to the outside (OAuth2 token endpoints,
 * test requests, webhooks) goes through here, under one policy:
 *
 * - only http(s), only to public unicast addresses: loopback, private,
 *   link-local (cloud metadata at 169.254.169.254), CGNAT, unique-local,
 *   multicast, reserved and unspecified addresses are refused, unless they
 *   fall in `OUTBOUND_ALLOWED_NETWORKS` (on-premise targets);
 * - checked on the address actually connected to, after DNS resolution, for
 *   every connection — so a name that resolves to an internal address, or a
 *   redirect towards one, is refused as well (DNS rebinding cannot slip
 *   between a check and the connect: they are the same step);
 * - a time limit on the whole exchange and a cap on the response size;
 *   redirects are not followed unless a caller asks (requests carrying a
 *   secret must not be forwarded to a host the secret was not meant for).
 *
 * Callers get a status and, when they ask, the body as text; what reaches an
 * API answer is theirs to decide (never the body). The proxy streams instead
 * (`stream`): the same agent, so the same address check on every connection,
 * bodies passed through unread and undecoded. Written on undici's Agent
 * (its connector takes a DNS lookup) and ipaddr.js (address ranges); no
 * library filters at connect time for undici's fetch.
 */
export type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses `OUTBOUND_ALLOWED_NETWORKS`: CIDR ranges or single addresses, comma-separated. Throws on a bad entry. */
export function parseNetworks(spec: string | undefined): Network[] {
  return (spec ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      if (entry.includes('/')) return ipaddr.parseCIDR(entry);
      const addr = ipaddr.parse(entry);
      return [addr, addr.kind() === 'ipv4' ? 32 : 128];
    });
}

/** Whether the policy lets the gateway connect to this address. */
export function addressAllowed(address: string, allowed: Network[]): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4 address it is.
    addr = ipaddr.process(address.replace(/^\[|\]$/g, ''));
  } catch {
    return false;
  }
  if (allowed.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) return true;
  return addr.range() === 'unicast';
}

export type OutboundFailure = 'not_allowed' | 'timeout' | 'refused' | 'host_not_found' | 'too_large' | 'invalid_url' | 'network';

/** Why a request did not get an answer. Its message is short and never holds request data. */
export class OutboundError extends Error {
  override name = 'OutboundError';
  constructor(
    readonly reason: OutboundFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown inside the connector; surfaces as the `cause` of undici's "fetch failed". */
class DestinationRefused extends Error {
  readonly code = 'EOUTBOUND_NOT_ALLOWED';
}

export interface OutboundRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
  /** The whole exchange, body included. */
  timeoutMs: number;
  /** Read the body (as text, at most `maxBytes`); otherwise it is discarded unread. */
  readBody?: boolean;
  maxBytes?: number;
  /** Default `manual`: a 3xx is the answer. When followed, every hop is checked like the first. */
  redirect?: 'manual' | 'follow';
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  /** The body when asked for (`readBody`), else null. */
  body: string | null;
}

/** A streamed exchange (the proxy): the request body is sent as it comes, the response body handed over unread. */
export interface OutboundStreamRequest {
  method: string;
  headers: Record<string, string | string[]>;
  body?: Buffer | Readable | null;
  /** Time to the response's headers. */
  headersTimeoutMs: number;
  /** Longest pause between two parts of the response body. */
  bodyTimeoutMs: number;
  /** Ends the exchange (the caller's whole time limit, the client gone). */
  signal?: AbortSignal;
}

export interface OutboundStreamResponse {
  status: number;
  /** Lower-case names; repeated headers (set-cookie) as arrays. */
  headers: Record<string, string | string[] | undefined>;
  /** Must be read to its end or destroyed (it holds a pooled connection until then). Never decompressed. */
  body: Readable;
}

export interface Outbound {
  request(url: string | URL, req: OutboundRequest): Promise<OutboundResponse>;
  /** A redirect is the answer (3xx); following one is the caller's, hop by hop, each hop through this policy again. */
  stream(url: URL, req: OutboundStreamRequest): Promise<OutboundStreamResponse>;
  close(): Promise<void>;
}

export const MAX_RESPONSE_BYTES = 1024 * 1024;

export function createOutbound(opts: { allowedNetworks: Network[] }): Outbound {
  const allowed = opts.allowedNetworks;
  const refused = (host: string) => new DestinationRefused(`${host} is not an allowed destination`);
  const lookup: LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      // Only checked addresses are ever connected to: drop the others, refuse when none is left.
      const ok = addresses.filter((a) => addressAllowed(a.address, allowed));
      if (!ok.length) return callback(refused(hostname), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, ok);
      callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
  const connector = buildConnector({ lookup, timeout: 10_000 } as buildConnector.BuildOptions);
  const agent = new Agent({
    // Address literals never reach the DNS lookup: they are checked here.
    connect: (options, callback) => {
      const host = options.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && !addressAllowed(host, allowed)) return callback(refused(host), null);
      return connector(options, callback);
    },
    maxHeaderSize: 16 * 1024,
    keepAliveTimeout: 1000,
  });

  return {
    async request(target, req) {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        throw new OutboundError('invalid_url', 'not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('invalid_url', 'only http(s) URLs are allowed');
      const signal = AbortSignal.timeout(req.timeoutMs);
      try {
        const res = await fetch(url, {
          method: req.method ?? 'GET',
          headers: req.headers,
          body: req.body,
          redirect: req.redirect ?? 'manual',
          signal,
          dispatcher: agent,
        });
        if (!req.readBody) {
          await res.body?.cancel().catch(() => {});
          return { status: res.status, headers: res.headers as unknown as Headers, body: null };
        }
        const limit = req.maxBytes ?? MAX_RESPONSE_BYTES;
        const chunks: Uint8Array[] = [];
        let size = 0;
        for await (const chunk of res.body ?? []) {
          size += chunk.byteLength;
          if (size > limit) {
            await res.body?.cancel().catch(() => {});
            throw new OutboundError('too_large', `the response exceeds ${limit} bytes`);
          }
          chunks.push(chunk);
        }
        return { status: res.status, headers: res.headers as unknown as Headers, body: Buffer.concat(chunks).toString('utf8') };
      } catch (err) {
        throw err instanceof OutboundError ? err : failure(err, req.timeoutMs, signal);
      }
    },
    async stream(url, req) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundError('invalid_url', 'only http(s) URLs are allowed');
      try {
        const res = await undiciRequest(url, {
          dispatcher: agent,
          method: req.method as 'GET',
          headers: req.headers,
          body: req.body ?? null,
          headersTimeout: req.headersTimeoutMs,
          bodyTimeout: req.bodyTimeoutMs,
          signal: req.signal,
        });
        return { status: res.statusCode, headers: res.headers, body: res.body };
      } catch (err) {
        throw failure(err, req.headersTimeoutMs, req.signal);
      }
    },
    close: () => agent.close(),
  };
}

/** A short, data-free account of a failed exchange. */
export function failure(err: unknown, timeoutMs: number, signal?: AbortSignal): OutboundError {
  if (err instanceof OutboundError) return err;
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } } | null;
  if (signal?.aborted || e?.name === 'TimeoutError' || e?.name === 'AbortError') return new OutboundError('timeout', `timed out after ${timeoutMs} ms`);
  const code = e?.cause?.code ?? e?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new OutboundError('timeout', `no answer within ${timeoutMs} ms`);
  if (code === 'EOUTBOUND_NOT_ALLOWED') return new OutboundError('not_allowed', 'the destination is not allowed by the outbound policy');
  if (code === 'ECONNREFUSED') return new OutboundError('refused', 'connection refused');
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new OutboundError('host_not_found', 'host not found');
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new OutboundError('timeout', 'connection timed out');
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return new OutboundError('network', 'connection reset');
  return new OutboundError('network', typeof code === 'string' ? code : 'network error');
}
