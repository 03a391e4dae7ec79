import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enabledInstrumentations, startTracing, tracingConfigured, tracingEnabled } from './tracing';

describe('tracingConfigured (which OTEL_* settings turn tracing on)', () => {
  it('is off with no exporter configured, and a blank endpoint counts as unset', () => {
    assert.equal(tracingConfigured({}), false);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }), false);
    assert.equal(tracingConfigured({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: 'x' }), false);
  });

  it('is on with an OTLP endpoint (the general or the traces one) or a console/zipkin exporter', () => {
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }), true);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'console' }), true);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'otlp, zipkin' }), true);
  });

  it('OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none win over an endpoint', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.equal(tracingConfigured({ ...endpoint, OTEL_SDK_DISABLED: 'true' }), false);
    assert.equal(tracingConfigured({ ...endpoint, OTEL_SDK_DISABLED: ' TRUE ' }), false);
    assert.equal(tracingConfigured({ ...endpoint, OTEL_SDK_DISABLED: 'false' }), true);
    assert.equal(tracingConfigured({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }), false);
  });

  it('nothing is started by merely loading the module', () => {
    assert.equal(tracingEnabled(), false);
  });

  it('without an exporter, startTracing loads none of the SDK', (t) => {
    if (tracingConfigured()) return t.skip('this environment configures an exporter');
    const tracing = startTracing();
    assert.equal(tracing.enabled, false);
    assert.equal(tracingEnabled(), false);
    const loaded = Object.keys(require.cache).filter((f) =>
      /@opentelemetry[\\/](sdk-|instrumentation)/.test(f),
    );
    assert.deepEqual(loaded, []);
  });
});

describe('enabledInstrumentations (OTEL_NODE_ENABLED_INSTRUMENTATIONS / _DISABLED_)', () => {
  it('all by default; an enabled list keeps only those; a disabled list removes, and wins', () => {
    assert.deepEqual(enabledInstrumentations({}), ['http', 'undici', 'pg', 'ioredis', 'nestjs-core']);
    assert.deepEqual(enabledInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'nestjs-core, PG' }), [
      'http',
      'undici',
      'ioredis',
    ]);
    assert.deepEqual(enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg,unknown' }), [
      'http',
      'pg',
    ]);
    assert.deepEqual(
      enabledInstrumentations({
        OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http,pg',
        OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'pg',
      }),
      ['http'],
    );
  });
});
