-- Webhook deliveries that made a pipeline. A replayed delivery (the same forge delivery id:
-- GitHub's X-GitHub-Delivery, GitLab's X-Gitlab-Event-UUID; or the same signed body under a new
-- id, since forges do not sign that header) answers with the pipeline it made. Written in the
-- pipeline's own transaction: a delivery is recorded exactly when its pipeline exists.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  forge text NOT NULL,
  delivery_id text,
  body_sha256 text NOT NULL,
  pipeline_id uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (project_id, delivery_id),
  UNIQUE (project_id, body_sha256)
);
