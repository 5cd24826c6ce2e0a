// Type declarations for queuecast.js (docs/client.md, docs/protocol.md).

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'stale' | 'unauthorized' | 'closed' | 'paused';
export type Mode = 'snapshot' | 'delta';

export interface Phase {
  id: number; queue: string; workflow_id: number | null; phase_number: number; title: string;
  status: 'queued' | 'ready' | 'running' | 'completed' | 'failed' | 'blocked' | 'cancelled';
  position: number; priority: number; worker: string | null; attempts: number; max_attempts: number;
  error: string | null; created_at: string; updated_at: string; started_at: string | null; finished_at: string | null;
}
export interface Workflow {
  id: number; queue: string; title: string;
  status: 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled';
  current_phase: number | null; created_at: string; updated_at: string;
  started_at: string | null; finished_at: string | null;
}
export interface QueueState { phases: Phase[]; total: number; paused: boolean; }
export interface WorkflowsState { workflows: Workflow[]; total: number; }
export interface WorkflowState { workflow: Workflow | null; phases: Phase[]; }

export interface ClientOptions {
  initialDelayMs?: number; maxDelayMs?: number; jitter?: number; heartbeatMs?: number; connectTimeoutMs?: number;
  pauseWhenHidden?: boolean; WebSocket?: typeof WebSocket;
  /** 'auto' (default): WebSocket, then Server-Sent Events once a WebSocket could not open. */
  transport?: 'auto' | 'websocket' | 'sse';
  /** Where the event streams are (default: the WebSocket URL's origin + /sse). */
  sseUrl?: string | null;
  /** Sent as {"type":"hello","token":...}, the first message. A function is called (again) on every connect. */
  token?: string | null | (() => string | null | Promise<string | null>);
}

export class Subscription<S = QueueState | WorkflowsState | WorkflowState> extends EventTarget {
  readonly topic: string;
  readonly mode: Mode;
  state: S | null;
  seq: number | null;
  unsubscribe(): void;
}

export class QueuecastClient extends EventTarget {
  constructor(url: string, options?: ClientOptions);
  state: ConnectionState;
  /** The transport in use: 'websocket', or 'sse' after falling back. */
  transport: 'websocket' | 'sse';
  latencyMs: number | null;
  subscribe(topic: `queue:${string}`, options?: { mode?: Mode }): Subscription<QueueState>;
  subscribe(topic: 'workflows', options?: { mode?: Mode }): Subscription<WorkflowsState>;
  subscribe(topic: `workflow:${number}`, options?: { mode?: Mode }): Subscription<WorkflowState>;
  unsubscribe(topic: string): void;
  /** On an open connection sends {"type":"auth","token":...} (refresh before expiry); otherwise the next
   *  connection uses it; in state 'unauthorized' connects again. */
  setToken(token: string): void;
  close(): void;
  // events: 'status' {state}, 'disconnect' {code, reason}, 'unauthorized' {code: 1008, reason},
  // 'gap' {topic, seq}, 'error' (a server error message, or {code: 'token', message})
}

export function applyOps<S>(topic: string, state: S, ops: object[]): S;
export function comparePhases(a: Phase, b: Phase): number;
export function compareWorkflows(a: Workflow, b: Workflow): number;
