export {
  ERROR_CODES,
  faultOf,
  isErrorCode,
  statusOf,
  type ErrorCode,
  type Fault,
} from "./codes.js";
export { DroverError, type DroverErrorOptions, type FieldIssue } from "./drover-error.js";
