/**
 * A Compute Engine API test server for the calls the `gce` provider makes: instances.insert, get,
 * list (with `filter` on labels, `maxResults`, `pageToken`) and delete, under
 * `/compute/v1/projects/{project}/zones/{zone}/instances`, with Google's error body
 * (`{error: {code, message, errors: [{domain, reason, message}]}}`) and operations
 * (`compute#operation`). Its checks follow the published Compute v1 REST reference: instance names
 * (RFC 1035, 1-63), label keys and values (lowercase, digits, `_`, `-`, keys start with a letter,
 * at most 64 labels), a boot disk with a source image, `zones/{zone}/machineTypes/{type}`, unique
 * metadata keys, and no unknown top-level fields.
 *
 * Each instance is backed by a `local` machine: the server reads the host key and login key from
 * the instance's `startup-script` (Drover's boot script) and boots `drover/machine` with them, so
 * SDK -> API -> a machine that answers SSH runs end to end. No emulator of GCE exists.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { MachineProvider } from "../provider/types.js";

interface StoredInstance {
  project: string;
  zone: string;
  name: string;
  id: string;
  body: Record<string, unknown>;
  labels: Record<string, string>;
  machineId: string | null;
  creationTimestamp: string;
}

const INSTANCE_FIELDS = new Set([
  "name",
  "description",
  "machineType",
  "labels",
  "disks",
  "networkInterfaces",
  "metadata",
  "shieldedInstanceConfig",
  "scheduling",
  "serviceAccounts",
  "tags",
  "canIpForward",
  "minCpuPlatform",
  "guestAccelerators",
  "labelFingerprint",
  "deletionProtection",
  "hostname",
]);
const NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

function bootKeys(
  script: string,
): { sshUser: string; hostKey: string; authorizedKey: string } | null {
  const host = /printf '%s\\n' '([^']+)' >\/etc\/drover\/ssh_host_ed25519_key/.exec(script);
  const auth = /printf '%s\\n' '([^']+)' >\/etc\/drover\/authorized_keys\/([a-z_][a-z0-9_-]*)/.exec(
    script,
  );
  if (!host?.[1] || !auth?.[1] || !auth[2]) return null;
  return { hostKey: host[1], authorizedKey: auth[1], sshUser: auth[2] };
}

/** `(labels.k = "v") AND labels.x = y`: the label equality filters the provider sends. */
function parseFilter(filter: string): [string, string][] {
  if (!filter.trim()) return [];
  return filter.split(/\s+AND\s+/).map((part) => {
    const m = /^\(?\s*labels\.([a-z0-9_-]+)\s*=\s*"?([^")]*)"?\s*\)?$/.exec(part.trim());
    if (!m)
      throw new ApiError(
        400,
        "invalid",
        `Invalid value for field 'filter': '${filter}'. Invalid list filter expression.`,
      );
    return [m[1] ?? "", m[2] ?? ""];
  });
}

export interface ComputeTestServer {
  url: string;
  host: string;
  port: number;
  /** How many calls of each method it answered. */
  calls: Map<string, number>;
  close(): Promise<void>;
}

