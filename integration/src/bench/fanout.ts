/**
 * `npm run bench -- fanout [--jobs 100] [--subs 10] [--seconds 6] [--batch 100] [--consumers N]`:
 * live output fan-out. `jobs` agents print lines as fast as their stack lets them (every stack gets
 * the same batches, each agent keeping one batch in flight), `jobs * subs` subscribers on loopback
 * receive them. Measured: delivered lines/s and
 * agent-to-subscriber latency (p50/p99, from the time the agent wrote the line). The same topology
 * runs, in the same run, on:
 *   - drover: the output-processor (ingest, log store, Redis live window and pub/sub, Pusher
 *     protocol), with agents on `OutputClient` and browsers speaking the Pusher protocol;
 *   - socket.io 4 with `@socket.io/redis-adapter`, a room per job (the stack most teams pick);
 *   - bare: agents' batches published with ioredis and written straight to `ws.send` (no protocol,
 *     no storage: the limit).
 * Each server runs in its own child process, agents in this one, and subscribers are spread over
 * `--consumers` processes (default: one per core, at least 2) so the client side is not what is
 * measured. Every round warms up for 2 s first. Drover is then measured again at half its maximum
 * rate for its latency goal (p99 < 50 ms).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";
import { pino } from "pino";
import { Server as IoServer } from "socket.io";
import { io as ioClient, type Socket as IoSocket } from "socket.io-client";
import WebSocket, { WebSocketServer } from "ws";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  signChannelAuth,
  signOutputToken,
} from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";

type Kind = "drover" | "socketio" | "bare";

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const APP_KEY = "bench-key";
const APP_SECRET = "bench-app-secret-0123456789";
const TOKEN_SECRET = "bench-token-secret-0123456789";
const P99_GOAL_MS = 50;

const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- servers (child processes)

async function serve(kind: Kind, prefix: string): Promise<void> {
  let port: number;
  if (kind === "drover") {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-bench-fanout-"));
    process.once("exit", () => rmSync(dataDir, { recursive: true, force: true }));
    const op = createOutputProcessor(
      {
        port: 0,
        host: "127.0.0.1",
        redisUrl: REDIS_URL,
        dataDir,
        channelPrefix: prefix,
        pusher: { appKey: APP_KEY, appSecret: APP_SECRET },
      },
      {
        logger: pino({ level: "warn" }),
        verifier: new HmacTaskTokenVerifier(TOKEN_SECRET),
        authorizeRead: async () => false,
      },
    );
    port = await op.listen();
  } else if (kind === "socketio") {
    const http = createServer();
    const pub = new Redis(REDIS_URL);
    const sub = pub.duplicate();
    const io = new IoServer(http, { transports: ["websocket"], maxHttpBufferSize: 8e6 });
    io.adapter(createAdapter(pub, sub, { key: `${prefix}socket.io` }));
    io.on("connection", (socket) => {
      socket.on("join", (job: string) => void socket.join(job));
      socket.on("lines", (msg: { job: string }, ack: () => void) => {
        io.to(msg.job).emit("lines", msg);
        ack();
      });
    });
    port = await listen(http);
  } else {
    const http = createServer();
    const pub = new Redis(REDIS_URL);
    const sub = new Redis(REDIS_URL);
    const rooms = new Map<string, Set<WebSocket>>();
    sub.on("messageBuffer", (channel: Buffer, message: Buffer) => {
      const room = rooms.get(channel.toString().slice(prefix.length));
      if (room) for (const ws of room) ws.send(message, { binary: false });
    });
    const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
    wss.on("connection", (ws, req) => {
      const url = new URL(req.url ?? "/", "http://x");
      const job = url.searchParams.get("job");
      if (url.pathname === "/sub" && job) {
        let room = rooms.get(job);
        if (!room) {
          rooms.set(job, (room = new Set()));
          void sub.subscribe(`${prefix}${job}`).then(() => ws.send("ready"));
        } else {
          ws.send("ready");
        }
        room.add(ws);
        ws.on("close", () => room.delete(ws));
      } else {
        ws.on("message", (data: Buffer) => {
          const j = (JSON.parse(data.toString()) as { job: string }).job;
          void pub.publish(`${prefix}${j}`, data).then(() => ws.send("ok"));
        });
      }
    });
    port = await listen(http);
  }
  process.stdout.write(`ready ${port}\n`);
  if (process.env.DROVER_BENCH_LOOP_DELAY) {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    setInterval(() => {
      process.stderr.write(
        `${kind} loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms max ${(h.max / 1e6).toFixed(1)} ms\n`,
      );
      h.reset();
    }, 2000).unref();
  }
}

function listen(http: ReturnType<typeof createServer>): Promise<number> {
  return new Promise((resolve) =>
    http.listen(0, "127.0.0.1", () => resolve((http.address() as { port: number }).port)),
  );
}

async function startServer(
  kind: Kind,
  prefix: string,
): Promise<{ child: ChildProcess; port: number }> {
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const extra = process.env.DROVER_BENCH_SERVER_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(
    process.execPath,
    [...extra, main, "fanout", "--serve", kind, "--prefix", prefix],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: process.env,
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  return { child, port };
}

/** CPU seconds (user + system) a process has used so far (Linux, 100 ticks/s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** redis-server's pid when it runs on this machine, else null (its CPU is then not reported). */
async function redisPidOf(): Promise<number | null> {
  const r = new Redis(REDIS_URL);
  try {
    const info = await r.info("server");
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return pid > 0 && existsSync(`/proc/${pid}/stat`) ? pid : null;
  } finally {
    r.disconnect();
  }
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---------------------------------------------------------------- measurement

class Stats {
  /** Latency histogram in 0.1 ms buckets up to 30 s, weighted by lines. */
  buckets = new Float64Array(300_000);
  lines = 0;
  counting = false;
  closedSlow = 0;

  record(lines: number, sentAt: number): void {
    if (!this.counting) return;
    this.lines += lines;
    const b = Math.min(this.buckets.length - 1, Math.max(0, Math.round((now() - sentAt) * 10)));
    this.buckets[b] = (this.buckets[b] as number) + lines;
  }

  percentile(p: number): number {
    const target = this.lines * p;
    let acc = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      acc += this.buckets[i] as number;
      if (acc >= target && acc > 0) return i / 10;
    }
    return NaN;
  }
}

