import {
  createSourceEventStream,
  execute,
  getOperationAST,
  visit,
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import { isAsyncIterable, isPromise, mapAsyncIterator, type Plugin } from 'graphql-yoga';
import type { Counter } from 'prom-client';
import { visibilityKey } from '../auth/principal.js';
import type { AppContext } from '../context.js';
import { DIRECT, isDirectSource } from '../pubsub/direct.js';
import { RESULT_IGNORES_ARGUMENTS } from '../schema/extensions.js';

/**
 * Subscription events executed once per audience, not once per subscriber.
 *
 * A live-feed event reaches every subscriber of its customer in this process
 * as the same object (modules/feed/reader.ts offers one object per committed
 * row to all of them). Subscribers that sent the same document, operation
 * name and variables, as principals that may see the same things
 * (`visibilityKey`: kind, organization, customer, limits), would each compute
 * the same result: the first one computes it, the others get that result.
 *
 * Authorization stays per subscriber: each subscription's `subscribe` (its
 * operation scopes, which customer and connector it may follow) runs with
 * its own context, and it only ever receives the events of its own stream;
 * sharing only skips re-executing the selection set of an event it receives
 * anyway, for an equivalent principal. Events that are not objects, or
 * objects made for one subscriber (its replay, a RESYNC), are executed for
 * that subscriber alone, as before.
 *
 * A subscription field whose arguments only choose the stream (which
 * customer, replay after which cursor) and whose `resolve` ignores them says
 * so with the extension `RESULT_IGNORES_ARGUMENTS`: variables used only in its
 * arguments are then left out of the key, so builders that resubscribed with
 * different cursors still share.
 *
 * The results live as long as the event object (a WeakMap keyed by it):
 * nothing is kept once every subscriber's queue has let go of the event.
 *
 * Written here rather than taken from a library: Yoga and envelop offer the
 * hook (`setSubscribeFn`) but no sharing of results across operations.
 */
export function sharedSubscriptionResults(counter: Counter<'outcome'>, deliveries: Counter<'path'>): Plugin<AppContext> {
  const results = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();
  const executed = counter.labels({ outcome: 'executed' });
  const shared = counter.labels({ outcome: 'shared' });
  const direct = deliveries.labels({ path: 'direct' });
  const queued = deliveries.labels({ path: 'queued' });

  /** Executed for a direct delivery that was then declined: the queued path counts them as executed when it takes them up. */
  const uncounted = new WeakSet<object>();

  /**
   * An event's result for this key: executed by the first subscriber of the
   * key that needs it, shared by the rest. `forDirect`: for a direct delivery,
   * which counts it only once it is sent (`count`).
   */
  function resultFor(args: ExecutionArgs, key: string, event: unknown, forDirect = false): ExecutionResult | Promise<ExecutionResult> {
    if (typeof event !== 'object' || event === null) {
      if (!forDirect) executed.inc();
      return execute({ ...args, rootValue: event });
    }
    let byKey = results.get(event);
    if (!byKey) results.set(event, (byKey = new Map()));
    let result = byKey.get(key);
    if (!result) {
      byKey.set(key, (result = execute({ ...args, rootValue: event })));
      if (forDirect) uncounted.add(result);
      else executed.inc();
    } else if (!forDirect) {
      count(result);
    }
    return result;
  }

  function count(result: object): void {
    if (uncounted.delete(result)) executed.inc();
    else shared.inc();
  }

  /** graphql-js `subscribe`, the per-event execution shared by key. */
  async function subscribeSharing(args: ExecutionArgs, key: string) {
    // The subscriber's own `subscribe` resolver: scope checks, its target, its stream.
    const source = await createSourceEventStream(args);
    if (!isAsyncIterable(source)) return source;
    if (isDirectSource(source)) {
      const context = args.contextValue as object;
      directSources.set(context, (send) =>
        source[DIRECT]((event) => {
          if (typeof event !== 'object' || event === null) return false;
          // Only a finished result without errors: anything else goes the queued way, through envelop's result hooks (error masking).
          const result = resultFor(args, key, event, true);
          if (isPromise(result) || result.errors || !send(payloadJson(result))) return false;
          count(result);
          direct.inc();
          return true;
        }),
      );
    }
    return mapAsyncIterator(source, (event: unknown) => {
      queued.inc();
      return resultFor(args, key, event);
    });
  }

  return {
    onSubscribe({ args, setSubscribeFn }) {
      const principal = (args.contextValue as Partial<AppContext>).principal;
      // No principal: no subscription passes its scope checks; nothing to share.
      if (!principal) return;
      const variables = resultVariables(args.schema, args.document, args.operationName, args.variableValues);
      const key = JSON.stringify([documentId(args.document), args.operationName ?? null, variables, visibilityKey(principal)]);
      setSubscribeFn((a) => subscribeSharing(a as ExecutionArgs, key));
    },
  };
}

/** For each subscription (its context) whose source delivers directly: how the transport attaches its frame writer. */
const directSources = new WeakMap<object, (send: (payload: string) => boolean) => void>();

/**
 * The transport's side of direct delivery (pubsub/direct.ts): `send` gets an
 * event's result as the JSON of a `next` payload — serialized once per shared
 * result — and writes it (true) or declines (false: the event takes the
 * queued path). Nothing happens for a subscription whose source does not
 * deliver directly (or an operation that is not a subscription).
 */
export function deliverDirectly(contextValue: unknown, send: (payload: string) => boolean): void {
  if (typeof contextValue === 'object' && contextValue !== null) directSources.get(contextValue)?.(send);
}

const payloads = new WeakMap<ExecutionResult, string>();

/** A result's JSON, as graphql-ws would write it (`errors` absent: such results never come here). */
function payloadJson(result: ExecutionResult): string {
  let json = payloads.get(result);
  if (json === undefined) payloads.set(result, (json = JSON.stringify(result)));
  return json;
}

/**
 * Yoga's parser cache hands the same DocumentNode to every operation with the
 * same text: its identity is the document's part of the key (a second node
 * for the same text only means less sharing).
 */
const documentIds = new WeakMap<DocumentNode, number>();
let lastDocumentId = 0;

function documentId(document: DocumentNode): number {
  let id = documentIds.get(document);
  if (id === undefined) documentIds.set(document, (id = ++lastDocumentId));
  return id;
}

/**
 * The variables a subscription's per-event result can depend on: all of them,
 * or — when its root field declares `RESULT_IGNORES_ARGUMENTS` — those used
 * anywhere but in that field's arguments (its selection set, directives, any
 * fragment).
 */
function resultVariables(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): Record<string, unknown> | null {
  if (!variables) return null;
  const operation = getOperationAST(document, operationName);
  const root = operation?.selectionSet.selections;
  const field = root?.length === 1 && root[0]!.kind === 'Field' ? root[0] : null;
  if (!operation || !field || !schema.getSubscriptionType()?.getFields()[field.name.value]?.extensions[RESULT_IGNORES_ARGUMENTS]) return variables;
  const used = new Set<string>();
  const collect = (node: ASTNode | readonly ASTNode[] | undefined) => {
    if (!node) return;
    for (const n of Array.isArray(node) ? node : [node]) visit(n as ASTNode, { Variable: (v) => void used.add(v.name.value) });
  };
  collect(operation.directives);
  collect(field.directives);
  collect(field.selectionSet);
  collect(document.definitions.filter((d) => d.kind === 'FragmentDefinition'));
  return Object.fromEntries(Object.entries(variables).filter(([name]) => used.has(name)));
}
