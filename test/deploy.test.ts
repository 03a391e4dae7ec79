// Deployment files (issue #9): the Helm values against their schema, the templates against the
// values, the Dockerfile's runtime stage, docker-compose and its load balancer, the alert rules
// (promtool) against the metrics the service really exports, and yamllint. No Docker, Kubernetes
// or Helm here: everything is checked statically, except /metrics, scraped from the real app.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ERROR_CODES, ERROR_STATUS } from '../src/common/errors';
import { DEV_JWT_SECRET, loadConfig } from '../src/config/env';
import { connectSocket, emitAck, http, testWorld, token, type TestApp } from './support/app';

const ROOT = path.resolve(__dirname, '..');
const CHART = path.join(ROOT, 'deploy/helm/chat-service');
const TEMPLATES = path.join(CHART, 'templates');
const ALERTS = 'deploy/monitoring/alerts.yml';
const ALERT_TESTS = 'deploy/monitoring/alerts.test.yml';
const ENVIRONMENTS = ['staging', 'production'] as const;
/** Variables of src/config/env.ts that only concern the embedded development database (production requires DATABASE_URL). */
const DEV_ONLY_VARIABLES = ['DATA_DIR', 'EMBEDDED_PG_PORT'];
/** What the chart puts in its Secret (or expects in secrets.existingSecret). */
const SECRET_VARIABLES = [
  'DATABASE_URL',
  'DATABASE_REPLICA_URLS',
  'REDIS_URL',
  'REDIS_SENTINEL_PASSWORD',
  'JWT_SECRET',
];
const STRONG_SECRET = 'a-production-secret-of-more-than-32-characters';

type Obj = Record<string, any>;
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');
const readYaml = (rel: string): Obj => parseYaml(read(rel), { merge: true }) as Obj;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's merge of a values file over the chart's values: maps merge, a null deletes, the rest replaces. */
function helmMerge(base: Obj, over: Obj): Obj {
  const out: Obj = structuredClone(base);
  for (const [key, value] of Object.entries(over)) {
    if (value === null) delete out[key];
    else if (isObj(value) && isObj(out[key])) out[key] = helmMerge(out[key], value);
    else out[key] = structuredClone(value);
  }
  return out;
}

const defaults = () => readYaml('deploy/helm/chat-service/values.yaml');
const merged = (env: string) =>
  helmMerge(defaults(), readYaml(`deploy/helm/chat-service/values-${env}.yaml`));
/** The chart's defaults with the secrets given inline (no existing Secret). */
const withInlineSecrets = () =>
  helmMerge(defaults(), {
    secrets: {
      databaseUrl: 'postgres://chat:pw@db.internal:5432/chat',
      redisUrl: 'redis://redis.internal:6379',
      jwtSecret: STRONG_SECRET,
    },
  });

