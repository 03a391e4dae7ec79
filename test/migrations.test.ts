import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/env';
import { dataSourceOptions } from '../src/database/data-source';
import { MIGRATIONS } from '../src/database/migrations';
import { createEmptyDatabase, type TestDatabase } from './support/db';

const ROOT = path.resolve(__dirname, '..');
const MIGRATION_NAMES = MIGRATIONS.map((M) => new M().name ?? M.name);

/** What the schema is made of: tables, columns, indexes, constraints, types, functions (public schema). */
interface Schema {
  tables: string[];
  fingerprint: string[];
}

async function inspect(url: string): Promise<Schema> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query<{ x: string }>(sql)).rows.map((r) => r.x);
    const tables = await q(
      `SELECT table_name AS x FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    const columns = await q(
      `SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
              || ' ' || coalesce(column_default, '') AS x
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`,
    );
    const indexes = await q(
      `SELECT 'index ' || indexdef AS x FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`,
    );
    const constraints = await q(
      `SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) AS x
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
    );
    const types = await q(
      `SELECT 'type ' || typname AS x FROM pg_type t
        WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid) ORDER BY 1`,
    );
    const functions = await q(
      `SELECT 'function ' || proname AS x FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1`,
    );
    return { tables, fingerprint: [...columns, ...indexes, ...constraints, ...types, ...functions] };
  } finally {
    await c.end();
  }
}

async function applied(url: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ name: string }>('SELECT name FROM migrations ORDER BY id')).rows.map(
      (r) => r.name,
    );
  } finally {
    await c.end();
  }
}

function dataSource(url: string): DataSource {
  return new DataSource({
    ...dataSourceOptions(loadConfig({ NODE_ENV: 'test' }), url),
    migrationsRun: false,
  });
}

