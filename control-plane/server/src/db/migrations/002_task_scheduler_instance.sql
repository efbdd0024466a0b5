-- Which control-plane instance handed a task to a machine-local backend (`local`): on restart an
-- instance reconciles only its own tasks, never another instance's. NULL for cluster backends.
ALTER TABLE tasks ADD COLUMN scheduler_instance text;
