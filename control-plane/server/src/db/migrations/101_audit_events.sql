-- The audit log: one row per recorded event, written in the transaction of the action it records.
-- `seq` orders rows for keyset pagination and streaming export; `id` is the event's public UUID.
CREATE TABLE IF NOT EXISTS audit_events (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  version integer NOT NULL DEFAULT 1,
  action text NOT NULL,
  actor jsonb NOT NULL,
  actor_id text NOT NULL,
  target jsonb NOT NULL,
  scope jsonb NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  success boolean NOT NULL,
  request_id text,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (occurred_at, seq);
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events (action, seq);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor_id, seq);

-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
