import { hintFor, openSecrets, sealSecrets, type SecretHint } from '../../crypto/secrets.js';
import type { ConnectionValue } from '../../generated/prisma/client.js';
import type { Services } from '../../services.js';
import { connectorClientSecret, setValueStatus, type ConnectionWithConnector } from '../connections/service.js';
import { OAuthGrantError, mergeTokens, tokenRequest, type TokenRequestOptions } from './client.js';
import { clientCredentialsParams, oauthSettings } from './flow.js';
import { lockValue } from '../../db/locks.js';

/**
 * Keeps OAuth2 access tokens fresh at resolve time.
 *
 * One refresh at a time per value, across every gateway instance: the refresh
 * runs in a transaction holding a PostgreSQL advisory lock keyed by the value
 * id (`pg_advisory_xact_lock`, released at commit/rollback, works on PostgreSQL
 * and PGlite). After taking the lock the value is read again: when another
 * caller refreshed it meanwhile, its token is used and the provider is not
 * called. Provider outcomes:
 *   - success: new tokens sealed; a refresh token not sent again is kept;
 *   - `invalid_grant`: the value becomes EXPIRED with the provider's message
 *     (the customer must authorize again);
 *   - other client errors (`invalid_client`…): the value becomes ERROR;
 *   - transient (network, 5xx, 429): retried with backoff; if still failing,
 *     the failure is counted on the value and the still-valid token (if any)
 *     is served, else an error that says to retry.
 */

/** Refresh when the token expires within this margin. */
export const REFRESH_MARGIN_MS = 60_000;

export type RefreshOutcome =
  | { kind: 'FRESH'; value: ConnectionValue; refreshed: boolean }
  | { kind: 'EXPIRED'; message: string }
  | { kind: 'ERROR'; message: string; retryable: boolean };

export function needsRefresh(value: Pick<ConnectionValue, 'expiresAt'>, now = Date.now()): boolean {
  return value.expiresAt !== null && value.expiresAt.getTime() - now < REFRESH_MARGIN_MS;
}


type Hints = Record<string, SecretHint>;

export async function refreshValue(
  services: Services,
  connection: ConnectionWithConnector,
  valueId: string,
  opts: TokenRequestOptions & { force?: boolean } = {},
): Promise<RefreshOutcome> {
  const ring = services.config.keyRing;
  const outcome = await services.db.prisma.$transaction<RefreshOutcome>(
    async (tx) => {
      await lockValue(tx, valueId);
      const value = await tx.connectionValue.findUnique({ where: { id: valueId } });
      if (!value) return { kind: 'ERROR', message: 'The credential was removed.', retryable: false };
      if (value.status === 'EXPIRED') return { kind: 'EXPIRED', message: value.lastError ?? 'The authorization expired.' };
      if (!opts.force && !needsRefresh(value)) return { kind: 'FRESH', value, refreshed: false };

      const settings = oauthSettings(connection);
      const sealed = value.secrets as Record<string, string>;
      const secrets = openSecrets(ring, value.id, sealed);
      const stillValid = value.expiresAt !== null && value.expiresAt.getTime() > Date.now();

      let params: Record<string, string>;
      if (settings.grantType === 'client_credentials') {
        params = clientCredentialsParams(settings);
      } else if (secrets.refreshToken) {
        params = {
          grant_type: 'refresh_token',
          refresh_token: secrets.refreshToken,
          ...(settings.scopes.length ? { scope: settings.scopes.join(' ') } : {}),
        };
      } else if (stillValid) {
        return { kind: 'FRESH', value, refreshed: false };
      } else {
        const message = 'The access token expired and there is no refresh token; authorize again.';
        await setValueStatus(tx, value.id, 'EXPIRED', message);
        return { kind: 'EXPIRED', message };
      }

      try {
        const tokens = await tokenRequest(settings, connectorClientSecret(ring, connection.connector), params, opts);
        const merged = mergeTokens({ refreshToken: secrets.refreshToken }, tokens);
        const hints: Hints = { ...(value.secretHints as unknown as Hints) };
        for (const [k, v] of Object.entries(merged.secrets)) hints[k] = hintFor(v);
        // Compare-and-set on the version read under the lock: a writer that
        // does not take the lock (a plain credential update) is never overwritten.
        const { count } = await tx.connectionValue.updateMany({
          where: { id: value.id, version: value.version },
          data: {
            secrets: { ...sealed, ...sealSecrets(ring, value.id, merged.secrets) },
            secretHints: hints as object,
            fields: { ...(value.fields as object), ...merged.fields },
            expiresAt: merged.expiresAt,
            refreshFailures: 0,
            lastError: null,
            lastErrorAt: null,
            version: { increment: 1 },
          },
        });
        const updated = await tx.connectionValue.findUniqueOrThrow({ where: { id: value.id } });
        if (count === 0) {
          services.log.warn({ valueId: value.id }, 'oauth refresh: value changed meanwhile; keeping the newer write');
          return updated.status === 'ACTIVE'
            ? { kind: 'FRESH', value: updated, refreshed: false }
            : { kind: 'ERROR', message: 'The credential changed during the refresh; retry', retryable: true };
        }
        return { kind: 'FRESH', value: updated, refreshed: true };
      } catch (err) {
        if (!(err instanceof OAuthGrantError)) throw err;
        if (err.error === 'invalid_grant') {
          const message = `Authorization expired: ${err.message}`;
          await setValueStatus(tx, value.id, 'EXPIRED', message);
          services.log.info({ valueId: value.id }, 'oauth refresh: invalid_grant, value expired');
          return { kind: 'EXPIRED', message };
        }
        if (!err.transient) {
          const message = `Token refresh failed: ${err.message}`;
          await setValueStatus(tx, value.id, 'ERROR', message);
          services.log.warn({ valueId: value.id, error: err.error }, 'oauth refresh rejected');
          return { kind: 'ERROR', message, retryable: false };
        }
        const message = `Token refresh failed temporarily: ${err.message}`;
        services.log.warn({ valueId: value.id, error: err.error }, 'oauth refresh failed temporarily');
        const counted = await tx.connectionValue.update({
          where: { id: value.id },
          data: { refreshFailures: { increment: 1 }, lastError: message, lastErrorAt: new Date() },
        });
        if (stillValid) return { kind: 'FRESH', value: counted, refreshed: false };
        return { kind: 'ERROR', message: `${message}; retry later`, retryable: true };
      }
    },
    // The provider call runs under the lock: allow for its timeout and retries.
    { maxWait: 60_000, timeout: 90_000 },
  );
  // Status changes (EXPIRED/ERROR) alter availability: wake the live feed.
  if (outcome.kind !== 'FRESH') for (const listener of services.afterCommit) listener();
  return outcome;
}
