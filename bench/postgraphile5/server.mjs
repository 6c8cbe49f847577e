// PostGraphile v5 (Grafast) over the benchmark's database, the Amber preset as
// recommended (no authorization, no mutations: what a generic
// GraphQL-over-PostgreSQL layer costs). Prints {"url": …} when listening.
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

const pgl = postgraphile({
  extends: [PostGraphileAmberPreset],
  // No mutations; conditions and orders on every column, as v4 offers them by default (v4's ignoreIndexes).
  disablePlugins: ['MutationPlugin', 'PgIndexBehaviorsPlugin'],
  // The pool of the other systems: 10 connections.
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ['public'], poolConfig: { max: 10 } })],
  grafserv: { graphiql: false, watch: false },
  grafast: { explain: false },
});
const serv = pgl.createServ(grafserv);
const server = createServer();
serv.addTo(server);
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }) + '\n'));
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0));
