-- Embedded secret store: one keyring per key name, sealed (AES-256-GCM) by the master key.
-- `master_key_check` is an HMAC of a constant under the master key: it tells a wrong master key
-- apart from a damaged keyring without revealing anything about either.
CREATE TABLE IF NOT EXISTS secret_keyrings (
  name text PRIMARY KEY,
  sealed text NOT NULL,
  master_key_check text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
