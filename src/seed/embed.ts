import { SignJWT, exportSPKI, generateKeyPair, type CryptoKey } from 'jose';

/**
 * What a vendor's backend does to embed the workflow builder: sign a
 * short-lived token for one of its customer users with its private key.
 * Used by the demo seed and the tests; real vendors do this on their side.
 */
export interface EmbedSigner {
  keyId: string;
  privateKey: CryptoKey;
}

export async function newEmbedKeyPair(): Promise<{ publicKeyPem: string; privateKey: CryptoKey }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { publicKeyPem: await exportSPKI(publicKey), privateKey };
}

export async function signEmbedToken(
  signer: EmbedSigner,
  claims: { userId: string; customerExternalId: string; name?: string; email?: string },
  ttlSeconds = 3600,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    customer: claims.customerExternalId,
    ...(claims.name ? { name: claims.name } : {}),
    ...(claims.email ? { email: claims.email } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', kid: signer.keyId })
    .setSubject(claims.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(signer.privateKey);
}
