export {
  MachineError,
  type MachineErrorCode,
  type MachineRequest,
  type TaskLease,
  type TaskMachines,
} from "./types.js";
export { VmTaskMachines } from "./vm-machines.js";
export { MachineReleasingScheduler } from "./releasing-scheduler.js";
export { RENEW_WITHIN_MS, tendTaskMachines } from "./tend.js";
export { startMachines, type MachinesHandle } from "./embedded.js";
