import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import { proxyErrors } from '../http/answers.js';
import { proxyCall, type ProxyCall, type RequestBody } from '../modules/proxy/service.js';
import { nodeEndpoint } from './endpoint.js';

/**
 * The proxy's route, in Nango's request shape, so an unmodified
 * `@nangohq/node` `proxy()` call works:
 *
 *   <METHOD> /proxy/<API path>?<query>
 *   Authorization: Bearer <runtime token | API key allowed to write credentials>
 *   Provider-Config-Key: <the connection's stable key>
 *   Connection-Id: <the customer's external id>   (required with an API key)
 *   Retries: <n>                                  (idempotent methods; capped at PROXY_MAX_RETRIES)
 *   Base-Url-Override: <url>                      (the connection's own origin, or any when the org allows)
 *   Nango-Proxy-<Header>: <value>                 (sent as <Header>; plain headers pass too)
 *
 * The caller's own Authorization, the headers above, Nango's other control
 * headers and hop-by-hop headers never reach the API. The API's answer comes
 * back as it is, streamed; the proxy's own refusals and failures are
 * `{ error: { code, message } }` with a `Proxy-Status` header (answers.ts).
 * Mapping only: the work is modules/proxy/service.ts.
 */
export const PROXY_PATH = '/proxy';
/** Its route pattern (metrics and logs name the operation by it). */
export const PROXY_ROUTE = `${PROXY_PATH}/*`;
/** Whether a request path is a proxy call. */
export const isProxyPath = (path: string): boolean => path.startsWith(`${PROXY_PATH}/`);

/** Request bodies up to this size are held, so a retry (or a retry after a token refresh) can send them again; larger ones stream once. */
const REPLAYABLE_BYTES = 1024 * 1024;

/** Headers that steer the proxy (Nango's), not the API. */
const CONTROL = new Set(['provider-config-key', 'connection-id', 'retries', 'base-url-override', 'decompress', 'retry-on', 'forward-headers-on-redirect']);
/** Headers of the caller's connection to the gateway, or the gateway's own credential and cookies: never forwarded. */
const NOT_FORWARDED = new Set([
  'authorization',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'content-length',
]);
const NANGO_PROXY = 'nango-proxy-';

export const proxyEndpoint = nodeEndpoint({
  access: ['runtime', 'credentialWrite'],
  errors: proxyErrors,
  // The hot path: who the key or token is comes from the proxy's cache (modules/proxy/cache.ts).
  cachedPrincipal: true,
  async handle({ app, req: incoming, res: outgoing, principal }) {
    const raw = incoming.headers;
    const one = (name: string) => {
      const v = raw[name];
      return (Array.isArray(v) ? v[0] : v)?.trim() || null;
    };
    const providerConfigKey = one('provider-config-key');
    if (!providerConfigKey || providerConfigKey.length > 256) {
      throw ValidationError.field('headers.Provider-Config-Key', "is required: the connection's stable key (at most 256 characters)");
    }
    const connectionId = one('connection-id');
    if (connectionId && connectionId.length > 256) throw ValidationError.field('headers.Connection-Id', 'at most 256 characters');
    const retriesHeader = one('retries');
    if (retriesHeader !== null && !/^\d{1,3}$/.test(retriesHeader)) throw ValidationError.field('headers.Retries', 'must be a whole number');

    const [rawPath, ...rest] = (incoming.url ?? '/').split('?');
    const path = rawPath!.slice(PROXY_PATH.length) || '/';
    const method = (incoming.method ?? 'GET').toUpperCase();
    // A caller that hangs up mid-upload: the stream ends in an error the call handles, not the process.
    incoming.on('error', () => {});
    const controller = new AbortController();
    // The caller went away before the answer was sent: stop what is running for it.
    outgoing.once('close', () => {
      if (!outgoing.writableFinished) controller.abort(new DOMException('The caller went away', 'AbortError'));
    });

    const headers = forwardedHeaders(raw);
    // Answered before the body was read to its end (refused, too large): the rest is not wanted, so the connection ends with the answer.
    const closeIfUnread = () => {
      if (incoming.readableEnded) return;
      outgoing.shouldKeepAlive = false;
      outgoing.once('finish', () => incoming.socket?.destroy());
    };
    let body: RequestBody | null;
    try {
      body = await requestBody(incoming, method, app.config.proxy.maxRequestBytes);
    } catch (err) {
      closeIfUnread();
      throw err;
    }
    if (body?.kind === 'stream' && raw['content-length']) headers['content-length'] = String(raw['content-length']);
    const call: ProxyCall = {
      method,
      path,
      query: rest.join('?'),
      headers,
      body,
      providerConfigKey,
      connectionId,
      retries: retriesHeader === null ? 0 : Number(retriesHeader),
      baseUrlOverride: one('base-url-override'),
      controller,
    };
    let answer;
    try {
      answer = await proxyCall(app, principal, call);
    } catch (err) {
      closeIfUnread();
      throw err;
    }
    let completed = false;
    try {
      outgoing.writeHead(answer.status, answer.headers);
      // The API's body failed or was cut (size cap, timeout), or the caller left: the status is sent, so the connection ends.
      completed = await sendBody(answer.body, outgoing);
    } finally {
      await answer.finish(completed);
      if (completed) outgoing.end();
      else outgoing.destroy();
    }
  },
});

