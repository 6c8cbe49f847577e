import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode } from 'graphql';
import type { Counter } from 'prom-client';
import type { App } from '../app.js';
import { credentialFromHeader } from '../auth/bearer.js';
import { visibilityKey } from '../auth/principal.js';
import type { Context } from '../context.js';
import { orgUserBearer, principalOf } from '../modules/access/authenticate.js';
import { schema } from '../schema/index.js';
import { planListRead, type ListReadPlan } from '../schema/list-reads.js';
import { mediaType, variableProblems } from './client-input.js';
import { nameOperation } from './graphql.js';

/** Documents, bodies and plans remembered per gateway (each map): the hot lists of its clients' screens are a handful in practice. */
const MAX_ENTRIES = 256;
/** A body this size or under is read here; a larger one goes to Yoga unread (no list document is that large). */
const MAX_BODY_BYTES = 16 * 1024;
/** The response media types Yoga answers these Accept headers with (what else a client sends goes to Yoga). */
const ANSWER_TYPES = new Map<string | undefined, string>([
  [undefined, 'application/json; charset=utf-8'],
  ['*/*', 'application/json; charset=utf-8'],
  ['application/json', 'application/json; charset=utf-8'],
  ['application/graphql-response+json', 'application/graphql-response+json; charset=utf-8'],
]);

/**
 * Hot lists answered before Yoga's pipeline (schema/list-reads.ts answers
 * them in one statement inside it). A document the list path has served
 * through the whole pipeline — parsed within the operation limits,
 * validated, its literals checked — is remembered by its text; a later POST
 * of the same text is answered here: the same authentication, the same
 * checks of its variables, the same plan (scopes, filters and complexity
 * evaluated for this body and what this principal may see — planned once per
 * body and `visibilityKey`, whose principals pass the same scope checks and
 * row filters), the same statement and bytes — an org user's token check
 * folded into that statement (`orgUserBearer`) — without the WHATWG Request
 * and Response, the plugin chain and the parse and validation cache lookups
 * around it, which cost more than the list itself. Anything unusual —
 * another body shape, an Origin (CORS), an Accept it does not know, a query
 * string, no principal, a variable problem, a plan the list path declines, a
 * failed statement — goes to Yoga as it came (the body already read is
 * handed on with it: Yoga's Node adapter uses `req.body`), so errors are
 * Yoga's, as ever.
 *
 * Written here: Yoga has no hook before it builds its Request; a persisted
 * documents plugin would still run the whole pipeline.
 */
export class HotLists {
  private readonly documents = new Map<string, DocumentNode>();
  /** Request bodies seen, parsed once: what they ask for, or null when it is not a remembered document. */
  private readonly bodies = new Map<string, HotRequest | null>();
  /** Plans by visibility and body. */
  private readonly plans = new Map<string, ListReadPlan>();
  private readonly early: Counter.Internal;

  constructor(private readonly app: App) {
    this.early = app.metrics.listReads.labels({ path: 'early' });
  }

  /** A document the list path served through the pipeline (text as the client sent it). */
  remember(text: string, document: DocumentNode): void {
    if (this.documents.has(text)) return;
    bounded(this.documents, text, document);
    // Bodies found not to ask for a remembered document may ask for this one.
    for (const [body, request] of this.bodies) if (request === null) this.bodies.delete(body);
  }