interface Run {
  kind: Kind;
  linesPerSec: number;
  p50: number;
  p99: number;
  producedPerSec: number;
  serverRssMiB: number;
  /** Server CPU seconds per million delivered lines. */
  serverCpuPerMLines: number;
  /** The same for the subscribers' processes and for the agents' (this) process. */
  subsCpuPerMLines: number;
  /** The same for redis-server, when it runs on this machine (NaN otherwise). */
  redisCpuPerMLines: number;
  agentsCpuPerMLines: number;
  closedSlow: number;
}

interface Opts {
  jobs: number;
  subs: number;
  /** Processes the subscribers are spread over (jobs round-robin). */
  consumers: number;
  seconds: number;
  /** Lines per write (a batch, or a chunk of the job's output). */
  batch: number;
  /** Lines per second over all agents; 0 = as fast as possible. */
  rate: number;
}

function lineText(job: number, i: number): string {
  return `job ${job} line ${i} ${"x".repeat(60)}\n`;
}

async function connectSubscriber(
  kind: Kind,
  port: number,
  job: string,
  stats: Stats,
): Promise<() => void> {
  if (kind === "socketio") {
    const s: IoSocket = ioClient(`http://127.0.0.1:${port}`, {
      transports: ["websocket"],
      forceNew: true,
    });
    s.on("lines", (msg: { t: number; n: number }) => stats.record(msg.n, msg.t));
    await new Promise<void>((resolve) => s.once("connect", () => resolve()));
    s.emit("join", job);
    return () => s.disconnect();
  }
  if (kind === "bare") {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/sub?job=${job}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("message", () => resolve());
      ws.once("error", reject);
    });
    ws.on("message", (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { t: number; n: number };
      stats.record(m.n, m.t);
    });
    return () => ws.close();
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP_KEY}?protocol=7`, {
    perMessageDeflate: false,
  });
  const channel = `private-job-${job}`;
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.on("message", (d: Buffer) => {
      // As pusher-js decodes a message: the frame, then `data` again if it is a JSON string.
      const msg = JSON.parse(d.toString()) as { event: string; data: unknown };
      if (typeof msg.data === "string") {
        try {
          msg.data = JSON.parse(msg.data);
        } catch {
          // stays a string
        }
      }
      if (msg.event === "log") {
        const body = msg.data as {
          entries: Array<{ kind: string; ts: number; data?: string }>;
        };
        for (const e of body.entries) {
          if (e.kind !== "output" || !e.data) continue;
          let n = 0;
          for (let i = e.data.indexOf("\n"); i !== -1; i = e.data.indexOf("\n", i + 1)) n++;
          stats.record(n, e.ts);
        }
      } else if (msg.event === "pusher:connection_established") {
        const socketId = (msg.data as { socket_id: string }).socket_id;
        ws.send(
          JSON.stringify({
            event: "pusher:subscribe",
            data: { channel, auth: signChannelAuth(APP_KEY, APP_SECRET, socketId, channel) },
          }),
        );
      } else if (msg.event === "pusher_internal:subscription_succeeded") {
        resolve();
      }
    });
  });
  ws.on("close", (code) => {
    if (code === 4150) stats.closedSlow++;
  });
  return () => ws.close();
}

/** One agent's connection, as its stack's client offers it. `write` never waits. */
interface AgentConn {
  write(text: string, lines: number): void;
  /** Resolves once everything written so far is acknowledged. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

async function connectAgent(kind: Kind, port: number, job: string): Promise<AgentConn> {
  if (kind === "drover") {
    const taskId = `task-${job}`;
    const token = signOutputToken(TOKEN_SECRET, {
      taskId,
      jobId: job,
      projectId: "bench",
      expiresAt: Date.now() + 3_600_000,
    });
    const c = new OutputClient({ url: `ws://127.0.0.1:${port}`, token, taskId });
    await c.connect();
    c.stepStarted(0, "print");
    return {
      // One write per chunk, as the build agent writes each chunk it reads from the container.
      write: (text) => c.write(0, "out", text),
      flush: () => c.flush(),
      close: () => c.close(),
    };
  }
  // socket.io and bare: one message per chunk, acknowledged by the server.
  let sentMsgs = 0;
  let ackedMsgs = 0;
  const waiters: Array<{ done: () => boolean; resolve: () => void }> = [];
  const acked = (): void => {
    ackedMsgs++;
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i] as (typeof waiters)[number];
      if (w.done()) {
        waiters.splice(i, 1);
        w.resolve();
      }
    }
  };
  const wait = (done: () => boolean): Promise<void> =>
    done() ? Promise.resolve() : new Promise((resolve) => waiters.push({ done, resolve }));
  let send: (msg: { job: string; t: number; n: number; text: string }) => void;
  let close: () => Promise<void>;
  if (kind === "socketio") {
    const s = ioClient(`http://127.0.0.1:${port}`, { transports: ["websocket"], forceNew: true });
    await new Promise<void>((resolve) => s.once("connect", () => resolve()));
    send = (msg) => s.emit("lines", msg, acked);
    close = async () => void s.disconnect();
  } else {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/agent`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    ws.on("message", acked);
    send = (msg) => ws.send(JSON.stringify(msg));
    close = async () => ws.close();
  }
  return {
    write: (text, lines) => {
      sentMsgs++;
      send({ job, t: now(), n: lines, text });
    },
    flush: () => {
      const target = sentMsgs;
      return wait(() => ackedMsgs >= target);
    },
    close,
  };
}

/**
 * One agent printing until `stop()`: writes `batch` lines and waits for their acknowledgement with
 * one more batch in flight.
 */
async function runAgent(
  kind: Kind,
  port: number,
  job: string,
  jobIndex: number,
  opts: Opts,
  state: { running: boolean; produced: number },
): Promise<() => Promise<void>> {
  const perAgentRate = opts.rate / opts.jobs;
  const interval = perAgentRate > 0 ? (opts.batch / perAgentRate) * 1000 : 0;
  const conn = await connectAgent(kind, port, job);
  let i = 0;
  const chunk = (): string => {
    let text = "";
    for (let k = 0; k < opts.batch; k++) text += lineText(jobIndex, i++);
    return text;
  };
  const loop = (async () => {
    let inflight: Promise<void> | null = null;
    // Paced agents start spread over one interval, as independent jobs would.
    let next = now() + (interval * jobIndex) / opts.jobs;
    while (state.running) {
      if (interval > 0) {
        const wait = next - now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        // Behind by a whole interval (acks were slow): skip the missed slots rather than burst to
        // catch up, which would measure latency at more than the rate asked for.
        next = Math.max(next + interval, now());
      }
      conn.write(chunk(), opts.batch);
      const p = conn.flush();
      state.produced += opts.batch;
      if (inflight) await inflight;
      inflight = p;
    }
    if (inflight) await inflight;
  })();
  return async () => {
    await loop;
    await conn.close();
  };
}

type ConsumerCommand =
  | { cmd: "connect"; kind: Kind; port: number; jobs: string[]; subs: number }
  | { cmd: "start" }
  | { cmd: "stop" };

/** The subscribers' process: connects them, counts while told to, reports its histogram. */
function consume(): void {
  const stats = new Stats();
  if (process.env.DROVER_BENCH_LOOP_DELAY) {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    setInterval(() => {
      process.stderr.write(
        `consumer loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms max ${(h.max / 1e6).toFixed(1)} ms\n`,
      );
      h.reset();
    }, 2000).unref();
  }
  const unsubs: Array<() => void> = [];
  process.on("message", (m: ConsumerCommand) => {
    void (async () => {
      if (m.cmd === "connect") {
        for (const job of m.jobs) {
          const subs = await Promise.all(
            [...Array(m.subs).keys()].map(() => connectSubscriber(m.kind, m.port, job, stats)),
          );
          unsubs.push(...subs);
        }
        process.send?.({ connected: true });
      } else if (m.cmd === "start") {
        stats.counting = true;
      } else {
        stats.counting = false;
        const nonZero: Array<[number, number]> = [];
        stats.buckets.forEach((v, i) => v > 0 && nonZero.push([i, v]));
        const usage = process.cpuUsage();
        process.send?.(
          {
            lines: stats.lines,
            closedSlow: stats.closedSlow,
            buckets: nonZero,
            cpuSeconds: (usage.user + usage.system) / 1e6,
          },
          () => {
            for (const u of unsubs) u();
            process.exit(0);
          },
        );
      }
    })();
  });
}

function startConsumer(): ChildProcess {
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const extra = process.env.DROVER_BENCH_CONSUMER_ARGS?.split(" ").filter(Boolean) ?? [];
  return spawn(process.execPath, [...extra, main, "fanout", "--consume"], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    env: process.env,
  });
}

function ask<T>(child: ChildProcess, cmd: ConsumerCommand): Promise<T> {
  return new Promise((resolve) => {
    child.once("message", (m) => resolve(m as T));
    child.send(cmd);
  });
}

async function measure(kind: Kind, opts: Opts): Promise<Run> {
  const prefix = `bench-${randomUUID()}:`;
  const { child, port } = await startServer(kind, prefix);
  const consumers = [...Array(opts.consumers).keys()].map(() => startConsumer());
  const stats = new Stats();
  try {
    const jobs = [...Array(opts.jobs).keys()].map((j) => `job-${j}-${randomUUID().slice(0, 8)}`);
    await Promise.all(
      consumers.map((c, k) =>
        ask(c, {
          cmd: "connect",
          kind,
          port,
          jobs: jobs.filter((_, j) => j % consumers.length === k),
          subs: opts.subs,
        }),
      ),
    );
    const state = { running: true, produced: 0 };
    const stops = await Promise.all(
      jobs.map((job, j) => runAgent(kind, port, job, j, opts, state)),
    );
    await new Promise((r) => setTimeout(r, 2000)); // warm-up (JIT, buffers), not counted
    const produced0 = state.produced;
    for (const c of consumers) c.send({ cmd: "start" });
    const cpu0 = cpuSeconds(child.pid as number);
    const subsCpu0 = consumers.reduce((a, c) => a + cpuSeconds(c.pid as number), 0);
    const agentsCpu0 = process.cpuUsage();
    const redisPid = await redisPidOf();
    const redisCpu0 = redisPid ? cpuSeconds(redisPid) : 0;
    const t0 = now();
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    const reports = await Promise.all(
      consumers.map((c) =>
        ask<{
          lines: number;
          closedSlow: number;
          buckets: Array<[number, number]>;
          cpuSeconds: number;
        }>(c, { cmd: "stop" }),
      ),
    );
    const elapsed = (now() - t0) / 1000;
    const cpu = cpuSeconds(child.pid as number) - cpu0;
    // Each consumer reports its own CPU time: it exits right after replying to "stop".
    const subsCpu = reports.reduce((a, r) => a + r.cpuSeconds, 0) - subsCpu0;
    const agentsUsage = process.cpuUsage(agentsCpu0);
    const redisCpu = redisPid ? cpuSeconds(redisPid) - redisCpu0 : NaN;
    const agentsCpu = (agentsUsage.user + agentsUsage.system) / 1e6;
    const produced = state.produced - produced0;
    state.running = false;
    for (const report of reports) {
      stats.lines += report.lines;
      stats.closedSlow += report.closedSlow;
      for (const [i, v] of report.buckets) stats.buckets[i] = (stats.buckets[i] as number) + v;
    }
    await Promise.race([
      Promise.all(stops.map((s) => s())),
      new Promise((r) => setTimeout(r, 5000)),
    ]);
    return {
      kind,
      linesPerSec: stats.lines / elapsed,
      p50: stats.percentile(0.5),
      p99: stats.percentile(0.99),
      producedPerSec: produced / elapsed,
      serverRssMiB: peakRssMiB(child.pid as number),
      serverCpuPerMLines: stats.lines > 0 ? cpu / (stats.lines / 1e6) : NaN,
      subsCpuPerMLines: stats.lines > 0 ? subsCpu / (stats.lines / 1e6) : NaN,
      redisCpuPerMLines: stats.lines > 0 ? redisCpu / (stats.lines / 1e6) : NaN,
      agentsCpuPerMLines: stats.lines > 0 ? agentsCpu / (stats.lines / 1e6) : NaN,
      closedSlow: stats.closedSlow,
    };
  } finally {
    child.kill(process.env.DROVER_BENCH_SERVER_ARGS ? "SIGTERM" : "SIGKILL");
    for (const c of consumers) if (c.exitCode === null) c.kill("SIGKILL");
    await dropKeys(prefix);
  }
}

/** Deletes what a run left in the shared Redis (the live windows). */
async function dropKeys(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** CPU seconds per million delivered lines over every process of a run. */
function totalCpu(r: Run): number {
  const redis = Number.isNaN(r.redisCpuPerMLines) ? 0 : r.redisCpuPerMLines;
  return r.serverCpuPerMLines + r.subsCpuPerMLines + r.agentsCpuPerMLines + redis;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function show(r: Run, label: string = r.kind): void {
  process.stdout.write(
    `${label.padEnd(22)} ${fmt(r.linesPerSec).padStart(12)} lines/s delivered  ` +
      `p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  ` +
      `(agents wrote ${fmt(r.producedPerSec)} lines/s; CPU s per M lines: server ${r.serverCpuPerMLines.toFixed(2)}, ` +
      `subscribers ${r.subsCpuPerMLines.toFixed(2)}, agents ${r.agentsCpuPerMLines.toFixed(2)}, ` +
      `redis ${r.redisCpuPerMLines.toFixed(2)}; ` +
      `peak RSS ${r.serverRssMiB.toFixed(0)} MiB` +
      `${r.closedSlow ? `; ${r.closedSlow} slow subscribers closed` : ""})\n`,
  );
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      serve: { type: "string" },
      consume: { type: "boolean", default: false },
      prefix: { type: "string", default: "" },
      jobs: { type: "string", default: "100" },
      subs: { type: "string", default: "10" },
      seconds: { type: "string", default: "6" },
      rounds: { type: "string", default: "3" },
      batch: { type: "string", default: "100" },
      consumers: { type: "string" },
      rate: { type: "string" },
      only: { type: "string" },
    },
  });
  if (values.consume) {
    consume();
    await new Promise(() => undefined); // until the parent says stop
    return;
  }
  if (values.serve) {
    process.once("SIGTERM", () => process.exit(0));
    await serve(values.serve as Kind, values.prefix);
    await new Promise(() => undefined); // serve until killed
    return;
  }
  const opts: Opts = {
    jobs: Number(values.jobs),
    subs: Number(values.subs),
    seconds: Number(values.seconds),
    batch: Number(values.batch),
    consumers: Number(values.consumers ?? Math.max(2, availableParallelism())),
    rate: 0,
  };
  process.stdout.write(
    `${opts.jobs} jobs x ${opts.subs} subscribers on loopback, ${opts.seconds} s each, ` +
      `agents write ${opts.batch}-line batches with one in flight; ` +
      `server, agents and subscribers in separate processes (subscribers over ${opts.consumers}); ` +
      `Redis at ${REDIS_URL}; ` +
      `${availableParallelism()} cores, load average ${loadavg()[0]?.toFixed(1)} at start ` +
      `(latency includes CPU contention from anything else running)\n`,
  );
  if (values.only) {
    // Exploration: one stack, optionally paced (`--rate` lines/s over all agents).
    const r = await measure(values.only as Kind, { ...opts, rate: Number(values.rate ?? 0) });
    show(r);
    return;
  }
  // Rounds interleave the stacks so a burst of load from elsewhere hits them alike; each
  // stack's best round counts.
  const labels: Record<Kind, string> = {
    drover: "drover",
    socketio: "socket.io+redis-adapter",
    bare: "bare ioredis->ws.send",
  };
  const best = new Map<Kind, Run>();
  let droverLowest = Number.POSITIVE_INFINITY;
  // drover / socket.io within each round: paired, so less exposed to load drifting between rounds.
  const paired: number[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const inRound = new Map<Kind, Run>();
    for (const kind of ["drover", "socketio", "bare"] as const) {
      const r = await measure(kind, opts);
      inRound.set(kind, r);
      show(r, `${labels[kind]} #${round}`);
      const prev = best.get(kind);
      if (!prev || r.linesPerSec > prev.linesPerSec) best.set(kind, r);
      if (kind === "drover") droverLowest = Math.min(droverLowest, r.producedPerSec);
    }
    const io = (inRound.get("socketio") as Run).linesPerSec;
    if (io > 0) paired.push((inRound.get("drover") as Run).linesPerSec / io);
  }
  const sortedPairs = [...paired].sort((a, b) => a - b);
  const pairedMedian = sortedPairs[sortedPairs.length >> 1] ?? NaN;
  const drover = best.get("drover") as Run;
  const socketio = best.get("socketio") as Run;
  const bare = best.get("bare") as Run;
  // Half of the lower round's rate: the capacity the machine surely had.
  const half = await measure("drover", { ...opts, rate: droverLowest / 2 });
  show(half, "drover at half rate");
  process.stdout.write("\nbest rounds:\n");
  show(drover, labels.drover);
  show(socketio, labels.socketio);
  show(bare, labels.bare);
  const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : "n/a");
  process.stdout.write(
    `\ndrover / socket.io delivered lines/s: ${ratio(drover.linesPerSec, socketio.linesPerSec)} best rounds, ` +
      `${pairedMedian.toFixed(2)}x median of rounds (${paired.map((x) => x.toFixed(2)).join(", ")}) (goal >= 2x)\n` +
      `socket.io / drover server CPU per delivered line: ` +
      `${ratio(socketio.serverCpuPerMLines, drover.serverCpuPerMLines)} (drover also stores every line)\n` +
      `drover / bare limit delivered lines/s: ${ratio(drover.linesPerSec, bare.linesPerSec)} (goal >= 0.5x)\n` +
      `drover p99 at half its max rate: ${half.p99.toFixed(1)} ms (goal < ${P99_GOAL_MS} ms; ` +
      `socket.io p99 at its max ${socketio.p99.toFixed(1)} ms, bare ${bare.p99.toFixed(1)} ms)\n` +
      `ceiling: the machine is CPU-bound, so with drover's agents, subscribers and Redis and a server ` +
      `costing nothing, delivered lines/s could be at most ${ratio(totalCpu(socketio), totalCpu(drover) - drover.serverCpuPerMLines)} ` +
      `socket.io's (the bare server reaches ${ratio(totalCpu(socketio), totalCpu(bare))})\n`,
  );
}
