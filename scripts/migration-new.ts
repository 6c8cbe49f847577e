/**
 * Create a new Prisma migration without the native schema engine (offline
 * replacement for `prisma migrate dev --create-only`).
 *
 *   tsx scripts/migration-new.ts <name>   write prisma/migrations/<UTC timestamp>_<name>/migration.sql
 *   tsx scripts/migration-new.ts --check  exit 1 if prisma/schema.prisma has changes no migration covers (CI)
 *
 * Options: --schema <file> (default prisma/schema.prisma),
 *          --migrations <dir> (default prisma/migrations).
 * The diff replays the existing migrations into a throwaway in-memory PGlite,
 * so no database server is needed.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_LOCKFILE, diffSchemaToSql } from '../src/db/migrate.js';
import { helpIfAsked } from './cli.js';

helpIfAsked(`
Usage: npm run migration:new -- <name> | --check [--schema <file>] [--migrations <dir>]

Writes prisma/migrations/<UTC timestamp>_<name>/migration.sql from the changes
to prisma/schema.prisma (offline, through the Wasm schema engine). With
--check, exits 1 when the schema has changes no migration covers (CI).
`);

const USAGE = 'usage: tsx scripts/migration-new.ts <name> | --check [--schema <file>] [--migrations <dir>]';

/** yyyymmddHHMMSS in UTC, the format `prisma migrate dev` uses. */
function utcTimestamp(date: Date): string {
  return date.toISOString().replace(/\D/g, '').slice(0, 14);
}

/** Same normalisation as Prisma: lower-case, anything but [a-z0-9_] becomes '_'. */
function slugify(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      check: { type: 'boolean', default: false },
      schema: { type: 'string', default: 'prisma/schema.prisma' },
      migrations: { type: 'string', default: 'prisma/migrations' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }

  const schemaPath = path.resolve(values.schema);
  const migrationsDir = path.resolve(values.migrations);
  const name = slugify(positionals.join('_'));
  if (!values.check && !name) {
    console.error(USAGE);
    return 2;
  }

  const sql = await diffSchemaToSql({ migrationsDir, schemaPath });

  if (values.check) {
    if (!sql) {
      console.log('no changes: schema matches migrations');
      return 0;
    }
    console.error(
      `${path.relative(process.cwd(), schemaPath)} has changes not covered by ${path.relative(process.cwd(), migrationsDir)}.\n` +
        'Run `tsx scripts/migration-new.ts <name>` and commit the migration. Missing SQL:\n\n' +
        sql,
    );
    return 1;
  }

  if (!sql) {
    console.log('no changes');
    return 0;
  }

  const migrationName = `${utcTimestamp(new Date())}_${name}`;
  const migrationDir = path.join(migrationsDir, migrationName);
  if (await exists(migrationDir)) {
    console.error(`${migrationDir} already exists`);
    return 1;
  }
  await mkdir(migrationDir, { recursive: true });
  await writeFile(path.join(migrationDir, 'migration.sql'), sql);

  const lockfile = path.join(migrationsDir, 'migration_lock.toml');
  if (!(await exists(lockfile))) await writeFile(lockfile, DEFAULT_LOCKFILE);

  console.log(`created ${path.relative(process.cwd(), path.join(migrationDir, 'migration.sql'))}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
