import { EventEmitter } from "node:events";

/** One task log file (`alloc/logs/<task>.<type>.0`) of the test server. */
export class LogFile extends EventEmitter {
  /** Bytes currently in the file; `base` is the offset of its first byte (0 after truncation). */
  data: Buffer = Buffer.alloc(0);
  deleted = false;

  constructor(readonly file: string) {
    super();
    this.setMaxListeners(0);
  }

  append(chunk: Buffer | string): void {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.data = Buffer.concat([this.data, b]);
    this.emit("change");
  }

  truncate(): void {
    this.data = Buffer.alloc(0);
    this.emit("truncate");
  }

  remove(): void {
    this.deleted = true;
    this.emit("delete");
  }
}

/** Log files per allocation, task and stream type. */
export class LogStore {
  readonly #files = new Map<string, LogFile>();

  file(allocId: string, task: string, type: "stdout" | "stderr"): LogFile {
    const k = `${allocId}/${task}/${type}`;
    let f = this.#files.get(k);
    if (!f) {
      f = new LogFile(`alloc/logs/${task}.${type}.0`);
      this.#files.set(k, f);
    }
    return f;
  }

  /** Ends followers of an allocation's files (the task is dead). */
  finish(allocId: string): void {
    for (const [k, f] of this.#files) if (k.startsWith(`${allocId}/`)) f.emit("finish");
  }
}
