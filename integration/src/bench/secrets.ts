/**
 * `npm run bench -- secrets [--seconds N]`:
 * - embedded secret store: encrypt and decrypt per second for 64-byte values (one call at a time,
 *   and in bulk), beside the goal (100,000/s), Vault transit's published figure (~1,800/s) and the
 *   vault store against the transit test server on loopback, measured in the same run;
 * - masking: MB/s of the Aho-Corasick stream masker with 100 and 1,000 secrets (each in every
 *   form `maskPatterns` derives: encodings, escapes, wraps) beside the goal (300 MB/s with 100
 *   secrets) and a naive replace-each-pattern loop over the same patterns, in the same run (goal:
 *   at least 10x the naive loop).
 */
import { randomBytes } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import process from "node:process";
import { parseArgs } from "node:util";
import { EmbeddedSecretStore, VaultSecretStore, generateMasterKey } from "@drover/control-plane";
import type { SecretStore } from "@drover/control-plane";
import { openDatabase } from "@drover/control-plane/db";
import { startVaultTransitServer } from "@drover/control-plane/testing";
import { MASK, createMasker, maskPatterns } from "@drover/output-processor";

const STORE_GOAL = 100_000;
const VAULT_PUBLISHED = 1_800;
const MASK_GOAL_MBS = 300;
const NAIVE_RATIO_GOAL = 10;

const out = (line: string): void => void process.stdout.write(line + "\n");
const rate = (n: number): string => Math.round(n).toLocaleString("en-US");
const ratio = (x: number, of: number): string => `${(x / of).toFixed(2)}x`;

/** Runs `fn` repeatedly for about `seconds`; operations per wall second and per CPU second. */
async function opsPerSecond(
  fn: () => Promise<number>,
  seconds: number,
): Promise<{ perSecond: number; perCpuSecond: number }> {
  // Warm-up, then measure.
  const warmEnd = performance.now() + Math.min(300, seconds * 200);
  while (performance.now() < warmEnd) await fn();
  let ops = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) ops += await fn();
  const cpu = process.cpuUsage(c0);
  return {
    perSecond: ops / ((performance.now() - t0) / 1000),
    perCpuSecond: ops / ((cpu.user + cpu.system) / 1e6),
  };
}

async function storeFigures(label: string, store: SecretStore, seconds: number): Promise<number> {
  const values = Array.from({ length: 1000 }, () => randomBytes(48).toString("base64")); // 64 chars
  const ciphertexts = await store.encryptMany(values);
  let i = 0;
  const enc = await opsPerSecond(async () => {
    await store.encrypt(values[i++ % values.length]!);
    return 1;
  }, seconds);
  const dec = await opsPerSecond(async () => {
    await store.decrypt(ciphertexts[i++ % ciphertexts.length]!);
    return 1;
  }, seconds);
  const bulkEnc = await opsPerSecond(async () => (await store.encryptMany(values)).length, seconds);
  const bulkDec = await opsPerSecond(
    async () => (await store.decryptMany(ciphertexts)).length,
    seconds,
  );
  const row = (what: string, r: { perSecond: number; perCpuSecond: number }): void =>
    out(
      `  ${label.padEnd(34)} ${what.padEnd(20)} ${rate(r.perCpuSecond).padStart(9)}/CPU-s ` +
        `(wall ${rate(r.perSecond)}/s)   goal ${ratio(r.perCpuSecond, STORE_GOAL)}   ` +
        `vs Vault published ${ratio(r.perCpuSecond, VAULT_PUBLISHED)}`,
    );
  row("encrypt (single)", enc);
  row("decrypt (single)", dec);
  row("encrypt (bulk 1000)", bulkEnc);
  row("decrypt (bulk 1000)", bulkDec);
  return Math.min(enc.perCpuSecond, dec.perCpuSecond);
}

/** Realistic build output: compiler and test lines, with a secret (or its base64) now and then. */
function logText(secrets: readonly string[], bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    let line: string;
    switch (i % 5) {
      case 0:
        line = `[${String(i).padStart(7)}] Compiling src/module_${i % 97}/file_${i % 13}.ts (${randomBytes(6).toString("hex")})`;
        break;
      case 1:
        line = `  ✓ test suite ${i % 211} > case ${randomBytes(4).toString("hex")} passed in ${i % 900}ms`;
        break;
      case 2:
        line = `npm http fetch GET 200 /package-${i % 331}/-/package-${i % 331}-1.${i % 17}.0.tgz ${i % 50}ms`;
        break;
      case 3:
        line = `Step ${i % 40}/40 : RUN make build TARGET=linux-amd64 JOBS=${i % 8} sha256:${randomBytes(16).toString("hex")}`;
        break;
      default:
        line = `INFO ${new Date(1_700_000_000_000 + i * 1000).toISOString()} worker=${i % 4} uploaded ${i * 7} bytes`;
    }
    if (i % 997 === 0) line += ` token=${secrets[i % secrets.length]!}`;
    if (i % 2003 === 0)
      line += ` auth=${Buffer.from(secrets[i % secrets.length]!).toString("base64")}`;
    if (i % 3001 === 0) line += ` sig=${Buffer.from(secrets[i % secrets.length]!).toString("hex")}`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join("\n") + "\n";
}

