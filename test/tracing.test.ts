// Distributed tracing (issue #12) against the real app, PostgreSQL and Redis, with an in-memory span
// exporter; and end to end, the service as a child process exporting OTLP/HTTP JSON to a listener
// in this file.
//
// The OpenTelemetry SDK is process-global and must hook pg, ioredis and http before they load: this
// file starts it first and loads the app (and everything that loads those modules) after it.
/* eslint-disable @typescript-eslint/no-require-imports */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { isTracingSuppressed } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTracing } from '../src/observability/tracing';

const exporter = new InMemorySpanExporter();
const tracing = startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });

const support = require('./support/app') as typeof import('./support/app');
const procs = require('./support/processes') as typeof import('./support/processes');
const { connectSocket, http, nextEvent, TEST_REDIS_URL, testWorld, token } = support;
const { until } = procs;
type TestApp = import('./support/app').TestApp;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * Every span started by anyone (the instrumentations included, recorded or not) with the trace it
 * belongs to, counted at the SDK tracer itself; `suppressed` when started in a context that
 * suppresses tracing (a shed operation's, where the SDK makes it a no-op, but the instrumentation
 * that asked has already done its work). Shows what an unsampled operation still costs.
 */
const starts: { traceId: string | undefined; name: string; suppressed: boolean }[] = [];
{
  const provider = trace.getTracerProvider() as unknown as {
    getDelegate(): { getTracer(n: string): object };
  };
  const proto = Object.getPrototypeOf(provider.getDelegate().getTracer('probe')) as {
    startSpan(name: string, options?: unknown, ctx?: Context): unknown;
  };
  const original = proto.startSpan;
  proto.startSpan = function (this: unknown, name: string, options?: unknown, ctx?: Context) {
    const parent = ctx ?? context.active();
    starts.push({
      traceId: trace.getSpanContext(parent)?.traceId,
      name,
      suppressed: isTracingSuppressed(parent),
    });
    return original.call(this, name, options, ctx);
  };
}
const startsOf = (traceId: string) =>
  starts.filter((s) => s.traceId === traceId && !s.suppressed).map((s) => s.name);

/** A caller's span: `traceparent` of a trace and span of our own, sampled. */
function callerContext() {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const spansOf = (traceId: string) =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentId = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const statement = (s: ReadableSpan) =>
  String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? '');
const isPg = (s: ReadableSpan) =>
  s.instrumentationScope.name.includes('instrumentation-pg') && statement(s) !== '';
/** The statement that takes the seq, and the one that inserts the message (they may be one statement). */
const SEQ_UPDATE = /\bUPDATE conversations\b[\s\S]*\blast_seq\s*=/;
const MESSAGE_INSERT = /\bINSERT INTO messages\b/;
const isRedis = (s: ReadableSpan) => s.instrumentationScope.name.includes('instrumentation-ioredis');

/** Whether `span` is below `ancestor` in `spans` (any depth). */
function descends(span: ReadableSpan, ancestor: ReadableSpan, spans: ReadableSpan[]): boolean {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  for (let p = parentId(span); p; p = byId.get(p) && parentId(byId.get(p)!)) {
    if (p === ancestor.spanContext().spanId) return true;
  }
  return false;
}

const show = (spans: ReadableSpan[]) =>
  spans.map((s) => `${s.name} [${s.spanContext().spanId} <- ${parentId(s) ?? '-'}]`).join('\n');

