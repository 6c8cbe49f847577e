import {
  GraphQLError,
  Kind,
  TypeInfo,
  coerceInputValue,
  getNamedType,
  getNullableType,
  getOperationAST,
  isInputObjectType,
  isInputType,
  isLeafType,
  isListType,
  isNonNullType,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';

/**
 * GraphQL errors about a client's values that never quote the values.
 *
 * graphql-js quotes what it refuses — `Variable "$i" got invalid value
 * { s: "…" }`, `Boolean cannot represent a non boolean value: "…"`,
 * `Syntax Error: Unexpected String "…"` — so a secret pasted into the wrong
 * variable, argument or place in a document comes back in the answer (and in
 * anything that records answers). These say where the mistake is (the
 * variable or argument and the path inside it, with `locations`) and what
 * was expected (the type), and never what was sent. Names the client wrote
 * in the document (fields, arguments, types) are how an error says where, so
 * they stay; values never do.
 *
 * Written here, around graphql-js, because it has no option for it: its own
 * coercion and validation are what we rephrase (they still run, and decide).
 */

const MAX_ERRORS = 50;

function requestError(message: string, node?: ASTNode): GraphQLError {
  return new GraphQLError(message, {
    ...(node ? { nodes: [node] } : {}),
    // A request error (nothing ran): 400 under application/graphql-response+json, as graphql-over-http asks.
    extensions: { code: 'BAD_USER_INPUT', http: { status: 400, spec: true } },
  });
}

/** `.key` and `[0]` after a variable or argument name. */
function printPath(path: readonly (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

/** The input type found at `path` inside `type`, or undefined once the path leaves the type (an unknown field). */
function typeAt(type: GraphQLInputType, path: readonly (string | number)[]): GraphQLInputType | undefined {
  let t: GraphQLInputType | undefined = type;
  for (const p of path) {
    const nullable: GraphQLInputType = getNullableType(t!);
    if (typeof p === 'number' && isListType(nullable)) t = nullable.ofType as GraphQLInputType;
    else if (typeof p === 'string' && isInputObjectType(nullable)) t = nullable.getFields()[p]?.type;
    else return undefined;
    if (!t) return undefined;
  }
  return t;
}

/**
 * What graphql-js's input coercion says about a structure (a missing field, an
 * unknown one, an object where a list or scalar is wanted): built from names
 * and types only, so it may be repeated. Everything else it says comes from a
 * leaf type (a scalar or enum refusing a value) and quotes the value.
 */
const STRUCTURAL =
  /^(Field "[^"]*" of required type "[^"]*" was not provided\.|Field "[^"]*" is not defined by type "[^"]*"\.|Expected type "[^"]*" to be an object\.|Expected non-nullable type "[^"]*" not to be null\.|Exactly one key must be specified|Field "[^"]*" must be non-null\.|OneOf )/;

/** Suggestions graphql-js appends ("Did you mean …?") name schema members; kept (exposure.ts drops them when FIELD_SUGGESTIONS is off). */
function structuralPart(message: string): string | null {
  return STRUCTURAL.test(message) ? message : null;
}

/**
 * The variables of the operation to run, coerced as graphql-js will coerce
 * them: the errors it would report, without the values. Empty when they
 * coerce (graphql-js then coerces them again, and finds the same).
 */
export function variableErrors(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, inputs: unknown): GraphQLError[] {
  const operation = getOperationAST(document, operationName);
  if (!operation?.variableDefinitions?.length) return [];
  const values = inputs && typeof inputs === 'object' && !Array.isArray(inputs) ? (inputs as Record<string, unknown>) : {};
  const errors: GraphQLError[] = [];
  for (const definition of operation.variableDefinitions) {
    if (errors.length >= MAX_ERRORS) break;
    const name = definition.variable.name.value;
    const type = typeFromAST(schema, definition.type);
    // Not an input type, or an unknown one: validation reported it already.
    if (!type || !isInputType(type)) continue;
    if (!Object.hasOwn(values, name)) {
      if (!definition.defaultValue && isNonNullType(type)) errors.push(requestError(`Variable "$${name}" of required type "${String(type)}" was not provided.`, definition));
      continue;
    }
    const value = values[name];
    if (value === null && isNonNullType(type)) {
      errors.push(requestError(`Variable "$${name}" of non-null type "${String(type)}" must not be null.`, definition));
      continue;
    }
    coerceInputValue(value, type, (path, _invalid, error) => {
      if (errors.length >= MAX_ERRORS) return;
      const where = path.length ? ` at "$${name}${printPath(path)}"` : '';
      const structural = structuralPart(error.message);
      const expected = typeAt(type, path);
      const why = structural ?? (expected && isLeafType(getNamedType(expected)) ? `expected type "${String(expected)}".` : 'it does not have the form this type needs.');
      errors.push(requestError(`Variable "$${name}" got an invalid value${where}; ${why}`, definition));
    });
  }
  return errors;
}

const VALUE_KINDS = new Set<string>([
  Kind.STRING,
  Kind.INT,
  Kind.FLOAT,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
]);

interface LiteralPlace {
  /** `Argument "first"`, `Argument "if" of @include`, `The default value of "$n"`. */
  owner: string;
  /** `input.oauthClientSecret`, `ids[1]`; empty for the argument itself. */
  path: string;
  type: GraphQLInputType | null;
}

/** Where each of `targets` (value nodes of the document) is: the argument or variable it belongs to, the path inside it, its expected type. */
function literalPlaces(schema: GraphQLSchema, document: DocumentNode, targets: Set<ASTNode>): Map<ASTNode, LiteralPlace> {
  const found = new Map<ASTNode, LiteralPlace>();
  const typeInfo = new TypeInfo(schema);
  // The argument, directive argument or variable default being visited, and the path inside it.
  let owner: { label: string; root: string } | null = null;
  const path: (string | number)[] = [];
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      enter(node, key, parent, _path, ancestors) {
        if (node.kind === Kind.ARGUMENT) {
          const directive = ancestors[ancestors.length - 2];
          const of = directive && 'kind' in directive && directive.kind === Kind.DIRECTIVE ? ` of @${directive.name.value}` : '';
          owner = { label: `Argument "${node.name.value}"${of}`, root: node.name.value };
        } else if (node.kind === Kind.VARIABLE_DEFINITION) {
          owner = { label: `The default value of "$${node.variable.name.value}"`, root: `$${node.variable.name.value}` };
        } else if (node.kind === Kind.OBJECT_FIELD) {
          path.push(node.name.value);
        } else if (VALUE_KINDS.has(node.kind) && typeof key === 'number' && Array.isArray(parent)) {
          path.push(key);
        }
        if (targets.has(node) && owner) {
          // A list flagged as a whole is judged against its parent's type (as ValuesOfCorrectTypeRule does).
          const type = node.kind === Kind.LIST ? typeInfo.getParentInputType() : typeInfo.getInputType();
          found.set(node, { owner: owner.label, path: path.length ? owner.root + printPath(path) : '', type: type ?? null });
        }
      },
      leave(node, key, parent) {
        if (node.kind === Kind.ARGUMENT || node.kind === Kind.VARIABLE_DEFINITION) owner = null;
        else if (node.kind === Kind.OBJECT_FIELD) path.pop();
        else if (VALUE_KINDS.has(node.kind) && typeof key === 'number' && Array.isArray(parent)) path.pop();
      },
    }),
  );
  return found;
}

