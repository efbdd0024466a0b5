-- The `queue` scheduler: control-plane instances put task plans here; runners (`drover runner`)
-- claim them with SKIP LOCKED, run their agents with the local scheduler and write each status
-- change back. `event_seq` changes with every status so watchers see what is new.
CREATE SEQUENCE runner_task_events_seq;

CREATE TABLE runner_tasks (
  task_id text PRIMARY KEY,
  plan jsonb NOT NULL,
  -- queued (no runner yet), claimed, running, finished, lost, canceled (never ran)
  state text NOT NULL DEFAULT 'queued',
  status jsonb NOT NULL,
  event_seq bigint NOT NULL,
  runner_id text,
  cancel_requested boolean NOT NULL DEFAULT false,
  cancel_sent boolean NOT NULL DEFAULT false,
  cleanup_requested boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX runner_tasks_unclaimed ON runner_tasks (created_at) WHERE runner_id IS NULL;
CREATE INDEX runner_tasks_runner ON runner_tasks (runner_id) WHERE runner_id IS NOT NULL;

-- One row per runner; `heartbeat_at` (database time) says it is alive.
CREATE TABLE runners (
  id text PRIMARY KEY,
  host text NOT NULL,
  capacity integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
