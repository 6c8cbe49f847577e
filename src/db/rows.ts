import { modelFields } from './datamodel.js';

/**
 * A row read straight on the driver as `row_to_json(t)`, made into the object
 * Prisma returns for the model: its scalar fields in the model's order, dates
 * as Date, JSON columns parsed (as row_to_json gives them), everything else
 * as PostgreSQL's JSON has it. For the hot read paths that send one statement
 * without the ORM (runtime resolution); a model with a field this does not
 * map (BigInt, Decimal, Bytes) is refused when the mapper is made.
 *
 * Written by hand: Prisma maps rows only of the queries it runs itself.
 */
export function rowMapper<T>(model: string): (json: Record<string, unknown>) => T {
  const fields = modelFields(model)?.filter((f) => f.kind !== 'object');
  if (!fields) throw new Error(`rowMapper: no model ${model}`);
  for (const f of fields) {
    if (['BigInt', 'Decimal', 'Bytes'].includes(f.type)) throw new Error(`rowMapper: ${model}.${f.name} is ${f.type}`);
    if (f.type === 'DateTime' && f.isList) throw new Error(`rowMapper: ${model}.${f.name} is a list of dates`);
  }
  const names = fields.map((f) => f.name);
  const dates = new Set(fields.filter((f) => f.type === 'DateTime').map((f) => f.name));
  return (json) => {
    const out: Record<string, unknown> = {};
    for (const name of names) {
      const v = json[name];
      // TIMESTAMP(3) columns hold UTC; their JSON has no zone (`2026-01-01T00:00:01.5`).
      out[name] = v == null ? null : dates.has(name) ? new Date(`${v as string}Z`) : v;
    }
    return out as T;
  };
}
