/**
 * `npm run keys:new [-- <id>]`: prints a new key spec `id:base64key` for
 * ENCRYPTION_KEYS. Put it first in the ring to make it the primary key.
 */
import { newKeySpec } from '../src/crypto/keyring.js';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: npm run keys:new [-- <id>]

Prints a new encryption key spec, <id>:<base64 32-byte key>, for ENCRYPTION_KEYS
(id: 1-32 characters of A-Z a-z 0-9 _ -; default k<yyyymmdd>). Put it first in
the ring to make it the primary key; see README "Secrets at rest".
`);

const id = process.argv[2] ?? `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
  console.error('key id: 1-32 characters of A-Z a-z 0-9 _ -');
  process.exit(2);
}
console.log(newKeySpec(id));
