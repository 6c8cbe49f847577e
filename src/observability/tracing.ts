import { context, propagation, trace, SpanKind, SpanStatusCode, type Span, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config.js';

/**
 * OpenTelemetry tracing, on only when its standard variables say so
 * (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`;
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off). One
 * server span per HTTP request, continuing the caller's W3C `traceparent`,
 * named by the route or GraphQL operation; spans go over OTLP/HTTP in
 * batches. Off, every call here is a no-op.
 */
export interface Tracing {
  enabled: boolean;
  /** Runs `fn` inside a server span for one request; `finish` names it and records the outcome. */
  serverSpan<T>(method: string, headers: IncomingHttpHeaders, fn: (span: Span) => T): T;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

const off: Tracing = {
  enabled: false,
  serverSpan: (_m, _h, fn) => fn(trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 })),
  flush: async () => {},
  shutdown: async () => {},
};

let contextManager: AsyncLocalStorageContextManager | null = null;

export function startTracing(otel: Config['otel']): Tracing {
  if (!otel) return off;
  // Context (parent spans) and the W3C propagator are process-wide in OpenTelemetry's API.
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': otel.serviceName }),
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: otel.tracesEndpoint }) })],
  });
  const tracer: Tracer = provider.getTracer('connections-gateway');
  return {
    enabled: true,
    serverSpan(method, headers, fn) {
      const parent = propagation.extract(context.active(), headers, {
        get: (h, key) => h[key],
        keys: (h) => Object.keys(h),
      });
      return tracer.startActiveSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method } }, parent, fn);
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/** Names the request's span and records its outcome (no values: route patterns and operation names only). */
export function endServerSpan(span: Span, name: string, status: number, attributes: Record<string, string>): void {
  span.updateName(name);
  span.setAttributes({ 'http.response.status_code': status, ...attributes });
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
