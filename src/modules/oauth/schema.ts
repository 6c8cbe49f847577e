import { z } from 'zod';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { mutate } from '../../schema/mutations.js';
import { parseInput } from '../../validation.js';
import { valueTargetArgs, valueTargetOf } from '../values/schema.js';
import { connectClientCredentials, startAuthorization } from './service.js';

/** GraphQL: start an OAuth2 authorization-code flow; run the client-credentials grant. */
const OAuthAuthorization = builder.objectRef<{ authorizeUrl: string; expiresAt: Date; redirectUri: string }>('OAuthAuthorization').implement({
  description: "Send the user's browser to `authorizeUrl`; the provider returns to the gateway's callback, which stores the tokens.",
  fields: (t) => ({
    authorizeUrl: t.exposeString('authorizeUrl'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'The flow must complete before this.' }),
    redirectUri: t.exposeString('redirectUri', { description: 'The callback URL registered with the provider: PUBLIC_URL/oauth/callback.' }),
  }),
});

const urlArg = z.string().max(2000).nullish();

builder.mutationFields((t) => ({
  startOAuthAuthorization: t.field({
    type: OAuthAuthorization,
    description:
      'Starts the OAuth2 authorization-code flow (PKCE, signed single-use state) for one value of a connection. ' +
      'Customer users: their own value of a CUSTOMER_ACTIVATED connection. Org principals: any slot (customer, GLOBAL, TEST).',
    authScopes: { credentialWrite: true, customerUser: true },
    errors: { types: mutationErrors },
    args: {
      ...valueTargetArgs,
      successUrl: t.arg.string({ description: 'Where the browser goes after success (else a small gateway page).' }),
      failureUrl: t.arg.string({ description: 'Where the browser goes after failure, with `?error=`.' }),
    },
    resolve: (_root, args, ctx) =>
      mutate(ctx, async (op) => {
        const target = await valueTargetOf(op.tx, ctx.principal!, args);
        const urls = {
          successUrl: parseInput(urlArg, args.successUrl, 'successUrl'),
          failureUrl: parseInput(urlArg, args.failureUrl, 'failureUrl'),
        };
        return startAuthorization(op, target, urls);
      }),
  }),
  connectOAuthClientCredentials: t.prismaField({
    type: 'ConnectionValue',
    description:
      "Runs the OAuth2 client-credentials grant with the connector's client and stores the token as the value (ACTIVE). " +
      'Tokens are fetched again before they expire, at run time.',
    authScopes: { credentialWrite: true, customerUser: true },
    errors: { types: mutationErrors },
    args: valueTargetArgs,
    resolve: async (query, _root, args, ctx) => {
      // The provider is called outside any transaction; the token is stored in one of its own.
      const target = await valueTargetOf(ctx.prisma, ctx.principal!, args);
      const value = await connectClientCredentials(ctx.app, ctx.principal!, 'graphql', target);
      return ctx.prisma.connectionValue.findUniqueOrThrow({ ...query, where: { id: value.id } });
    },
  }),
}));

