/**
 * OpenTelemetry tracing (issue #12), configured only by the standard `OTEL_*` variables.
 *
 * `main.ts` calls `startTracing()` before anything it instruments (Nest, Express, pg, ioredis) is
 * loaded (it loads the app with `require` after the call, for `npm start` and `node dist/main.js`
 * alike). Tracing is on when an exporter is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER=console|zipkin`) and
 * `OTEL_SDK_DISABLED` is not `true`. Otherwise nothing of the SDK is even loaded: no span is made,
 * nothing is exported, the cost is one `if`.
 *
 * Tests pass their own `spanProcessors` (an in-memory exporter) instead of the environment's
 * exporters; they must call `startTracing` before they import the app.
 *
 * What is traced (what the maintained instrumentation packages see, plus the service's own spans:
 * socket events in realtime/socket-tracing.ts, the send and the fan-out with spans.ts):
 * - HTTP in (server span per request; `traceparent` honoured; every answer carries a
 *   `traceresponse` header) and out (node:http and `fetch`, which sends `traceparent`);
 * - the Nest handler (`Controller.method` and the method's own span); the server span is named
 *   after the route;
 * - PostgreSQL: one span per query with the parameterised statement (`$1`, never the values);
 * - Redis: one span per command with the command name only (never keys' values or script args,
 *   which carry message payloads).
 * Metrics and logs are not exported through OpenTelemetry (Prometheus /metrics and the JSON logs
 * stay as they are); log lines carry `traceId`/`spanId` (see logger.ts).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Context, SpanContext } from '@opentelemetry/api';
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';

type Instrumentation = NodeSDKConfiguration['instrumentations'][number];
/** `RouterExecutionContext.create` of @nestjs/core: builds the Express handler of one route. */
type RouteHandlerFactory = (...args: unknown[]) => (...handlerArgs: unknown[]) => unknown;

