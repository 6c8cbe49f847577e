import { complexityFromQuery } from '@pothos/plugin-complexity';
import { formatPrismaCursor } from '@pothos/plugin-prisma';
import {
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  Kind,
  getArgumentValues,
  getDirectiveValues,
  getNamedType,
  getVariableValues,
  isAbstractType,
  isObjectType,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Counter } from 'prom-client';
import { scopesOf, type Scope } from '../auth/scopes.js';
import type { AppContext, Context } from '../context.js';
import { modelFields, type ModelField } from '../db/datamodel.js';
import { encodeId } from '../ids.js';
import { complexityLimits } from './builder.js';

/**
 * Hot list reads in one SQL statement.
 *
 * The admin UI's lists (customers → their values → connection → connector,
 * the connections, the values) go through graphql-js, Pothos' selection
 * mapping, per-object scope checks and Prisma's result mapping: ~15 ms of CPU
 * for a 50 × 10 page that the database assembles in ~2. For a query whose
 * every root field is such a list, and whose every selected field is a plain
 * column, a to-one relation or a registered nested list, this module compiles
 * the selection into one statement that builds the page as JSON (`json_agg`
 * of `json_build_array` per row, to-one relations as LEFT JOINs, nested lists
 * as correlated subqueries with their own LIMIT), then shapes those arrays
 * into the response graphql-js would have produced.
 *
 * Nothing about authorization is defined here. Operation scopes are the
 * schema's own `authScopes` (root field, every type and every field met),
 * evaluated as plugin-scope-auth does; rows are the module's own filter
 * (`where`/`orderBy` from the function the module hands both to its Pothos
 * field and to `listReads.list`), translated to SQL. Anything this module
 * cannot reproduce exactly — a scope map given as a function, a denied scope,
 * a filter operator it does not translate, a cursor, a field it does not
 * know, a query over the complexity limit, a database error — is left to the
 * regular execution, which answers it (and its errors) as always. A test
 * (test/list-reads.test.ts) runs documents of every registered field for
 * every kind of principal through both and compares the bytes.
 *
 * Written by hand because no library compiles a Pothos/Prisma schema's
 * selections to SQL; PostGraphile does this for its own schema only.
 */

/** A list's rows: the module's row filter (a Prisma where) and order. */
export interface ListQuery {
  where?: object;
  orderBy?: Record<string, 'asc' | 'desc'> | Record<string, 'asc' | 'desc'>[];
}
// Each module's function reads its own (typed) arguments.
export type ListQueryOf = (args: any, ctx: Context) => ListQuery;

/** Not something this path reproduces exactly: the regular execution answers. Not an Error: no stack to capture. */
class Unsupported {
  constructor(readonly reason: string) {}
}
function unsupported(why: string): never {
  throw new Unsupported(why);
}

const columnFields = new Map<string, Set<string>>();
const toOneFields = new Map<string, Set<string>>();
const listFields = new Map<string, ListQueryOf>();

function declare(declared: Map<string, Set<string>>, type: string, fields: readonly string[]): void {
  const set = declared.get(type) ?? new Set();
  for (const f of fields) set.add(f);
  declared.set(type, set);
}

/** What each module declares next to its types (module schema files). */
export const listReads = {
  /** Fields of `type` whose value is the model's column of the same name, as the field resolves it. */
  columns(type: string, fields: readonly string[]): void {
    declare(columnFields, type, fields);
  },
  /** Fields of `type` that are the model's to-one relation of the same name (`t.relation`), unfiltered. */
  relations(type: string, fields: readonly string[]): void {
    declare(toOneFields, type, fields);
  },
  /** A connection field (`Query` for a root list) and the query its Pothos field uses too; its cursor is `id`. */
  list(parent: string, field: string, query: ListQueryOf): void {
    listFields.set(`${parent}.${field}`, query);
  },
};

// ───────────────────────────── the data model ─────────────────────────────

