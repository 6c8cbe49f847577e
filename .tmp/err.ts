import { openDatabase } from '../src/db/database.js';
import { inspect } from 'node:util';
const db = await openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/postgres' });
const p = db.prisma;
const hold = p.$transaction(async (tx) => { await tx.$executeRaw`SELECT pg_advisory_xact_lock(42)`; await new Promise(r => setTimeout(r, 1500)); });
await new Promise(r => setTimeout(r, 200));
try {
  await p.$transaction(async (tx) => { await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '300ms'`); await tx.$executeRaw`SELECT pg_advisory_xact_lock(42)`; });
} catch (e) { console.log(inspect(e, { depth: 6 })); console.log(Object.keys(e as object)); }
await hold;
await db.close();