export interface TracingOptions {
  /** Span processors to use instead of those the `OTEL_*` variables describe (tests). */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  readonly enabled: boolean;
  /** Exports what is buffered. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** The response header that tells a client its trace: W3C Trace Context Level 2 `traceresponse`. */
export const TRACE_RESPONSE_HEADER = 'traceresponse';

/** Requests that make no span (probes and scrapes, Socket.IO's transport requests). */
const UNTRACED_PATHS = /^\/(?:metrics|health\/live|health\/ready|socket\.io\/)(?:[/?]|$)/;

const DISABLED: Tracing = {
  enabled: false,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

let current: Tracing | undefined;

/**
 * The sampling decision for an operation (a REST request, a socket event), taken at the edge before
 * any span exists, with the configured sampler (see `EdgeSampling`).
 */
export interface EdgeDecision {
  readonly sampled: boolean;
  readonly traceId: string;
  /** The operation starts a trace of its own (no valid parent): its root span must take `traceId`. */
  readonly root: boolean;
}

/**
 * Head sampling at the edge. The configured sampler decides once per operation whether it is traced,
 * before anything makes a span. An unsampled operation then makes none at all: over REST the HTTP
 * instrumentation is not even entered (it would compute the span's attributes, bind the request and
 * response emitters to a context and end a non-recording span: most of tracing's cost at 10 %
 * sampling, BENCHMARKS.md §6), over sockets no event span is started. A sampled operation's root
 * span takes the trace id the decision was made on, so the SDK's sampler, asked again when the span
 * starts, decides the same (the standard samplers decide by trace id or by the parent's flags).
 */
export interface EdgeSampling {
  decide(parent: Context): EdgeDecision;
  /** Runs `startRootSpan`, which starts the operation's root span synchronously, under `decision`. */
  start<T>(decision: EdgeDecision, startRootSpan: () => T): T;
  /** The span context an unsampled operation reports (traceresponse, log lines): it has no span. */
  unsampledSpanContext(decision: EdgeDecision): SpanContext;
}

let edge: EdgeSampling | undefined;

/** The edge sampling of the running SDK (undefined when tracing is off). */
export function edgeSampling(): EdgeSampling | undefined {
  return edge;
}

/**
 * The span context of each request the edge did not sample (read by spans.ts). Kept beside the
 * request, not on it: a property of ours would give unsampled requests an object shape of their own
 * in all the code they go through (no measurable cost was shown either way: BENCHMARKS.md §6d).
 */
export const unsampledAtEdge = new WeakMap<object, SpanContext>();

const isTrue = (v: string | undefined) => v?.trim().toLowerCase() === 'true';
const list = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

/** Whether the environment configures an exporter for traces (and does not disable the SDK). */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (isTrue(env.OTEL_SDK_DISABLED)) return false;
  const exporters = list(env.OTEL_TRACES_EXPORTER);
  if (exporters[0] === 'none') return false;
  if (exporters.some((e) => e === 'console' || e === 'zipkin')) return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

/** The instrumentations, by the names `OTEL_NODE_ENABLED_INSTRUMENTATIONS`/`_DISABLED_` use. */
export const INSTRUMENTATIONS = ['http', 'undici', 'pg', 'ioredis', 'nestjs-core'] as const;
export type InstrumentationName = (typeof INSTRUMENTATIONS)[number];

/**
 * The instrumentations to install: all of them, or those `OTEL_NODE_ENABLED_INSTRUMENTATIONS` lists,
 * minus those `OTEL_NODE_DISABLED_INSTRUMENTATIONS` lists (comma lists of the names above, as for
 * `@opentelemetry/auto-instrumentations-node`). Fewer instrumentations: fewer spans, less cost.
 */
export function enabledInstrumentations(env: NodeJS.ProcessEnv = process.env): InstrumentationName[] {
  const only = list(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS);
  const off = list(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS);
  return INSTRUMENTATIONS.filter((name) => (!only.length || only.includes(name)) && !off.includes(name));
}

/** True once `startTracing` has installed the SDK in this process. */
export function tracingEnabled(): boolean {
  return current?.enabled ?? false;
}

/** The handle `startTracing` returned (a disabled one before it ran). */
export function currentTracing(): Tracing {
  return current ?? DISABLED;
}

/**
 * Installs the OpenTelemetry SDK and the instrumentations, if the environment asks for traces (or
 * `options.spanProcessors` are given). Idempotent: a second call returns the first call's handle.
 */
export function startTracing(options: TracingOptions = {}): Tracing {
  if (current) return current;
  if (isTrue(process.env.OTEL_SDK_DISABLED) || (!options.spanProcessors && !tracingConfigured())) {
    current = DISABLED;
    return current;
  }
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when tracing is on */
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const enabled = enabledInstrumentations();
  const nest = enabled.includes('nestjs-core') ? createNestInstrumentation() : undefined;
  const hasServiceName =
    Boolean(process.env.OTEL_SERVICE_NAME?.trim()) ||
    /(?:^|,)\s*service\.name\s*=/.test(process.env.OTEL_RESOURCE_ATTRIBUTES ?? '');
  const sampling = createEdgeSampling();
  edge = sampling.edge;
  const sdk = new NodeSDK({
    serviceName: hasServiceName ? undefined : 'chat-service',
    sampler: sampling.sampler,
    idGenerator: sampling.idGenerator,
    // undefined: the exporters the OTEL_* variables describe, each behind a batch processor.
    spanProcessors: options.spanProcessors,
    // Traces only: metrics stay on /metrics (Prometheus), logs on stdout.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [...createInstrumentations(enabled), ...(nest ? [nest.instrumentation] : [])],
  });
  sdk.start();
  nest?.patchLoaded();
  current = {
    enabled: true,
    forceFlush: async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { trace } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
      const provider = trace.getTracerProvider() as { forceFlush?: () => Promise<void> };
      // The global provider is a proxy; its delegate is the SDK's provider.
      const delegate = (
        provider as { getDelegate?: () => { forceFlush?: () => Promise<void> } }
      ).getDelegate?.();
      await (delegate?.forceFlush ?? provider.forceFlush)?.call(delegate ?? provider);
    },
    shutdown: () => sdk.shutdown(),
  };
  return current;
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * The sampler `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` describe, as the SDK would build it
 * (default `parentbased_always_on`; a ratio outside 0–1 or not a number: 1), shared by the SDK and the
 * edge, and the id generator that gives an edge-sampled root span its decided trace id.
 */
function createEdgeSampling() {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const sdkTrace = require('@opentelemetry/sdk-trace') as typeof import('@opentelemetry/sdk-trace');
  const api = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = sdkTrace;
  const ratio = () => {
    const arg = Number(process.env.OTEL_TRACES_SAMPLER_ARG?.trim() || NaN);
    return Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  };
  // As @opentelemetry/core's getStringFromEnv: blank is unset, anything else is taken as written.
  const name = process.env.OTEL_TRACES_SAMPLER?.trim() ? process.env.OTEL_TRACES_SAMPLER : undefined;
  if (name !== undefined && !SAMPLERS.includes(name))
    api.diag.error(`unknown OTEL_TRACES_SAMPLER value "${name}", using default`);
  const sampler =
    name === 'always_on'
      ? new AlwaysOnSampler()
      : name === 'always_off'
        ? new AlwaysOffSampler()
        : name === 'traceidratio'
          ? new TraceIdRatioBasedSampler(ratio())
          : name === 'parentbased_always_off'
            ? new ParentBasedSampler({ root: new AlwaysOffSampler() })
            : name === 'parentbased_traceidratio'
              ? new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) })
              : new ParentBasedSampler({ root: new AlwaysOnSampler() });
  const random = new sdkTrace.RandomIdGenerator();
  let nextTraceId: string | undefined;
  const idGenerator = {
    generateTraceId: () => {
      const id = nextTraceId ?? random.generateTraceId();
      nextTraceId = undefined;
      return id;
    },
    generateSpanId: () => random.generateSpanId(),
  };
  const edge: EdgeSampling = {
    decide(parent) {
      const parentSpan = api.trace.getSpanContext(parent);
      const root = !parentSpan || !api.isSpanContextValid(parentSpan);
      const traceId = root ? random.generateTraceId() : parentSpan.traceId;
      const { decision } = sampler.shouldSample(parent, traceId, '', api.SpanKind.SERVER, {}, []);
      return { sampled: decision !== sdkTrace.SamplingDecision.NOT_RECORD, traceId, root };
    },
    start(decision, startRootSpan) {
      if (!decision.root) return startRootSpan();
      nextTraceId = decision.traceId;
      try {
        return startRootSpan();
      } finally {
        nextTraceId = undefined;
      }
    },
    unsampledSpanContext: ({ traceId }) => ({
      traceId,
      spanId: random.generateSpanId(),
      traceFlags: api.TraceFlags.NONE,
    }),
  };
  return { sampler, idGenerator, edge };
}

