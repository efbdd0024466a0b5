-- Task storage (build-agent uploads): artifacts, test results, caches, workspace layers.
-- Bytes live in the blob store; these tables index them. Ids are text so they need no foreign
-- keys into tables other migrations own.

CREATE TABLE IF NOT EXISTS task_artifacts (
  job_id text NOT NULL,
  node_index integer NOT NULL,
  path text NOT NULL,
  task_id text NOT NULL,
  blob_key text NOT NULL,
  size bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, node_index, path)
);

CREATE TABLE IF NOT EXISTS task_tests (
  id bigserial PRIMARY KEY,
  job_id text NOT NULL,
  node_index integer NOT NULL,
  task_id text NOT NULL,
  classname text NOT NULL,
  name text NOT NULL,
  file text,
  result text NOT NULL,
  message text,
  run_time_seconds double precision NOT NULL,
  source text NOT NULL
);
CREATE INDEX IF NOT EXISTS task_tests_job ON task_tests (job_id, id);

CREATE TABLE IF NOT EXISTS task_caches (
  project_slug text NOT NULL,
  key text NOT NULL,
  blob_key text NOT NULL,
  size bigint NOT NULL,
  task_id text NOT NULL,
  seq bigserial NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_slug, key)
);

CREATE TABLE IF NOT EXISTS task_workspace_layers (
  id text PRIMARY KEY,
  workflow_id text NOT NULL,
  job_id text NOT NULL,
  task_id text NOT NULL,
  blob_key text NOT NULL,
  size bigint NOT NULL,
  seq bigserial NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS task_workspace_layers_workflow ON task_workspace_layers (workflow_id, seq);
