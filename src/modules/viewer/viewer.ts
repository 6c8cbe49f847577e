import type { Principal } from '../../auth/principal.js';
import { builder } from '../../schema/builder.js';

const PrincipalKind = builder.enumType('PrincipalKind', {
  values: {
    ORG_USER: { description: "A person of the vendor's organization (admin UI)." },
    API_KEY: { description: "The vendor's backend automation." },
    CUSTOMER_USER: { description: "A customer's user in the embedded workflow builder." },
    RUNTIME: { description: 'The step runtime, scoped to one customer.' },
  } as const,
});

const Viewer = builder.objectRef<Principal>('Viewer').implement({
  description: 'Who the current credential authenticates as.',
  fields: (t) => ({
    kind: t.field({ type: PrincipalKind, resolve: (p) => p.kind }),
    id: t.exposeID('id', { description: 'Id of the user, API key or token.' }),
    organization: t.prismaField({
      type: 'Organization',
      resolve: (query, p, _args, ctx) => ctx.prisma.organization.findUniqueOrThrow({ ...query, where: { id: p.orgId } }),
    }),
    customer: t.prismaField({
      type: 'Customer',
      nullable: true,
      description: 'The customer a customer user or runtime token belongs to.',
      resolve: (query, p, _args, ctx) =>
        p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME'
          ? ctx.prisma.customer.findUnique({ ...query, where: { id: p.customerId } })
          : null,
    }),
    orgUser: t.prismaField({
      type: 'OrgUser',
      nullable: true,
      resolve: (query, p, _args, ctx) =>
        p.kind === 'ORG_USER' ? ctx.prisma.orgUser.findUnique({ ...query, where: { id: p.id } }) : null,
    }),
    readOnly: t.boolean({ resolve: (p) => p.kind === 'API_KEY' && p.readOnly }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (p) => (p.kind === 'CUSTOMER_USER' || p.kind === 'RUNTIME' ? p.expiresAt : null),
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: Viewer,
    description: 'Who you are. Fails with UNAUTHENTICATED without a valid credential.',
    authScopes: { authenticated: true },
    resolve: (_root, _args, ctx) => ctx.principal!,
  }),
);
