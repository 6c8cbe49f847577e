import { createHash } from 'node:crypto';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

/**
 * GraphiQL from local assets. `@graphql-yoga/render-graphiql` carries Yoga's
 * GraphiQL build as strings; its own renderer inlines all of them (9 MB) into
 * every page. Here the page is a small shell and the assets are separate,
 * immutable files under a content-hashed path, so a browser loads them once
 * and nothing is fetched from anywhere but the gateway (air-gapped installs).
 *
 * Subscriptions use Yoga's SSE transport: it sends the Authorization header
 * set in GraphiQL's headers pane (its WebSocket transport would not).
 */
interface Assets {
  /** Content hash: part of the assets' path, so a new package is a new URL. */
  version: string;
  files: Record<string, { body: string | Uint8Array<ArrayBuffer>; type: string }>;
}

/** Where the assets are served: `GRAPHIQL_PATH/<version>/<name>`. */
export const GRAPHIQL_PATH = '/graphiql';

// 9 MB of strings: loaded on the first GraphiQL request, not at every start.
let loading: Promise<Assets> | undefined;
function assets(): Promise<Assets> {
  return (loading ??= import('@graphql-yoga/render-graphiql/graphiql').then((m) => {
    const js = 'text/javascript; charset=utf-8';
    const files = {
      'graphiql.js': { body: m.js, type: js },
      'graphiql.css': { body: m.css, type: 'text/css; charset=utf-8' },
      'editor.worker.js': { body: m.editorWorkerService, type: js },
      'json.worker.js': { body: m.jsonWorker, type: js },
      'graphql.worker.js': { body: m.graphqlWorker, type: js },
      // A 200 kB data: URL in the package; a file here, so the page stays small.
      'favicon.ico': { body: new Uint8Array(Buffer.from(m.favicon.slice(m.favicon.indexOf(',') + 1), 'base64')), type: 'image/x-icon' },
    };
    const hash = createHash('sha256');
    for (const f of Object.values(files)) hash.update(f.body);
    return { version: hash.digest('hex').slice(0, 12), files };
  }));
}

export async function graphiqlAsset(version: string, name: string): Promise<Response> {
  const { version: current, files } = await assets();
  const file = version === current && Object.hasOwn(files, name) ? files[name] : undefined;
  if (!file) return new Response('Not found', { status: 404 });
  return new Response(file.body, {
    headers: { 'content-type': file.type, 'cache-control': 'public, max-age=31536000, immutable' },
  });
}

const DEFAULT_QUERY = `# Connections gateway
#
# 1. In "Headers" (below), paste
#      {"Authorization": "Bearer <token>"}
#    The embedded demo prints tokens
#    when the gateway starts; for an
#    org user on any database:
#    npm run admin -- token --org <slug>
# 2. Run it (▶ or Ctrl-Enter):

{ viewer { kind organization { name } customer { externalId } } }
`;

export const graphiqlOptions: GraphiQLOptions = {
  title: 'Connections gateway',
  subscriptionsProtocol: 'SSE',
  defaultQuery: DEFAULT_QUERY,
  defaultEditorToolsVisibility: 'headers',
};

/** The page: Yoga's GraphiQL bootstrap, with its assets and Monaco's workers loaded from the gateway. */
export async function renderGraphiQL(opts?: GraphiQLOptions): Promise<string> {
  const { version } = await assets();
  const base = `${GRAPHIQL_PATH}/${version}`;
  const workers = { editorWorkerService: 'editor.worker.js', json: 'json.worker.js', graphql: 'graphql.worker.js' };
  // JSON in a <script>: escape "<" so no value can close the element.
  const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>${escapeHtml(opts?.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${base}/favicon.ico" />
    <link rel="stylesheet" href="${base}/graphiql.css" />
  </head>
  <body id="body" class="no-focus-outline">
    <noscript>You need to enable JavaScript to run GraphiQL.</noscript>
    <div id="root"></div>
    <script>
      const workers = ${json(workers)};
      self.MonacoEnvironment = {
        globalAPI: false,
        getWorkerUrl: (_moduleId, label) => ${json(base)} + '/' + workers[label],
      };
    </script>
    <script src="${base}/graphiql.js"></script>
    <script>
      YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), ${json(opts ?? {})});
    </script>
  </body>
</html>
`;
}

const GRAPHIQL_OFF = `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>GraphiQL is off</title></head>
  <body>
    <h1>GraphiQL is off on this gateway</h1>
    <p>This is the gateway's GraphQL endpoint. GraphiQL, the in-browser IDE, is not served here:
    it is off by default when <code>NODE_ENV=production</code>. To turn it on, set
    <code>GRAPHIQL=true</code> in the gateway's environment and restart it.</p>
    <p>GraphQL clients send requests here as <code>POST</code> with
    <code>Content-Type: application/json</code> and <code>Authorization: Bearer &lt;credential&gt;</code>,
    the body being <code>{"query": "…", "variables": {…}}</code>.</p>
  </body>
</html>
`;

/**
 * With GraphiQL off, a browser opening the endpoint (a GET that accepts HTML
 * and carries no query) reads why nothing is there and how to change that,
 * instead of a bare 406 or a GraphQL error. 406 still: the endpoint has no
 * HTML of its own to offer.
 */
export function graphiqlOffPlugin(): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (request.method !== 'GET' || url.searchParams.has('query')) return;
      if (!(request.headers.get('accept') ?? '').includes('text/html')) return;
      endResponse(new Response(GRAPHIQL_OFF, { status: 406, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } }));
    },
  };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
