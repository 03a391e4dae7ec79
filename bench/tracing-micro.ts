/**
 * The service's own spans of one socket send, without I/O: what a sampled operation costs the
 * process at a given sampling ratio, away from the noise of a full run (BENCHMARKS.md §6).
 *
 * usage: node -r @swc-node/register bench/tracing-micro.ts [ops=50000]
 *
 * Each ratio (0, 0.1, 0.5, 1) runs in a child process of its own with `OTEL_TRACES_SAMPLER=traceidratio`,
 * all instrumentations off and a span processor that drops what it gets (so neither export nor
 * the other packages count). An operation is what a socket `message:send` does with spans: the
 * event's span decided at the edge, `message.send`, `message.send.transaction`, `message:new publish`
 * and its `message:new emit` through a trace carrier. Printed: the CPU time of the process per
 * operation, the wall time of a sampled and of an unsampled operation, and what sampling adds per
 * sampled operation against ratio 0.
 */
import { execFileSync } from 'node:child_process';

interface Row {
  ratio: number;
  ops: number;
  sampled: number;
  cpuUsPerOp: number;
  sampledOpUs: number;
  unsampledOpUs: number;
}

async function child(ops: number): Promise<Row> {
  process.env.OTEL_TRACES_SAMPLER = 'traceidratio';
  process.env.OTEL_NODE_DISABLED_INSTRUMENTATIONS = 'pg,ioredis,http,undici,nestjs-core';
  /* eslint-disable @typescript-eslint/no-require-imports -- after the environment is set */
  const { startTracing } =
    require('../src/observability/tracing') as typeof import('../src/observability/tracing');
  const drop = { onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} };
  startTracing({ spanProcessors: [drop] });
  const { context, ROOT_CONTEXT } = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const tracing =
    require('../src/realtime/socket-tracing') as typeof import('../src/realtime/socket-tracing');
  const spans = require('../src/observability/spans') as typeof import('../src/observability/spans');
  /* eslint-enable @typescript-eslint/no-require-imports */
  // As in the service, where a send batch always runs in a context: AsyncLocalStorage is on.
  context.with(ROOT_CONTEXT, () => undefined);
  const socket = { id: 'bench', handshake: { auth: {} } } as unknown as Parameters<
    typeof tracing.startSocketEventSpan
  >[0];
  const op = async (): Promise<boolean> => {
    const traced = tracing.startSocketEventSpan(socket, 'message:send', undefined);
    await spans.inContext(traced?.context, () =>
      spans.withSpan('message.send', { attributes: { 'chat.conversation.id': 'c' } }, async (span) => {
        await spans.withSpan('message.send.transaction', { attributes: { 'chat.batch.size': 3 } }, () =>
          Promise.resolve(),
        );
        span?.setAttributes({ 'chat.message.seq': 1, 'chat.message.created': true });
        await spans.withSpan('message:new publish', { kind: spans.SpanKind.PRODUCER }, async () => {
          const { trace } = JSON.parse(JSON.stringify({ trace: spans.currentCarrier() })) as {
            trace?: Record<string, string>;
          };
          const emit =
            trace &&
            spans.startSpan('message:new emit', {
              kind: spans.SpanKind.CONSUMER,
              parent: spans.contextFromCarrier(trace),
            });
          emit?.setAttribute('chat.fanout.sockets', 1);
          emit?.end();
        });
      }),
    );
    tracing.endSocketEventSpan(traced?.span, 'ok');
    return traced !== undefined;
  };
  for (let i = 0; i < 5000; i++) await op(); // warm-up
  let sampled = 0;
  let sampledNs = 0n;
  let unsampledNs = 0n;
  const cpu = process.cpuUsage();
  for (let i = 0; i < ops; i++) {
    const t = process.hrtime.bigint();
    const traced = await op();
    const ns = process.hrtime.bigint() - t;
    if (traced) {
      sampled++;
      sampledNs += ns;
    } else unsampledNs += ns;
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  const used = process.cpuUsage(cpu);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    ratio: Number(process.env.OTEL_TRACES_SAMPLER_ARG),
    ops,
    sampled,
    cpuUsPerOp: round((used.user + used.system) / ops),
    sampledOpUs: round(Number(sampledNs) / 1000 / Math.max(1, sampled)),
    unsampledOpUs: round(Number(unsampledNs) / 1000 / Math.max(1, ops - sampled)),
  };
}

function main(): void {
  const ops = Number(process.argv[2] ?? 50_000);
  const rows = ['0', '0.1', '0.5', '1'].map(
    (ratio) =>
      JSON.parse(
        execFileSync(process.execPath, [...process.execArgv, __filename, String(ops)], {
          env: { ...process.env, TRACING_MICRO_CHILD: '1', OTEL_TRACES_SAMPLER_ARG: ratio },
          encoding: 'utf8',
        }).trim(),
      ) as Row,
  );
  const base = rows[0]!.cpuUsPerOp;
  console.log(
    '| ratio | sampled | CPU µs/op | sampled op µs | unsampled op µs | CPU added per sampled op µs |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.ratio} | ${r.sampled} | ${r.cpuUsPerOp} | ${r.sampled ? r.sampledOpUs : '–'} | ${r.sampled < r.ops ? r.unsampledOpUs : '–'} | ${r.sampled ? Math.round(((r.cpuUsPerOp - base) * r.ops) / r.sampled) : '–'} |`,
    );
}

if (process.env.TRACING_MICRO_CHILD)
  void child(Number(process.argv[2] ?? 50_000)).then((row) => {
    process.stdout.write(JSON.stringify(row) + '\n');
    process.exit(0);
  });
else main();
