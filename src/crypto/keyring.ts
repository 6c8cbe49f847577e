import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Authenticated encryption of secrets at rest (AES-256-GCM).
 *
 * Envelope: `v1.<keyId>.<nonce>.<ciphertext‖tag>` (base64url parts). Every
 * value gets a fresh 96-bit nonce; the caller's *associated data* (the
 * value's identity, e.g. `connectionValue:<id>:<field>`) is authenticated, so
 * a ciphertext copied to another row or field fails to decrypt. The key id in
 * the envelope lets the ring hold several keys while a rotation runs.
 */
const VERSION = 'v1';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class CryptoError extends Error {
  override name = 'CryptoError';
}

export interface RingKey {
  id: string;
  key: Buffer;
}

export class KeyRing {
  private readonly byId: Map<string, KeyObject>;

  /** `keys[0]` is the primary key: new ciphertexts use it. */
  constructor(readonly keys: RingKey[]) {
    if (keys.length === 0) throw new CryptoError('a key ring needs at least one key');
    this.byId = new Map();
    for (const k of keys) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(k.id)) throw new CryptoError(`invalid key id "${k.id}"`);
      if (k.key.length !== KEY_BYTES) throw new CryptoError(`key "${k.id}" must be ${KEY_BYTES} bytes`);
      if (this.byId.has(k.id)) throw new CryptoError(`duplicate key id "${k.id}"`);
      // A KeyObject made once: createCipheriv/createDecipheriv take one about five times faster than raw bytes (~3 µs vs ~16 µs).
      this.byId.set(k.id, createSecretKey(k.key));
    }
  }

  get primaryId(): string {
    return this.keys[0]!.id;
  }

  encrypt(plaintext: string, associatedData: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.byId.get(this.primaryId)!, nonce);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.primaryId, nonce.toString('base64url'), body.toString('base64url')].join('.');
  }

  decrypt(envelope: string, associatedData: string): string {
    const parts = envelope.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new CryptoError('not a ciphertext envelope');
    const key = this.byId.get(parts[1]!);
    if (!key) throw new CryptoError(`ciphertext was made with key "${parts[1]}", which is not in the key ring`);
    const nonce = Buffer.from(parts[2]!, 'base64url');
    const body = Buffer.from(parts[3]!, 'base64url');
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new CryptoError('malformed ciphertext');
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new CryptoError('ciphertext failed authentication (wrong key, tampered, or moved)');
    }
  }

  /** Key id an envelope was made with. */
  static keyIdOf(envelope: string): string | undefined {
    const parts = envelope.split('.');
    return parts.length === 4 && parts[0] === VERSION ? parts[1] : undefined;
  }

  /**
   * Re-encrypts an envelope under the primary key (same associated data).
   * Returns the input unchanged when it already uses the primary key.
   */
  reseal(envelope: string, associatedData: string): string {
    if (!this.needsRotation(envelope)) return envelope;
    return this.encrypt(this.decrypt(envelope, associatedData), associatedData);
  }

  /** Ids of the keys in the ring, primary first (never the key material). */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** True when the envelope should be re-encrypted under the primary key. */
  needsRotation(envelope: string): boolean {
    return KeyRing.keyIdOf(envelope) !== this.primaryId;
  }
}

/** Parses `id:base64key[,id:base64key…]` (first is primary). Errors never echo key material. */
export function parseKeyRing(spec: string): KeyRing {
  const keys = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const sep = entry.indexOf(':');
      if (sep <= 0) throw new CryptoError(`entry ${i + 1} must look like id:base64key`);
      const id = entry.slice(0, sep);
      const key = Buffer.from(entry.slice(sep + 1), 'base64');
      if (key.length !== KEY_BYTES) throw new CryptoError(`key "${id}" must decode to ${KEY_BYTES} bytes of base64`);
      return { id, key };
    });
  return new KeyRing(keys);
}

export function newKeySpec(id: string): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}