function fieldOf(model: string, name: string): ModelField {
  const f = modelFields(model)?.find((x) => x.name === name);
  return f ?? unsupported(`${model}.${name}`);
}

/** Identifiers come from the datamodel, never from a request. */
const ident = (name: string) => `"${name}"`;

/** The column a to-one relation goes through (`connectionId` of `connection`). */
function foreignKey(model: string, relation: ModelField): string {
  if (relation.isList || relation.relationFromFields?.length !== 1) unsupported(`${model}.${relation.name}`);
  return relation.relationFromFields[0]!;
}

/** The column of `relation.type` that points back at `model` (for a to-many relation). */
function backKey(model: string, relation: ModelField): string {
  const back = modelFields(relation.type)?.find((f) => f.relationName === relation.relationName && f.type === model && f.relationFromFields?.length === 1);
  return back?.relationFromFields?.[0] ?? unsupported(`${model}.${relation.name}`);
}

// ───────────────────────────── SQL ─────────────────────────────

class Statement {
  readonly params: unknown[] = [];
  private aliases = 0;
  alias(): string {
    return `t${this.aliases++}`;
  }
  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }
}

type Scalar = string | number | boolean;
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** A Prisma where of `model` on alias `t`, as SQL: equality, null, `in`, `not`, AND/OR and relation filters; anything else is unsupported. */
function whereSql(s: Statement, model: string, t: string, where: unknown): string {
  if (where === undefined) return 'TRUE';
  if (where === null || typeof where !== 'object' || Array.isArray(where)) unsupported('where');
  const parts: string[] = [];
  for (const [key, value] of Object.entries(where)) {
    if (value === undefined) continue;
    if (key === 'AND') {
      for (const w of Array.isArray(value) ? value : [value]) parts.push(whereSql(s, model, t, w));
    } else if (key === 'OR') {
      const list = Array.isArray(value) ? value : [value];
      parts.push(list.length ? list.map((w) => `(${whereSql(s, model, t, w)})`).join(' OR ') : 'FALSE');
    } else {
      const field = fieldOf(model, key);
      parts.push(field.kind === 'object' ? relationFilter(s, model, t, field, value) : scalarFilter(s, t, field, value));
    }
  }
  return parts.length ? parts.map((p) => `(${p})`).join(' AND ') : 'TRUE';
}

