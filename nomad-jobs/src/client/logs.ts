import type { NomadClient } from "./client.js";
import { JsonObjectStreamDecoder } from "./decode.js";
import type { QueryOptions } from "./types.js";

export interface LogOptions {
  task: string;
  type?: "stdout" | "stderr";
  follow?: boolean;
  origin?: "start" | "end";
  offset?: number;
  /** Talk to the Nomad client node directly (its HTTP address) instead of through a server. */
  address?: string;
}

/** A decoded frame of /v1/client/fs/logs. */
export type LogFrame =
  | { kind: "data"; file: string; offset: number; data: Buffer }
  | { kind: "event"; file: string; event: "file truncated" | "file deleted" | string };

interface RawFrame {
  File?: string;
  Offset?: number;
  Data?: string;
  FileEvent?: string;
}

/** The /v1/client/fs/logs endpoint. */
export class Logs {
  constructor(private readonly client: NomadClient) {}

  /** Stream yields a task's log frames, decoded incrementally (frames may span reads). */
  async *stream(
    allocId: string,
    opts: LogOptions,
    options: QueryOptions = {},
  ): AsyncGenerator<LogFrame> {
    const { body } = await this.client.stream({
      method: "GET",
      path: `/v1/client/fs/logs/${encodeURIComponent(allocId)}`,
      query: {
        task: opts.task,
        type: opts.type ?? "stdout",
        follow: opts.follow ?? false,
        origin: opts.origin ?? "start",
        offset: opts.offset ?? 0,
      },
      options,
      idempotent: true,
      address: opts.address,
    });
    const decoder = new JsonObjectStreamDecoder();
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        for (const value of decoder.push(chunk)) {
          const frame = toFrame(value as RawFrame);
          if (frame) yield frame;
        }
      }
      decoder.end();
    } finally {
      body.destroy();
    }
  }

  /** Text collects a task's (non-followed) log as a string. */
  async text(
    allocId: string,
    opts: Omit<LogOptions, "follow">,
    options?: QueryOptions,
  ): Promise<string> {
    const parts: Buffer[] = [];
    for await (const f of this.stream(allocId, { ...opts, follow: false }, options)) {
      if (f.kind === "data") parts.push(f.data);
      else if (f.event === "file truncated") parts.length = 0;
    }
    return Buffer.concat(parts).toString("utf8");
  }
}

function toFrame(raw: RawFrame): LogFrame | undefined {
  if (raw.FileEvent) return { kind: "event", file: raw.File ?? "", event: raw.FileEvent };
  if (raw.Data) {
    return {
      kind: "data",
      file: raw.File ?? "",
      offset: raw.Offset ?? 0,
      data: Buffer.from(raw.Data, "base64"),
    };
  }
  return undefined; // heartbeat `{}`
}
