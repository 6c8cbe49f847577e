// PostGraphile v4 over the benchmark's database (no authorization: what a
// generic GraphQL-over-PostgreSQL layer costs). Prints {"url": …} when listening.
const { createServer } = require('node:http');
const { postgraphile } = require('postgraphile');

const handler = postgraphile(process.env.DATABASE_URL, 'public', {
  disableDefaultMutations: true,
  disableQueryLog: true,
  graphiql: false,
  ignoreRBAC: true,
  retryOnInitFail: false,
  setofFunctionsContainNulls: false,
});
const server = createServer(handler);
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }) + '\n'));
