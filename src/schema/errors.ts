import { ConflictError, DomainError, ForbiddenError, InUseError, NotFoundError, ValidationError, type Usage } from '../errors.js';
import { builder } from './builder.js';

/** GraphQL types of the domain errors that mutations return as union members. */
export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'A typed, expected failure. Nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code', { description: 'Stable machine-readable code.' }),
  }),
});

const FieldProblem = builder.objectRef<{ path: string; message: string }>('FieldProblem').implement({
  fields: (t) => ({
    path: t.exposeString('path', { description: 'The input field at fault, e.g. `value.apiKey`.' }),
    message: t.exposeString('message'),
  }),
});

for (const [cls, name] of [
  [NotFoundError, 'NotFoundError'],
  [ConflictError, 'ConflictError'],
  [ForbiddenError, 'ForbiddenError'],
] as const) {
  builder.objectType(cls, {
    name,
    interfaces: [ErrorInterface],
    isTypeOf: (v) => v instanceof cls,
    fields: () => ({}),
  });
}

builder.objectType(ValidationError, {
  name: 'ValidationError',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof ValidationError,
  fields: (t) => ({
    problems: t.field({ type: [FieldProblem], resolve: (e) => e.problems }),
  }),
});

export const UsageRef = builder.objectRef<Usage>('Usage').implement({
  fields: (t) => ({
    type: t.exposeString('type', { description: 'Integration, WorkflowStep…' }),
    id: t.exposeID('id'),
    name: t.exposeString('name'),
  }),
});

builder.objectType(InUseError, {
  name: 'InUseError',
  interfaces: [ErrorInterface],
  isTypeOf: (v) => v instanceof InUseError,
  fields: (t) => ({
    usedBy: t.field({ type: [UsageRef], resolve: (e) => e.usedBy }),
  }),
});

/** The errors every mutation may return. */
export const mutationErrors = [ValidationError, NotFoundError, ConflictError, ForbiddenError, InUseError];