/** The one span named `name` in `spans` (fails with the whole trace otherwise). */
function one(spans: ReadableSpan[], name: string | RegExp): ReadableSpan {
  const found = spans.filter((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
  assert.equal(found.length, 1, `one span ${String(name)} in:\n${show(spans)}`);
  return found[0]!;
}

/** The fake profile service: answers every id, remembers the headers of each call. */
class ProfileServer {
  readonly calls: IncomingHttpHeaders[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      req.on('end', () => {
        this.calls.push(req.headers);
        const { ids } = JSON.parse(raw) as { ids: string[] };
        const profiles = ids.map((id) => ({
          id,
          kind: 'user',
          displayName: `Name of ${id}`,
          avatarUrl: null,
        }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ profiles }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('tracing (in-memory exporter, real app, PostgreSQL and Redis)', () => {
  const profiles = new ProfileServer();
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;

  async function direct(a: string, b: string): Promise<string> {
    const res = await http(app.url, 'POST', '/conversations', {
      token: await token(a),
      body: { type: 'direct', participantIds: [b] },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id as string;
  }

  before(async () => {
    assert.ok(tracing.enabled);
    await profiles.start();
    world = await testWorld({ redis: true });
    app = await world.start({
      PROFILE_SERVICE_URL: profiles.url,
      RETENTION_SWEEP_S: '0',
      ROUTING_SWEEP_S: '0',
    });
  });
  after(async () => {
    await world.close();
    await profiles.stop();
  });

  it('a REST send joins the caller trace: server span, the send, and the seq UPDATE and INSERT below it', async () => {
    const conversationId = await direct('rest.a', 'rest.b');
    const caller = callerContext();
    const text = `rest secret ${randomUUID()}`;
    const res = await http(app.url, 'POST', `/conversations/${conversationId}/messages`, {
      token: await token('rest.a'),
      headers: { traceparent: caller.traceparent },
      body: { clientMessageId: randomUUID(), content: { text } },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));

    let spans: ReadableSpan[] = [];
    await until(() => {
      spans = spansOf(caller.traceId);
      return (
        spans.some((s) => s.kind === SpanKind.SERVER) && spans.some((s) => s.name === 'message:new publish')
      );
    }, 'the spans of the send');
    const server = one(
      spans.filter((s) => s.kind === SpanKind.SERVER),
      'POST /conversations/:id/messages',
    );
    assert.equal(parentId(server), caller.spanId, 'the server span is a child of the caller span');
    assert.equal(server.attributes['http.route'], '/conversations/:id/messages');
    assert.equal(
      res.headers.get('traceresponse'),
      `00-${caller.traceId}-${server.spanContext().spanId}-01`,
      'traceresponse names the server span',
    );
    const send = one(spans, 'message.send');
    assert.ok(descends(send, server, spans), `the send is below the server span:\n${show(spans)}`);
    assert.equal(send.attributes['chat.conversation.id'], conversationId);
    const transaction = one(spans, 'message.send.transaction');
    assert.ok(descends(transaction, send, spans));
    const pg = spans.filter(isPg);
    const seqUpdate = pg.find((s) => SEQ_UPDATE.test(statement(s)));
    const insert = pg.find((s) => MESSAGE_INSERT.test(statement(s)));
    assert.ok(seqUpdate, `a PostgreSQL span for the seq UPDATE:\n${pg.map(statement).join('\n---\n')}`);
    assert.ok(insert, 'a PostgreSQL span for the INSERT');
    for (const s of [seqUpdate, insert]) assert.ok(descends(s, send, spans), `${s.name} is below the send`);
    // Parameterised statements only: the text is in no attribute of any span of the trace.
    assert.ok(!JSON.stringify(spans.map((s) => s.attributes)).includes(text));
    // The fan-out publish belongs to the send.
    assert.ok(descends(one(spans, 'message:new publish'), send, spans));
  });

  it('a caller that did not sample: nothing is recorded, yet traceresponse and the logs carry the trace id', async () => {
    const conversationId = await direct('unsampled.a', 'unsampled.b');
    const caller = callerContext();
    const requestId = `unsampled-${hex(4)}`;
    const res = await http(app.url, 'POST', `/conversations/${conversationId}/messages`, {
      token: await token('unsampled.a'),
      headers: { traceparent: caller.traceparent.replace(/-01$/, '-00'), 'x-request-id': requestId },
      body: { clientMessageId: randomUUID(), content: { text: 'not sampled' } },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.match(
      res.headers.get('traceresponse') ?? '',
      new RegExp(`^00-${caller.traceId}-[0-9a-f]{16}-00$`),
    );
    await until(() => app.logs.lines.some((l) => l.requestId === requestId), 'the access log line');
    assert.ok(
      app.logs.lines.filter((l) => l.requestId === requestId).every((l) => l.traceId === caller.traceId),
    );
    // A sampled request after it has had its spans exported: had the first made any, they would be there.
    const later = callerContext();
    await http(app.url, 'GET', '/conversations?limit=1', {
      token: await token('unsampled.a'),
      headers: { traceparent: later.traceparent },
    });
    await until(
      () => spansOf(later.traceId).some((s) => s.kind === SpanKind.SERVER),
      'the later server span',
    );
    assert.deepEqual(
      spansOf(caller.traceId).map((s) => s.name),
      [],
    );
  });

  it('an unsampled operation is shed at the edge: it starts no span at all, not even its root', async () => {
    const conversationId = await direct('shed.a', 'shed.b');
    const a = await connectSocket(app.url, await token('shed.a'));
    try {
      const from = starts.length;
      const unsampled = callerContext();
      const traceparent = unsampled.traceparent.replace(/-01$/, '-00');
      const rest = await http(app.url, 'POST', `/conversations/${conversationId}/messages`, {
        token: await token('shed.a'),
        headers: { traceparent },
        body: { clientMessageId: randomUUID(), content: { text: 'shed over REST' } },
      });
      assert.equal(rest.status, 201, JSON.stringify(rest.body));
      const ack = (await a
        .timeout(5000)
        .emitWithAck(
          'message:send',
          { conversationId, clientMessageId: randomUUID(), content: { text: 'shed over a socket' } },
          { traceparent },
        )) as { ok: boolean };
      assert.equal(ack.ok, true, JSON.stringify(ack));
      assert.deepEqual(startsOf(unsampled.traceId), []);
      assert.deepEqual(
        starts
          .slice(from)
          .filter((s) => s.suppressed)
          .map((s) => s.name),
        [],
        'nothing asks for a span in a shed operation',
      );

      // The same two sampled: the counter sees the whole work (the queries, the commands, the send).
      const sampled = callerContext();
      await http(app.url, 'POST', `/conversations/${conversationId}/messages`, {
        token: await token('shed.a'),
        headers: { traceparent: sampled.traceparent },
        body: { clientMessageId: randomUUID(), content: { text: 'sampled over REST' } },
      });
      await a
        .timeout(5000)
        .emitWithAck(
          'message:send',
          { conversationId, clientMessageId: randomUUID(), content: { text: 'sampled over a socket' } },
          { traceparent: sampled.traceparent },
        );
      const names = startsOf(sampled.traceId);
      assert.ok(names.filter((n) => n === 'message.send').length === 2, names.join(', '));
      assert.ok(
        names.length > 10,
        `a sampled send starts its queries' and commands' spans: ${names.join(', ')}`,
      );
    } finally {
      a.close();
    }
  });

  it('probes and scrapes make no span, nor do their queries and commands', async () => {
    const from = starts.length;
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const res = await fetch(`${app.url}${path}`);
      await res.text();
      assert.equal(res.headers.get('traceresponse'), null, path);
    }
    // (Socket events and fan-out emits of earlier tests' sockets may still come in meanwhile.)
    assert.deepEqual(
      starts
        .slice(from)
        .filter((s) => !s.suppressed && !/^(?:socket |message[:.])/.test(s.name))
        .map((s) => s.name),
      [],
    );
  });

  it('a REST request without traceparent starts a trace of its own, named in traceresponse', async () => {
    const res = await http(app.url, 'GET', '/conversations?limit=1', { token: await token('rest.a') });
    assert.equal(res.status, 200);
    const header = res.headers.get('traceresponse') ?? '';
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(header);
    assert.ok(match, `traceresponse: ${header}`);
    await until(() => spansOf(match[1]!).some((s) => s.kind === SpanKind.SERVER), 'the server span');
    const server = one(spansOf(match[1]!), 'GET /conversations');
    assert.equal(server.spanContext().spanId, match[2]);
    assert.equal(parentId(server), undefined, 'a root span');
  });

  it('a socket message:send is a span named for the event, with its database and Redis work, the ack outcome and the fan-out emit', async () => {
    const conversationId = await direct('sock.a', 'sock.b');
    const a = await connectSocket(app.url, await token('sock.a'));
    const b = await connectSocket(app.url, await token('sock.b'));
    try {
      const caller = callerContext();
      const text = `socket secret ${randomUUID()}`;
      const delivered = nextEvent(
        b,
        'message:new',
        5000,
        (m: { content: { text: string } }) => m.content.text === text,
      );
      const ack = (await a
        .timeout(5000)
        .emitWithAck(
          'message:send',
          { conversationId, clientMessageId: randomUUID(), content: { text } },
          { traceparent: caller.traceparent },
        )) as { ok: boolean };
      assert.equal(ack.ok, true, JSON.stringify(ack));
      await delivered;

      let spans: ReadableSpan[] = [];
      await until(() => {
        spans = spansOf(caller.traceId);
        return (
          spans.some((s) => s.name === 'socket message:send') &&
          spans.some((s) => s.name === 'message:new emit')
        );
      }, 'the spans of the socket send');
      const event = one(spans, 'socket message:send');
      assert.equal(event.kind, SpanKind.SERVER);
      assert.equal(parentId(event), caller.spanId, 'the client-supplied trace context is the parent');
      assert.equal(event.attributes['chat.ack.outcome'], 'ok');
      const send = one(spans, 'message.send');
      assert.equal(parentId(send), event.spanContext().spanId);
      const pg = spans.filter(isPg);
      assert.ok(
        pg.some((s) => MESSAGE_INSERT.test(statement(s))),
        show(spans),
      );
      assert.ok(
        pg.some((s) => SEQ_UPDATE.test(statement(s))),
        show(spans),
      );
      for (const s of pg) assert.ok(descends(s, event, spans), `${s.name} is below the event span`);
      // Redis: the rate-limit window and the ordered publish, command names only.
      const redis = spans.filter(isRedis);
      assert.ok(redis.length >= 2, `Redis spans in the trace:\n${show(spans)}`);
      for (const s of redis) {
        assert.ok(descends(s, event, spans), `${s.name} is below the event span`);
        const stmt = String(s.attributes['db.statement'] ?? s.attributes['db.query.text'] ?? '');
        assert.ok(!/\s/.test(stmt), `a command name only: ${stmt}`);
      }
      // The fan-out: published in the send's trace, emitted to the sockets in it too.
      const publish = one(spans, 'message:new publish');
      assert.ok(descends(publish, send, spans));
      const emit = one(spans, 'message:new emit');
      assert.equal(parentId(emit), publish.spanContext().spanId);
      assert.equal(emit.attributes['chat.fanout.sockets'], 2, 'both participants have a socket here');
      assert.ok(!JSON.stringify(spans.map((s) => [s.attributes, s.events])).includes(text));
    } finally {
      a.close();
      b.close();
    }
  });

  it('a socket event answered with an error carries the error code as its outcome', async () => {
    const a = await connectSocket(app.url, await token('sock.err'));
    try {
      const caller = callerContext();
      const missing = await a
        .timeout(5000)
        .emitWithAck(
          'message:send',
          { conversationId: randomUUID(), clientMessageId: randomUUID(), content: { text: 'x' } },
          { traceparent: caller.traceparent },
        );
      assert.equal(missing.error?.code, 'NOT_FOUND');
      // The carrier beside the payload does not relax the payload's validation.
      const other = callerContext();
      const unknownField = await a.timeout(5000).emitWithAck(
        'typing:start',
        { conversationId: randomUUID(), traceparent: other.traceparent },
        {
          traceparent: other.traceparent,
        },
      );
      assert.equal(unknownField.error?.code, 'VALIDATION_FAILED');
      await until(
        () =>
          spansOf(caller.traceId).some((s) => s.name === 'socket message:send') &&
          spansOf(other.traceId).some((s) => s.name === 'socket typing:start'),
        'the event spans',
      );
      const failed = one(spansOf(caller.traceId), 'socket message:send');
      assert.equal(failed.attributes['chat.ack.outcome'], 'NOT_FOUND');
      assert.notEqual(failed.status.code, SpanStatusCode.ERROR, "a client's error is not a server failure");
      assert.equal(
        one(spansOf(other.traceId), 'socket typing:start').attributes['chat.ack.outcome'],
        'VALIDATION_FAILED',
      );
    } finally {
      a.close();
    }
  });

  it('an event without a carrier starts its own trace, linked to the handshake traceparent', async () => {
    const handshake = callerContext();
    const a = await connectSocket(app.url, undefined, {
      auth: { token: await token('sock.link'), traceparent: handshake.traceparent },
    });
    try {
      const before = new Set(exporter.getFinishedSpans());
      const ack = await a.timeout(5000).emitWithAck('presence:heartbeat', {});
      assert.equal(ack.ok, true, JSON.stringify(ack));
      let beat: ReadableSpan | undefined;
      await until(() => {
        beat = exporter
          .getFinishedSpans()
          .find((s) => !before.has(s) && s.name === 'socket presence:heartbeat');
        return beat !== undefined;
      }, 'the heartbeat span');
      assert.notEqual(beat!.spanContext().traceId, handshake.traceId, 'not one endless trace per connection');
      assert.equal(parentId(beat!), undefined);
      assert.deepEqual(
        beat!.links.map((l) => [l.context.traceId, l.context.spanId]),
        [[handshake.traceId, handshake.spanId]],
      );
    } finally {
      a.close();
    }
  });

  it('a chat list with a cold profile cache calls the profile service in the trace, sending traceparent', async () => {
    // In-process profile caches: the instance that lists has never seen these users.
    const plain = await testWorld();
    try {
      const env = { PROFILE_SERVICE_URL: profiles.url, RETENTION_SWEEP_S: '0', ROUTING_SWEEP_S: '0' };
      const setup = await plain.start(env);
      const created = await http(setup.url, 'POST', '/conversations', {
        token: await token('prof.me'),
        body: { type: 'direct', participantIds: ['prof.peer'] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const lister = await plain.start(env);
      const caller = callerContext();
      profiles.calls.length = 0;
      const res = await http(lister.url, 'GET', '/conversations?limit=10', {
        token: await token('prof.me'),
        headers: { traceparent: caller.traceparent },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(profiles.calls.length, 1, 'one call to the profile service (cold cache)');
      const sent = String(profiles.calls[0]!.traceparent ?? '');
      const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(sent);
      assert.ok(match, `the profile service got a traceparent: ${JSON.stringify(profiles.calls[0])}`);
      assert.equal(match[1], caller.traceId, 'same trace id');
      let spans: ReadableSpan[] = [];
      await until(() => {
        spans = spansOf(caller.traceId);
        return spans.some((s) => s.kind === SpanKind.SERVER) && spans.some((s) => s.kind === SpanKind.CLIENT);
      }, 'the server and client spans');
      const outgoing = spans.filter((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('POST'));
      assert.equal(outgoing.length, 1, show(spans));
      assert.equal(outgoing[0]!.spanContext().spanId, match[2], 'the traceparent names the outgoing span');
      assert.ok(descends(outgoing[0]!, one(spans, 'GET /conversations'), spans));
    } finally {
      await plain.close();
    }
  });

  it("a traced request's log lines carry its traceId and spanId beside the requestId", async () => {
    const caller = callerContext();
    const requestId = `trace-log-${hex(4)}`;
    const res = await http(app.url, 'GET', '/conversations?limit=1', {
      token: await token('log.me'),
      headers: { traceparent: caller.traceparent, 'x-request-id': requestId },
    });
    assert.equal(res.status, 200);
    await until(() => app.logs.lines.some((l) => l.requestId === requestId), 'the access log line');
    const mine = app.logs.lines.filter((l) => l.requestId === requestId);
    assert.ok(mine.length >= 1);
    for (const line of mine) {
      assert.equal(line.traceId, caller.traceId, JSON.stringify(line));
      assert.match(String(line.spanId), /^[0-9a-f]{16}$/);
    }
    // Lines outside any traced operation have none.
    assert.ok(
      app.logs.lines.every((l) => l.traceId === undefined || /^[0-9a-f]{32}$/.test(String(l.traceId))),
    );
  });
});

/** An OTLP/HTTP receiver: keeps every request's path, content type and body. */
class OtlpReceiver {
  readonly requests: { path: string; contentType: string; body: string }[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      req.on('end', () => {
        this.requests.push({
          path: req.url ?? '',
          contentType: String(req.headers['content-type']),
          body: raw,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Every span received (from the `from`th request on), flattened, with its resource's service.name. */
  spans(from = 0): {
    service: string;
    name: string;
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    raw: string;
  }[] {
    type AnyValue = { stringValue?: string };
    type Otlp = {
      resourceSpans?: {
        resource?: { attributes?: { key: string; value: AnyValue }[] };
        scopeSpans?: { spans?: { name: string; traceId: string; spanId: string; parentSpanId?: string }[] }[];
      }[];
    };
    return this.requests
      .slice(from)
      .filter((r) => r.path === '/v1/traces')
      .flatMap((r) => (JSON.parse(r.body) as Otlp).resourceSpans ?? [])
      .flatMap((rs) => {
        const service =
          rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        return (rs.scopeSpans ?? []).flatMap((ss) =>
          (ss.spans ?? []).map((s) => ({ service, ...s, raw: JSON.stringify(s) })),
        );
      });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('tracing end to end (the service as a process, OTLP/HTTP JSON)', () => {
  const receiver = new OtlpReceiver();
  let world: Awaited<ReturnType<typeof testWorld>>;
  /**
   * The service as a process exporting OTLP/HTTP JSON to the receiver, batches held until shutdown
   * (longer than any test: the spans arrive through the flush on SIGTERM).
   */
  const exporting = (env: Record<string, string>) =>
    procs.Instance.start({
      DATABASE_URL: world.db.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      ...env,
    });
  /** The trace a response names in its traceresponse header, and whether it was sampled. */
  const traceOf = (res: { headers: Headers }) => {
    const header = res.headers.get('traceresponse') ?? '';
    const match = /^00-([0-9a-f]{32})-[0-9a-f]{16}-(0[01])$/.exec(header);
    assert.ok(match, `traceresponse: ${header}`);
    return { traceId: match[1]!, sampled: match[2] === '01' };
  };
  before(async () => {
    await receiver.start();
    world = await testWorld();
  });
  after(async () => {
    await world.close();
    await receiver.stop();
  });

  it('delivers the spans of a send, on shutdown at the latest, with no message text or token in any', async () => {
    // The spans of the send can only arrive through the flush on shutdown.
    const instance = await exporting({ OTEL_SERVICE_NAME: 'chat-e2e' });
    try {
      const tok = await token('e2e.a');
      const conv = await http(instance.url, 'POST', '/conversations', {
        token: tok,
        body: { type: 'direct', participantIds: ['e2e.b'] },
      });
      assert.equal(conv.status, 201, JSON.stringify(conv.body));
      const text = `e2e secret ${randomUUID()}`;
      const caller = callerContext();
      const sent = await http(instance.url, 'POST', `/conversations/${conv.body.id}/messages`, {
        token: tok,
        headers: { traceparent: caller.traceparent },
        body: { clientMessageId: randomUUID(), content: { text } },
      });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      assert.match(
        sent.headers.get('traceresponse') ?? '',
        new RegExp(`^00-${caller.traceId}-[0-9a-f]{16}-01$`),
      );

      instance.kill('SIGTERM');
      await instance.exit;
      const spans = receiver.spans();
      const mine = spans.filter((s) => s.traceId === caller.traceId);
      const names = mine.map((s) => s.name);
      for (const name of ['POST /conversations/:id/messages', 'message.send', 'message.send.transaction'])
        assert.ok(names.includes(name), `${name} among ${names.join(', ')}\n${instance.output}`);
      assert.ok(
        mine.some((s) => /INSERT/.test(s.raw) && /messages/.test(s.raw)),
        'the INSERT span',
      );
      assert.ok(
        mine.every((s) => s.service === 'chat-e2e'),
        'OTEL_SERVICE_NAME names the service',
      );
      const server = mine.find((s) => s.name === 'POST /conversations/:id/messages')!;
      assert.equal(server.parentSpanId, caller.spanId);
      const everything = receiver.requests.map((r) => r.body).join('\n');
      assert.ok(!everything.includes(text), 'no message text in any span');
      assert.ok(!everything.includes(tok.split('.')[2]!), 'no token in any span');
      assert.deepEqual(
        [...new Set(receiver.requests.map((r) => `${r.path} ${r.contentType}`))],
        ['/v1/traces application/json'],
        'traces only, as OTLP JSON',
      );
    } finally {
      instance.kill('SIGKILL');
    }
  });

  it('samples at the edge with the configured ratio: a sampled request or event is traced whole, a request under the id its traceresponse names', async () => {
    const receiverFrom = receiver.requests.length;
    const instance = await exporting({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.5' });
    try {
      const tok = await token('ratio.a');
      const sampled: string[] = [];
      for (let i = 0; i < 200; i++) {
        const res = await http(instance.url, 'GET', '/conversations?limit=1', { token: tok });
        assert.equal(res.status, 200);
        const trace = traceOf(res);
        if (trace.sampled) sampled.push(trace.traceId);
      }
      // Binomial(200, 0.5): 100 ± 28 at 4 sigma. Deciding twice (the edge, then the SDK on a new trace
      // id) would sample a quarter (50 ± 6).
      const plausible = (n: number) => n >= 72 && n <= 128;
      assert.ok(plausible(sampled.length), `sampled ${sampled.length} of 200`);
      // The same for socket events (their span takes the decided id the same way), on two
      // connections: each may send 100 heartbeats per 10 s.
      for (let c = 0; c < 2; c++) {
        const socket = await connectSocket(instance.url, tok);
        try {
          for (let i = 0; i < 100; i++)
            assert.deepEqual(await socket.timeout(5000).emitWithAck('presence:heartbeat', {}), {
              ok: true,
              data: {},
            });
        } finally {
          socket.close();
        }
      }
      instance.kill('SIGTERM');
      await instance.exit;
      const spans = receiver.spans(receiverFrom);
      const events = spans.filter((s) => s.name === 'socket presence:heartbeat');
      assert.ok(plausible(events.length), `${events.length} of 200 events traced`);
      const servers = spans.filter((s) => s.name === 'GET /conversations');
      assert.deepEqual(
        servers.map((s) => s.traceId).sort(),
        sampled.sort(),
        'exactly the requests answered with flags 01 were exported, each under its traceresponse id',
      );
    } finally {
      instance.kill('SIGKILL');
    }
  });

  it('under concurrent sends at 20 %, every exported span belongs to the trace of a sampled request (no context leaks through pooled connections)', async () => {
    const receiverFrom = receiver.requests.length;
    const instance = await exporting({
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `trleak${hex(3)}:`,
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.2',
    });
    const sampled = new Set<string>();
    try {
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          const tok = await token(`leak.${c}`);
          const conv = await http(instance.url, 'POST', '/conversations', {
            token: tok,
            body: { type: 'direct', participantIds: [`leak.peer.${c}`] },
          });
          const created = traceOf(conv);
          if (created.sampled) sampled.add(created.traceId);
          for (let k = 0; k < 40; k++) {
            const res = await http(instance.url, 'POST', `/conversations/${conv.body.id}/messages`, {
              token: tok,
              body: { clientMessageId: randomUUID(), content: { text: `leak ${c} ${k}` } },
            });
            assert.equal(res.status, 201, JSON.stringify(res.body));
            const sent = traceOf(res);
            if (sent.sampled) sampled.add(sent.traceId);
          }
        }),
      );
      instance.kill('SIGTERM');
      await instance.exit;
    } finally {
      instance.kill('SIGKILL');
    }
    const spans = receiver.spans(receiverFrom);
    const traces = new Map<string, string[]>();
    for (const s of spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), s.name]);
    const sends = [...traces.entries()].filter(([, names]) => names.includes('message.send'));
    const transactions = spans.filter((s) => s.name === 'message.send.transaction');
    assert.ok(sends.length > 20, `some sends sampled: ${sends.length}`);
    for (const [traceId, names] of sends) {
      assert.ok(sampled.has(traceId), `trace ${traceId} was answered with flags 01`);
      assert.equal(names.filter((n) => n === 'POST /conversations/:id/messages').length, 1, names.join());
      assert.equal(names.filter((n) => n === 'message.send').length, 1, names.join());
      // Its batch's transaction: in its trace, or (a batch holds one transaction for several sends)
      // in another sampled send's, with a link to this one.
      assert.ok(
        names.includes('message.send.transaction') ||
          transactions.some((t) => t.traceId !== traceId && t.raw.includes(traceId)),
        names.join(),
      );
    }
    for (const traceId of sampled) assert.ok(traces.has(traceId), `sampled ${traceId} was exported`);
    for (const [traceId, names] of traces)
      assert.ok(sampled.has(traceId), `exported trace ${traceId} (${names.join()}) answered no request`);
  });
});
