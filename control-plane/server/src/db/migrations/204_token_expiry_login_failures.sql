-- API tokens may expire; listing a user's tokens reads them by owner.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (user_id);

-- Failed logins inside the rate-limit window, per key (`user:<login>` or `addr:<address>`).
-- Rows older than the window are deleted as logins are checked.
CREATE TABLE IF NOT EXISTS login_failures (
  key text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, at);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at);
