import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';

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
