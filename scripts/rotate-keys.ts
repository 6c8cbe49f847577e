/**
 * `npm run keys:rotate`: re-encrypts every stored secret (every column of the
 * registry in src/crypto/sealed.ts: connection values, connectors' OAuth
 * client secrets, pending OAuth flows, webhook signing secrets) under the primary
 * key of ENCRYPTION_KEYS, in batches, while gateways keep running. Prints the
 * counts. Exit code 1 when a ciphertext could not be read (a key missing from
 * the ring) or old key ids are still referenced afterwards.
 *
 *   ENCRYPTION_KEYS="k2:<new>,k1:<old>" DATABASE_URL=… npm run keys:rotate
 *
 * Afterwards, drop `k1` from ENCRYPTION_KEYS on every gateway.
 */
import { ConfigError, loadConfig } from '../src/config.js';
import { CryptoError } from '../src/crypto/keyring.js';
import { rotateSecrets } from '../src/crypto/rotation.js';
import { openDatabase } from '../src/db/database.js';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: ENCRYPTION_KEYS="k2:<new>,k1:<old>" DATABASE_URL=… npm run keys:rotate [-- --batch=200]

Re-encrypts every stored secret under the primary (first) key of
ENCRYPTION_KEYS, in batches, while gateways keep running; prints counts per
table. Exit 1 when a ciphertext cannot be read or old key ids remain.
`);

const batchArg = process.argv.find((a) => a.startsWith('--batch='));
const batchSize = batchArg ? Number(batchArg.slice('--batch='.length)) : 200;

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}
if (!Number.isInteger(batchSize) || batchSize < 1) {
  console.error('--batch must be a positive integer');
  process.exit(2);
}
const db = await openDatabase(config.database).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
let code = 0;
try {
  console.log(`rotating secrets to key "${config.keyRing.primaryId}" (ring: ${config.keyRing.keyIds.join(', ')})`);
  const report = await rotateSecrets(db.prisma, config.keyRing, { batchSize });
  console.log(JSON.stringify(report, null, 2));
  const stale = report.remainingKeyIds.filter((id) => id !== report.primaryKeyId);
  if (stale.length) {
    console.error(`still referenced: ${stale.join(', ')} (rows changed during the run?); run it again`);
    code = 1;
  } else {
    console.log(`done: every secret is under "${report.primaryKeyId}"; other keys may now be removed from ENCRYPTION_KEYS`);
  }
} catch (err) {
  console.error(err instanceof CryptoError || err instanceof Error ? `rotation failed: ${err.message}` : err);
  code = 1;
} finally {
  await db.close();
}
process.exit(code);
