import type { App } from '../../app.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { RuntimeSubject } from '../runtime/scope.js';
import type { ProxyPrincipal } from './service.js';

/**
 * Whom a proxy call is for. A runtime token calls for its own customer (and
 * under its binding to an instance or workflow); a `Connection-Id` naming
 * another customer is treated as naming nobody. An organization principal
 * (API key or org user allowed to write credentials) names the customer by
 * its external id, in its own organization only.
 */
export async function subjectOf(app: App, principal: ProxyPrincipal, connectionId: string | null): Promise<RuntimeSubject> {
  if (principal.kind === 'RUNTIME') {
    if (connectionId !== null && connectionId !== principal.customerExternalId) throw new NotFoundError('Connection');
    return principal;
  }
  if (!connectionId) throw ValidationError.field('headers.Connection-Id', "is required with an organization credential: the customer's external id");
  const { orgId } = principal;
  // Kept by the proxy's cache (cache.ts): a customer created or deleted in the organization drops it everywhere before answering.
  const { customer } = await app.proxyCache.load(orgId, `customer:${orgId}:${connectionId}`, async () => ({
    orgId,
    value: {
      customer: await app.db.prisma.customer.findUnique({
        where: { orgId_externalId: { orgId, externalId: connectionId } },
        select: { id: true },
      }),
    },
  }));
  if (!customer) throw new NotFoundError('Connection');
  return { orgId: principal.orgId, customerId: customer.id, instanceId: null, workflowId: null };
}
