import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { GraphQLError, type DocumentNode, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import { Gauge } from 'prom-client';
import type { App } from '../app.js';
import type { Config } from '../config.js';

type Limits = Pick<Config, 'maxTokens' | 'maxDepth' | 'maxAliases' | 'maxDirectives' | 'documentCacheBytes'>;

/**
 * What one GraphQL document may cost before it runs (graphql-armor's envelop
 * plugins, HTTP and WebSocket alike): tokens are counted while parsing, so a
 * document over MAX_TOKENS is refused before it is parsed further, nested or
 * cached — a depth of 10,000 never reaches a recursive walk; aliases
 * (`__typename` ones included), directives and depth are checked at
 * validation. Complexity, with list arguments counted, is Pothos's
 * (schema/builder.ts). Every refusal is a 400 naming the limit.
 */
export function operationLimitPlugins(config: Limits): Plugin[] {
  return [
    maxTokensPlugin({ n: config.maxTokens }),
    maxDepthPlugin({ n: config.maxDepth, flattenFragments: true, ...reported }),
    // graphql-armor lets `__typename` aliases through by default: they are counted here.
    maxAliasesPlugin({ n: config.maxAliases, allowList: [], ...reported }),
    maxDirectivesPlugin({ n: config.maxDirectives, ...reported }),
  ] as Plugin[];
}

/**
 * graphql-armor's validation rules throw by default, which Yoga answers as
 * an untyped error; reported as validation errors instead, they are typed
 * (QUERY_TOO_COMPLEX) and answered 400 like every validation error.
 */
const reported = {
  propagateOnRejection: false,
  onReject: [
    (ctx: ValidationContext | null, error: GraphQLError) =>
      ctx?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'QUERY_TOO_COMPLEX' } })),
  ],
};

/**
 * Heap bytes a parsed document takes per character of its source (measured:
 * ~87 for a dense query on Node 24), rounded up; the source itself is the key.
 */
const AST_BYTES_PER_CHAR = 100;

/**
 * Yoga's parse caches (documents by source text, and parse errors), bounded
 * in bytes rather than entries: LRU_CACHE_BYTES split between them, so no
 * caller, signed in or not, grows memory past it with distinct documents.
 */
export function documentCaches(config: Limits): { documentCache: LRUCache<string, DocumentNode>; errorCache: LRUCache<string, object> } {
  const half = Math.max(1, Math.floor(config.documentCacheBytes / 2));
  return {
    documentCache: new LRUCache<string, DocumentNode>({
      maxSize: half,
      sizeCalculation: (_doc, source) => Math.max(1, source.length * (2 + AST_BYTES_PER_CHAR)),
    }),
    errorCache: new LRUCache<string, object>({
      maxSize: half,
      sizeCalculation: (_err, source) => Math.max(1, source.length * 2 + 1024),
    }),
  };
}

/** `gateway_graphql_document_cache_bytes`: what the caches hold (estimated), by cache. */
export function observeDocumentCaches(app: App, caches: ReturnType<typeof documentCaches>): void {
  const name = 'gateway_graphql_document_cache_bytes';
  if (app.metrics.registry.getSingleMetric(name)) return;
  new Gauge({
    name,
    help: 'Parsed GraphQL documents and parse errors kept for reuse: estimated bytes, by cache (bounded by DOCUMENT_CACHE_BYTES).',
    labelNames: ['cache'] as const,
    registers: [app.metrics.registry],
    collect() {
      this.set({ cache: 'documents' }, caches.documentCache.calculatedSize);
      this.set({ cache: 'errors' }, caches.errorCache.calculatedSize);
    },
  });
}