  /**
   * Serves the request here when it may be one of the remembered documents;
   * otherwise, or when it is not one after all, `yoga` serves it.
   */
  serve(req: IncomingMessage, res: ServerResponse, yoga: () => void): void {
    const type = ANSWER_TYPES.get(req.headers.accept);
    const length = Number(req.headers['content-length']);
    const buffered = (req as { body?: unknown }).body;
    if (
      this.documents.size === 0 ||
      type === undefined ||
      req.method !== 'POST' ||
      req.url !== '/graphql' ||
      req.headers.origin !== undefined ||
      mediaType(req.headers['content-type'] ?? null) !== 'application/json' ||
      !(Buffer.isBuffer(buffered) ? buffered.length > 0 && buffered.length <= MAX_BODY_BYTES : length > 0 && length <= MAX_BODY_BYTES)
    ) {
      return yoga();
    }
    const answer = (body: Buffer) => {
      this.answer(req, res, body, type).then(
        (answered) => answered || yoga(),
        () => yoga(),
      );
    };
    if (Buffer.isBuffer(buffered)) return answer(buffered);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const body = Buffer.concat(chunks);
      // Yoga's Node adapter reads a body it finds on the request (body-limit.ts hands chunked bodies on the same way).
      Object.assign(req, { body, rawBody: body });
      answer(body);
    });
  }

  /** True when answered; false leaves the request to Yoga. */
  private async answer(req: IncomingMessage, res: ServerResponse, raw: Buffer, type: string): Promise<boolean> {
    const text = raw.toString('utf8');
    const request = this.request(text);
    if (!request) return false;
    const { app } = this;
    const credential = credentialFromHeader(req.headers.authorization);
    // An org user's token is checked inside the list's statement: one round trip, not two.
    const folded = credential ? await orgUserBearer(app, credential) : null;
    const principal = folded ? folded.principal : await principalOf(app, credential);
    if (!principal) return false;
    // A plan depends on the body and on what the principal may see, never on who it is (visibilityKey's contract).
    const key = `${visibilityKey(principal)}\n${text}`;
    let planned = this.plans.get(key);
    if (!planned) {
      const contextValue = { principal, app, prisma: app.db.prisma, params: request.params } as unknown as Context;
      const args = { schema, document: request.document, operationName: request.params.operationName, variableValues: request.params.variables, contextValue };
      if (variableProblems(args).length) return false;
      const plan = planListRead(args);
      if (!plan) return false;
      bounded(this.plans, key, (planned = plan));
    }
    let { sql, params: values } = planned;
    if (folded) {
      values = [...values];
      const check = folded.check((value) => `$${values.push(value)}`);
      sql = `SELECT ${check} AS "user", ${sql.slice('SELECT '.length)}`;
    }
    const [row] = await app.db.driverQuery(sql, values);
    if (!row) return false;
    // The user is gone: nothing read is answered; Yoga authenticates again and refuses.
    if (folded && row.shift() !== true) return false;
    const body = JSON.stringify({ data: planned.shape(row) });
    nameOperation(request.document, request.params.operationName);
    this.early.inc();
    res.writeHead(200, { 'content-length': Buffer.byteLength(body), 'content-type': type });
    res.end(body);
    return true;
  }

  /** A body that asks for a remembered document, in the shape Yoga would take it: its parts; null for anything else. */
  private request(text: string): HotRequest | null {
    let request = this.bodies.get(text);
    if (request !== undefined) return request;
    request = this.parse(text);
    // Remembered either way: a client repeating a body that is not a hot list (a mutation, a resolution) costs a lookup.
    bounded(this.bodies, text, request);
    return request;
  }

  private parse(text: string): HotRequest | null {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return null;
    }
    if (!isPlainObject(body) || Object.keys(body).some((key) => key !== 'query' && key !== 'variables' && key !== 'operationName')) return null;
    const { query, variables, operationName } = body;
    const document = typeof query === 'string' ? this.documents.get(query) : undefined;
    if (!document) return null;
    if ((variables != null && !isPlainObject(variables)) || (operationName != null && typeof operationName !== 'string')) return null;
    return { document, params: { query: query as string, variables: variables ?? undefined, operationName: operationName ?? undefined } };
  }
}

interface HotRequest {
  document: DocumentNode;
  params: { query: string; variables: Record<string, unknown> | undefined; operationName: string | undefined };
}

/** Sets an entry of a map kept to MAX_ENTRIES (the oldest goes first). */
function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value!);
  map.set(key, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
