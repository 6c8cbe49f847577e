/**
 * What every command-line tool of the project shares: `--help`, argument
 * parsing (node's own `util.parseArgs`), and one exit convention — 0 done,
 * 1 the work failed, 2 bad usage or configuration. Messages name what is
 * wrong (the option, the variable); no stack traces for expected failures.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../src/config.js';
import { DatabaseError } from '../src/db/database.js';
import { DomainError, ValidationError } from '../src/errors.js';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Cli<O extends Options> {
  /** Shown by `--help` and after a usage error. */
  usage: string;
  options: O;
  allowPositionals?: boolean;
  run(args: { values: ParsedValues<O>; positionals: string[] }): Promise<number | void>;
}

type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values'];

/** `--help` / `-h` anywhere: prints the usage and exits 0 (for tools with their own argument handling). */
export function helpIfAsked(usage: string, argv = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage.trim());
    process.exit(0);
  }
}

export function runCli<O extends Options>(name: string, cli: Cli<O>, argv = process.argv.slice(2)): void {
  const fail = (message: string, code: number, usage = false) => {
    console.error(`${name}: ${message}`);
    if (usage) console.error('Run with --help for usage.');
    process.exit(code);
  };
  helpIfAsked(cli.usage, argv);
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: cli.options, strict: true, allowPositionals: cli.allowPositionals ?? false });
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err), 2, true);
  }
  cli.run(parsed as { values: ParsedValues<O>; positionals: string[] }).then(
    (code) => process.exit(code ?? 0),
    (err: unknown) => {
      if (err instanceof UsageError) return fail(err.message, 2, true);
      if (err instanceof ConfigError) return fail(err.message, 2);
      if (err instanceof DatabaseError) return fail(err.message, 1);
      if (err instanceof ValidationError) {
        return fail([`${err.code}: the input was refused`, ...err.problems.map((p) => `  ${p.path}: ${p.message}`)].join('\n'), 1);
      }
      if (err instanceof DomainError) return fail(`${err.code}: ${err.message}`, 1);
      console.error(err);
      process.exit(1);
    },
  );
}
