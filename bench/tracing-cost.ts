/**
 * `npm run bench -- --scenario tracing-cost`: what OpenTelemetry tracing (issue #12) costs on the
 * direct send path. Three instances of the service run as child processes (`src/main.ts`, as
 * `npm start` runs it) on one database and Redis: tracing off, on at 10 % sampling
 * (`OTEL_TRACES_SAMPLER=traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.1`) and on at 100 %, the two
 * traced ones exporting OTLP/HTTP to a dummy receiver in this process. Each measurement is a closed
 * loop: `--concurrency` clients, each sending to its own direct conversation over keep-alive
 * HTTP for `--seconds`; the modes take turns round after round (rotating which goes first), so a
 * change in machine load hits them alike. Reported: sends per second and latency percentiles,
 * pooled over the rounds; the instance's CPU time per send (from /proc: less sensitive than
 * throughput to what else the machine runs), during its turns and over the whole run (which
 * includes what it exports between its turns), and how much of it ran outside the main thread
 * (V8's garbage collector and compilers); and what reached the receiver per send.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';
import { signDevToken } from '../src/auth/dev-token';
import { DEV_JWT_SECRET } from '../src/config/env';
import { createTestDatabase } from '../test/support/db';
import { JsonClient } from './lib/client';
import { loadAverage } from './lib/machine';
import { intFlag, type Flags, type Scenario, type ScenarioContext } from './lib/scenario';
import { round, summarize, type Summary } from './lib/stats';
import { heading, table } from './lib/table';

const ROOT = path.resolve(__dirname, '..');
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The goal of issue #12: at 10 % sampling, within 5 % of tracing off. */
const GOAL_RATIO = 0.05;
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export const tracingCostHelp = `tracing-cost flags:
  --concurrency N   clients sending at once, each to its own direct conversation (default 16)
  --seconds N       length of one measurement (default 6)
  --rounds N        measurements per mode, taken in turns (default 4)
  --warmup N        seconds of untimed sends per mode first (default 3)
  --log-level L     the instances' LOG_LEVEL (default info; logs go to /dev/null)
  --protocol P      OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (default) or http/json (which also
                    counts the exported spans by name, per sampled send)
  --transport T     rest (POST /conversations/:id/messages, default) or socket (message:send with ack)
  --ratios R,R      the sampling ratios measured beside tracing off (default 0.1,1; e.g. 0,0.1: what
                    tracing costs with nothing sampled; off: a second untraced instance, the control;
                    als: an untraced instance with an AsyncLocalStorage enabled, what tracing's
                    context manager costs the process by itself; primed: tracing on with nothing
                    sampled (parentbased_traceidratio 0) but one send, sampled by its traceparent,
                    before the warm-up: what stays switched on); R:without=a+b: ratio R with those
                    instrumentations disabled (http, undici, pg, ioredis, nestjs-core)
  --cpu-prof DIR    write a V8 CPU profile of each instance into DIR (bench/profile-summary.ts reads it)
  --node-args "A B" extra node options for every instance (e.g. "--trace-gc", "--max-opt=2"); each
                    instance's stdout (the service's logs, what V8 prints) then goes to a file in
                    the system's temporary directory, named in the log`;

export const tracingCostScenario: Scenario = {
  name: 'tracing-cost',
  description:
    'Direct sends (POST /conversations/:id/messages) with tracing off, on at 10 % sampling and on at 100 %: ' +
    'throughput and latency, three instances measured in turns.',
  options: {
    concurrency: { type: 'string' },
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    warmup: { type: 'string' },
    'log-level': { type: 'string' },
    protocol: { type: 'string' },
    'cpu-prof': { type: 'string' },
    transport: { type: 'string' },
    ratios: { type: 'string' },
    'node-args': { type: 'string' },
  },
  run,
};

interface Mode {
  name: string;
  sampling: string;
  /** Tracing on, with these variables beside the exporter's (undefined: tracing off). */
  env?: Record<string, string>;
  /** Variables of the instance whatever its tracing (`als`: the preload). */
  processEnv?: Record<string, string>;
  /** Sends one sampled message (a `traceparent` with flags 01) before the warm-up. */
  prime?: boolean;
}

/** The preload of the `als` mode: an AsyncLocalStorage enabled, no tracing. */
const ALS_PRELOAD = path.join(__dirname, 'lib', 'async-local-storage-on.cjs');

