import { DroverError, type FieldIssue } from "../errors/index.js";

/** An invalid environment variable; `fields` names each one (`field` is the variable). */
export class ConfigError extends DroverError<"DROVER_ERR_ENV_INVALID"> {
  constructor(message: string, fields: FieldIssue[]) {
    super("DROVER_ERR_ENV_INVALID", message, { fields });
  }
}
