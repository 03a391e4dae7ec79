import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, testWorld, type TestApp } from './support/app';

describe('operations endpoints', () => {
  let world: Awaited<ReturnType<typeof testWorld>>;
  let app: TestApp;
  before(async () => {
    world = await testWorld({ redis: true });
    app = await world.start();
  });
  after(() => world.close());

  it('live and ready answer 200 with per-dependency detail, without a token', async () => {
    assert.equal((await http(app.url, 'GET', '/health/live')).status, 200);
    const ready = await http(app.url, 'GET', '/health/ready');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ok');
    assert.equal(ready.body.details.database.status, 'up');
    assert.equal(ready.body.details.redis.status, 'up');
    assert.equal(ready.body.details.redis.mode, 'redis');
  });

  it('metrics are in Prometheus text format and count HTTP requests and errors', async () => {
    await http(app.url, 'GET', '/definitely-not-a-route');
    const res = await http(app.url, 'GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    assert.match(res.body, /chat_http_request_duration_seconds_bucket\{/);
    assert.match(res.body, /chat_errors_total\{transport="http",code="NOT_FOUND"\} 1/);
    assert.match(res.body, /chat_db_pool_connections \d+/);
    assert.match(res.body, /chat_socket_connections 0/);
  });

  it('serves the OpenAPI document and the interactive docs', async () => {
    const doc = await http(app.url, 'GET', '/docs/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal(doc.body.openapi.startsWith('3.'), true);
    assert.ok(doc.body.paths['/health/ready']);
    assert.ok(doc.body.components.schemas.Error);
    const html = await http(app.url, 'GET', '/docs');
    assert.equal(html.status, 200);
    assert.match(String(html.body), /swagger/i);
  });
});