function scalarFilter(s: Statement, t: string, field: ModelField, value: unknown): string {
  const col = `${t}.${ident(field.name)}`;
  if (value === null && !field.isList) return `${col} IS NULL`;
  // Comparisons with values: text, numbers, booleans and enums only (no dates: pg would send a Date in local time).
  if (field.isList || (!['String', 'Int', 'Boolean'].includes(field.type) && field.kind !== 'enum')) unsupported(field.name);
  if (isScalar(value)) return `${col} = ${s.param(value)}`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) unsupported(field.name);
  const parts: string[] = [];
  for (const [op, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (op === 'equals' && (v === null || isScalar(v))) parts.push(scalarFilter(s, t, field, v));
    else if (op === 'not' && v === null) parts.push(`${col} IS NOT NULL`);
    else if (op === 'not' && isScalar(v)) parts.push(`${col} <> ${s.param(v)}`);
    else if (op === 'in' && Array.isArray(v) && v.every(isScalar)) parts.push(`${col} = ANY(${s.param(v)})`);
    else unsupported(`${field.name}.${op}`);
  }
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

function relationFilter(s: Statement, model: string, t: string, field: ModelField, value: unknown): string {
  const r = s.alias();
  if (!field.isList) {
    if (value === null || typeof value !== 'object' || 'is' in value || 'isNot' in value) unsupported(field.name);
    return `EXISTS (SELECT 1 FROM ${ident(field.type)} ${r} WHERE ${r}."id" = ${t}.${ident(foreignKey(model, field))} AND ${whereSql(s, field.type, r, value)})`;
  }
  const ops = value !== null && typeof value === 'object' ? Object.keys(value) : [];
  if (ops.length !== 1 || ops[0] !== 'some') unsupported(field.name);
  const inner = (value as { some: unknown }).some;
  return `EXISTS (SELECT 1 FROM ${ident(field.type)} ${r} WHERE ${r}.${ident(backKey(model, field))} = ${t}."id" AND ${whereSql(s, field.type, r, inner)})`;
}

function orderSql(model: string, t: string, orderBy: ListQuery['orderBy']): { keys: string[]; directions: string[] } {
  const list = orderBy === undefined ? [] : Array.isArray(orderBy) ? orderBy : [orderBy];
  const keys: string[] = [];
  const directions: string[] = [];
  for (const o of list) {
    for (const [key, dir] of Object.entries(o)) {
      if ((dir !== 'asc' && dir !== 'desc') || fieldOf(model, key).kind === 'object') unsupported(`orderBy ${key}`);
      keys.push(`${t}.${ident(key)}`);
      directions.push(dir === 'asc' ? 'ASC' : 'DESC');
    }
  }
  return { keys, directions };
}

/** Columns read as they are: their JSON is the field's serialized value, but for dates (below). */
function checkColumn(field: ModelField): ModelField {
  if (field.isList || (!['String', 'Boolean', 'Int', 'DateTime'].includes(field.type) && field.kind !== 'enum')) unsupported(`${field.name}: ${field.type}`);
  return field;
}

/**
 * A TIMESTAMP(3) column's JSON (`2026-01-01T00:00:01.5`, UTC, trailing zeros
 * of the fraction dropped) as DateTime serializes a Date: `toISOString()`
 * (`2026-01-01T00:00:01.500Z`). By string, as parsing a Date per value cost a
 * tenth of the admin list's CPU (and `to_char` in SQL ~9 µs a value on
 * PGlite); anything else (a year past 9999, `infinity`) is left to the
 * resolvers.
 */
function isoDate(value: unknown): string | null {
  if (value == null) return null;
  const s = value as string;
  if (s.length === 19 && s.charCodeAt(10) === 84 /* T */) return `${s}.000Z`;
  if (s.length > 20 && s.length <= 23 && s.charCodeAt(19) === 46 /* . */ && s.charCodeAt(10) === 84) return `${s}${'000'.slice(s.length - 20)}Z`;
  return unsupported(`date ${s}`);
}

// ───────────────────────────── compiling a selection ─────────────────────────────

type Collected = Map<string, FieldNode[]>;

/**
 * The fields of a selection on an object type by response key, in order, as
 * graphql-js collects them (fragments spread, inline fragments and
 * `@skip`/`@include` applied). graphql-js's own collectFields is internal
 * (`graphql/execution/collectFields`, not in its public API).
 */
function collect(c: Compile, type: GraphQLObjectType, selectionSet: SelectionSetNode, into: Collected = new Map(), seen = new Set<string>()): Collected {
  for (const sel of selectionSet.selections) {
    if (!included(c, sel)) continue;
    if (sel.kind === Kind.FIELD) {
      const key = sel.alias?.value ?? sel.name.value;
      const list = into.get(key);
      if (list) list.push(sel);
      else into.set(key, [sel]);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      if (sel.typeCondition && !applies(c, sel.typeCondition.name.value, type)) continue;
      collect(c, type, sel.selectionSet, into, seen);
    } else {
      const name = sel.name.value;
      const fragment = c.fragments[name];
      if (seen.has(name) || !fragment || !applies(c, fragment.typeCondition.name.value, type)) continue;
      seen.add(name);
      collect(c, type, fragment.selectionSet, into, seen);
    }
  }
  return into;
}

function included(c: Compile, node: Parameters<typeof getDirectiveValues>[1]): boolean {
  if (getDirectiveValues(GraphQLSkipDirective, node, c.variables)?.if === true) return false;
  return getDirectiveValues(GraphQLIncludeDirective, node, c.variables)?.if !== false;
}

function applies(c: Compile, condition: string, type: GraphQLObjectType): boolean {
  if (condition === type.name) return true;
  const named = c.schema.getType(condition);
  return !!named && isAbstractType(named) && c.schema.isSubType(named, type);
}

/** The subfields of a field's nodes on its (object) type. */
function subfields(c: Compile, type: GraphQLObjectType, nodes: readonly FieldNode[]): Collected {
  const into: Collected = new Map();
  const seen = new Set<string>();
  for (const node of nodes) if (node.selectionSet) collect(c, type, node.selectionSet, into, seen);
  return into;
}

interface Compile {
  schema: GraphQLSchema;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  ctx: Context;
  scopes: Record<Scope, boolean>;
  s: Statement;
}

/** Rows of a node type: the SQL expressions of one row and how to turn that row into the response object. */
interface NodePlan {
  exprs: string[];
  /** LEFT JOINs of the to-one relations the row reads (cheaper than a subquery per row, on PGlite most of all). */
  joins: string[];
  shape(row: unknown[]): Record<string, unknown>;
}

/** plugin-scope-auth's check of a static scope map (strategy `any`); a map given as a function, or with `$all`, is unsupported. */
function allowed(c: Compile, authScopes: unknown): boolean {
  if (authScopes === undefined) return true;
  if (authScopes === null || typeof authScopes !== 'object') unsupported('authScopes');
  return Object.entries(authScopes).some(([scope, wanted]) => {
    if (!(scope in c.scopes) || wanted !== true) unsupported(`authScopes.${scope}`);
    return c.scopes[scope as Scope];
  });
}

const pothosOptions = (x: { extensions?: Record<string, unknown> | null }) => (x.extensions?.pothosOptions ?? {}) as { authScopes?: unknown };

function checkType(c: Compile, type: GraphQLNamedType): GraphQLObjectType {
  if (!isObjectType(type)) unsupported(type.name);
  if (!allowed(c, pothosOptions(type).authScopes)) unsupported(`${type.name}: scope`);
  return type;
}

function checkField(c: Compile, type: GraphQLObjectType, name: string): GraphQLField<unknown, unknown> {
  const def = type.getFields()[name] ?? unsupported(`${type.name}.${name}`);
  if (!allowed(c, pothosOptions(def).authScopes)) unsupported(`${type.name}.${name}: scope`);
  return def;
}

function modelOf(type: GraphQLObjectType): string {
  const model = type.extensions?.pothosPrismaModel;
  return typeof model === 'string' ? model : unsupported(type.name);
}

function planNode(c: Compile, type: GraphQLObjectType, nodes: readonly FieldNode[], t: string): NodePlan {
  const model = modelOf(type);
  const exprs: string[] = [];
  const joins: string[] = [];
  const writers: ((row: unknown[], out: Record<string, unknown>) => void)[] = [];
  const sub = subfields(c, type, nodes);
  for (const [key, fieldNodes] of sub) {
    const name = fieldNodes[0]!.name.value;
    if (name === '__typename') {
      writers.push((_row, out) => void (out[key] = type.name));
      continue;
    }
    const def = checkField(c, type, name);
    const at = exprs.length;
    if (name === 'id') {
      exprs.push(`${t}."id"`);
      writers.push((row, out) => void (out[key] = encodeId(type.name, row[at] as string)));
    } else if (columnFields.get(type.name)?.has(name)) {
      if (def.args.length) unsupported(`${type.name}.${name}: arguments`);
      const column = checkColumn(fieldOf(model, name));
      exprs.push(`${t}.${ident(column.name)}`);
      writers.push(column.type === 'DateTime' ? (row, out) => void (out[key] = isoDate(row[at])) : (row, out) => void (out[key] = row[at]));
    } else if (toOneFields.get(type.name)?.has(name)) {
      const relation = fieldOf(model, name);
      const target = checkType(c, getNamedType(def.type));
      const r = c.s.alias();
      const inner = planNode(c, target, fieldNodes, r);
      joins.push(`LEFT JOIN ${ident(relation.type)} ${r} ON ${r}."id" = ${t}.${ident(foreignKey(model, relation))}`, ...inner.joins);
      exprs.push(`CASE WHEN ${r}."id" IS NULL THEN NULL ELSE ${rowSql(inner.exprs)} END`);
      writers.push((row, out) => void (out[key] = row[at] == null ? null : inner.shape(row[at] as unknown[])));
    } else if (listFields.has(`${type.name}.${name}`)) {
      const relation = fieldOf(model, name);
      if (!relation.isList) unsupported(`${type.name}.${name}`);
      const list = planList(c, type.name, def, fieldNodes, (r) => `${r}.${ident(backKey(model, relation))} = ${t}."id"`);
      exprs.push(list.sql);
      writers.push((row, out) => void (out[key] = list.shape(row[at] as unknown[][])));
    } else {
      unsupported(`${type.name}.${name}`);
    }
  }
  return {
    exprs,
    joins,
    shape(row) {
      const out: Record<string, unknown> = {};
      for (const write of writers) write(row, out);
      return out;
    },
  };
}

// json_build_array takes at most 100 arguments (PostgreSQL's FUNC_MAX_ARGS).
function rowSql(exprs: string[]): string {
  if (exprs.length > 100) unsupported('too many columns');
  return `json_build_array(${exprs.join(', ')})`;
}

interface ListPlan {
  sql: string;
  shape(rows: unknown[][]): Record<string, unknown>;
}

/** A connection field: its page as one JSON array (a correlated subquery under a parent row), and its response object. */
function planList(
  c: Compile,
  parent: string,
  def: GraphQLField<unknown, unknown>,
  nodes: readonly FieldNode[],
  link?: (alias: string) => string,
): ListPlan {
  const query = listFields.get(`${parent}.${def.name}`) ?? unsupported(`${parent}.${def.name}`);
  const args = getArgumentValues(def, nodes[0]!, c.variables);
  if (args.after != null || args.before != null || args.last != null) unsupported('cursor arguments');
  const first = args.first ?? 20;
  if (typeof first !== 'number' || !Number.isInteger(first) || first < 1 || first > 100) unsupported('first');
  const { where, orderBy } = query(args, c.ctx);

  const connection = checkType(c, getNamedType(def.type));
  const model = modelOf(checkType(c, edgeNodeType(connection)));
  const t = c.s.alias();
  const writers: ((page: unknown[][], more: boolean, out: Record<string, unknown>) => void)[] = [];
  let node: NodePlan | undefined;
  const cursorOf = (row: unknown[]) => formatPrismaCursor({ id: row[row.length - 1] }, 'id');
  for (const [key, fieldNodes] of subfields(c, connection, nodes)) {
    const name = fieldNodes[0]!.name.value;
    if (name === '__typename') {
      writers.push((_p, _m, out) => void (out[key] = connection.name));
    } else if (name === 'edges') {
      const edge = checkType(c, getNamedType(checkField(c, connection, 'edges').type));
      const edgeWriters: ((row: unknown[], out: Record<string, unknown>) => void)[] = [];
      for (const [ekey, edgeNodes] of subfields(c, edge, fieldNodes)) {
        const ename = edgeNodes[0]!.name.value;
        if (ename === '__typename') edgeWriters.push((_r, out) => void (out[ekey] = edge.name));
        else if (ename === 'cursor') edgeWriters.push((r, out) => void (out[ekey] = cursorOf(r)));
        else if (ename === 'node') {
          if (node) unsupported('node selected twice');
          const plan = (node = planNode(c, checkType(c, getNamedType(checkField(c, edge, 'node').type)), edgeNodes, t));
          edgeWriters.push((r, out) => void (out[ekey] = plan.shape(r)));
        } else unsupported(`${edge.name}.${ename}`);
      }
      writers.push((page, _m, out) => {
        out[key] = page.map((r) => {
          const e: Record<string, unknown> = {};
          for (const w of edgeWriters) w(r, e);
          return e;
        });
      });
    } else if (name === 'pageInfo') {
      const info = checkType(c, getNamedType(checkField(c, connection, 'pageInfo').type));
      const infoWriters: ((page: unknown[][], more: boolean, out: Record<string, unknown>) => void)[] = [];
      for (const [ikey, infoNodes] of subfields(c, info, fieldNodes)) {
        const iname = infoNodes[0]!.name.value;
        if (iname === '__typename') infoWriters.push((_p, _m, out) => void (out[ikey] = info.name));
        else if (iname === 'hasNextPage') infoWriters.push((_p, more, out) => void (out[ikey] = more));
        else if (iname === 'hasPreviousPage') infoWriters.push((_p, _m, out) => void (out[ikey] = false));
        else if (iname === 'startCursor') infoWriters.push((p, _m, out) => void (out[ikey] = p.length ? cursorOf(p[0]!) : null));
        else if (iname === 'endCursor') infoWriters.push((p, _m, out) => void (out[ikey] = p.length ? cursorOf(p[p.length - 1]!) : null));
        else unsupported(`${info.name}.${iname}`);
      }
      writers.push((page, more, out) => {
        const o: Record<string, unknown> = {};
        for (const w of infoWriters) w(page, more, o);
        out[key] = o;
      });
    } else {
      unsupported(`${connection.name}.${name}`);
    }
  }

  // The row: the node's columns, then the id (every edge's cursor).
  const exprs = [...(node?.exprs ?? []), `${t}."id"`];
  const order = orderSql(model, t, orderBy);
  const filter = [link?.(t), whereSql(c.s, model, t, where)].filter(Boolean).join(' AND ');
  const keys = order.keys.map((k, i) => `${k} AS k${i}`);
  const joins = node?.joins.length ? ` ${node.joins.join(' ')}` : '';
  const sql =
    `(SELECT coalesce(json_agg(s.r${order.keys.length ? ` ORDER BY ${order.keys.map((_k, i) => `s.k${i} ${order.directions[i]}`).join(', ')}` : ''}), '[]'::json) ` +
    `FROM (SELECT ${rowSql(exprs)} AS r${keys.length ? `, ${keys.join(', ')}` : ''} FROM ${ident(model)} ${t}${joins} WHERE ${filter}` +
    `${order.keys.length ? ` ORDER BY ${order.keys.map((k, i) => `${k} ${order.directions[i]}`).join(', ')}` : ''} LIMIT ${first + 1}) s)`;
  return {
    sql,
    shape(rows) {
      const more = rows.length > first;
      const page = more ? rows.slice(0, first) : rows;
      const out: Record<string, unknown> = {};
      for (const w of writers) w(page, more, out);
      return out;
    },
  };
}

export interface ListReadPlan {
  sql: string;
  params: unknown[];
  shape(row: unknown[]): Record<string, unknown>;
}

/** The statement and shaper of an operation, or null when the regular execution must answer it. */
export function planListRead(args: ExecutionArgs & { contextValue: Context }): ListReadPlan | null {
  if (!mayBeList(args.document)) return null;
  try {
    return plan(args);
  } catch {
    // `unsupported`, or anything else planning meets (an argument graphql-js would not coerce, say): the regular execution answers.
    return null;
  }
}

/** Most operations are not lists: told apart by their first operation's root field names before anything costs. */
function mayBeList(document: DocumentNode): boolean {
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operation?.operation !== 'query') return false;
  return operation.selectionSet.selections.every((sel) => sel.kind !== Kind.FIELD || sel.name.value === '__typename' || listFields.has(`Query.${sel.name.value}`));
}

