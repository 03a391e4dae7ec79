/**
 * The service's own spans (issue #12), beside what the instrumentation packages make: socket
 * events, the send and its transaction, the fan-out. Every helper is a no-op (one `if`) when
 * tracing is off, so the code paths cost nothing measurable without an exporter.
 *
 * Nothing here puts message text, tokens or payloads on a span: only ids, counts and outcomes.
 */
import { isTracingSuppressed, suppressTracing } from '@opentelemetry/core';
import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  TraceFlags,
  type SpanContext,
} from '@opentelemetry/api';
import { tracingEnabled, unsampledAtEdge } from './tracing';

export const TRACER_NAME = 'chat-service';

let cachedTracer: ReturnType<typeof trace.getTracer> | undefined;
/** The service's tracer (the global provider's lookup by name costs a map key per call otherwise). */
const tracer = () => (cachedTracer ??= trace.getTracer(TRACER_NAME));

export { SpanKind };

/** A W3C trace-context carrier: what a client may pass with a socket event or in the handshake. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** W3C `traceparent` (version 00 and future versions' first four fields). */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?:-.*)?$/;

/**
 * The trace context a client-supplied carrier describes, or undefined when there is none or it is
 * malformed (ignored, never an error: trace context is advisory). Only `traceparent` and
 * `tracestate` are read, as strings of bounded length.
 */
export function contextFromCarrier(carrier: unknown): Context | undefined {
  if (!carrier || typeof carrier !== 'object' || Array.isArray(carrier)) return undefined;
  const { traceparent, tracestate } = carrier as Record<string, unknown>;
  if (typeof traceparent !== 'string' || traceparent.length > 256 || !TRACEPARENT.test(traceparent))
    return undefined;
  const headers: Record<string, string> = { traceparent };
  if (typeof tracestate === 'string' && tracestate.length <= 512) headers.tracestate = tracestate;
  const extracted = propagation.extract(ROOT_CONTEXT, headers);
  return trace.getSpanContext(extracted) ? extracted : undefined;
}

/**
 * The active context as a carrier (to cross Redis), or undefined when there is no sampled span to
 * continue (an unsampled trace stays unsampled on the other side: nothing to carry).
 */
export function currentCarrier(): TraceCarrier | undefined {
  if (!tracingEnabled()) return undefined;
  const active = trace.getSpanContext(context.active());
  if (!active || !(active.traceFlags & TraceFlags.SAMPLED)) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The active context, to be resumed later with `inContext` (undefined when tracing is off). */
export function activeContext(): Context | undefined {
  return tracingEnabled() ? context.active() : undefined;
}

/** Runs `fn` in `ctx` (as is when there is none). */
export function inContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx ? context.with(ctx, fn) : fn();
}

/** A link to the span of `ctx`, if it has one. */
export function linkTo(ctx: Context | undefined, attributes?: Attributes): Link | undefined {
  const spanContext = ctx && trace.getSpanContext(ctx);
  return spanContext ? { context: spanContext, attributes } : undefined;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: (Link | undefined)[];
  /** The parent; the active context when omitted. */
  parent?: Context;
  /**
   * May start a trace of its own when the parent has no span (an operation's root: a socket event).
   * Without it, a span is made only under a parent span: work outside any traced operation (or in
   * one that was shed) makes none.
   */
  root?: boolean;
}

/**
 * Whether a span started under `parent` would be dropped anyway: the operation was shed (see
 * `shedUnsampledRequests`), or the parent is a local span the sampler did not record (the configured samplers
 * decide a trace once, at its root). Skipping it keeps the cost of the 90 % unsampled requests at 10 %
 * sampling down.
 */
function dropped(parent: Context, root = false): boolean {
  if (isTracingSuppressed(parent)) return true;
  const span = trace.getSpan(parent);
  if (!span) return !root;
  return !span.isRecording() && !span.spanContext().isRemote;
}

/** Where a shed operation keeps its (unsampled) span context: its log lines still carry the ids. */
const SHED_SPAN_CONTEXT = createContextKey('chat-service shed span context');

/**
 * Express middleware: the rest of a request the edge did not sample (tracing.ts
 * `sampleRequestsAtEdge`, which leaves its span context on the request) runs shed: in a context
 * that has no span and suppresses tracing, so the instrumentations (which make spans only under a
 * parent: pg, ioredis, outgoing HTTP and fetch) and the Nest handler skip their work entirely. What
 * is lost: an unsampled operation's outgoing calls carry no `traceparent` (its callee samples on its
 * own); its log lines keep `traceId`/`spanId` (see `logTraceFields`).
 */
export function shedUnsampledRequests(req: object, _res: unknown, next: () => void): void {
  const atEdge = unsampledAtEdge.get(req);
  if (!atEdge) return next();
  const active = context.active();
  context.with(suppressTracing(trace.deleteSpan(active)).setValue(SHED_SPAN_CONTEXT, atEdge), next);
}

/** Whether `ctx` has a span that is recorded (a sampled operation's). */
export function isRecording(ctx: Context | undefined): boolean {
  return ctx !== undefined && trace.getSpan(ctx)?.isRecording() === true;
}

/**
 * Runs `fn` inside a new span that ends when its promise settles (an error is recorded on it and
 * rethrown). Without tracing, or inside an unsampled trace, it just runs `fn`.
 */
export function withSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return fn(undefined);
  const parent = options.parent ?? context.active();
  if (dropped(parent, options.root)) return fn(undefined);
  const span = tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      attributes: options.attributes,
      links: options.links?.filter((l): l is Link => l !== undefined),
    },
    parent,
  );
  return context
    .with(trace.setSpan(parent, span), () => fn(span))
    .then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        recordError(span, err);
        span.end();
        throw err;
      },
    );
}

/** Starts a span the caller ends (undefined when tracing is off or the trace is not sampled). */
export function startSpan(name: string, options: SpanOptions = {}): Span | undefined {
  if (!tracingEnabled()) return undefined;
  if (dropped(options.parent ?? context.active(), options.root)) return undefined;
  return tracer().startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      attributes: options.attributes,
      links: options.links?.filter((l): l is Link => l !== undefined),
    },
    options.parent ?? context.active(),
  );
}

/** The context with `span` active (the active context as is when there is no span). */
export function contextWith(span: Span | undefined, parent: Context = context.active()): Context {
  return span ? trace.setSpan(parent, span) : parent;
}

/** Records an exception on `span` (its class and message only) and marks the span failed. */
export function recordError(span: Span | undefined, err: unknown): void {
  if (!span) return;
  const message = err instanceof Error ? err.message : String(err);
  span.recordException({ name: err instanceof Error ? err.name : 'Error', message });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** `{ traceId, spanId }` of the active span, for log lines (empty outside a traced operation). */
export function logTraceFields(): { traceId?: string; spanId?: string } {
  const active = context.active();
  const spanContext =
    trace.getSpan(active)?.spanContext() ?? (active.getValue(SHED_SPAN_CONTEXT) as SpanContext | undefined);
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { traceId: spanContext.traceId, spanId: spanContext.spanId };
}
