/**
 * The output-processor's Prometheus metrics (`GET /metrics`), in a registry of its own so that
 * several services in one process (`drover up`) never share or collide on metric names.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export interface OutputMetrics {
  registry: Registry;
  /** Frames (output chunks and step events) stored. */
  framesStored: Counter;
  /** Output lines stored; `rate()` of it is the ingest rate in lines/s. */
  linesStored: Counter;
}

export function createOutputMetrics(read: {
  agents: () => number;
  browsers: () => number;
}): OutputMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "drover_output_" });
  const framesStored = new Counter({
    name: "drover_output_frames_stored_total",
    help: "Output frames (lines and step events) stored, after masking.",
    registers: [registry],
  });
  const linesStored = new Counter({
    name: "drover_output_lines_stored_total",
    help: "Lines of step output stored, after masking (rate() is the ingest rate).",
    registers: [registry],
  });
  new Gauge({
    name: "drover_output_agent_connections",
    help: "Agents connected to ingest on this instance.",
    registers: [registry],
    collect() {
      this.set(read.agents());
    },
  });
  new Gauge({
    name: "drover_output_subscriber_connections",
    help: "Browsers and CLIs connected to the Pusher WebSocket on this instance.",
    registers: [registry],
    collect() {
      this.set(read.browsers());
    },
  });
  return { registry, framesStored, linesStored };
}