function plan(args: ExecutionArgs & { contextValue: Context }): ListReadPlan {
  const { schema, document, contextValue: ctx } = args;
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  // One operation: the complexity below is the document's first one's (plugin-complexity's complexityFromQuery).
  if (operations.length !== 1) unsupported('operations');
  const operation = operations[0]!;
  if (operation.operation !== 'query' || (args.operationName != null && operation.name?.value !== args.operationName)) unsupported('operation');
  if (!ctx.principal) unsupported('anonymous');
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], (args.variableValues ?? {}) as Record<string, unknown>);
  if (coerced.errors) unsupported('variables');
  const fragments = Object.fromEntries(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const c: Compile = { schema, fragments, variables: coerced.coerced, ctx, scopes: scopesOf(ctx.principal), s: new Statement() };
  if (overComplexityLimit(schema, document, args.variableValues, ctx)) unsupported('complexity');

  const root = schema.getQueryType() ?? unsupported('query type');
  const columns: string[] = [];
  const writers: ((row: unknown[], out: Record<string, unknown>) => void)[] = [];
  for (const [key, nodes] of collect(c, root, operation.selectionSet)) {
    const name = nodes[0]!.name.value;
    if (name === '__typename') {
      writers.push((_r, out) => void (out[key] = root.name));
      continue;
    }
    const def = checkField(c, root, name);
    const list = planList(c, root.name, def, nodes);
    const at = columns.length;
    columns.push(list.sql);
    writers.push((row, out) => void (out[key] = list.shape(row[at] as unknown[][])));
  }
  if (!columns.length) unsupported('no list');
  return {
    sql: `SELECT ${columns.map((col, i) => `${col} AS l${i}`).join(', ')}`,
    params: c.s.params,
    shape(row) {
      const out: Record<string, unknown> = {};
      for (const w of writers) w(row, out);
      return out;
    },
  };
}