function chunks(text: string, size: number): string[] {
  const list: string[] = [];
  // Flat copies, as chunks decoded from a socket would be.
  for (let i = 0; i < text.length; i += size) {
    list.push(Buffer.from(text.slice(i, i + size), "utf8").toString("utf8"));
  }
  return list;
}

/** Best of `runs`: wall seconds and CPU seconds (the machine may be shared; CPU time is steadier). */
function bestOf(runs: number, fn: () => void): { wall: number; cpu: number } {
  let wall = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall = Math.min(wall, (performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1e6);
  }
  return { wall, cpu };
}

function maskingFigures(n: number): { mbs: number; naive: number } {
  const secrets = Array.from({ length: n }, () => randomBytes(24).toString("base64url"));
  const masker = createMasker(secrets);
  const text = logText(secrets, 32 * 1024 * 1024);
  const parts = chunks(text, 16 * 1024);
  const bytes = Buffer.byteLength(text, "utf8");
  let masked = 0;
  const t = bestOf(3, () => {
    const s = masker.stream();
    masked = 0;
    for (const c of parts) masked += s.push(c).length;
    masked += s.end().length;
  });
  const mib = bytes / 1024 / 1024;

  // The naive loop: one replaceAll per pattern over each chunk, on a smaller sample (same rate).
  const patterns = maskPatterns(secrets);
  const sampleParts = parts.slice(0, Math.max(8, Math.floor(parts.length / (n >= 1000 ? 64 : 8))));
  const sampleMib = sampleParts.reduce((a, c) => a + Buffer.byteLength(c, "utf8"), 0) / 1024 / 1024;
  let sink = 0;
  const naive = bestOf(2, () => {
    for (const c of sampleParts) {
      let text = c;
      for (const p of patterns) if (text.includes(p)) text = text.replaceAll(p, MASK);
      sink += text.length;
    }
  });
  if (sink === 0 || masked === 0) throw new Error("nothing was masked: the bench is broken");
  const cpuRate = mib / t.cpu;
  const naiveCpuRate = sampleMib / naive.cpu;
  out(
    `  ${String(n).padStart(5)} secrets (${patterns.length} patterns): ` +
      `${cpuRate.toFixed(0)} MB/CPU-s (wall ${(mib / t.wall).toFixed(0)} MB/s)   ` +
      `goal ${MASK_GOAL_MBS} -> ${ratio(cpuRate, MASK_GOAL_MBS)}   ` +
      `naive ${naiveCpuRate.toFixed(1)} MB/CPU-s (wall ${(sampleMib / naive.wall).toFixed(1)})   ` +
      `vs naive ${ratio(cpuRate, naiveCpuRate)} (goal ${NAIVE_RATIO_GOAL}x)`,
  );
  return { mbs: cpuRate, naive: naiveCpuRate };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "2" },
      only: { type: "string" },
    },
  });
  const seconds = Math.max(0.2, Number(values.seconds));
  if (values.only !== "masking") await storeBench(seconds);
  if (values.only !== "store") {
    out(
      `masking, 32 MiB of build output in 16 KiB chunks, best of 3 (load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")} on ${availableParallelism()} CPUs):`,
    );
    maskingFigures(100);
    maskingFigures(1000);
  }
}

async function storeBench(seconds: number): Promise<void> {
  out(
    `secret store, 64-byte values (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} on ${availableParallelism()} CPUs):`,
  );
  const db = await openDatabase({});
  const server = await startVaultTransitServer({ transitMounts: ["transit"] });
  try {
    const embedded = await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName: "bench",
    });
    const emb = await storeFigures("embedded (AES-256-GCM)", embedded, seconds);
    const vault = await VaultSecretStore.open({
      addr: server.url,
      token: server.rootToken,
      mount: "transit",
      keyName: "bench",
    });
    const http = await storeFigures("vault store -> test server (HTTP)", vault, seconds / 2);
    out(
      `  embedded single-call rate vs the vault store over loopback HTTP (client and server ` +
        `CPU in this process): ${ratio(emb, http)}`,
    );
  } finally {
    await server.close();
    await db.close();
  }
  out("");
}
