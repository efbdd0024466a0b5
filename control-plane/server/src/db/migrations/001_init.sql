-- The control-plane model: who (orgs, users, tokens), what (projects), and the work
-- (pipelines -> workflows -> jobs -> tasks), plus schedules.

CREATE TABLE organizations (
  id uuid PRIMARY KEY,
  vcs text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (vcs, name)
);

CREATE TABLE projects (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id),
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  repository_url text NOT NULL,
  default_branch text,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  webhook_secret text NOT NULL,
  -- Counters bumped with UPDATE ... RETURNING: the row lock serializes concurrent triggers.
  next_pipeline_number integer NOT NULL DEFAULT 1,
  next_job_number integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  login text NOT NULL UNIQUE,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- sha256 hex of the token; the token itself is shown once and never stored.
  token_hash text NOT NULL UNIQUE,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

CREATE TABLE project_members (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, user_id)
);

CREATE TABLE ssh_keys (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title text NOT NULL DEFAULT '',
  public_key text NOT NULL,
  fingerprint text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, fingerprint)
);

CREATE TABLE pipelines (
  id uuid PRIMARY KEY,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  number integer NOT NULL,
  -- CircleCI's pipeline states: created, errored, setup-pending, setup, pending.
  state text NOT NULL,
  trigger_type text NOT NULL,
  trigger_actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
  trigger_received_at timestamptz NOT NULL DEFAULT now(),
  trigger_parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Resolved pipeline parameters (config defaults plus trigger overrides).
  parameters jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- {branch, tag, revision, target_repository_url, commit: {subject, body}}
  vcs jsonb NOT NULL DEFAULT '{}'::jsonb,
  config_source text,
  config_compiled text,
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  schedule_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, number)
);
CREATE INDEX pipelines_project_number ON pipelines (project_id, number DESC);

CREATE TABLE workflows (
  id uuid PRIMARY KEY,
  pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  -- running, success, failed, error, failing, canceled, on_hold, not_run
  status text NOT NULL,
  rerun_of uuid REFERENCES workflows (id) ON DELETE SET NULL,
  -- Statuses of upstream jobs a partial rerun did not copy: {jobName: status}.
  carried jsonb NOT NULL DEFAULT '{}'::jsonb,
  started_by uuid REFERENCES users (id) ON DELETE SET NULL,
  canceled_by uuid REFERENCES users (id) ON DELETE SET NULL,
  canceled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
CREATE INDEX workflows_pipeline ON workflows (pipeline_id, created_at);
CREATE INDEX workflows_active ON workflows (status) WHERE stopped_at IS NULL;

CREATE TABLE jobs (
  id uuid PRIMARY KEY,
  workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  position integer NOT NULL,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('build', 'approval')),
  -- Project-wide build number (null for approval jobs).
  number integer,
  -- blocked, queued, running, on_hold, success, failed, infrastructure_fail, timedout,
  -- canceled, not_run, unauthorized
  status text NOT NULL,
  -- [{job, statuses}] as compiled
  requires jsonb NOT NULL DEFAULT '[]'::jsonb,
  -- The compiled JobPlan
  plan jsonb NOT NULL,
  parallelism integer NOT NULL DEFAULT 1,
  enable_ssh boolean NOT NULL DEFAULT false,
  rerun_of uuid REFERENCES jobs (id) ON DELETE SET NULL,
  approved_by uuid REFERENCES users (id) ON DELETE SET NULL,
  canceled_by uuid REFERENCES users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  queued_at timestamptz,
  started_at timestamptz,
  stopped_at timestamptz,
  UNIQUE (workflow_id, name)
);
CREATE UNIQUE INDEX jobs_project_number ON jobs (project_id, number) WHERE number IS NOT NULL;

-- One parallel node of one job attempt; what a scheduler runs.
CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  workflow_id uuid NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  node_index integer NOT NULL,
  node_total integer NOT NULL,
  -- pending (not yet handed to the backend), submitted, running, success, failed,
  -- infrastructure_fail, canceled
  status text NOT NULL,
  enable_ssh boolean NOT NULL DEFAULT false,
  token_hash text UNIQUE,
  token_expires_at timestamptz,
  claimed_at timestamptz,
  session_hash text UNIQUE,
  -- An instance submitting the task holds it until this time (no double submission).
  submit_lease_until timestamptz,
  message text,
  created_at timestamptz NOT NULL DEFAULT now(),
  submitted_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  UNIQUE (job_id, attempt, node_index)
);
CREATE INDEX tasks_active ON tasks (status) WHERE status IN ('pending', 'submitted', 'running');

CREATE TABLE task_steps (
  task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  step integer NOT NULL,
  name text NOT NULL,
  status text NOT NULL,
  exit_code integer,
  duration_ms double precision,
  message text,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (task_id, step)
);

CREATE TABLE schedules (
  id uuid PRIMARY KEY,
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  timetable jsonb NOT NULL,
  parameters jsonb NOT NULL,
  -- 'current' (the creating user) or 'system'
  attribution text NOT NULL,
  actor_id uuid REFERENCES users (id) ON DELETE SET NULL,
  next_run_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, name)
);
CREATE INDEX schedules_due ON schedules (next_run_at);

-- One row per fired occurrence: the primary key makes each occurrence fire once.
CREATE TABLE schedule_runs (
  schedule_id uuid NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  scheduled_at timestamptz NOT NULL,
  pipeline_id uuid,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schedule_id, scheduled_at)
);
