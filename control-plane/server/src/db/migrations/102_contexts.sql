-- Project env vars and contexts. Values are secret-store ciphertexts (vault:v<N>:...); `hint` is
-- what the API shows (`xxxx` + last 4 characters), kept so listing never decrypts anything.
CREATE TABLE IF NOT EXISTS project_env_vars (
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  name text NOT NULL,
  ciphertext text NOT NULL,
  hint text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, name)
);

CREATE TABLE IF NOT EXISTS contexts (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

CREATE TABLE IF NOT EXISTS context_env_vars (
  context_id uuid NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
  name text NOT NULL,
  ciphertext text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (context_id, name)
);

-- User groups of an organization (CircleCI's security groups): what context restrictions name.
CREATE TABLE IF NOT EXISTS user_groups (
  id uuid PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, name)
);

CREATE TABLE IF NOT EXISTS user_group_members (
  group_id uuid NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id)
);

-- A context with restrictions of a type is usable only when one restriction of that type matches
-- (the job's project; a group the job's user is in); types combine with AND.
CREATE TABLE IF NOT EXISTS context_restrictions (
  id uuid PRIMARY KEY,
  context_id uuid NOT NULL REFERENCES contexts (id) ON DELETE CASCADE,
  restriction_type text NOT NULL CHECK (restriction_type IN ('project', 'group')),
  restriction_value uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (context_id, restriction_type, restriction_value)
);
