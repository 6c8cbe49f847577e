import { getDatamodel } from '../generated/pothos-prisma-types.js';

/**
 * The Prisma datamodel, parsed once (it is a large JSON string): plugin-prisma
 * takes it whole (schema/builder.ts); the hot paths that write their own SQL
 * (schema/list-reads.ts, db/rows.ts) read a model's fields from it.
 */
export const datamodel = getDatamodel();

/** A field of a model, as the datamodel describes it. */
export interface ModelField {
  name: string;
  kind: string;
  type: string;
  isList: boolean;
  isRequired: boolean;
  relationName?: string;
  relationFromFields?: string[];
}

const models = datamodel.datamodel.models as unknown as Record<string, { fields: ModelField[] } | undefined>;

/** The fields of `model`, or undefined when there is no such model. */
export function modelFields(model: string): readonly ModelField[] | undefined {
  return models[model]?.fields;
}
