// The client SDK's generated files are up to date: the OpenAPI document, the REST types made from it
// and the copy of the gateway's event maps are regenerated in memory and compared with the checked-in
// ones (run `npm run client:generate` after changing a controller, a DTO or src/realtime/events.ts).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateClientFiles, ROOT } from '../scripts/client-generate';
import { http, testWorld } from './support/app';

const HINT = 'stale: run `npm run client:generate` and commit the result';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

describe('client SDK generated files', () => {
  let generated: Map<string, string>;
  let world: Awaited<ReturnType<typeof testWorld>>;

  before(async () => {
    generated = await generateClientFiles();
    world = await testWorld();
  });
  after(() => world.close());

  it('the checked-in files are what the generator makes now', () => {
    assert.ok(generated.size >= 3);
    for (const [rel, text] of generated) {
      const file = path.join(ROOT, rel);
      let current: string | undefined;
      try {
        current = readFileSync(file, 'utf8');
      } catch {
        /* missing */
      }
      assert.ok(current !== undefined, `${rel} is missing: ${HINT}`);
      assert.ok(current === text, `${rel} is ${HINT}`);
    }
  });

  it('nothing else lies in client/src/generated', () => {
    const extra = walk(path.join(ROOT, 'client/src/generated'))
      .map((f) => path.relative(ROOT, f).split(path.sep).join('/'))
      .filter((rel) => !generated.has(rel));
    assert.deepEqual(extra, [], HINT);
  });

  it('the socket event maps are the gateway’s own', () => {
    const events = generated.get('client/src/generated/protocol/realtime/events.d.ts') ?? '';
    for (const name of ['ServerEvents', 'ClientEvents', 'AckResult', 'SessionEndReason'])
      assert.match(events, new RegExp(`export (interface|type) ${name}\\b`));
  });

  it('the generated OpenAPI document is the one the running service serves', async () => {
    const app = await world.start();
    const served = await http(app.url, 'GET', '/docs/openapi.json');
    assert.equal(served.status, 200);
    assert.deepEqual(JSON.parse(generated.get('client/openapi.json')!), served.body);
  });
});
