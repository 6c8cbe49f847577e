import { builder } from './builder.js';

/**
 * A GraphQL enum with exactly the values of a Prisma enum (one list, in
 * prisma/schema.prisma), each with its description when given.
 */
export function enumFrom<Name extends string>(
  name: string,
  values: Record<Name, string>,
  descriptions: Partial<Record<Name, string>> = {},
) {
  const config = Object.fromEntries(
    Object.keys(values).map((k) => [k, descriptions[k as Name] ? { description: descriptions[k as Name] } : {}]),
  ) as Record<Name, { description?: string }>;
  return builder.enumType(name, { values: config });
}
