import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '../errors.js';
import { NO_STORE } from '../http/answers.js';
import { exchangeConnectLink } from '../modules/connect/service.js';
import { endpoint } from './endpoint.js';

/**
 * The hosted Connect page (`connect/`, built by `npm run build:connect` into
 * `connect/dist/`, which `npm ci` runs through postinstall):
 *
 *   GET  /connect                 the page (a link's token or an embed token rides in the URL fragment)
 *   GET  /connect/oauth-return    where the page's OAuth2 popup ends: tells the page, closes
 *   GET  /connect/assets/<file>   the page's scripts and styles (content-hashed, immutable)
 *   GET  /connect/sdk.js          the embedding SDK as an ES module (`openConnect`)
 *   POST /connect/session         a connect link's token → a session token (once)
 *
 * The page talks to the gateway through the public GraphQL API only, as the
 * customer user its token names; nothing here reads or writes credentials.
 */
export const CONNECT_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../connect/dist');

/** Scripts and styles from the gateway only; images also from https and data: (the org's logo); no plugins, no base tag. */
const PAGE_CSP = [
  "default-src 'self'",
  "img-src 'self' https: data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

async function serveFile(file: string, headers: Record<string, string>): Promise<Response> {
  // Only names the build writes: letters, digits, dots, dashes, underscores — no path traversal.
  if (!/^[\w.-]+$/.test(path.basename(file)) || file.includes('..')) return new Response('Not found', { status: 404 });
  try {
    const body = await readFile(path.join(CONNECT_DIST, file));
    return new Response(body, { headers: { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'x-content-type-options': 'nosniff', ...headers } });
  } catch {
    if (file.endsWith('.html')) {
      return new Response('The Connect page is not built: run `npm run build:connect` (npm ci does).', { status: 503, headers: { 'retry-after': '60' } });
    }
    return new Response('Not found', { status: 404 });
  }
}

const MAX_SESSION_BODY = 4096;

const pageHeaders = { 'content-security-policy': PAGE_CSP, ...NO_STORE };

export const connectPage = endpoint({ access: 'public', handle: () => serveFile('index.html', pageHeaders) });
export const connectOAuthReturn = endpoint({ access: 'public', handle: () => serveFile('oauth-return.html', pageHeaders) });
export const connectAsset = endpoint({
  access: 'public',
  handle: ({ c }) => serveFile(`assets/${c.req.param('name')}`, { 'cache-control': 'public, max-age=31536000, immutable' }),
});
export const connectSdk = endpoint({
  access: 'public',
  handle: () => serveFile('sdk.js', { 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' }),
});

/** A connect link's token (in the body) → a session token, once. */
export const connectSession = endpoint({
  access: 'public',
  // A link token is ~50 characters: a larger body is refused as it streams in (chunked ones too).
  maxBodyBytes: MAX_SESSION_BODY,
  async handle({ app, c }) {
    const body = (await c.req.json().catch(() => null)) as { link?: unknown } | null;
    if (typeof body?.link !== 'string') throw ValidationError.field('body.link', 'must be the link token (the `link=` part of its URL)');
    const { accessToken, expiresAt } = await exchangeConnectLink(app, body.link);
    return Response.json({ accessToken, expiresAt: expiresAt.toISOString() }, { headers: NO_STORE });
  },
});