/**
 * Samples an HTTP server's requests at the edge (see `EdgeSampling`): a sampled request goes through
 * the HTTP instrumentation (its server span, as before); an unsampled one skips it, answers with a
 * `traceresponse` of flags `00`, and carries its span context for the logs (spans.ts). Probes,
 * scrapes and Socket.IO's transport requests go to the instrumentation, which ignores them (they make
 * no span). No-op without tracing.
 */
export function sampleRequestsAtEdge(server: Server): void {
  const sampling = edge;
  type Emit = (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  const instrumented = server.emit as Emit;
  const plain = (instrumented as { __original?: Emit }).__original;
  if (!sampling || typeof plain !== 'function') return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { propagation, ROOT_CONTEXT } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'request') return instrumented.call(this, event, ...args);
    const [req, res] = args as [IncomingMessage, ServerResponse];
    // Probes, scrapes and Socket.IO's transport requests: the instrumentation's ignore hook runs
    // them with tracing suppressed (no span, not even from the Nest handler or their queries).
    if (UNTRACED_PATHS.test(req.url ?? '')) return instrumented.call(this, event, ...args);
    const decision = sampling.decide(propagation.extract(ROOT_CONTEXT, req.headers));
    if (decision.sampled) return sampling.start(decision, () => instrumented.call(this, event, ...args));
    const unsampled = sampling.unsampledSpanContext(decision);
    unsampledAtEdge.set(req, unsampled);
    res.setHeader(TRACE_RESPONSE_HEADER, traceResponse(unsampled));
    return plain.call(this, event, ...args);
  } as Server['emit'];
}

