export {
  MachineError,
  type MachineErrorCode,
  type MachineRequest,
  type TaskMachines,
} from "./types.js";
export { VmTaskMachines } from "./vm-machines.js";
export { MachineReleasingScheduler } from "./releasing-scheduler.js";
export { releaseMachinesOfFinishedTasks } from "./release-finished.js";
export { startMachines, type MachinesHandle } from "./embedded.js";