function npm(
  script: string,
  databaseUrl: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'development', DATABASE_URL: databaseUrl };
    delete env.DATABASE_REPLICA_URLS;
    const child = spawn('npm', ['run', '--silent', script], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('migrations', () => {
  const dbs: TestDatabase[] = [];
  /** The schema with every migration applied, and with all but the last one applied. */
  let full: Schema;
  let allButLast: Schema;
  after(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  /**
   * A fresh database, migrated here (not cloned from the shared template, which may lag behind
   * migrations being written), and its data source, still open: the caller destroys it.
   */
  async function migratedDatabase(): Promise<{ db: TestDatabase; ds: DataSource }> {
    const db = await createEmptyDatabase();
    dbs.push(db);
    const ds = dataSource(db.url);
    await ds.initialize();
    await ds.runMigrations({ transaction: 'each' });
    return { db, ds };
  }

  describe('up, all the way down, and up again on an empty database', () => {
    let db: TestDatabase;
    let ds: DataSource;
    before(async () => {
      db = await createEmptyDatabase();
      dbs.push(db);
      ds = dataSource(db.url);
      await ds.initialize();
    });
    after(() => ds?.destroy());

    it('starts empty', async () => {
      assert.deepEqual((await inspect(db.url)).tables, []);
    });

    it('runs every migration up', async () => {
      const done = await ds.runMigrations({ transaction: 'each' });
      assert.deepEqual(
        done.map((m) => m.name),
        MIGRATION_NAMES,
      );
      assert.deepEqual(await applied(db.url), MIGRATION_NAMES);
      full = await inspect(db.url);
      for (const table of ['migrations', 'conversations', 'participants', 'messages'])
        assert.ok(full.tables.includes(table), `table ${table} missing: ${full.tables.join(', ')}`);
      assert.equal(await ds.showMigrations(), false, 'nothing pending');
    });

    it('is idempotent: a second run applies nothing', async () => {
      assert.deepEqual(await ds.runMigrations({ transaction: 'each' }), []);
      assert.deepEqual(await inspect(db.url), full);
    });

    it('reverts them one by one, down to nothing but the migrations table', async () => {
      for (let i = MIGRATION_NAMES.length - 1; i >= 0; i--) {
        await ds.undoLastMigration({ transaction: 'each' });
        assert.deepEqual(await applied(db.url), MIGRATION_NAMES.slice(0, i));
        if (i === MIGRATION_NAMES.length - 1) allButLast = await inspect(db.url);
      }
      const empty = await inspect(db.url);
      assert.deepEqual(empty.tables, ['migrations'], 'every table of the migrations is gone');
      for (const table of ['conversations', 'participants', 'messages'])
        assert.ok(!empty.tables.includes(table));
      assert.deepEqual(
        empty.fingerprint.filter((f) => !/\bmigrations\b/.test(f)),
        [],
        'no index, constraint, type or function is left behind',
      );
    });

    it('runs up again to the very same schema', async () => {
      await ds.runMigrations({ transaction: 'each' });
      assert.deepEqual(await applied(db.url), MIGRATION_NAMES);
      assert.deepEqual(await inspect(db.url), full);
    });
  });

  describe('ResolvedSeq: data written before it', () => {
    it('marks each conversation resolved before it at its last "resolved" notice, and no other', async () => {
      const { db, ds } = await migratedDatabase();
      try {
        while ((await applied(db.url)).includes('ResolvedSeq1764200000000'))
          await ds.undoLastMigration({ transaction: 'each' });
        const notice = 'This conversation was resolved. Write again any time to re-open it.';
        const [twice, never, group] = [
          '00000000-0000-4000-8000-000000000001',
          '00000000-0000-4000-8000-000000000002',
          '00000000-0000-4000-8000-000000000003',
        ];
        await ds.query(`INSERT INTO businesses (id, time_zone) VALUES ('biz', 'UTC')`);
        await ds.query(
          `INSERT INTO conversations (id, type, business_id, customer_id, business_status, last_seq)
           VALUES ($1, 'business', 'biz', 'c1', 'resolved', 5), ($2, 'business', 'biz', 'c2', 'queued', 2)`,
          [twice, never],
        );
        await ds.query(`INSERT INTO conversations (id, type, last_seq) VALUES ($1, 'group', 1)`, [group]);
        const message = (conversation: string, seq: number, sender: string | null, text: string) =>
          ds.query(
            `INSERT INTO messages (id, conversation_id, seq, sender_id, type, content)
             VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)`,
            [conversation, seq, sender, sender ? 'text' : 'system', { text }],
          );
        await message(twice, 1, 'c1', 'hello');
        await message(twice, 2, null, notice);
        await message(twice, 3, 'c1', 'again');
        await message(twice, 4, null, notice);
        await message(twice, 5, 'c1', notice); // a customer who types the notice's words
        await message(never, 1, 'c2', 'hi');
        await message(never, 2, null, 'You are number 1 in the queue.');
        await message(group, 1, null, notice);

        // More than one batch of the backfill: 1,200 resolved conversations, one notice each.
        await ds.query(
          `WITH c AS (
             INSERT INTO conversations (id, type, business_id, customer_id, business_status, last_seq)
             SELECT ('10000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'business', 'biz', 'bulk' || i, 'resolved', 1
               FROM generate_series(1, 1200) i
             RETURNING id)
           INSERT INTO messages (id, conversation_id, seq, sender_id, type, content)
           SELECT gen_random_uuid(), c.id, 1, NULL, 'system', jsonb_build_object('text', $1::text) FROM c`,
          [notice],
        );

        await ds.runMigrations({ transaction: 'each' });
        const bulk: { marked: string }[] = await ds.query(
          `SELECT count(*) AS marked FROM conversations WHERE customer_id LIKE 'bulk%' AND resolved_seq = 1`,
        );
        assert.equal(Number(bulk[0]!.marked), 1200, 'every batch is backfilled');
        const rows: { id: string; resolved_seq: number | null }[] = await ds.query(
          `SELECT id, resolved_seq FROM conversations WHERE customer_id IS NULL OR customer_id NOT LIKE 'bulk%' ORDER BY id`,
        );
        assert.deepEqual(rows, [
          { id: twice, resolved_seq: 4 },
          { id: never, resolved_seq: null },
          { id: group, resolved_seq: null },
        ]);
      } finally {
        await ds.destroy();
      }
    });
  });

  describe('npm run migration:revert (the real command)', () => {
    it('rolls the last migration back on a migrated database, and migration:run re-applies it', async () => {
      assert.ok(full && allButLast, 'needs the schemas recorded above');
      const { db, ds } = await migratedDatabase();
      await ds.destroy();
      assert.deepEqual(await inspect(db.url), full, 'the test database starts fully migrated');

      const revert = await npm('migration:revert', db.url);
      assert.equal(revert.code, 0, revert.stderr);
      const last = MIGRATION_NAMES.at(-1)!;
      assert.match(revert.stdout, new RegExp(`reverted: ${last}`));
      assert.deepEqual(await applied(db.url), MIGRATION_NAMES.slice(0, -1));
      const after = await inspect(db.url);
      assert.deepEqual(after, allButLast);
      const gone = full.tables.filter((t) => !allButLast.tables.includes(t));
      for (const table of gone) assert.ok(!after.tables.includes(table), `${table} is still there`);
      if (MIGRATION_NAMES.length === 1) assert.deepEqual(after.tables, ['migrations']);

      const run = await npm('migration:run', db.url);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`applied: ${last}`));
      assert.deepEqual(await inspect(db.url), full);
    });
  });
});