/** The maintained instrumentations for what the service uses, set up so no span carries message text. */
function createInstrumentations(enabled: InstrumentationName[]): Instrumentation[] {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { HttpInstrumentation } =
    require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { UndiciInstrumentation } =
    require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici');
  const { PgInstrumentation } =
    require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { IORedisInstrumentation } =
    require('@opentelemetry/instrumentation-ioredis') as typeof import('@opentelemetry/instrumentation-ioredis');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const all: Partial<Record<InstrumentationName, () => Instrumentation>> = {
    http: () =>
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? ''),
        // Outgoing node:http calls only inside a traced operation (not the test clients, not probes).
        requireParentforOutgoingSpans: true,
        // Called with the ServerResponse as soon as the server span starts: the header goes out with
        // every answer, errors and the body parser's included.
        responseHook: (span, response) => {
          if (isServerResponse(response) && !response.headersSent)
            response.setHeader(TRACE_RESPONSE_HEADER, traceResponse(span.spanContext()));
        },
        // At the end of the request: name the server span after the route Express matched
        // (`POST /conversations/:id/messages`), as the Express instrumentation would (it cannot hook
        // Express here: Nest 12 imports it from an ES module).
        applyCustomAttributesOnSpan: (span, request, response) => {
          if (!isServerResponse(response)) return;
          const { method, route } = request as IncomingMessage & { route?: { path?: unknown } };
          if (typeof route?.path !== 'string' || !method) return;
          span.setAttribute('http.route', route.path);
          span.updateName(`${method} ${route.path}`);
        },
      }),
    // fetch (the profile service client): a client span, and `traceparent` sent along.
    undici: () => new UndiciInstrumentation({ requireParentforSpans: true }),
    // Parameterised statements only: enhancedDatabaseReporting (the values) stays off.
    pg: () => new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    // The command name only: arguments carry message payloads (the fan-out script, pub/sub).
    ioredis: () =>
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (cmd) => cmd }),
  };
  return enabled.flatMap((name) => all[name]?.() ?? []);
}

function isServerResponse(r: IncomingMessage | ServerResponse): r is ServerResponse {
  return typeof (r as ServerResponse).setHeader === 'function';
}

/** `00-<trace-id>-<span-id>-<flags>` of a request's span context (W3C Trace Context Level 2 `traceresponse`). */
export function traceResponse({ traceId, spanId, traceFlags }: SpanContext): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The maintained Nest instrumentation. Nest 12 ships as ES modules (loaded through `require(esm)`),
 * which the CommonJS require hook never sees, and the package's declared range stops below 12; so
 * its own patch of `RouterExecutionContext.create` is applied here to the module as loaded. The
 * spans: `<Controller>.<method>` (guards, pipes, interceptors, handler) and `<method>` (the handler).
 */
function createNestInstrumentation(): { instrumentation: Instrumentation; patchLoaded(): void } {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NestInstrumentation } =
    require('@opentelemetry/instrumentation-nestjs-core') as typeof import('@opentelemetry/instrumentation-nestjs-core');
  class Nest12Instrumentation extends NestInstrumentation {
    // No require hook: the module is patched directly (patchLoaded).
    override init(): ReturnType<InstanceType<typeof NestInstrumentation>['init']> {
      return [] as unknown as ReturnType<InstanceType<typeof NestInstrumentation>['init']>;
    }
  }
  const { isTracingSuppressed } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const { context } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const instrumentation = new Nest12Instrumentation();
  return {
    instrumentation,
    patchLoaded() {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const version = (require('@nestjs/core/package.json') as { version: string }).version;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const loaded = require('@nestjs/core/router/router-execution-context.js') as {
        RouterExecutionContext: { prototype: { create: RouteHandlerFactory } };
      };
      const proto = loaded.RouterExecutionContext.prototype;
      const plain = proto.create;
      instrumentation.getRouterExecutionContextFileInstrumentation([version]).patch(loaded, version);
      const traced = proto.create;
      // A shed request (unsampled, spans.ts `shedUnsampledRequests`) takes the route's plain handler: the
      // instrumented one would put a (no-op) span back into its context, and the queries below it
      // would go back to making spans.
      proto.create = function (this: unknown, ...args: unknown[]) {
        const withSpans = traced.apply(this, args);
        const without = plain.apply(this, args);
        return function (this: unknown, ...handlerArgs: unknown[]) {
          return (isTracingSuppressed(context.active()) ? without : withSpans).apply(this, handlerArgs);
        };
      };
    },
  };
}
