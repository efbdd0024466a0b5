export * from "./timetable.js";
export * from "./runner.js";