function validator() {
  const schema = JSON.parse(read('deploy/helm/chat-service/values.schema.json')) as Obj;
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  return (values: Obj): string[] =>
    validate(values) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

/** Text of a `{{ define "name" }}` block of _helpers.tpl (up to the next comment or define). */
function helper(name: string): string {
  const text = readFileSync(path.join(TEMPLATES, '_helpers.tpl'), 'utf8');
  const start = text.indexOf(`{{- define "${name}" -}}`);
  assert.ok(start >= 0, `_helpers.tpl defines ${name}`);
  const ends = ['{{/*', '{{- define'].map((m) => text.indexOf(m, start + 1)).filter((i) => i > 0);
  return text.slice(start, ends.length ? Math.min(...ends) : undefined);
}

/**
 * The environment the chart gives the pods (its ConfigMap, see chat-service.configData), from
 * merged values: whole numbers as integers, empty strings left out, otel.* as OTEL_* variables.
 */
function chartConfigMap(values: Obj): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PORT: String(values.containerPort),
    HOST: '0.0.0.0',
    MIGRATIONS_RUN: values.migrations.enabled ? 'false' : 'true',
  };
  for (const [key, value] of Object.entries(values.config as Obj))
    if (String(value) !== '') env[key] = String(value);
  const otel: [string, string][] = [
    ['endpoint', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    ['protocol', 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    ['sampler', 'OTEL_TRACES_SAMPLER'],
    ['samplerArg', 'OTEL_TRACES_SAMPLER_ARG'],
  ];
  for (const [key, variable] of otel) if (values.otel[key]) env[variable] = String(values.otel[key]);
  return env;
}

/** Every variable src/config/env.ts reads: the keys of its zod schema object. */
function configVariables(): string[] {
  const source = read('src/config/env.ts');
  const body = source.slice(
    source.indexOf('const schema = z.object({'),
    source.indexOf('\n});', source.indexOf('const schema')),
  );
  const names = [...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 20, `found the variables of env.ts (${names.join(', ')})`);
  return names;
}

/** Runs a tool that must be installed; a missing one fails the test with how to get it. */
function runTool(command: string, args: string[], debianPackage: string): { code: number; output: string } {
  const res = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if ((res.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT')
    assert.fail(
      `${command} is not installed: apt-get install -y ${debianPackage} (.ci/run installs it; the deploy checks need it)`,
    );
  if (res.error) throw res.error;
  return { code: res.status ?? 1, output: `${res.stdout}${res.stderr}` };
}

describe('Helm values and values.schema.json', () => {
  const validate = validator();

  for (const env of ENVIRONMENTS)
    it(`values.yaml merged with values-${env}.yaml validates`, () => {
      assert.deepEqual(validate(merged(env)), []);
    });

  it('values.yaml with inline secrets validates; without a Secret or inline secrets it is refused', () => {
    assert.deepEqual(validate(withInlineSecrets()), []);
    const errors = validate(defaults());
    assert.ok(errors.length > 0, 'the defaults alone name no Secret and give no database URL');
    const publicKeyOnly = helmMerge(withInlineSecrets(), {
      secrets: { jwtSecret: '' },
      config: { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n' },
    });
    assert.deepEqual(validate(publicKeyOnly), [], 'a public key replaces the HS256 secret');
    assert.ok(validate(helmMerge(withInlineSecrets(), { secrets: { jwtSecret: '' } })).length > 0);
  });

  const invalid: [string, Obj][] = [
    ['an unknown top-level key (typo)', { replicas: 3 }],
    ['replicaCount 0', { replicaCount: 0 }],
    ['a pool size as a string', { config: { DATABASE_POOL_SIZE: 'ten' } }],
    ['a pool size above 500', { config: { DATABASE_POOL_SIZE: 501 } }],
    ['an unknown config variable', { config: { DATABSE_URL: 'postgres://x' } }],
    ['a log level outside the enum', { config: { LOG_LEVEL: 'loud' } }],
    ['a JWT secret shorter than 32 characters', { secrets: { jwtSecret: DEV_JWT_SECRET } }],
    ['a database URL that is not postgres://', { secrets: { databaseUrl: 'mysql://db/chat' } }],
    ['a redis URL that is not redis://', { secrets: { redisUrl: 'http://redis:6379' } }],
    ['an OTLP protocol outside the enum', { otel: { protocol: 'udp' } }],
    ['a sampler ratio above 1', { otel: { samplerArg: '1.5' } }],
    ['running as root', { podSecurityContext: { runAsUser: 0 } }],
    ['a pull policy outside the enum', { image: { pullPolicy: 'Sometimes' } }],
    ['a probe period of 0', { probes: { readiness: { periodSeconds: 0 } } }],
    [
      'an ingress path type outside the enum',
      { ingress: { hosts: [{ host: 'x', paths: [{ path: '/', pathType: 'All' }] }] } },
    ],
  ];
  for (const [what, patch] of invalid)
    it(`rejects ${what}`, () => {
      assert.ok(validate(helmMerge(withInlineSecrets(), patch)).length > 0, JSON.stringify(patch));
    });

  it('values.yaml has the defaults of src/config/env.ts', () => {
    const builtIn = loadConfig({}) as unknown as Obj;
    for (const [key, value] of Object.entries(defaults().config as Obj)) {
      const expected = builtIn[key];
      const text = Array.isArray(expected)
        ? expected.join(',')
        : expected === undefined
          ? ''
          : String(expected);
      assert.equal(String(value), text, `config.${key}`);
    }
  });

  it('every variable of src/config/env.ts is set by the chart, kept secret, or development-only', () => {
    const chartSets = new Set([
      ...Object.keys(defaults().config as Obj),
      ...[...helper('chat-service.configData').matchAll(/^([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!),
    ]);
    const secretSets = new Set(
      [...helper('chat-service.secretData').matchAll(/^([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!),
    );
    assert.deepEqual([...secretSets].sort(), [...SECRET_VARIABLES].sort(), 'the Secret holds exactly these');
    const missing = configVariables().filter(
      (v) => !chartSets.has(v) && !secretSets.has(v) && !DEV_ONLY_VARIABLES.includes(v),
    );
    assert.deepEqual(missing, [], 'variables the chart never sets');
    for (const v of SECRET_VARIABLES) assert.ok(!chartSets.has(v), `${v} is not in the ConfigMap`);
  });

  it('otel.* maps to the OTEL_* variables, and nothing is set while they are empty', () => {
    const text = helper('chat-service.configData');
    for (const [key, variable] of [
      ['endpoint', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
      ['protocol', 'OTEL_EXPORTER_OTLP_PROTOCOL'],
      ['sampler', 'OTEL_TRACES_SAMPLER'],
      ['samplerArg', 'OTEL_TRACES_SAMPLER_ARG'],
      ['serviceName', 'OTEL_SERVICE_NAME'],
    ])
      assert.match(text, new RegExp(`if \\.${key} \\}\\}\\n${variable}: \\{\\{ \\.${key} \\| quote \\}\\}`));
    assert.deepEqual(
      Object.keys(chartConfigMap(withInlineSecrets())).filter((k) => k.startsWith('OTEL_')),
      [],
    );
  });

  for (const env of ENVIRONMENTS)
    it(`the ${env} configuration boots: the chart's environment passes the service's own validation`, () => {
      const values = merged(env);
      const config = loadConfig({
        ...chartConfigMap(values),
        DATABASE_URL: 'postgres://chat:pw@db:5432/chat',
        REDIS_URL: 'redis://redis:6379',
        JWT_SECRET: STRONG_SECRET,
      });
      assert.equal(config.isProduction, true);
      assert.equal(config.MIGRATIONS_RUN, false, 'the migration Job migrates, not the pods');
      assert.equal(config.PORT, values.containerPort);
    });

  for (const env of ENVIRONMENTS)
    it(`${env}: the shutdown fits the grace period and the autoscaler's range is a range`, () => {
      const values = merged(env);
      assert.ok(values.preStopSleepSeconds < values.terminationGracePeriodSeconds);
      assert.ok(
        values.terminationGracePeriodSeconds - values.preStopSleepSeconds >= 15,
        'time left to shut down',
      );
      assert.ok(
        (values.terminationGracePeriodSeconds - values.preStopSleepSeconds) * 1000 >=
          values.config.SHUTDOWN_TIMEOUT_MS,
        'SHUTDOWN_TIMEOUT_MS fits in the time left to shut down',
      );
      assert.ok(values.autoscaling.minReplicas <= values.autoscaling.maxReplicas);
      assert.ok(
        values.autoscaling.minReplicas >= 2,
        'more than one instance: a rollout or a disruption keeps one',
      );
    });
});

describe('Helm templates', () => {
  const files = readdirSync(TEMPLATES).filter((f) => /\.(yaml|tpl|txt)$/.test(f));

  it('has the templates the deployment needs', () => {
    for (const f of [
      '_helpers.tpl',
      'deployment.yaml',
      'service.yaml',
      'ingress.yaml',
      'hpa.yaml',
      'pdb.yaml',
      'configmap.yaml',
      'secret.yaml',
      'migration-job.yaml',
      'servicemonitor.yaml',
    ])
      assert.ok(files.includes(f), f);
  });

  for (const file of files)
    it(`${file}: balanced {{ }}, balanced blocks, and only values keys that exist in values.yaml`, () => {
      const text = readFileSync(path.join(TEMPLATES, file), 'utf8');
      const opens = text.split('{{').length - 1;
      assert.equal(opens, text.split('}}').length - 1, 'as many {{ as }}');
      const actions = [...text.matchAll(/\{\{(.*?)\}\}/gs)].map((m) => m[1]!);
      assert.equal(actions.length, opens, 'every {{ is closed before the next one opens');
      let depth = 0;
      for (const action of actions) {
        const word = /^-?\s*(\w+)/.exec(action)?.[1];
        if (word && ['if', 'with', 'range', 'define', 'block'].includes(word)) depth++;
        if (word === 'end') depth--;
        assert.ok(depth >= 0, `an {{ end }} without a block in ${file}`);
      }
      assert.equal(depth, 0, 'every if/with/range/define has its end');
      const values = defaults();
      for (const [, ref] of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        let node: unknown = values;
        for (const key of ref!.slice(1).split('.')) {
          assert.ok(isObj(node) && key in node, `.Values${ref} is not in values.yaml`);
          node = node[key];
        }
      }
    });

  it('the Deployment probes, secures and drains the pods', () => {
    const text = readFileSync(path.join(TEMPLATES, 'deployment.yaml'), 'utf8');
    assert.match(text, /livenessProbe:\s+httpGet:\s+path: \/health\/live/);
    assert.match(text, /readinessProbe:\s+httpGet:\s+path: \/health\/ready/);
    assert.match(text, /runAsNonRoot: true/);
    assert.match(text, /readOnlyRootFilesystem: true/);
    assert.match(text, /allowPrivilegeEscalation: false/);
    assert.match(text, /drop:\s+- ALL/);
    assert.match(text, /mountPath: \/tmp/);
    assert.match(text, /emptyDir:/);
    assert.match(text, /preStop:\s+exec:\s+(#.*\s+)?command: \["sleep"/);
    assert.match(text, /terminationGracePeriodSeconds: \{\{ \.Values\.terminationGracePeriodSeconds \}\}/);
    assert.match(text, /resources:\s+\{\{- toYaml \.Values\.resources/);
    assert.match(text, /configMapRef:[\s\S]*secretRef:/);
  });

  it('the migration Job is a pre-install/pre-upgrade hook running the compiled migrate command', () => {
    const text = readFileSync(path.join(TEMPLATES, 'migration-job.yaml'), 'utf8');
    assert.match(text, /kind: Job/);
    assert.match(text, /"helm.sh\/hook": pre-install,pre-upgrade/);
    const command = /command: \["node", "([^"]+)", "run"\]/.exec(text)?.[1];
    assert.equal(command, 'dist/database/migrate.command.js');
    assertBuiltFrom(command!);
    assert.match(
      helper('chat-service.configData'),
      /MIGRATIONS_RUN: \{\{ ternary "false" "true" \.Values\.migrations\.enabled/,
    );
  });

  it('the Ingress keeps WebSockets open and the ServiceMonitor is behind a flag', () => {
    const annotations = defaults().ingress.annotations as Obj;
    assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 60);
    assert.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout']) >= 60);
    const sm = readFileSync(path.join(TEMPLATES, 'servicemonitor.yaml'), 'utf8');
    assert.match(sm, /^\{\{- if \.Values\.metrics\.serviceMonitor\.enabled \}\}/);
    assert.match(sm, /path: \/metrics/);
    assert.equal(defaults().metrics.serviceMonitor.jobName, 'chat-service', 'the job the alert rules select');
  });
});

/** A `dist/x.js` path of the image is compiled by `npm run build` from `src/x.ts`. */
function assertBuiltFrom(distPath: string): void {
  const build = JSON.parse(read('tsconfig.build.json')) as Obj;
  assert.equal(build.compilerOptions.rootDir, 'src');
  assert.equal(build.compilerOptions.outDir, 'dist');
  assert.match(distPath, /^dist\/.+\.js$/);
  const source = distPath.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
  assert.ok(existsSync(path.join(ROOT, source)), `${distPath} is built from ${source}`);
}

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { name: string; lines: string[] }[] = [];
  for (const line of lines) {
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[1] ?? String(stages.length), lines: [] });
    stages.at(-1)?.lines.push(line);
  }
  const runtime = stages.at(-1)!;

  it('is multi-stage: npm ci, then npm run build, then the runtime', () => {
    assert.ok(stages.length >= 2);
    const before = stages.slice(0, -1).flatMap((s) => s.lines);
    assert.ok(
      before.some((l) => /^RUN .*npm ci\b/.test(l) && !l.includes('--omit=dev')),
      'npm ci with dev dependencies',
    );
    assert.ok(
      before.some((l) => /^RUN .*npm run build\b/.test(l)),
      'npm run build',
    );
    // Node 24, the maintained LTS line (20 reached its end of life on 2026-04-30); the suite runs on
    // 20 (CI) and was run whole on 24 (README, Quick start).
    assert.match(runtime.lines[0]!, /^FROM (node:24-bookworm-slim|node:24[\w.-]*alpine|\$\{NODE_IMAGE\})/);
    const arg = lines.find((l) => l.startsWith('ARG NODE_IMAGE='));
    if (runtime.lines[0]!.includes('${NODE_IMAGE}'))
      assert.match(arg ?? '', /=node:24[\w.-]*(bookworm-slim|alpine)/);
  });

  it('the runtime stage runs as a non-root user', () => {
    const user = runtime.lines.filter((l) => /^USER\s/i.test(l)).at(-1);
    assert.ok(user, 'a USER line in the last stage');
    const name = user!.split(/\s+/)[1]!.split(':')[0]!;
    assert.ok(!['root', '0'].includes(name), `USER ${name}`);
  });

  it('the runtime stage installs production dependencies only and copies only dist/ from the build', () => {
    assert.ok(
      runtime.lines.some((l) => /^RUN .*npm ci\b.*--omit=dev/.test(l)),
      'npm ci --omit=dev',
    );
    assert.ok(!runtime.lines.some((l) => /^RUN .*npm (i|install)\b/.test(l)), 'no npm install');
    for (const line of runtime.lines.filter((l) => /^(COPY|ADD)\s/i.test(l))) {
      const parts = line.split(/\s+/).filter((p) => !p.startsWith('--chown') && !p.startsWith('--chmod'));
      const fromStage = parts.find((p) => p.startsWith('--from='));
      const sources = parts.slice(1, -1).filter((p) => !p.startsWith('--'));
      assert.ok(!sources.some((s) => /node_modules/.test(s)), `${line}: no node_modules copied`);
      if (fromStage) assert.deepEqual(sources, ['/app/dist'], `${line}: only dist/ from another stage`);
      else
        for (const s of sources)
          assert.ok(
            ['package.json', 'package-lock.json'].includes(s),
            `${line}: only package files from the context`,
          );
    }
  });

  it('runs node dist/main.js in production on port 3000, with a liveness HEALTHCHECK', () => {
    const cmd = runtime.lines.find((l) => l.startsWith('CMD '));
    assert.deepEqual(JSON.parse(cmd!.slice(4)), ['node', 'dist/main.js']);
    assertBuiltFrom('dist/main.js');
    assert.ok(runtime.lines.some((l) => /^ENV .*NODE_ENV=production/.test(l)));
    assert.ok(runtime.lines.includes('EXPOSE 3000'));
    const health = runtime.lines.find((l) => l.startsWith('HEALTHCHECK '));
    assert.match(health ?? '', /CMD \["node", "-e", .*\/health\/live/);
  });

  it('.dockerignore keeps dependencies, builds, data, git and results out of the context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', 'dist', '.data', '.git', '.test-results', 'bench'])
      assert.ok(ignored.includes(p), p);
    assert.ok(!ignored.some((l) => l.startsWith('!')), 'nothing re-included');
  });
});

describe('docker-compose.yml', () => {
  const compose = readYaml('docker-compose.yml');
  const services = compose.services as Obj;
  /** `${VAR:-default}` as compose would substitute it with VAR unset. */
  const substitute = (v: unknown) => String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  const chatServices = Object.entries(services).filter(([, s]) => s.build && !s.command);

  it('runs PostgreSQL, Redis, a migration, two chat instances and a load balancer, each with a healthcheck', () => {
    for (const name of ['postgres', 'redis', 'lb']) assert.ok(services[name], name);
    assert.ok(chatServices.length >= 2, 'two instances of the service');
    for (const [name, s] of Object.entries(services))
      if (name !== 'migrate') assert.ok(s.healthcheck?.test, `${name} has a healthcheck`);
    assert.deepEqual(services.migrate.command, ['node', 'dist/database/migrate.command.js', 'run']);
  });

  it('each instance starts on healthy dependencies after the migration, with a production configuration', () => {
    for (const [name, s] of chatServices) {
      assert.equal(s.depends_on.postgres.condition, 'service_healthy', name);
      assert.equal(s.depends_on.redis.condition, 'service_healthy', name);
      assert.equal(s.depends_on.migrate.condition, 'service_completed_successfully', name);
      const env = Object.fromEntries(
        Object.entries(s.environment as Obj).map(([k, v]) => [k, substitute(v)]),
      );
      assert.equal(new URL(env.DATABASE_URL).hostname, 'postgres');
      assert.equal(new URL(env.REDIS_URL).hostname, 'redis');
      assert.notEqual(env.JWT_SECRET, DEV_JWT_SECRET);
      const config = loadConfig(env);
      assert.equal(config.isProduction, true, `${name}: NODE_ENV=production`);
      assert.ok(config.jwtSecret && config.jwtSecret.length >= 32);
    }
    assert.deepEqual(services.migrate.environment, chatServices[0]![1].environment, 'the same configuration');
  });

  it('the load balancer upgrades WebSockets, keeps polling clients on one instance and reaches every instance', () => {
    const lb = services.lb as Obj;
    assert.ok(chatServices.every(([name]) => lb.depends_on[name]?.condition === 'service_healthy'));
    const mount = (lb.volumes as string[]).find((v) => v.includes('deploy/nginx/'));
    const conf = read(mount!.split(':')[0]!.replace(/^\.\//, ''));
    assert.match(conf, /proxy_http_version 1\.1;/);
    assert.match(conf, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(conf, /proxy_set_header Connection \$\w+;/);
    assert.match(conf, /map \$http_upgrade \$\w+ \{/);
    assert.match(conf, /^\s*(ip_hash|hash \$remote_addr( consistent)?);/m);
    const upstreams = [...conf.matchAll(/^\s*server (\S+):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(
      upstreams.sort(),
      chatServices.map(([name, s]) => `${name}:${s.environment.PORT}`).sort(),
    );
    assert.match(conf, /proxy_read_timeout (\d{3,})s;/);
  });
});

describe('alert rules', () => {
  it('pass promtool check rules and their unit tests', () => {
    const check = runTool('promtool', ['check', 'rules', ALERTS], 'prometheus');
    assert.equal(check.code, 0, check.output);
    const tests = runTool('promtool', ['test', 'rules', ALERT_TESTS], 'prometheus');
    assert.equal(tests.code, 0, tests.output);
  });

  const rules = (readYaml(ALERTS).groups as Obj[]).flatMap((g) => g.rules as Obj[]);
  const exprs = rules.map((r) => String(r.expr));
  /** Metric names in PromQL, string literals (label values) left out. */
  const metricNames = (expr: string) => [
    ...new Set(
      [...expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\b(chat_[A-Za-z0-9_]+)\b/g)].map((m) => m[1]!),
    ),
  ];

  it('cover errors, send-to-ack and HTTP latency, readiness, the database pool and the socket count', () => {
    const alerts = rules.filter((r) => r.alert);
    const all = exprs.join('\n');
    assert.match(all, /chat_errors_total/);
    assert.match(
      all,
      /histogram_quantile\(0\.99,\s*sum by \(le\) \(rate\(chat_socket_event_duration_seconds_bucket\{[^}]*event="message:send"/,
    );
    assert.match(
      all,
      /histogram_quantile\(0\.99,\s*sum by \(le\) \(rate\(chat_http_request_duration_seconds_bucket/,
    );
    assert.match(all, /\bup\{job="chat-service"\}/);
    assert.match(all, /chat_db_pool_waiting\{[^}]*\} > 0/);
    assert.match(all, /chat_db_pool_connections/);
    assert.match(all, /chat_socket_connections/);
    for (const a of alerts) {
      assert.ok(['page', 'ticket'].includes(a.labels?.severity), `${a.alert}: severity`);
      assert.ok(a.annotations?.summary, `${a.alert}: summary`);
    }
    const slo = read('deploy/monitoring/SLO.md');
    for (const a of alerts) assert.ok(slo.includes(`\`${a.alert}\``), `SLO.md explains ${a.alert}`);
  });

  it('use only recording rules they define', () => {
    const recorded = new Set(rules.filter((r) => r.record).map((r) => String(r.record)));
    for (const expr of exprs)
      for (const [name] of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\bchat:[A-Za-z0-9_:]+/g))
        assert.ok(recorded.has(name), `${name} is recorded`);
  });

  describe('every metric they use is exported by the service', () => {
    let world: Awaited<ReturnType<typeof testWorld>>;
    let app: TestApp;
    let scrape = '';
    before(async () => {
      world = await testWorld();
      app = await world.start();
      // Traffic on what the rules select: a readiness probe, a scrape, a socket message:send (refused).
      assert.equal((await http(app.url, 'GET', '/health/ready')).status, 200);
      await http(app.url, 'GET', '/metrics');
      const socket = await connectSocket(app.url, await token('deploy-check-user'));
      try {
        await emitAck(socket, 'message:send', { conversationId: 'not-a-uuid' });
      } finally {
        socket.close();
      }
      const res = await http(app.url, 'GET', '/metrics');
      assert.equal(res.status, 200);
      scrape = String(res.body);
    });
    after(() => world.close());

    /** Series names /metrics can hold: counters and gauges as such, histograms and summaries as their series. */
    const exported = () => {
      const names = new Set<string>();
      for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        names.add(name!);
        if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
        if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      }
      return names;
    };

    it('the alert rules', () => {
      const names = exported();
      assert.ok(names.has('chat_process_start_time_seconds'), 'default Node metrics, prefixed chat_');
      const used = [...new Set(exprs.flatMap(metricNames))];
      assert.ok(used.length >= 8, used.join(', '));
      assert.deepEqual(
        used.filter((n) => !names.has(n)),
        [],
        'metrics the rules use that /metrics does not export',
      );
    });

    it('the series of the rules unit tests', () => {
      const names = exported();
      const series = (readYaml(ALERT_TESTS).tests as Obj[]).flatMap((t) =>
        (t.input_series as Obj[]).map((s) => /^([A-Za-z_:][A-Za-z0-9_:]*)/.exec(String(s.series))![1]!),
      );
      assert.deepEqual(
        [...new Set(series)].filter((n) => n.startsWith('chat_') && !names.has(n)),
        [],
      );
    });

    it('the label values and buckets the rules select on', () => {
      const sample = (re: RegExp) => assert.match(scrape, re);
      sample(/^chat_http_request_duration_seconds_count\{[^}]*route="\/health\/ready",status="200"\} \d+/m);
      sample(/^chat_http_request_duration_seconds_count\{[^}]*route="\/metrics"[^}]*\} \d+/m);
      sample(/^chat_http_request_duration_seconds_bucket\{[^}]*le="1"[^}]*\} \d+/m);
      sample(/^chat_socket_event_duration_seconds_bucket\{[^}]*le="0\.5",event="message:send"[^}]*\} \d+/m);
      sample(/^chat_errors_total\{transport="socket",code="[A-Z_]+"\} 1/m);
      // "Failed" requests are exactly the contract's server-side codes (5xx).
      const serverCodes = ERROR_CODES.filter((c) => ERROR_STATUS[c] >= 500).sort();
      const selections = exprs.flatMap((e) => [...e.matchAll(/chat_errors_total\{[^}]*code=~"([^"]+)"/g)]);
      assert.ok(selections.length > 0);
      for (const [, codes] of selections) assert.deepEqual(codes!.split('|').sort(), serverCodes);
    });
  });
});

describe('yamllint', () => {
  it('passes on the values files, Chart.yaml, docker-compose.yml and the monitoring rules', () => {
    const files = [
      '.yamllint',
      'docker-compose.yml',
      'deploy/helm/chat-service/Chart.yaml',
      'deploy/helm/chat-service/values.yaml',
      ...ENVIRONMENTS.map((e) => `deploy/helm/chat-service/values-${e}.yaml`),
      ALERTS,
      ALERT_TESTS,
    ];
    for (const f of files) assert.ok(existsSync(path.join(ROOT, f)), f);
    const res = runTool('yamllint', ['--strict', '-c', '.yamllint', ...files], 'yamllint');
    assert.equal(res.code, 0, res.output);
  });
});
