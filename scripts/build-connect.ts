/**
 * Builds the hosted Connect page and the SDK into connect/dist/ with esbuild:
 *
 *   connect/dist/index.html, oauth-return.html   the pages, pointing at hashed assets
 *   connect/dist/assets/<name>-<hash>.{js,css}    Preact app, OAuth return script, styles
 *   connect/dist/assets/favicon-<hash>.svg        the pages' icon (browsers ask for one on every load)
 *   connect/dist/sdk.js                           the SDK as an ES module (served at /connect/sdk.js)
 *   sdk/dist/index.js                             the same SDK, for the npm package in sdk/
 *
 * esbuild (already in the tree through tsx and vitest) rather than Vite's
 * production build: one bundle per entry is all this page needs, and it
 * builds in well under a second, so `npm ci` (postinstall) and `npm test`
 * run it every time and the served page is never stale.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: npm run build:connect

Builds the Connect page (connect/) and the SDK (sdk/) into connect/dist/ and sdk/dist/.
`);

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'connect/dist');
await rm(dist, { recursive: true, force: true });
await mkdir(path.join(dist, 'assets'), { recursive: true });

const common = { bundle: true, minify: true, format: 'esm', target: 'es2022', legalComments: 'none', logLevel: 'warning' } as const;
const app = await build({
  ...common,
  entryPoints: { main: 'connect/src/main.tsx', 'oauth-return': 'connect/src/oauth-return.ts', style: 'connect/src/style.css' },
  absWorkingDir: root,
  outdir: path.join(dist, 'assets'),
  entryNames: '[name]-[hash]',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
});
const asset = (entry: string) => {
  const out = Object.entries(app.metafile.outputs).find(([, o]) => o.entryPoint === entry);
  if (!out) throw new Error(`no output for ${entry}`);
  return path.basename(out[0]);
};
// The icon as it is, under a content hash like the rest (immutable, cached for good).
const icon = await readFile(path.join(root, 'connect/src/favicon.svg'));
const iconName = `favicon-${createHash('sha256').update(icon).digest('hex').slice(0, 8)}.svg`;
await writeFile(path.join(dist, 'assets', iconName), icon);
const names = { '%MAIN%': asset('connect/src/main.tsx'), '%RETURN%': asset('connect/src/oauth-return.ts'), '%STYLE%': asset('connect/src/style.css'), '%ICON%': iconName };
for (const page of ['index.html', 'oauth-return.html']) {
  let html = await readFile(path.join(root, 'connect', page), 'utf8');
  for (const [k, v] of Object.entries(names)) html = html.replaceAll(k, v);
  await writeFile(path.join(dist, page), html);
}
for (const outfile of [path.join(dist, 'sdk.js'), path.join(root, 'sdk/dist/index.js')]) {
  await build({ ...common, minify: false, entryPoints: ['sdk/src/index.ts'], absWorkingDir: root, outfile });
}
console.log(`built connect/dist (${Object.values(names).join(', ')}) and the SDK`);
