import type { ServiceUrls } from "../../config/urls.js";
import type { Database } from "../../db/types.js";
import type { WorkflowEngine } from "../../engine/engine.js";
import type { TaskService } from "../../engine/task-service.js";
import type { TriggerService } from "../../pipelines/trigger.js";

/** What the control plane's own route modules need. */
export interface CoreRouteDeps {
  db: Database;
  engine: WorkflowEngine;
  trigger: TriggerService;
  tasks: TaskService;
  urls: ServiceUrls;
}