/**
 * Sends the API's body on to the caller (backpressure kept, the response not
 * ended): true once all of it was handed over, false when it failed or the
 * caller went away. By hand rather than `stream.pipeline`, which costs an
 * AbortController and a DOMException per call — a measurable share of a
 * proxy call's CPU.
 */
function sendBody(body: Readable, out: ServerResponse): Promise<boolean> {
  // Failed (the API hung up) or the caller left between the headers and now: their events were already emitted.
  if (body.destroyed || body.errored || out.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      body.unpipe(out);
      body.off('end', onEnd);
      body.off('error', onError);
      out.off('close', onClose);
      resolve(ok);
    };
    const onEnd = () => settle(true);
    const onError = () => settle(false);
    const onClose = () => settle(false);
    body.once('end', onEnd);
    body.once('error', onError);
    out.once('close', onClose);
    body.pipe(out, { end: false });
  });
}

/** The caller's headers for the API: `Nango-Proxy-X` as X (over a plain X), plain ones but the gateway's own. */
function forwardedHeaders(raw: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const prefixed: [string, string | string[]][] = [];
  for (const [name, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    if (name.startsWith(NANGO_PROXY)) prefixed.push([name.slice(NANGO_PROXY.length), v]);
    else if (!name.startsWith('nango-') && !CONTROL.has(name) && !NOT_FORWARDED.has(name)) out[name] = v;
  }
  for (const [name, v] of prefixed) {
    // An explicit Authorization or Cookie for the API may be forwarded this way; the connection's framing may not.
    if (name && (name === 'authorization' || name === 'cookie' || !NOT_FORWARDED.has(name))) out[name] = v;
  }
  return out;
}

/**
 * The request body: none for a request without one; the bytes, when they fit
 * in REPLAYABLE_BYTES (then a retry can send them again); else a stream that
 * starts with what was read and counts the rest against the cap.
 */
async function requestBody(req: IncomingMessage, method: string, maxBytes: number): Promise<RequestBody | null> {
  const declared = req.headers['content-length'];
  if (declared === undefined && !req.headers['transfer-encoding']) return null;
  if (declared !== undefined && Number(declared) === 0) return method === 'GET' || method === 'HEAD' ? null : { kind: 'buffer', bytes: Buffer.alloc(0) };
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { kind: 'buffer', bytes: Buffer.concat(chunks) };
    chunks.push(next.value);
    size += next.value.length;
    if (size > maxBytes) {
      await iterator.return?.();
      throw new PayloadTooLargeError(maxBytes);
    }
    if (size > REPLAYABLE_BYTES) break;
  }
  let overflowed = false;
  async function* rest() {
    yield* chunks;
    chunks.length = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      size += next.value.length;
      if (size > maxBytes) {
        overflowed = true;
        throw new PayloadTooLargeError(maxBytes);
      }
      yield next.value;
    }
  }
  return { kind: 'stream', stream: Readable.from(rest(), { objectMode: false }), overflowed: () => overflowed };
}
