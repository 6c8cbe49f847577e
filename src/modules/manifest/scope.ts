import { canWrite, type Principal } from '../../auth/principal.js';
import { ForbiddenError } from '../../errors.js';

/**
 * Who may export and import an organization's configuration: org
 * principals; a dry run only reads (any org principal), applying needs one
 * that may change things. Whatever an import changes then goes through the
 * connector, connection and integration services, with their own rules.
 */
export function assertMayImport(p: Principal | null, dryRun: boolean): void {
  if (!dryRun && !canWrite(p)) throw new ForbiddenError('This key is read-only');
}
