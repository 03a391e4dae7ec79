import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Businesses, their agents, and the business side of conversations (status, assignment, queue).
 *
 * `agents.load` counts the conversations assigned to the agent; it only grows through
 * `UPDATE … WHERE load < capacity`, under the business's advisory lock, so no agent is ever over capacity.
 * The queue is the business's conversations in status `queued`, high priority first, then oldest.
 */
export class Business1764100000000 implements MigrationInterface {
  name = 'Business1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE businesses (
        id         text PRIMARY KEY,
        time_zone  text NOT NULL,
        hours      jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE agents (
        business_id      text NOT NULL REFERENCES businesses (id) ON DELETE CASCADE,
        user_id          text NOT NULL,
        capacity         integer NOT NULL DEFAULT 5 CHECK (capacity >= 0),
        load             integer NOT NULL DEFAULT 0 CHECK (load >= 0),
        last_assigned_at timestamptz,
        offline_since    timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (business_id, user_id)
      )`);
    await q.query(`CREATE INDEX agents_by_user ON agents (user_id)`);
    await q.query(
      `CREATE INDEX agents_offline ON agents (offline_since) WHERE offline_since IS NOT NULL AND load > 0`,
    );
    await q.query(`
      ALTER TABLE conversations
        ADD COLUMN business_id       text REFERENCES businesses (id),
        ADD COLUMN customer_id       text,
        ADD COLUMN business_status   text CHECK (business_status IN ('assigned', 'queued', 'closed', 'resolved')),
        ADD COLUMN assigned_agent_id text,
        ADD COLUMN priority          text NOT NULL DEFAULT 'normal' CHECK (priority IN ('normal', 'high')),
        ADD COLUMN queued_at         timestamptz,
        ADD COLUMN opens_at          timestamptz,
        ADD CONSTRAINT business_fields CHECK (
          (type = 'business') = (business_id IS NOT NULL AND customer_id IS NOT NULL AND business_status IS NOT NULL)),
        ADD CONSTRAINT assigned_has_agent CHECK ((business_status = 'assigned') = (assigned_agent_id IS NOT NULL))`);
    // One business conversation per (business, customer): a resolved one is re-opened, not duplicated.
    await q.query(
      `CREATE UNIQUE INDEX conversations_business_customer ON conversations (business_id, customer_id) WHERE type = 'business'`,
    );
    await q.query(
      `CREATE INDEX conversations_business_queue ON conversations (business_id, (priority = 'normal'), queued_at, id)
        WHERE business_status = 'queued'`,
    );
    await q.query(
      `CREATE INDEX conversations_business_closed ON conversations (opens_at) WHERE business_status = 'closed'`,
    );
    await q.query(
      `CREATE INDEX conversations_business_agent ON conversations (assigned_agent_id, business_id) WHERE business_status = 'assigned'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM conversations WHERE type = 'business'`);
    await q.query(`
      ALTER TABLE conversations
        DROP CONSTRAINT assigned_has_agent,
        DROP CONSTRAINT business_fields,
        DROP COLUMN opens_at,
        DROP COLUMN queued_at,
        DROP COLUMN priority,
        DROP COLUMN assigned_agent_id,
        DROP COLUMN business_status,
        DROP COLUMN customer_id,
        DROP COLUMN business_id`);
    await q.query(`DROP TABLE agents`);
    await q.query(`DROP TABLE businesses`);
  }
}
