import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import {
  ConfigErrorCode,
  DEFAULT_CONFIG_FILE,
  type CompileOptions,
  type CompileResult,
} from "@drover/config-compiler";
import type { CompileReply, CompileRequest } from "./compile-worker.js";
import type { CompileFn } from "./trigger.js";

export interface CompilePoolOptions {
  logger: Logger;
  /** Compiles running at once (default 2 to 4 by cores); more wait in order. */
  maxWorkers?: number;
  /** A compile running longer fails with `DROVER_ERR_CONFIG_COMPILE_TIMEOUT` (default 30 s). */
  timeoutMs?: number;
  /** Old-generation heap of a worker; a compile needing more fails with `_COMPILE_MEMORY` (default 1024 MB). */
  maxHeapMb?: number;
  /** The worker script (default: the built `compile-worker.js` of this package). */
  workerUrl?: URL;
}

interface Job {
  id: number;
  source: string;
  options: CompileOptions;
  resolve: (r: CompileResult) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  dead: boolean;
  job?: Job;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_HEAP_MB = 1024;

/** The built worker next to this module; from TypeScript sources (tests), the package's `dist`. */
function defaultWorkerUrl(): URL {
  const here = new URL("./compile-worker.js", import.meta.url);
  if (existsSync(here)) return here;
  const pkg = createRequire(import.meta.url).resolve("@drover/control-plane/package.json");
  return pathToFileURL(join(dirname(pkg), "dist", "pipelines", "compile-worker.js"));
}

/**
 * Compiles configs off the event loop, in worker threads, so that one slow config delays neither
 * other triggers nor API calls. Workers start on demand (up to `maxWorkers`) and are reused; a
 * compile that runs past `timeoutMs` or needs more than `maxHeapMb` has its worker terminated and
 * ends as a config error the pipeline shows (`DROVER_ERR_CONFIG_COMPILE_TIMEOUT`, `_MEMORY`).
 *
 * Lifecycle: `new CompilePool(opts)`; any number of concurrent `compile` calls (safe to call from
 * anywhere; resolves to the compiler's result, rejects only when the compiler itself crashed or
 * the pool is closed); `close()` terminates the workers and rejects what is still waiting.
 */
export class CompilePool {
  private readonly log: Logger;
  private readonly maxWorkers: number;
  private readonly timeoutMs: number;
  private readonly maxHeapMb: number;
  private readonly workerUrl: URL;
  private readonly slots = new Set<Slot>();
  private readonly idle: Slot[] = [];
  private readonly queue: Job[] = [];
  private starting = 0;
  private nextId = 1;
  private closed = false;

  constructor(opts: CompilePoolOptions) {
    this.log = opts.logger.child({ unit: "compile-pool" });
    this.maxWorkers = opts.maxWorkers ?? Math.min(4, Math.max(2, availableParallelism()));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxHeapMb = opts.maxHeapMb ?? DEFAULT_MAX_HEAP_MB;
    this.workerUrl = opts.workerUrl ?? defaultWorkerUrl();
  }

