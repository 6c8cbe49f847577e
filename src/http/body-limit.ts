import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLargeError } from '../errors.js';
import { edgeErrorBody, type EdgeShape } from './answers.js';

/**
 * Request bodies larger than MAX_BODY_BYTES are refused with a typed 413 on
 * every route (GraphQL, REST, runtime, OAuth, sign-in) — the proxy has its
 * own cap, PROXY_MAX_REQUEST_BYTES, and streams its bodies — before more of
 * them is read: a declared length over the limit is refused unread; a chunked body
 * is read up to the limit and handed on already read (Yoga's and the
 * router's Node adapters both use a body they find on the request: `body`,
 * `rawBody`). Written here, at the Node request, because the router's own
 * middleware rebuilds the WHATWG request, which the edge's Node adapter
 * (`overrideGlobalObjects: false`) does not allow, and GraphQL skips the router.
 */
export function limitBody(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
  surface: EdgeShape,
  next: () => void,
  /** A route that streams its body (the proxy) counts a chunked body itself: only a declared length is checked here. */
  streamed = false,
): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    // Node itself never reads past a declared length.
    if (Number(declared) > maxBytes) return tooLarge(req, res, maxBytes, surface);
    return next();
  }
  if (!req.headers['transfer-encoding'] || streamed) return next();
  let chunks: Buffer[] = [];
  let size = 0;
  const collect = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBytes) return void chunks.push(chunk);
    req.off('data', collect);
    req.off('end', done);
    chunks = [];
    tooLarge(req, res, maxBytes, surface);
  };
  const done = () => {
    const body = Buffer.concat(chunks);
    Object.assign(req, { body, rawBody: body });
    next();
  };
  req.on('data', collect);
  req.once('end', done);
}

/**
 * What is still read of a refused body, and for how long, before the
 * connection is closed under the client: enough for uploads of tens of
 * megabytes to finish on a normal link, so a client that sends everything
 * before reading (Node's fetch, Python's http.client) reads the 413.
 */
export const DRAIN_MAX_BYTES = 64 * 1_048_576;
export const DRAIN_MAX_MS = 15_000;

/**
 * The 413, then the rest of the body read and discarded (never kept: memory
 * stays flat), bounded in bytes and time. Closing at once instead resets a
 * connection the client is still writing to, and most clients then report
 * the reset (ECONNRESET, EPIPE), not the answer already on the wire. The
 * answer is complete when written (Content-Length), but the response is
 * ended only when the body has been read, since ending it makes Node close
 * the socket (`Connection: close`) under the upload.
 */
function tooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number, surface: EdgeShape): void {
  const { status, headers, body } = edgeErrorBody(new PayloadTooLargeError(maxBytes), surface);
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.write(body);
  let drained = 0;
  const finish = () => {
    clearTimeout(timer);
    req.off('data', discard);
    if (!res.writableEnded) res.end();
  };
  const cutOff = () => {
    finish();
    req.socket.destroy();
  };
  const discard = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_MAX_BYTES) cutOff();
  };
  const timer = setTimeout(cutOff, DRAIN_MAX_MS);
  timer.unref();
  req.on('data', discard);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}
