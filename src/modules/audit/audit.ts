import type { Principal } from '../../auth/principal.js';
import type { Prisma } from '../../generated/prisma/client.js';

type Tx = Pick<Prisma.TransactionClient, 'auditEvent'>;

/**
 * Records who did what, in the transaction of the change. Never pass secret
 * values in `detail`.
 */
export async function audit(
  tx: Tx,
  principal: Principal | null,
  action: string,
  targetType: string,
  targetId: string | null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  if (!principal) return;
  await tx.auditEvent.create({
    data: {
      orgId: principal.orgId,
      principalKind: principal.kind,
      principalId: principal.id,
      action,
      targetType,
      targetId,
      detail: detail as object,
    },
  });
}
