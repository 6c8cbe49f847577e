import type { IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLargeError } from '../errors.js';
import { writeEdgeError } from './answers.js';

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
  surface: 'graphql' | 'http',
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
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > maxBytes) {
      refused = true;
      return tooLarge(req, res, maxBytes, surface);
    }
    chunks.push(chunk);
  });
  req.once('end', () => {
    if (refused) return;
    const body = Buffer.concat(chunks);
    Object.assign(req, { body, rawBody: body });
    next();
  });
}

function tooLarge(req: IncomingMessage, res: ServerResponse, maxBytes: number, surface: 'graphql' | 'http'): void {
  writeEdgeError(res, new PayloadTooLargeError(maxBytes), surface, { connection: 'close' });
  // The rest of the body is not wanted: the connection ends with the answer.
  res.once('finish', () => req.socket.destroy());
}
