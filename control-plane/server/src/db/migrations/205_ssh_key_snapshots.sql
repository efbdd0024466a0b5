-- A rerun with SSH keeps the asking user's public keys as they were when it was made: keys added
-- or removed later do not change who may log in to its jobs.
CREATE TABLE IF NOT EXISTS workflow_ssh_keys (
  workflow_id uuid PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
  user_id uuid NOT NULL,
  public_keys jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
