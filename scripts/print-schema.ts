/**
 * Prints the Pothos schema to schema.graphql (committed).
 * `--check` exits 1 when the committed file is stale instead of writing it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { printSchema } from 'graphql';
import { schema } from '../src/schema/index.js';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: npm run schema:print [-- --check]

Prints the GraphQL schema to schema.graphql (committed). With --check, writes
nothing and exits 1 when the committed file is stale (CI).
`);

const file = new URL('../schema.graphql', import.meta.url);
const printed = printSchema(schema) + '\n';
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {}
  if (current !== printed) {
    console.error('schema.graphql is stale: run `npm run schema:print` and commit it.');
    process.exit(1);
  }
  console.log('schema.graphql is up to date');
} else {
  writeFileSync(file, printed);
  console.log('wrote schema.graphql');
}
