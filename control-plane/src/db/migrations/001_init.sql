-- Placeholder kept minimal: the control-plane model lands in 002 onwards.
CREATE TABLE IF NOT EXISTS drover_instance (
  id text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);
