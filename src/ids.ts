import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { createHash } from 'node:crypto';

/**
 * The one ID codec. GraphQL speaks global ids (`base64("Type:uuid")`)
 * everywhere, arguments and results alike; REST and the runtime path speak
 * raw UUIDs. A malformed id, or a global id of another type, decodes to an id
 * no row has, so it behaves exactly like the id of something that does not
 * exist (PostgreSQL never sees a non-UUID).
 */
export const NO_ROW = '00000000-0000-0000-0000-000000000000';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** A raw id as given (REST paths, token claims): the UUID, or NO_ROW. */
export function rawId(value: unknown): string {
  return isUuid(value) ? value : NO_ROW;
}

export function encodeId(typename: string, id: string): string {
  return encodeGlobalID(typename, id);
}

/** The row id inside a global id of `typename`, or NO_ROW. */
export function decodeId(typename: string, globalId: unknown): string {
  if (globalId === null || globalId === undefined) return NO_ROW;
  try {
    const decoded = decodeGlobalID(String(globalId));
    return decoded.typename === typename ? rawId(decoded.id) : NO_ROW;
  } catch {
    return NO_ROW;
  }
}

/** Like decodeId, for an optional argument: absent stays absent. */
export function decodeOptionalId(typename: string, globalId: unknown): string | undefined {
  return globalId === null || globalId === undefined ? undefined : decodeId(typename, globalId);
}

/** Token bindings are issued from either form: a global id of `typename` or a raw UUID. */
export function decodeIdOrRaw(typename: string, value: unknown): string {
  return isUuid(value) ? value : decodeId(typename, value);
}

/** `node(id:)` / `nodes(ids:)`: the typename and row id of any global id; a malformed one names no type and no row (null, as not found). */
export function decodeNodeId(globalId: string): { typename: string; id: string } {
  try {
    const decoded = decodeGlobalID(globalId);
    return { typename: decoded.typename, id: rawId(decoded.id) };
  } catch {
    return { typename: '', id: NO_ROW };
  }
}

// ───────────────────────────── Activepieces' ids ─────────────────────────────

/**
 * Activepieces' ids are 21 characters of [0-9A-Za-z] (its `ApId` schema). Our
 * rows have UUIDv4 ids: 122 random bits, and 62^21 ≈ 2^125, so the random
 * bits fit, written in base 62 and left-padded with `0` — one stable,
 * reversible form of every id Activepieces' clients see (connection,
 * project = customer, platform = organization). Written by hand: it is one
 * BigInt loop, and no kept library encodes a fixed-width base 62 of a UUID's
 * random bits. An id that is not a UUIDv4 (none of ours; a seeded fixed id)
 * is written above 2^122 from its SHA-256, so it never collides with a
 * UUIDv4's form and decodes to NO_ROW (it is only ever compared, never looked up).
 */
const AP_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const AP_LENGTH = 21;
const AP_SPACE = 62n ** BigInt(AP_LENGTH);
const V4_SPACE = 1n << 122n;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const AP_ID = /^[0-9A-Za-z]{21}$/;

/** The 122 random bits of a UUIDv4: the 128 bits without the version nibble (bits 48–51) and the variant bits (64–65). */
function v4Bits(uuid: string): bigint {
  const n = BigInt('0x' + uuid.replace(/-/g, ''));
  const high = n >> 80n; // 48 bits before the version
  const mid = (n >> 64n) & 0xfffn; // 12 bits after it
  const low = n & ((1n << 62n) - 1n); // 62 bits after the variant
  return (high << 74n) | (mid << 62n) | low;
}

function bitsToV4(bits: bigint): string {
  const high = bits >> 74n;
  const mid = (bits >> 62n) & 0xfffn;
  const low = bits & ((1n << 62n) - 1n);
  const n = (high << 80n) | (0x4n << 76n) | (mid << 64n) | (0x2n << 62n) | low;
  const hex = n.toString(16).padStart(32, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function toBase62(n: bigint): string {
  let out = '';
  for (let i = 0; i < AP_LENGTH; i++) {
    out = AP_ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out;
}

/** A row's UUID in Activepieces' id form (21 alphanumeric characters), stable and reversible for UUIDv4s. */
export function apIdOf(uuid: string): string {
  if (UUID_V4.test(uuid)) return toBase62(v4Bits(uuid.toLowerCase()));
  const digest = BigInt('0x' + createHash('sha256').update(uuid.toLowerCase()).digest('hex'));
  return toBase62(V4_SPACE + (digest % (AP_SPACE - V4_SPACE)));
}

/** The UUID an Activepieces id stands for, or NO_ROW (malformed, or the form of an id that is not a UUIDv4). */
export function uuidOfApId(apId: unknown): string {
  if (typeof apId !== 'string' || !AP_ID.test(apId)) return NO_ROW;
  let n = 0n;
  for (const ch of apId) n = n * 62n + BigInt(AP_ALPHABET.indexOf(ch));
  return n < V4_SPACE ? bitsToV4(n) : NO_ROW;
}
