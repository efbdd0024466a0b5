/** A small typed client of Drover's API v2 (the CLI and tests use it). */
import { readPem, tlsFailure } from "@drover/tls";
import { Agent } from "undici";

export class DroverApiError extends Error {
  readonly code = "DROVER_ERR_API";
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = "DroverApiError";
  }
}

/** The server did not answer (refused, reset, unknown host, TLS): it may be restarting. */
export class DroverUnreachableError extends Error {
  readonly code = "DROVER_ERR_UNREACHABLE";
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach the Drover server at ${url}: ${networkReason(cause)}`, { cause });
    this.name = "DroverUnreachableError";
  }
}

/** `connect ECONNREFUSED 127.0.0.1:8080` from undici's `fetch failed` and its cause chain. */
export function networkReason(err: unknown): string {
  let e: unknown = err;
  let reason = err instanceof Error ? err.message : String(err);
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    const inner: unknown = e.cause;
    if (!(inner instanceof Error)) break;
    reason = inner.message || (inner as { code?: string }).code || reason;
    e = inner;
  }
  return reason;
}

export interface ApiPipeline {
  id: string;
  number: number;
  state: string;
  created_at: string;
  project_slug: string;
  errors: Array<{ type: string; message: string }>;
  vcs: { branch?: string; tag?: string; revision: string };
  trigger: { type: string };
}

export interface ApiWorkflow {
  id: string;
  name: string;
  status: string;
  pipeline_id: string;
  pipeline_number: number;
  created_at: string;
  stopped_at: string | null;
}

export interface ApiWorkflowJob {
  id: string;
  name: string;
  type: "build" | "approval";
  status: string;
  job_number?: number;
  dependencies: string[];
  approval_request_id?: string;
}

export interface ApiJobDetails {
  id: string;
  name: string;
  number: number | null;
  status: string;
  web_url: string;
  steps: Array<{
    index: number;
    task_id: string;
    steps: Array<{ step: number; name: string; status: string; exit_code: number | null }>;
  }>;
}

export interface ApiToken {
  id: string;
  label: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export interface Paged<T> {
  items: T[];
  next_page_token: string | null;
}

export interface DroverClientOptions {
  /** PEM file of the CA the server's certificate is verified against (`DROVER_TLS_CA`). */
  tlsCa?: string | undefined;
}

export class DroverClient {
  /** `fetch` options that verify Drover's certificates against `tlsCa` (empty without one). */
  readonly fetchOptions: RequestInit;

  constructor(
    readonly url: string,
    private readonly token: string,
    opts: DroverClientOptions = {},
  ) {
    const ca = opts.tlsCa ? readPem(opts.tlsCa, "DROVER_TLS_CA") : undefined;
    // Node's fetch takes an undici dispatcher; its RequestInit type does not name it.
    this.fetchOptions = ca ? ({ dispatcher: new Agent({ connect: { ca } }) } as RequestInit) : {};
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(new URL(path, this.url), {
        ...this.fetchOptions,
        method,
        headers: {
          "circle-token": this.token,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      text = await res.text();
    } catch (err) {
      throw (
        tlsFailure(err, { peer: `the Drover server at ${this.url}` }) ??
        new DroverUnreachableError(this.url, err)
      );
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // A proxy's error page, say: not the API.
      throw new DroverApiError(
        res.status,
        text,
        `${method} ${path}: ${res.status} answered with a body that is not JSON: ${text.slice(0, 120)}`,
      );
    }
    if (!res.ok) {
      const message = (parsed as { message?: string } | undefined)?.message ?? res.statusText;
      throw new DroverApiError(res.status, parsed, `${method} ${path}: ${res.status} ${message}`);
    }
    return parsed as T;
  }

  me() {
    return this.request<{ id: string; login: string; name: string; role: string }>(
      "GET",
      "/api/v2/me",
    );
  }
  getProject(slug: string) {
    return this.request<{ id: string; slug: string }>("GET", `/api/v2/project/${slug}`);
  }
  addProject(body: { slug: string; repository_url: string; default_branch?: string }) {
    return this.request<{ id: string; slug: string; webhook_secret: string }>(
      "POST",
      "/api/v2/project",
      body,
    );
  }
  trigger(
    slug: string,
    body: {
      branch?: string;
      tag?: string;
      parameters?: Record<string, unknown>;
      config?: string;
      revision?: string;
    },
  ) {
    return this.request<{ id: string; state: string; number: number; created_at: string }>(
      "POST",
      `/api/v2/project/${slug}/pipeline`,
      body,
    );
  }
  listPipelines(slug: string, pageToken?: string) {
    const q = pageToken ? `?page-token=${encodeURIComponent(pageToken)}` : "";
    return this.request<Paged<ApiPipeline>>("GET", `/api/v2/project/${slug}/pipeline${q}`);
  }
  pipeline(id: string) {
    return this.request<ApiPipeline>("GET", `/api/v2/pipeline/${id}`);
  }
  pipelineWorkflows(id: string) {
    return this.request<Paged<ApiWorkflow>>("GET", `/api/v2/pipeline/${id}/workflow`);
  }
  workflow(id: string) {
    return this.request<ApiWorkflow>("GET", `/api/v2/workflow/${id}`);
  }
  workflowJobs(id: string) {
    return this.request<Paged<ApiWorkflowJob>>("GET", `/api/v2/workflow/${id}/job`);
  }
  job(slug: string, number: number) {
    return this.request<ApiJobDetails>("GET", `/api/v2/project/${slug}/job/${number}`);
  }
  rerun(
    id: string,
    body: { enable_ssh?: boolean; from_failed?: boolean; jobs?: string[]; sparse_tree?: boolean },
  ) {
    return this.request<{ workflow_id: string }>("POST", `/api/v2/workflow/${id}/rerun`, body);
  }
  createToken(body: {
    login?: string;
    role?: "admin" | "member";
    projects?: string[];
    label?: string;
    expires_in_days?: number;
  }) {
    return this.request<{
      id: string;
      token: string;
      expires_at: string | null;
      user: { id: string; login: string; role: string };
      projects: string[];
    }>("POST", "/api/v2/tokens", body);
  }
  /** Your unrevoked API tokens; an admin may name another user's `login`. */
  listTokens(login?: string) {
    const q = login ? `?login=${encodeURIComponent(login)}` : "";
    return this.request<Paged<ApiToken>>("GET", `/api/v2/tokens${q}`);
  }
  /** Revokes one of your tokens (admins: anyone's). */
  revokeToken(id: string) {
    return this.request<undefined>("DELETE", `/api/v2/tokens/${encodeURIComponent(id)}`);
  }
}
