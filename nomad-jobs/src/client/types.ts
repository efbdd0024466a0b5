/** Options every read call takes last (hashicorp/nomad api.QueryOptions). */
export interface QueryOptions {
  namespace?: string;
  region?: string;
  /** Overrides the configured ACL token for this call. */
  token?: string;
  /** Blocking query: wait until the resource's index is greater than this. */
  index?: number;
  /** Blocking query: maximum wait in milliseconds (Nomad caps it at 10 minutes). */
  waitMs?: number;
  /** Allow any server to answer (`stale`). */
  stale?: boolean;
  signal?: AbortSignal;
}

/** Options every write call takes last (hashicorp/nomad api.WriteOptions). */
export interface WriteOptions {
  namespace?: string;
  region?: string;
  token?: string;
  /** Dispatch only: prevents more than one dispatched instance per token. */
  idempotencyToken?: string;
  signal?: AbortSignal;
}

/** Response metadata from X-Nomad-Index, X-Nomad-KnownLeader and X-Nomad-LastContact. */
export interface ResponseMeta {
  lastIndex: number;
  knownLeader: boolean;
  /** Milliseconds since the answering server last heard from the leader. */
  lastContact: number;
}

export interface Result<T> {
  data: T;
  meta: ResponseMeta;
}

export interface JobRegisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
  Warnings?: string;
}

export interface JobDeregisterResponse {
  EvalID: string;
  EvalCreateIndex: number;
  JobModifyIndex: number;
}

export interface JobDispatchResponse {
  DispatchedJobID: string;
  EvalID: string;
  EvalCreateIndex: number;
  JobCreateIndex: number;
  Index?: number;
}

export interface TaskGroupSummary {
  Queued: number;
  Complete: number;
  Failed: number;
  Running: number;
  Starting: number;
  Lost: number;
  Unknown?: number;
}

export interface JobSummary {
  JobID: string;
  Namespace: string;
  Summary: Record<string, TaskGroupSummary>;
  Children?: { Pending: number; Running: number; Dead: number } | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface JobListStub {
  ID: string;
  ParentID: string;
  Name: string;
  Namespace: string;
  Datacenters: string[];
  NodePool?: string;
  Type: string;
  Priority: number;
  Periodic: boolean;
  ParameterizedJob: boolean;
  Stop: boolean;
  Status: string;
  StatusDescription: string;
  JobSummary: JobSummary | null;
  /** Present when listed with `meta=true`. */
  Meta?: Record<string, string> | null;
  CreateIndex: number;
  ModifyIndex: number;
  JobModifyIndex: number;
  SubmitTime: number;
}

export interface TaskEvent {
  Type: string;
  Time: number;
  DisplayMessage?: string;
  Details?: Record<string, string> | null;
  Message?: string;
  FailsTask?: boolean;
  ExitCode?: number;
  Signal?: number;
  DriverError?: string;
  KillReason?: string;
  KillError?: string;
  RestartReason?: string;
  SetupError?: string;
  ValidationError?: string;
  DownloadError?: string;
  /** "Sibling Task Failed": the task whose failure stopped this one. */
  FailedSibling?: string;
}

export interface TaskState {
  /** pending | running | dead */
  State: string;
  Failed: boolean;
  Restarts: number;
  LastRestart: string | null;
  StartedAt: string | null;
  FinishedAt: string | null;
  Events: TaskEvent[] | null;
}

export interface AllocatedPort {
  Label: string;
  Value: number;
  To: number;
  HostIP: string;
}

export type AllocClientStatus = "pending" | "running" | "complete" | "failed" | "lost" | "unknown";

export interface AllocationListStub {
  ID: string;
  EvalID: string;
  Name: string;
  Namespace: string;
  NodeID: string;
  NodeName: string;
  JobID: string;
  JobType?: string;
  JobVersion: number;
  TaskGroup: string;
  /** run | stop | evict */
  DesiredStatus: string;
  DesiredDescription: string;
  ClientStatus: AllocClientStatus;
  ClientDescription: string;
  TaskStates: Record<string, TaskState> | null;
  AllocatedResources?: { Shared?: { Ports?: AllocatedPort[] | null } } | null;
  NextAllocation?: string;
  PreviousAllocation?: string;
  FollowupEvalID?: string;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export interface Allocation extends AllocationListStub {
  /** The job as of this allocation; omitted in event stream payloads. */
  Job?: unknown;
  AllocModifyIndex: number;
}

export interface AllocStopResponse {
  EvalID: string;
  Index: number;
}

export interface Evaluation {
  ID: string;
  Namespace: string;
  Priority: number;
  Type: string;
  TriggeredBy: string;
  JobID: string;
  JobModifyIndex?: number;
  Status: string;
  StatusDescription: string;
  DeploymentID?: string;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface NodeListStub {
  ID: string;
  Name: string;
  Address: string;
  Datacenter: string;
  NodeClass: string;
  NodePool: string;
  Version: string;
  Drain: boolean;
  SchedulingEligibility: string;
  Status: string;
  StatusDescription: string;
  Attributes?: Record<string, string> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface AgentHealth {
  client?: { ok: boolean; message: string };
  server?: { ok: boolean; message: string };
}

/** One event of the event stream. */
export interface NomadEvent {
  Topic: string;
  Type: string;
  Key: string;
  Namespace: string;
  FilterKeys: string[] | null;
  Index: number;
  Payload: Record<string, unknown>;
}

/** One NDJSON line of the event stream that carried events (heartbeats are `{}`). */
export interface EventBatch {
  Index: number;
  Events: NomadEvent[];
}