/** The node type of a connection type. */
function edgeNodeType(connection: GraphQLObjectType): GraphQLNamedType {
  const edge = getNamedType(connection.getFields().edges?.type ?? unsupported(connection.name));
  if (!isObjectType(edge)) unsupported(edge.name);
  return getNamedType(edge.getFields().node?.type ?? unsupported(edge.name));
}

function overComplexityLimit(schema: GraphQLSchema, document: DocumentNode, variables: unknown, ctx: Context): boolean {
  const max = complexityLimits(ctx);
  const r = complexityFromQuery(document, { schema, variables: (variables ?? {}) as Record<string, unknown>, ctx });
  return r.depth > max.depth || r.breadth > max.breadth || r.complexity > max.complexity;
}

/**
 * The Yoga plugin: a query this path can answer runs as one statement;
 * anything else — and any failure of that statement — runs as before.
 */
export function listReadPlugin(counter: Counter<'path'>, served: (text: string, document: DocumentNode) => void = () => {}): Plugin<AppContext> {
  const pipeline = counter.labels({ path: 'pipeline' });
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const context = args.contextValue as Context;
      const planned = planListRead(args as ExecutionArgs & { contextValue: Context });
      if (!planned) return;
      const { db } = context.app;
      setExecuteFn(async (execArgs: ExecutionArgs): Promise<ExecutionResult> => {
        try {
          const [row] = await db.driverQuery(planned.sql, planned.params);
          if (row) {
            const data = planned.shape(row);
            pipeline.inc();
            // Past every check of the pipeline: its text may be answered ahead of it from now on (http/hot-lists.ts).
            if (typeof context.params?.query === 'string') served(context.params.query, args.document);
            return { data };
          }
        } catch {
          // A value this path does not shape (`unsupported`), or a failed statement: the regular execution
          // answers, as it always does (a failure it meets too becomes e.g. a 503, retryable).
        }
        return executeFn(execArgs) as Promise<ExecutionResult>;
      });
    },
  };
}