/**
 * The dummy OTLP/HTTP receiver: answers 200 to everything and counts what it got, per instance (each
 * traced instance has a service name of its own, found in the body, protobuf or JSON alike).
 */
class Receiver {
  private readonly received = new Map<string, { requests: number; bytes: number; spans: number }>();
  /** Spans by name, per service (JSON bodies only). */
  private readonly names = new Map<string, Map<string, number>>();
  private server!: Server;
  url = '';

  constructor(private readonly services: string[]) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const service = this.services.find((name) => body.includes(name)) ?? '?';
        const got = this.received.get(service) ?? { requests: 0, bytes: 0, spans: 0 };
        got.requests++;
        got.bytes += body.length;
        // JSON bodies can be counted span by span; protobuf ones are counted in bytes only.
        if (String(req.headers['content-type']).includes('json')) {
          const names = this.names.get(service) ?? new Map<string, number>();
          this.names.set(service, names);
          const otlp = JSON.parse(body.toString('utf8')) as {
            resourceSpans?: { scopeSpans?: { spans?: { name: string }[] }[] }[];
          };
          for (const rs of otlp.resourceSpans ?? [])
            for (const ss of rs.scopeSpans ?? [])
              for (const span of ss.spans ?? []) {
                got.spans++;
                names.set(span.name, (names.get(span.name) ?? 0) + 1);
              }
        }
        this.received.set(service, got);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  of(service: string) {
    return this.received.get(service) ?? { requests: 0, bytes: 0, spans: 0 };
  }

