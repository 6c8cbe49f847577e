import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';

/**
 * The embedded database with the extensions the migrations use (pg_trgm: the
 * trigram indexes of `customers(search:)`). Every PGlite the gateway opens —
 * its data directory, an in-memory one for tests or for diffing migrations —
 * comes from here.
 */
export function openPGlite(dataDir?: string, options: Omit<PGliteOptions, 'extensions'> = {}): Promise<PGlite> {
  return PGlite.create(dataDir, { ...options, extensions: { pg_trgm } });
}