/**
 * Validation errors about literal values (ValuesOfCorrectTypeRule: a scalar
 * refusing a literal, an unknown enum value), rephrased in place without the
 * literal: which argument, where inside it, what type was expected.
 * Structural ones (a required input field missing) are kept as they are.
 */
export function rephraseLiteralErrors(schema: GraphQLSchema, document: DocumentNode, errors: readonly GraphQLError[]): void {
  const flagged = errors.filter((e) => {
    const node = e.nodes?.[0];
    return node && VALUE_KINDS.has(node.kind) && !STRUCTURAL.test(e.message);
  });
  if (!flagged.length) return;
  const places = literalPlaces(schema, document, new Set(flagged.map((e) => e.nodes![0]!)));
  for (const error of flagged) {
    const place = places.get(error.nodes![0]!);
    const at = place?.path ? ` at "${place.path}"` : '';
    const expected = place?.type ? `expected type "${String(place.type)}"` : 'it does not have the form this place needs';
    error.message = `${place?.owner ?? 'A literal value'} has an invalid value${at}; ${expected}.`;
  }
}

/**
 * A syntax error without the token or characters it quotes: the lexer and
 * parser name what they found (`found String "…"`, `Unexpected character:
 * "…"`, `Invalid character escape sequence: "\…"`); the location says where.
 */
export function rephraseSyntaxError(error: GraphQLError): void {
  const message = error.message;
  if (!message.startsWith('Syntax Error: ')) return;
  // `Expected Name, found String "…".` / `Unexpected Int "…".`: the token's kind stays, its value goes. The value runs to the final quote.
  const token = /^(Syntax Error: (?:Expected .*?, found|Unexpected)) (String|BlockString|Int|Float|Name) ".*"\.$/s.exec(message);
  if (token) {
    error.message = `${token[1]} ${token[2]}.`;
    return;
  }
  // `Unexpected character: "x".`, `Invalid number, expected digit but got: "a".`, escape sequences: what was found goes.
  const character = /^(Syntax Error: (?:Unexpected character|Invalid number[^:]*|Invalid character within String|Invalid Unicode escape sequence|Invalid character escape sequence)): .*\.$/s.exec(message);
  if (character) error.message = `${character[1]}.`;
}
