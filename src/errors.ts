import { GraphQLError } from 'graphql';

/**
 * Domain errors. Each has a stable `code`; mutations return them as typed
 * union members (Pothos errors plugin), other fields surface them as GraphQL
 * errors with `extensions.code`. Messages never include secret values.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

/** Also what a principal gets for anything it may not see. */
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  constructor(what = 'Resource') {
    super(`${what} not found`);
  }
}

export interface FieldProblem {
  path: string;
  message: string;
}

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION_FAILED';
  constructor(
    readonly problems: FieldProblem[],
    message = problems.map((p) => `${p.path}: ${p.message}`).join('; '),
  ) {
    super(message);
  }
  static field(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
}

export interface Usage {
  type: string;
  id: string;
  name: string;
}

/** Refusal to delete something that is still used: says what uses it. */
export class InUseError extends DomainError {
  readonly code = 'IN_USE';
  constructor(
    what: string,
    readonly usedBy: Usage[],
  ) {
    super(
      `${what} is in use by ${usedBy
        .slice(0, 5)
        .map((u) => `${u.type} "${u.name}"`)
        .join(', ')}${usedBy.length > 5 ? ` and ${usedBy.length - 5} more` : ''}; remove those references or archive it instead`,
    );
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  constructor(message = 'Not allowed') {
    super(message);
  }
}

/** Depth, breadth or complexity over the limits (MAX_DEPTH…): the query was not run. */
export class QueryTooComplexError extends DomainError {
  readonly code = 'QUERY_TOO_COMPLEX';
}

export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'Authentication required') {
    super(message);
  }
}

/** Prisma's known request errors, mapped to domain errors. */
export function fromPrismaError(err: unknown): DomainError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === 'P2025' || code === 'P2001') return new NotFoundError();
  if (code === 'P2002') return new ConflictError('A record with the same unique key already exists');
  if (code === 'P2003') return new ConflictError('The record is referenced by another record');
  return undefined;
}

export function toGraphQLError(err: DomainError): GraphQLError {
  const status = err.code === 'UNAUTHENTICATED' ? 401 : err.code === 'QUERY_TOO_COMPLEX' ? 400 : undefined;
  return new GraphQLError(err.message, {
    extensions: {
      code: err.code,
      ...(err instanceof ValidationError ? { problems: err.problems } : {}),
      ...(status ? { http: { status } } : {}),
    },
  });
}