  /** The trigger's `CompileFn`. */
  readonly compile: CompileFn = (source, options) =>
    new Promise<CompileResult>((resolve, reject) => {
      if (this.closed) {
        reject(new Error("the compile pool is closed"));
        return;
      }
      this.queue.push({ id: this.nextId++, source, options, resolve, reject });
      this.pump();
    });

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("the compile pool is closed"));
    await Promise.all(
      [...this.slots].map(async (slot) => {
        const job = slot.job;
        this.drop(slot);
        job?.reject(new Error("the compile pool is closed"));
        await slot.worker.terminate();
      }),
    );
  }

  /** Hands waiting compiles to idle workers; starts workers while there is room and work. */
  private pump(): void {
    while (this.queue.length > 0) {
      const slot = this.idle.pop();
      if (!slot) break;
      this.start(slot, this.queue.shift()!);
    }
    while (this.queue.length > this.starting && this.slots.size < this.maxWorkers) this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(this.workerUrl, {
      resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb },
    });
    const slot: Slot = { worker, ready: false, dead: false };
    this.slots.add(slot);
    this.starting++;
    worker.on("message", (m: CompileReply) => this.onMessage(slot, m));
    worker.on("error", (err) => this.lost(slot, err));
    worker.on("exit", (code) => this.lost(slot, new Error(`the compile worker exited (${code})`)));
  }

  private onMessage(slot: Slot, m: CompileReply): void {
    if (slot.dead) return;
    if (m.type === "ready") {
      slot.ready = true;
      this.starting--;
      this.release(slot);
      return;
    }
    const job = slot.job;
    if (!job || job.id !== m.id) return;
    clearTimeout(job.timer);
    slot.job = undefined;
    if (m.type === "result") job.resolve(m.result);
    else job.reject(new Error(`the compiler crashed: ${m.message}`));
    this.release(slot);
  }

  private start(slot: Slot, job: Job): void {
    slot.job = job;
    slot.worker.ref();
    job.timer = setTimeout(() => {
      if (slot.job !== job) return;
      this.log.warn(
        { project: job.options.pipeline.projectSlug, timeoutMs: this.timeoutMs },
        "compile timed out; worker terminated",
      );
      this.drop(slot);
      void slot.worker.terminate();
      job.resolve(
        failure(
          job.options,
          ConfigErrorCode.COMPILE_TIMEOUT,
          `compiling the config took longer than ${this.timeoutMs / 1000} s; refusing it (matrices, commands or anchors that expand too far?)`,
        ),
      );
      this.pump();
    }, this.timeoutMs);
    job.timer.unref();
    slot.worker.postMessage({
      id: job.id,
      source: job.source,
      options: job.options,
    } satisfies CompileRequest);
  }

  private release(slot: Slot): void {
    if (this.closed) {
      this.drop(slot);
      void slot.worker.terminate();
      return;
    }
    slot.worker.unref();
    this.idle.push(slot);
    this.pump();
  }

  /** Forgets a worker that is terminated or gone. */
  private drop(slot: Slot): void {
    if (slot.dead) return;
    slot.dead = true;
    if (!slot.ready) this.starting--;
    this.slots.delete(slot);
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
    if (slot.job) clearTimeout(slot.job.timer);
  }

  /** A worker died: its compile fails; a worker that never started fails everything waiting. */
  private lost(slot: Slot, err: Error): void {
    if (slot.dead) return;
    const job = slot.job;
    const started = slot.ready;
    this.drop(slot);
    const oom =
      (err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY" ||
      /out of memory/i.test(err.message);
    const memoryFailure = (options: CompileOptions): CompileResult =>
      failure(
        options,
        ConfigErrorCode.COMPILE_MEMORY,
        `compiling the config needed more than ${this.maxHeapMb} MB of memory; refusing it`,
      );
    if (job) {
      if (oom) {
        this.log.warn(
          { project: job.options.pipeline.projectSlug, maxHeapMb: this.maxHeapMb },
          "compile ran out of memory; worker terminated",
        );
        job.resolve(memoryFailure(job.options));
      } else job.reject(err);
    }
    if (!started && !this.closed) {
      this.log.error({ err }, "cannot start a compile worker");
      for (const waiting of this.queue.splice(0)) {
        // A heap too small to even start a worker is too small for any compile.
        if (oom) waiting.resolve(memoryFailure(waiting.options));
        else
          waiting.reject(
            new Error(`cannot start a compile worker: ${err.message}`, { cause: err }),
          );
      }
    }
    this.pump();
  }
}

function failure(options: CompileOptions, code: string, message: string): CompileResult {
  return {
    errors: [{ code, message, file: options.file ?? DEFAULT_CONFIG_FILE, line: 0, col: 0 }],
  };
}
