import { z } from 'zod';
import { transaction } from '../../db/transaction.js';
import { ValidationError } from '../../errors.js';
import { builder } from '../../schema/builder.js';
import { mutationErrors } from '../../schema/errors.js';
import { parseInput } from '../../validation.js';
import { audit } from '../audit/audit.js';
import { ConnectionRef, ValueKindEnum } from '../connections/types.js';
import { CustomerRef } from '../tenancy/types.js';
import { OAuthGrantError } from './client.js';
import { callbackUrl, clientCredentialsTokens, startAuthorization, storeGrantedTokens } from './flow.js';
import { loadTarget } from './target.js';

/** GraphQL: start an OAuth2 authorization-code flow; run the client-credentials grant. */
const OAuthAuthorization = builder
  .objectRef<{ authorizeUrl: string; expiresAt: Date; redirectUri: string }>('OAuthAuthorization')
  .implement({
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
      connectionId: t.arg.globalID({ required: true, for: ConnectionRef }),
      slot: t.arg({ type: ValueKindEnum, description: 'Default: GLOBAL for global connections, else CUSTOMER.' }),
      customerId: t.arg.globalID({ for: CustomerRef, description: 'For a CUSTOMER value (org principals).' }),
      successUrl: t.arg.string({ description: 'Where the browser goes after success (else a small gateway page).' }),
      failureUrl: t.arg.string({ description: 'Where the browser goes after failure, with `?error=`.' }),
    },
    resolve: async (_root, args, ctx) => {
      const target = await loadTarget(ctx.prisma, ctx.principal, {
        connectionId: args.connectionId.id,
        kind: args.slot,
        customerId: args.customerId?.id,
      });
      const successUrl = parseInput(urlArg, args.successUrl, 'successUrl');
      const failureUrl = parseInput(urlArg, args.failureUrl, 'failureUrl');
      const started = await transaction(ctx, async (tx) => {
        const s = await startAuthorization(tx, ctx.services, { ...target, successUrl, failureUrl });
        await audit(tx, ctx.principal, 'oauth.start', 'Connection', target.connection.id, { slot: target.slot.kind });
        return s;
      });
      return { authorizeUrl: started.authorizeUrl, expiresAt: started.expiresAt, redirectUri: callbackUrl(ctx.services) };
    },
  }),
  connectOAuthClientCredentials: t.prismaField({
    type: 'ConnectionValue',
    description:
      "Runs the OAuth2 client-credentials grant with the connector's client and stores the token as the value (ACTIVE). " +
      'Tokens are fetched again before they expire, at run time.',
    authScopes: { credentialWrite: true, customerUser: true },
    errors: { types: mutationErrors },
    args: {
      connectionId: t.arg.globalID({ required: true, for: ConnectionRef }),
      slot: t.arg({ type: ValueKindEnum, description: 'Default: GLOBAL for global connections, else CUSTOMER.' }),
      customerId: t.arg.globalID({ for: CustomerRef }),
    },
    resolve: async (query, _root, args, ctx) => {
      const target = await loadTarget(ctx.prisma, ctx.principal, {
        connectionId: args.connectionId.id,
        kind: args.slot,
        customerId: args.customerId?.id,
      });
      let tokens;
      try {
        tokens = await clientCredentialsTokens(ctx.services, target.connection);
      } catch (err) {
        if (err instanceof OAuthGrantError) throw ValidationError.field('connectionId', `the provider did not issue a token: ${err.message}`);
        throw err;
      }
      const p = ctx.principal!;
      const value = await storeGrantedTokens(ctx.prisma, ctx.services, {
        ...target,
        tokens,
        audit: { principalKind: p.kind, principalId: p.id, action: 'oauth.clientCredentials' },
      });
      return ctx.prisma.connectionValue.findUniqueOrThrow({ ...query, where: { id: value.id } });
    },
  }),
}));

