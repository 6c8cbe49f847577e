import { decodeGlobalID } from '@pothos/plugin-relay';
import { uuidOrNone } from '../tenancy/scope.js';

/**
 * The row id inside a global id of the given type, or an id no row has when
 * the value is malformed or names another type: a bad id then behaves exactly
 * like an id of something that does not exist (no error that tells them apart).
 */
export function rowId(globalId: string | number | bigint, typename: string): string {
  try {
    const decoded = decodeGlobalID(String(globalId));
    return decoded.typename === typename ? uuidOrNone(decoded.id) : uuidOrNone('');
  } catch {
    return uuidOrNone('');
  }
}
