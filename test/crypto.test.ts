import { describe, expect, it } from 'vitest';
import { CryptoError, KeyRing, newKeySpec, parseKeyRing } from '../src/crypto/keyring.js';
import { openSecrets, sealSecrets, secretAad } from '../src/crypto/secrets.js';

const k1 = newKeySpec('k1');
const k2 = newKeySpec('k2');

function flipChar(s: string, at: number): string {
  const c = s[at]!;
  return s.slice(0, at) + (c === 'A' ? 'B' : 'A') + s.slice(at + 1);
}

describe('key ring', () => {
  it('round-trips and uses a fresh nonce per encryption', () => {
    const ring = parseKeyRing(k1);
    const a = ring.encrypt('s3cret', 'aad');
    const b = ring.encrypt('s3cret', 'aad');
    expect(a).not.toBe(b);
    expect(a).not.toContain('s3cret');
    expect(KeyRing.keyIdOf(a)).toBe('k1');
    expect(ring.decrypt(a, 'aad')).toBe('s3cret');
  });

  it('rejects a tampered ciphertext, nonce or key id', () => {
    const ring = parseKeyRing(`${k1},${k2}`);
    const env = ring.encrypt('value', 'aad');
    const [v, id, nonce, body] = env.split('.') as [string, string, string, string];
    expect(() => ring.decrypt([v, id, nonce, flipChar(body, 3)].join('.'), 'aad')).toThrow(/failed authentication/);
    expect(() => ring.decrypt([v, id, flipChar(nonce, 2), body].join('.'), 'aad')).toThrow(/failed authentication/);
    // Relabelled as made with the other key of the ring: still refused.
    expect(() => ring.decrypt([v, 'k2', nonce, body].join('.'), 'aad')).toThrow(/failed authentication/);
    expect(() => ring.decrypt('garbage', 'aad')).toThrow(CryptoError);
  });

  it('binds the ciphertext to its row and field (AAD): moving it fails', () => {
    const ring = parseKeyRing(k1);
    const sealed = sealSecrets(ring, 'value-1', { apiKey: 'abc', password: 'pw' });
    expect(openSecrets(ring, 'value-1', sealed)).toEqual({ apiKey: 'abc', password: 'pw' });
    expect(() => openSecrets(ring, 'value-2', sealed)).toThrow(/failed authentication/);
    expect(() => openSecrets(ring, 'value-1', { apiKey: sealed.password! })).toThrow(/failed authentication/);
  });

  it('names an unknown key id clearly, without key material', () => {
    const made = parseKeyRing(k2).encrypt('x', 'aad');
    const err = (() => {
      try {
        parseKeyRing(k1).decrypt(made, 'aad');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(CryptoError);
    expect(err!.message).toBe('ciphertext was made with key "k2", which is not in the key ring');
  });

  it('reseals under the primary key and keeps old keys readable', () => {
    const old = parseKeyRing(k1);
    const env = old.encrypt('token', secretAad('v', 'accessToken'));
    const ring = parseKeyRing(`${k2},${k1}`);
    expect(ring.primaryId).toBe('k2');
    expect(ring.keyIds).toEqual(['k2', 'k1']);
    expect(ring.needsRotation(env)).toBe(true);
    const re = ring.reseal(env, secretAad('v', 'accessToken'));
    expect(KeyRing.keyIdOf(re)).toBe('k2');
    expect(ring.needsRotation(re)).toBe(false);
    expect(ring.reseal(re, secretAad('v', 'accessToken'))).toBe(re);
    expect(parseKeyRing(k2).decrypt(re, secretAad('v', 'accessToken'))).toBe('token');
    expect(() => old.decrypt(re, secretAad('v', 'accessToken'))).toThrow(/not in the key ring/);
  });

  it('refuses bad specs without echoing key material', () => {
    const shortKey = Buffer.alloc(16, 7).toString('base64');
    for (const spec of [`k1:${shortKey}`, 'justakey', `${k1},${k1}`, `bad id!:${Buffer.alloc(32).toString('base64')}`]) {
      let message = '';
      try {
        parseKeyRing(spec);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain(shortKey);
      expect(message).not.toContain(k1.split(':')[1]!);
    }
  });
});
