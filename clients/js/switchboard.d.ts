// Type declarations for switchboard.js (the wire shapes are docs/protocol.md's).

export type ErrorCode = "validation" | "unauthorized" | "forbidden" | "not_found" | "conflict" | "rate_limited" | "unavailable" | "internal";
export declare const ErrorCodes: readonly ErrorCode[];
export declare const ENTRY_EVENTS: readonly ["message.new", "message.edited", "message.deleted", "reaction.added", "reaction.removed"];

export declare class SwitchboardError extends Error {
  readonly code: ErrorCode;
  /** The HTTP status, for REST calls. */
  readonly status?: number;
  constructor(code: string, message?: string, status?: number);
}

/** A log entry (M). */
export interface Message {
  id: string;
  conversation: string;
  seq: number;
  sender: string;
  client_id: string;
  action?: "post" | "edit" | "delete" | "react" | "unreact";
  target?: number;
  emoji?: string;
  kind: "text" | "image" | "file" | "voice" | "system";
  content: string;
  metadata?: unknown;
  created_at: number;
  edited_at?: number;
  deleted_at?: number;
  reactions?: { emoji: string; users: string[] }[];
}

export interface Participant { user: string; role: "admin" | "moderator" | "member"; joined_at: number; delivered_seq: number; read_seq: number }
export interface Conversation {
  id: string; kind: "direct" | "group" | "support"; title?: string; workspace?: string; created_by: string; created_at: number;
  last_seq: number; last_activity_at: number; closed_at?: number; participants: Participant[];
}
export interface ConversationSummary { conversation: Conversation; last_message?: Message; unread: number; archived: boolean }
export interface Receipt { conversation: string; user: string; delivered_seq: number; read_seq: number }
export interface Presence { user: string; online: boolean; last_seen?: number }

export type Status = "idle" | "connecting" | "connected" | "reconnecting" | "closed";

export interface SwitchboardOptions {
  /** The node's (or balancer's) base URL, http(s)://host:port. */
  url: string;
  /** A token, or a function called before each connection for a fresh one. */
  token: string | (() => string | Promise<string>);
  WebSocket?: typeof WebSocket;
  backoff?: { baseMs?: number; factor?: number; capMs?: number };
  requestTimeoutMs?: number;
  /** Send `receipt.mark` delivered for what arrives (default true). */
  markDelivered?: boolean;
  /** The highest seq held per conversation, kept from an earlier session. */
  positions?: Record<string, number>;
}

export declare function socketURL(baseURL: string): string;

export declare class Switchboard {
  constructor(options: SwitchboardOptions);
  readonly url: string;
  readonly rest: SwitchboardREST;
  readonly positions: Map<string, number>;
  readonly status: Status;
  readonly welcome: { user: string; node: string; connection: string; max_frame_bytes: number; max_content_bytes: number } | null;

  on(type: "status", callback: (event: { status: Status; attempt?: number; delayMs?: number; node?: string }) => void): () => void;
  on(type: (typeof ENTRY_EVENTS)[number], callback: (payload: { message: Message }) => void): () => void;
  on(type: "receipt", callback: (payload: Receipt) => void): () => void;
  on(type: "presence", callback: (payload: Presence) => void): () => void;
  on(type: "reconnect", callback: (payload: { delay_ms: number; reason: string }) => void): () => void;
  on(type: string, callback: (payload: any, frame: { type: string; payload?: any }) => void): () => void;
  off(type: string, callback: (...args: any[]) => void): void;
  events(): AsyncIterableIterator<{ type: string; payload: any }>;

  connect(): Promise<void>;
  connected(): Promise<void>;
  close(): void;

  request<T = any>(type: string, payload?: unknown): Promise<T>;
  send(conversation: string, content: string, options?: { clientId?: string; kind?: Message["kind"]; metadata?: unknown }): Promise<Message>;
  createDirect(user: string, workspace?: string): Promise<{ conversation: Conversation; created: boolean }>;
  createGroup(title: string, participants: string[], workspace?: string): Promise<{ conversation: Conversation; created: boolean }>;
  conversations(options?: { cursor?: string; limit?: number; workspace?: string }): Promise<{ conversations: ConversationSummary[]; next_cursor?: string }>;
  conversation(conversation: string): Promise<{ conversation: Conversation; last_message?: Message }>;
  history(conversation: string, options?: { before?: number; after?: number; limit?: number }): Promise<{ messages: Message[]; has_more: boolean }>;
  edit(conversation: string, seq: number, content: string, clientId?: string): Promise<{ message: Message; duplicate: boolean }>;
  delete(conversation: string, seq: number, clientId?: string): Promise<{ message: Message; duplicate: boolean }>;
  react(conversation: string, seq: number, emoji: string): Promise<{ message: Message; duplicate: boolean }>;
  unreact(conversation: string, seq: number, emoji: string): Promise<{ message: Message; duplicate: boolean }>;
  mark(conversation: string, watermarks: { delivered?: number; read?: number }): Promise<Receipt>;
  typing(conversation: string): Promise<{}>;
  presence(users: string[]): Promise<{ users: Presence[] }>;
}

export declare class SwitchboardREST {
  constructor(options: { url: string; token: string | (() => string | Promise<string>); fetch?: typeof fetch });
  call<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  createDirect(user: string): Promise<{ conversation: Conversation; created: boolean }>;
  conversations(): Promise<{ conversations: ConversationSummary[]; next_cursor?: string }>;
  send(conversation: string, content: string, clientId?: string): Promise<{ message: Message; duplicate: boolean }>;
  history(conversation: string): Promise<{ messages: Message[]; has_more: boolean }>;
}