  /** How many spans of each name `service` exported (JSON only; empty for protobuf). */
  spanNames(service: string): Map<string, number> {
    return this.names.get(service) ?? new Map();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** CPU time (user + system) of the process or thread whose `stat` file this is, in ms. */
function statCpuMs(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line (12 and 13 after the name), in ticks.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/** CPU time (user + system) a process has used, in ms, from /proc (NaN where there is none). */
function cpuMs(pid: number | undefined): number {
  try {
    return statCpuMs(`/proc/${pid}/stat`);
  } catch {
    return NaN;
  }
}

/**
 * CPU time of a process's main thread and of all its other threads (V8's garbage collector and
 * compilers, the libuv pool), in ms, from /proc.
 */
function threadCpuMs(pid: number | undefined): { main: number; others: number } {
  const out = { main: 0, others: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`);
      if (tid === String(pid)) out.main += ms;
      else out.others += ms;
    }
  } catch {
    return { main: NaN, others: NaN };
  }
  return out;
}

/** One instance of the service as a child process. */
async function startInstance(
  env: Record<string, string>,
  ctx: ScenarioContext,
  options: { profileDir?: string; nodeArgs: string[]; outputFile?: string },
) {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as AddressInfo;
      probe.close(() => resolve(p));
    });
  });
  const base = { ...process.env };
  for (const key of Object.keys(base))
    if (/^(OTEL_|DATABASE_|REDIS_|JWT_|PORT$|HOST$)/.test(key)) delete base[key];
  const profile = options.profileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(options.profileDir)}`]
    : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...profile, ...options.nodeArgs, '-r', '@swc-node/register', 'src/main.ts'],
    {
      cwd: ROOT,
      env: { ...base, NODE_ENV: 'test', HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: [
        'ignore',
        // The service logs to stdout; what V8 prints (--node-args --trace-gc, …) goes there too.
        options.outputFile ? openSync(options.outputFile, 'w') : 'ignore',
        'pipe',
      ],
    },
  );
  let errors = '';
  child.stderr!.on('data', (d: Buffer) => (errors = (errors + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = ctx.onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`an instance exited before it was ready:\n${errors}`);
    const res = await fetch(`${url}/health/ready`).catch(() => undefined);
    if (res?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`an instance was not ready after 60 s:\n${errors}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    stop,
    output: () => errors,
    cpuMs: () => cpuMs(child.pid),
    threadCpuMs: () => threadCpuMs(child.pid),
  };
}

interface Sender {
  url: string;
  token: string;
  conversationId: string;
}

/**
 * `concurrency` closed-loop senders for `ms`: every send's latency, and how long it took in all.
 * Each measurement opens its own keep-alive connections (an instance idle between its turns closes
 * the old ones after its keep-alive timeout).
 */
async function sendFor(
  senders: Sender[],
  ms: number,
  transport: Transport,
): Promise<{ latencies: number[]; elapsedMs: number; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const clients = await Promise.all(senders.map((s) => openSender(s, transport)));
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    clients.map(async (send) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        if (await send(`bench message ${randomBytes(6).toString('hex')}`))
          latencies.push(performance.now() - t0);
        else errors++;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  for (const send of clients) send.close();
  return { latencies, elapsedMs, errors };
}

type Transport = 'rest' | 'socket';

/** One client's send (true when accepted): `POST …/messages` or a `message:send` with its ack. */
async function openSender(
  s: Sender,
  transport: Transport,
): Promise<((text: string) => Promise<boolean>) & { close(): void }> {
  if (transport === 'rest') {
    const api = new JsonClient(s.url, s.token);
    const send = async (text: string) =>
      (
        await api.post(`/conversations/${s.conversationId}/messages`, {
          clientMessageId: randomUUID(),
          content: { text },
        })
      ).status === 201;
    return Object.assign(send, { close: () => api.close() });
  }
  const socket = io(s.url, { transports: ['websocket'], reconnection: false, auth: { token: s.token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const send = async (text: string) => {
    const ack = (await socket
      .timeout(10_000)
      .emitWithAck('message:send', {
        conversationId: s.conversationId,
        clientMessageId: randomUUID(),
        content: { text },
      })
      .catch(() => ({ ok: false }))) as { ok: boolean };
    return ack.ok;
  };
  return Object.assign(send, { close: () => socket.close() });
}

/** One `message:send` whose trace context says sampled: the instance's first sampled operation. */
async function primeWithOneSampledSend(s: Sender): Promise<void> {
  const socket = io(s.url, { transports: ['websocket'], reconnection: false, auth: { token: s.token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
  const ack = (await socket
    .timeout(10_000)
    .emitWithAck(
      'message:send',
      { conversationId: s.conversationId, clientMessageId: randomUUID(), content: { text: 'primer' } },
      { traceparent },
    )) as { ok: boolean };
  socket.close();
  if (!ack.ok) throw new Error(`the sampled send failed: ${JSON.stringify(ack)}`);
}

interface ModeResult {
  mode: string;
  sampling: string;
  sendsPerSecond: number;
  latency: Summary;
  errors: number;
  perRound: number[];
  /** CPU time of the instance per send (user + system), over the measurements. */
  cpuMsPerSend: number;
  /**
   * CPU time of the instance per send over the whole run (warm-up, turns, the pauses between its
   * turns, where some of its spans are exported, and the last export).
   */
  cpuMsPerSendOfRun: number;
  /** The part of that CPU time spent outside the main thread (V8's collector and compilers). */
  offMainThreadShare: number;
  /** Sends per batched transaction, over the instance's life (warm-up included). */
  sendsPerBatch: number;
  cpuPerRound: number[];
  exported: {
    requests: number;
    bytes: number;
    spans: number;
    bytesPerSend: number;
    /** JSON only: the sends that were sampled, and the spans of each name per sampled send. */
    sampledSends: number;
    spansPerSampledSend: Record<string, number>;
  };
}

/** The span each traced send starts with, over either transport. */
const SEND_ROOTS = ['POST /conversations/:id/messages', 'socket message:send'];

async function run(flags: Flags, ctx: ScenarioContext) {
  const concurrency = Math.max(1, intFlag(flags, 'concurrency', 16));
  const seconds = Math.max(1, intFlag(flags, 'seconds', 6));
  const rounds = Math.max(1, intFlag(flags, 'rounds', 4));
  const warmup = intFlag(flags, 'warmup', 3);
  const logLevel = typeof flags['log-level'] === 'string' ? flags['log-level'] : 'info';
  const protocol = typeof flags.protocol === 'string' ? flags.protocol : 'http/protobuf';
  const profileDir = typeof flags['cpu-prof'] === 'string' ? flags['cpu-prof'] : undefined;
  const transport: Transport = flags.transport === 'socket' ? 'socket' : 'rest';
  const nodeArgs =
    typeof flags['node-args'] === 'string' ? flags['node-args'].split(' ').filter(Boolean) : [];

  // `off` in the list: a second instance without tracing, the control (an A/A comparison shows
  // what the method itself varies).
  const entries = (typeof flags.ratios === 'string' ? flags.ratios : '0.1,1').split(',').map((item) => {
    // `R:without=a+b`: ratio R with those instrumentations disabled (OTEL_NODE_DISABLED_INSTRUMENTATIONS).
    const [head = '', option] = item.trim().split(':');
    const without = option?.startsWith('without=') ? option.slice('without='.length).split('+') : [];
    const ratio =
      head === 'off' || head === 'als' || head === 'primed'
        ? (head as 'off' | 'als' | 'primed')
        : Number(head);
    return { ratio, without, valid: option === undefined || without.length > 0 };
  });
  if (
    !entries.length ||
    entries.some(
      (e) =>
        !e.valid ||
        (typeof e.ratio === 'number' && (!Number.isFinite(e.ratio) || e.ratio < 0 || e.ratio > 1)),
    )
  )
    throw new Error(
      `--ratios: numbers between 0 and 1 (each with an optional :without=a+b), off, als or primed, comma separated (got ${String(flags.ratios)})`,
    );
  const modes: Mode[] = [
    { name: 'off', sampling: '—' },
    ...entries.map(({ ratio: r, without }): Mode =>
      r === 'off'
        ? { name: 'off (control)', sampling: '—' }
        : r === 'primed'
          ? {
              name: 'on, 0 %, one sampled send',
              sampling: 'parentbased_traceidratio 0',
              env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' },
              prime: true,
            }
          : r === 'als'
            ? {
                name: 'off + AsyncLocalStorage',
                sampling: '—',
                processEnv: {
                  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${ALS_PRELOAD}`.trim(),
                },
              }
            : {
                name: `on, ${round(r * 100, 1)} %${without.length ? ` without ${without.join(', ')}` : ''}`,
                sampling: `traceidratio ${r}`,
                env: {
                  OTEL_TRACES_SAMPLER_ARG: String(r),
                  ...(without.length ? { OTEL_NODE_DISABLED_INSTRUMENTATIONS: without.join(',') } : {}),
                },
              },
    ),
  ];
  const serviceOf = (m: number) => `chat-bench-mode${m}x`;
  const receiver = new Receiver(modes.map((_, m) => serviceOf(m)));
  await receiver.start();
  ctx.onCleanup(() => receiver.stop());
  const db = await createTestDatabase();
  ctx.onCleanup(() => db.drop());
  const otlp = (m: number) => ({
    OTEL_SERVICE_NAME: serviceOf(m),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_TRACES_SAMPLER: 'traceidratio',
  });
  const common = {
    DATABASE_URL: db.url,
    REDIS_URL,
    MIGRATIONS_RUN: 'false',
    LOG_LEVEL: logLevel,
    REST_RATE_LIMIT: '1000000',
    MESSAGE_RATE_LIMIT: '1000000',
    RETENTION_SWEEP_S: '0',
    ROUTING_SWEEP_S: '0',
  };
  ctx.log(`starting ${modes.length} instances (${modes.map((m) => m.name).join(', ')})`);
  const outputOf = (m: number) =>
    nodeArgs.length ? path.join(tmpdir(), `tracing-cost-${process.pid}-mode${m}.out`) : undefined;
  if (nodeArgs.length)
    ctx.log(
      `node ${nodeArgs.join(' ')}: each instance's stdout in ${outputOf(0)} (mode0 … mode${modes.length - 1})`,
    );
  const instances = [];
  for (const [m, mode] of modes.entries())
    instances.push(
      await startInstance(
        {
          ...common,
          // Each instance its own deployment: sharing the fan-out channel, an instance would also
          // deliver (and, traced, make spans for) the others' messages while they are measured.
          REDIS_KEY_PREFIX: `bench${randomBytes(3).toString('hex')}m${m}:`,
          ...(mode.env ? { ...otlp(m), ...mode.env } : {}),
          ...mode.processEnv,
        },
        ctx,
        {
          profileDir,
          nodeArgs,
          outputFile: outputOf(m),
        },
      ),
    );

  // One direct conversation per client and instance (no instance waits on another's row locks).
  const clients: Sender[][] = [];
  for (const [m, instance] of instances.entries()) {
    const mine: Sender[] = [];
    for (let i = 0; i < concurrency; i++) {
      const token = await signDevToken(`bench.m${m}.s${i}`, { secret: DEV_JWT_SECRET, ttlS: 86_400 });
      const api = new JsonClient(instance.url, token);
      const res = await api.post('/conversations', { type: 'direct', participantIds: [`bench.m${m}.r${i}`] });
      api.close();
      if (res.status !== 201) throw new Error(`could not create a conversation: ${JSON.stringify(res.body)}`);
      mine.push({ url: instance.url, token, conversationId: res.body.id as string });
    }
    clients.push(mine);
  }

  for (const [m, mode] of modes.entries()) if (mode.prime) await primeWithOneSampledSend(clients[m]![0]!);

  const allSends = modes.map(() => 0);
  const cpuAtStart = instances.map((instance) => instance.cpuMs());
  const threadsAtStart = instances.map((instance) => instance.threadCpuMs());
  if (warmup)
    for (const [m, mode] of modes.entries()) {
      ctx.log(`warm-up: ${mode.name}, ${warmup} s`);
      allSends[m]! += (await sendFor(clients[m]!, warmup * 1000, transport)).latencies.length;
    }
  const loadBefore = loadAverage();
  const samples = modes.map(() => ({
    latencies: [] as number[],
    sends: 0,
    ms: 0,
    errors: 0,
    perRound: [] as number[],
    cpuMs: 0,
    cpuPerRound: [] as number[],
  }));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < modes.length; k++) {
      const m = (r + k) % modes.length;
      const cpuBefore = instances[m]!.cpuMs();
      const res = await sendFor(clients[m]!, seconds * 1000, transport);
      const s = samples[m]!;
      const cpu = instances[m]!.cpuMs() - cpuBefore;
      s.cpuMs += cpu;
      s.cpuPerRound.push(round(cpu / Math.max(1, res.latencies.length), 2));
      allSends[m]! += res.latencies.length;
      s.latencies.push(...res.latencies);
      s.sends += res.latencies.length;
      s.ms += res.elapsedMs;
      s.errors += res.errors;
      s.perRound.push(round(res.latencies.length / (res.elapsedMs / 1000), 1));
      ctx.log(
        `round ${r + 1}/${rounds} ${modes[m]!.name}: ${s.perRound[s.perRound.length - 1]} sends/s, ` +
          `p99 ${round(summarize(res.latencies).p99, 2)} ms, CPU ${s.cpuPerRound[s.cpuPerRound.length - 1]} ms/send`,
      );
    }
  }
  const loadAfter = loadAverage();
  // What a traced instance still buffers is exported within OTEL_BSP_SCHEDULE_DELAY (5 s), some of
  // it between its turns: counted in the CPU of the whole run, which waits for it here.
  await new Promise((resolve) => setTimeout(resolve, 6_000));
  const cpuOfRun = instances.map((instance, m) => instance.cpuMs() - cpuAtStart[m]!);
  const offMainThreadShare = instances.map((instance, m) => {
    const now = instance.threadCpuMs();
    const main = now.main - threadsAtStart[m]!.main;
    const others = now.others - threadsAtStart[m]!.others;
    return round(others / Math.max(1, main + others), 3);
  });
  // Sends per batch (the batched send path): CPU per send depends on it, so it must not differ.
  const perBatch: number[] = [];
  for (const instance of instances) {
    const text = await (await fetch(`${instance.url}/metrics`)).text();
    const sum = Number(/^chat_send_batch_size_sum(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
    const count = Number(/^chat_send_batch_size_count(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1]);
    perBatch.push(round(sum / Math.max(1, count), 2));
  }
  // Stopping flushes what the traced instances still buffer: the receiver then has everything.
  for (const instance of instances) await instance.stop();

  const results: ModeResult[] = modes.map((mode, m) => {
    const s = samples[m]!;
    return {
      mode: mode.name,
      sampling: mode.sampling,
      sendsPerSecond: round(s.sends / (s.ms / 1000), 1),
      latency: summarize(s.latencies),
      errors: s.errors,
      perRound: s.perRound,
      cpuMsPerSend: round(s.cpuMs / Math.max(1, s.sends), 3),
      cpuMsPerSendOfRun: round(cpuOfRun[m]! / Math.max(1, allSends[m]!), 3),
      offMainThreadShare: offMainThreadShare[m]!,
      sendsPerBatch: perBatch[m]!,
      cpuPerRound: s.cpuPerRound,
      exported: (() => {
        const names = receiver.spanNames(serviceOf(m));
        const sampledSends = SEND_ROOTS.reduce((n, root) => n + (names.get(root) ?? 0), 0);
        return {
          ...receiver.of(serviceOf(m)),
          bytesPerSend: round(receiver.of(serviceOf(m)).bytes / Math.max(1, allSends[m]!), 1),
          sampledSends,
          spansPerSampledSend: Object.fromEntries(
            [...names.entries()]
              .sort((a, b) => b[1] - a[1])
              .map(([name, n]) => [name, round(n / Math.max(1, sampledSends), 2)]),
          ),
        };
      })(),
    };
  });
  const off = results[0]!;
  const rel = (r: ModeResult) => ({
    throughput: round(r.sendsPerSecond / off.sendsPerSecond - 1, 4),
    p99: round(r.latency.p99 / off.latency.p99 - 1, 4),
    cpu: round(r.cpuMsPerSend / off.cpuMsPerSend - 1, 4),
    cpuOfRun: round(r.cpuMsPerSendOfRun / off.cpuMsPerSendOfRun - 1, 4),
  });
  // The goal is about 10 % sampling: judged when that ratio was measured.
  const tenthAt = entries.findIndex((e) => e.ratio === 0.1 && !e.without.length);
  const tenth = tenthAt >= 0 ? results[1 + tenthAt] : undefined;
  const goal = tenth && {
    goal: `at 10 % sampling, throughput within ${GOAL_RATIO * 100} % of tracing off`,
    throughputChange: rel(tenth).throughput,
    p99Change: rel(tenth).p99,
    cpuPerSendChange: rel(tenth).cpu,
    met: rel(tenth).throughput >= -GOAL_RATIO,
  };

  const report = [
    heading(
      `Tracing cost: direct sends over ${transport}, ${concurrency} concurrent clients, ${rounds} × ${seconds} s per mode, LOG_LEVEL=${logLevel}, ${protocol}`,
    ),
    table(
      [
        'tracing',
        'sampler',
        'sends/s',
        'vs off',
        'p50 ms',
        'p99 ms',
        'p99 vs off',
        'max ms',
        'CPU ms/send',
        'CPU vs off',
        'run CPU ms/send',
        'vs off',
        'off main thread',
        'errors',
        'OTLP bytes/send',
        'sends/batch',
      ],
      results.map((r) => [
        r.mode,
        r.sampling,
        r.sendsPerSecond,
        r === off ? '—' : `${(rel(r).throughput * 100).toFixed(1)} %`,
        r.latency.p50,
        r.latency.p99,
        r === off ? '—' : `${(rel(r).p99 * 100).toFixed(1)} %`,
        r.latency.max,
        r.cpuMsPerSend,
        r === off ? '—' : `${(rel(r).cpu * 100).toFixed(1)} %`,
        r.cpuMsPerSendOfRun,
        r === off ? '—' : `${(rel(r).cpuOfRun * 100).toFixed(1)} %`,
        `${(r.offMainThreadShare * 100).toFixed(1)} %`,
        r.errors,
        r.exported.bytesPerSend,
        r.sendsPerBatch,
      ]),
    ),
    '',
    `per round (sends/s): ${results.map((r) => `${r.mode}: ${r.perRound.join(', ')}`).join('; ')}`,
    ...results
      .filter((r) => r.exported.sampledSends > 0)
      .map(
        (r) =>
          `${r.mode}: ${r.exported.sampledSends} sends sampled, spans per sampled send: ` +
          Object.entries(r.exported.spansPerSampledSend)
            .map(([name, n]) => `${name} ${n}`)
            .join(', '),
      ),
    goal
      ? `goal: ${goal.goal}: ${goal.met ? 'met' : 'NOT met'} (throughput ${(goal.throughputChange * 100).toFixed(1)} %, CPU per send ${(goal.cpuPerSendChange * 100).toFixed(1)} %)`
      : 'goal: not judged (10 % sampling was not measured)',
    `load average before/after: ${loadBefore.join(' ')} / ${loadAfter.join(' ')}`,
  ].join('\n');
  return {
    result: {
      concurrency,
      seconds,
      rounds,
      warmup,
      logLevel,
      protocol,
      transport,
      results,
      goal,
      loadBefore,
      loadAfter,
    },
    report,
  };
}
