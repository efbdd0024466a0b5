-- Project checkout keys (CircleCI's `/project/{slug}/checkout-key`): an SSH key pair per key; the
-- private key is stored encrypted by the secret store, never returned by the API.
CREATE TABLE IF NOT EXISTS project_checkout_keys (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  fingerprint text NOT NULL,
  type text NOT NULL CHECK (type IN ('deploy-key')),
  public_key text NOT NULL,
  private_key_ciphertext text NOT NULL,
  -- Milliseconds, as page tokens carry them.
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (project_id, fingerprint)
);
CREATE INDEX IF NOT EXISTS project_checkout_keys_created ON project_checkout_keys (project_id, created_at DESC);
