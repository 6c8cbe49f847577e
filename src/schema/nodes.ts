import type { Principal } from '../auth/principal.js';
import type { Context } from '../context.js';

/**
 * The id and lookup of a node type whose rows a principal sees through its
 * module's row filter (`where`): `node(id:)` and friends find a row only
 * when the filter admits it, so a hidden row reads as one that does not exist.
 */
export function scopedNode<W>(where: (p: Principal | null) => W) {
  return {
    id: { field: 'id' as const },
    findUnique: (id: string, ctx: Context) => ({ id, AND: [where(ctx.principal)] }),
  };
}