export async function startComputeTestServer(opts: {
  /** Backs each instance with a real machine. */
  machines: MachineProvider;
  /** The bearer token callers must send. */
  token: string;
}): Promise<ComputeTestServer> {
  const instances = new Map<string, StoredInstance>();
  const calls = new Map<string, number>();
  const key = (p: string, z: string, n: string): string => `${p}/${z}/${n}`;
  let base = "";

  const operation = (i: StoredInstance, type: string): Record<string, unknown> => ({
    kind: "compute#operation",
    id: String(Math.floor(Math.random() * 1e15)),
    name: `operation-${Date.now()}-${randomUUID().slice(0, 8)}`,
    zone: `${base}/compute/v1/projects/${i.project}/zones/${i.zone}`,
    operationType: type,
    targetLink: `${base}/compute/v1/projects/${i.project}/zones/${i.zone}/instances/${i.name}`,
    targetId: i.id,
    status: "RUNNING",
    progress: 0,
    insertTime: new Date().toISOString(),
    selfLink: `${base}/compute/v1/projects/${i.project}/zones/${i.zone}/operations/op`,
  });

  async function present(i: StoredInstance): Promise<Record<string, unknown>> {
    const [m] = i.machineId ? await opts.machines.describe([i.machineId]) : [];
    const status = !m
      ? "PROVISIONING"
      : m.state === "running"
        ? "RUNNING"
        : m.state === "creating"
          ? "STAGING"
          : "TERMINATED";
    const nics = (i.body.networkInterfaces as Record<string, unknown>[] | undefined) ?? [{}];
    return {
      kind: "compute#instance",
      id: i.id,
      creationTimestamp: i.creationTimestamp,
      ...i.body,
      zone: `${base}/compute/v1/projects/${i.project}/zones/${i.zone}`,
      status,
      labels: i.labels,
      networkInterfaces: nics.map((n, idx) => ({
        ...n,
        name: `nic${idx}`,
        networkIP: idx === 0 ? (m?.internalAddress ?? undefined) : undefined,
      })),
      selfLink: `${base}/compute/v1/projects/${i.project}/zones/${i.zone}/instances/${i.name}`,
    };
  }

  function validate(body: Record<string, unknown>, zone: string): void {
    for (const k of Object.keys(body)) {
      if (!INSTANCE_FIELDS.has(k)) {
        throw new ApiError(
          400,
          "invalid",
          `Invalid JSON payload received. Unknown name "${k}" at 'resource': Cannot find field.`,
        );
      }
    }
    const name = body.name;
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new ApiError(
        400,
        "invalid",
        `Invalid value for field 'resource.name': '${String(name)}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`,
      );
    }
    const mt = body.machineType;
    const mtMatch =
      typeof mt === "string"
        ? /(?:^|\/)zones\/([^/]+)\/machineTypes\/([a-z0-9-]+)$/.exec(mt)
        : null;
    if (!mtMatch || mtMatch[1] !== zone) {
      throw new ApiError(
        400,
        "invalid",
        `Invalid value for field 'resource.machineType': '${String(mt)}'. Machine type must be in zone ${zone}.`,
      );
    }
    const labels = (body.labels ?? {}) as Record<string, unknown>;
    if (Object.keys(labels).length > 64)
      throw new ApiError(400, "invalid", "Labels exceed the limit of 64.");
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_KEY.test(k) || typeof v !== "string" || !LABEL_VALUE.test(v)) {
        throw new ApiError(
          400,
          "invalid",
          `Invalid value for field 'resource.labels': '${k}'. Label keys and values must conform to the pattern.`,
        );
      }
    }
    const disks = body.disks as
      { boot?: boolean; initializeParams?: { sourceImage?: string } }[] | undefined;
    const boot = disks?.find((d) => d.boot);
    if (!boot?.initializeParams?.sourceImage) {
      throw new ApiError(
        400,
        "invalid",
        "Invalid value for field 'resource.disks': A boot disk with initializeParams.sourceImage is required.",
      );
    }
    if (!Array.isArray(body.networkInterfaces) || !body.networkInterfaces.length) {
      throw new ApiError(
        400,
        "invalid",
        "Invalid value for field 'resource.networkInterfaces': at least one is required.",
      );
    }
    const items = ((body.metadata as { items?: { key?: string }[] } | undefined)?.items ?? []).map(
      (i) => i.key,
    );
    if (new Set(items).size !== items.length) {
      throw new ApiError(
        400,
        "invalid",
        "Invalid value for field 'resource.metadata': duplicate keys.",
      );
    }
  }

  async function handle(req: IncomingMessage, body: string): Promise<[number, unknown]> {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      throw new ApiError(401, "required", "Request is missing required authentication credential.");
    }
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/instances(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
    if (!m)
      throw new ApiError(
        404,
        "notFound",
        `The requested URL ${url.pathname} was not found on this server.`,
      );
    const [, project = "", zone = "", name] = m;
    const method = `${req.method} ${name ? "instance" : "instances"}`;
    calls.set(method, (calls.get(method) ?? 0) + 1);
    const missing = (n: string) =>
      new ApiError(
        404,
        "notFound",
        `The resource 'projects/${project}/zones/${zone}/instances/${n}' was not found`,
      );

    if (req.method === "POST" && !name) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        throw new ApiError(400, "parseError", "Invalid JSON payload received.");
      }
      validate(parsed, zone);
      const n = parsed.name as string;
      if (instances.has(key(project, zone, n))) {
        throw new ApiError(
          409,
          "alreadyExists",
          `The resource 'projects/${project}/zones/${zone}/instances/${n}' already exists`,
        );
      }
      const { labels, ...rest } = parsed;
      const stored: StoredInstance = {
        project,
        zone,
        name: n,
        id: String(Math.floor(Math.random() * 1e15)),
        body: rest,
        labels: (labels ?? {}) as Record<string, string>,
        machineId: null,
        creationTimestamp: new Date().toISOString(),
      };
      instances.set(key(project, zone, n), stored);
      const script =
        ((rest.metadata as { items?: { key?: string; value?: string }[] }).items ?? []).find(
          (i) => i.key === "startup-script",
        )?.value ?? "";
      const keys = bootKeys(script);
      if (keys) {
        const [id = null] = await opts.machines.create([
          { image: "default", resourceClass: "medium", tags: { "gce-instance": n }, boot: keys },
        ]);
        stored.machineId = id;
      }
      return [200, operation(stored, "insert")];
    }
    if (req.method === "GET" && name) {
      const i = instances.get(key(project, zone, name));
      if (!i) throw missing(name);
      return [200, await present(i)];
    }
    if (req.method === "GET" && !name) {
      const pairs = parseFilter(url.searchParams.get("filter") ?? "");
      const max = Math.min(Number(url.searchParams.get("maxResults") ?? 500) || 500, 500);
      const start = Number(url.searchParams.get("pageToken") ?? 0) || 0;
      const all = [...instances.values()]
        .filter((i) => i.project === project && i.zone === zone)
        .filter((i) => pairs.every(([k, v]) => i.labels[k] === v))
        .sort((a, b) => a.name.localeCompare(b.name));
      const page = all.slice(start, start + max);
      return [
        200,
        {
          kind: "compute#instanceList",
          id: `projects/${project}/zones/${zone}/instances`,
          items: await Promise.all(page.map(present)),
          ...(start + max < all.length ? { nextPageToken: String(start + max) } : {}),
          selfLink: `${base}${url.pathname}`,
        },
      ];
    }
    if (req.method === "DELETE" && name) {
      const i = instances.get(key(project, zone, name));
      if (!i) throw missing(name);
      instances.delete(key(project, zone, name));
      if (i.machineId) await opts.machines.destroy([i.machineId]);
      return [200, operation(i, "delete")];
    }
    throw new ApiError(405, "methodNotAllowed", `Method ${req.method} is not allowed here.`);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      handle(req, Buffer.concat(chunks).toString())
        .then(([status, out]) => {
          res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
          res.end(JSON.stringify(out));
        })
        .catch((err: unknown) => {
          const e = err instanceof ApiError ? err : new ApiError(500, "backendError", String(err));
          res.writeHead(e.status, { "content-type": "application/json; charset=UTF-8" });
          res.end(
            JSON.stringify({
              error: {
                code: e.status,
                message: e.message,
                errors: [{ domain: "global", reason: e.reason, message: e.message }],
              },
            }),
          );
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = addr && typeof addr === "object" ? addr.port : 0;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    host: "127.0.0.1",
    port,
    calls,
    close: async () => {
      const ids = [...instances.values()].flatMap((i) => (i.machineId ? [i.machineId] : []));
      await opts.machines.destroy(ids).catch(() => {});
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
