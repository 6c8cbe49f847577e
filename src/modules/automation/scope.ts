import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';
import { connectionWhere } from '../connections/scope.js';
import { customerWhere } from '../tenancy/scope.js';
import { pieceNameToKey } from './pieces.js';

/**
 * What backend automation sees, built on the modules' own row filters: a
 * project is a customer the principal may see; a global connection is an
 * ORG_ACTIVATED_GLOBAL connection it may see.
 */
export function projectWhere(p: Principal | null, filter: { externalId?: string | undefined } = {}): Prisma.CustomerWhereInput {
  return { AND: [customerWhere(p), filter.externalId !== undefined ? { externalId: filter.externalId } : {}] };
}

export interface GlobalConnectionFilter {
  id?: string | undefined;
  /** Only this piece's connections. */
  pieceName?: string | undefined;
  externalId?: string | undefined;
  /** Only connections this project may use (its allow-list). */
  projectId?: string | undefined;
}

export function globalConnectionWhere(p: Principal | null, filter: GlobalConnectionFilter = {}): Prisma.ConnectionWhereInput {
  return {
    AND: [
      connectionWhere(p),
      { type: 'ORG_ACTIVATED_GLOBAL' },
      filter.id !== undefined ? { id: filter.id } : {},
      filter.pieceName !== undefined ? { connector: { key: pieceNameToKey(filter.pieceName) } } : {},
      filter.externalId !== undefined ? { externalId: filter.externalId } : {},
      filter.projectId !== undefined ? { allowances: { some: { customerId: filter.projectId } } } : {},
    ],
  };
}
