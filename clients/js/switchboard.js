// Switchboard's JavaScript client: one ES module, no dependencies, no build step (docs/protocol.md).
//
// Guarantees, as the Swift SDK's ChatSession gives them:
// - the application sees each log entry once: entries arrive in seq order per conversation, so an
//   entry at or below the highest seq held for its conversation is a repeat (a resume, a redelivery)
//   and is dropped;
// - the session reconnects by itself (jittered exponential backoff, to the same URL: a balancer picks
//   the node), resumes from the highest seq held per conversation, and follows the drain's `reconnect`
//   advisory (waits its delay, then moves);
// - `send` returns only once the node stored the post, sending it again with the same client id on
//   each new connection until one acknowledges it, so a send is stored once (seed 002's temp ids, done
//   right: the client id is the optimistic message's id);
// - every entry is acknowledged as delivered (`receipt.mark`) once it arrived, so the node's
//   redelivery stops and senders see it delivered.

/** Every error code the node answers with (docs/protocol.md "Errors"). */
export const ErrorCodes = Object.freeze([
  "validation", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited", "unavailable", "internal",
]);

/** An error the node answered with, or `unavailable` when it could not be reached. */
export class SwitchboardError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = "SwitchboardError";
    this.code = ErrorCodes.includes(code) ? code : "internal";
    if (status !== undefined) this.status = status;
  }
}

/** Log entry events: they carry `{message: M}` with a seq, and are deduplicated and acknowledged. */
export const ENTRY_EVENTS = Object.freeze(["message.new", "message.edited", "message.deleted", "reaction.added", "reaction.removed"]);

const DEFAULT_BACKOFF = Object.freeze({ baseMs: 100, factor: 2, capMs: 5000 });

/** The WebSocket URL of a node's (or balancer's) base URL: http→ws, https→wss, path /v1/ws. */
export function socketURL(baseURL) {
  const url = new URL("/v1/ws", baseURL);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

function randomID() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * A chat session that outlives its connections.
 *
 *   const chat = new Switchboard({ url: "http://127.0.0.1:8080", token: () => fetchToken() });
 *   chat.on("message.new", (payload) => show(payload.message));
 *   await chat.connect();
 *   const message = await chat.send(conversationID, "hello");
 */
export class Switchboard {
  /**
   * @param {object} options
   * @param {string} options.url the node's (or balancer's) base URL, http(s)://host:port
   * @param {string | (() => string | Promise<string>)} options.token a token, or a function called
   *   before each connection for a fresh one (token refresh)
   * @param {typeof WebSocket} [options.WebSocket] the WebSocket class (default: the global one)
   * @param {{baseMs: number, factor: number, capMs: number}} [options.backoff] reconnect backoff
   * @param {number} [options.requestTimeoutMs] how long a request waits for its reply (default 15000)
   * @param {boolean} [options.markDelivered] send `receipt.mark` for what arrives (default true)
   * @param {Record<string, number>} [options.positions] the highest seq held per conversation, kept
   *   from an earlier session (e.g. in localStorage): the first connection resumes from there
   */
  constructor({ url, token, WebSocket: Socket = globalThis.WebSocket, backoff = DEFAULT_BACKOFF, requestTimeoutMs = 15000, markDelivered = true, positions = {} }) {
    if (!url) throw new TypeError("url is required");
    if (!token) throw new TypeError("token is required");
    if (!Socket) throw new TypeError("no WebSocket class: pass options.WebSocket");
    this.url = url;
    this.rest = new SwitchboardREST({ url, token });
    this._token = token;
    this._Socket = Socket;
    this._backoff = { ...DEFAULT_BACKOFF, ...backoff };
    this._requestTimeoutMs = requestTimeoutMs;
    this._markDelivered = markDelivered;
    /** Highest seq held per conversation: what the next connection resumes from. */
    this.positions = new Map(Object.entries(positions));
    /** `idle`, `connecting`, `connected`, `reconnecting` or `closed`. */
    this.status = "idle";
    /** The `welcome` payload of the current connection. */
    this.welcome = null;
    this._listeners = new Map();
    this._pending = new Map();
    this._nextID = 0;
    this._socket = null;
    this._stopped = false;
    this._attempt = 0;
    this._connectedWaiters = [];
    this._acknowledged = new Map();
    this._markTimer = null;
    this._iterators = new Set();
  }

  // MARK: Events

  /** Calls `callback(payload, frame)` for each event of `type` (`*`: every event; `status`: status changes). */
  on(type, callback) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(callback);
    return () => this.off(type, callback);
  }

  off(type, callback) {
    this._listeners.get(type)?.delete(callback);
  }

  /** Every event as `{type, payload}`, for `for await`; ends when the session is closed. */
  events() {
    const queue = [];
    let wake = null;
    const iterator = {
      push: (event) => {
        queue.push(event);
        iterator.wake();
      },
      wake: () => {
        if (wake) { wake(); wake = null; }
      },
      [Symbol.asyncIterator]() { return this; },
      next: async () => {
        while (queue.length === 0) {
          if (this._stopped) return { done: true, value: undefined };
          await new Promise((resolve) => { wake = resolve; });
        }
        return { done: false, value: queue.shift() };
      },
      return: async () => {
        this._iterators.delete(iterator);
        return { done: true, value: undefined };
      },
    };
    this._iterators.add(iterator);
    return iterator;
  }

  _emit(type, payload, frame) {
    for (const callback of this._listeners.get(type) ?? []) callback(payload, frame);
    if (type !== "status") for (const callback of this._listeners.get("*") ?? []) callback(payload, frame);
    if (type !== "status") for (const iterator of this._iterators) iterator.push({ type, payload });
  }

  _setStatus(status, detail = {}) {
    this.status = status;
    this._emit("status", { status, ...detail });
  }

  // MARK: Connecting

  /** Starts the session; resolves once the first connection is welcomed. */
  connect() {
    this._stopped = false;
    if (this.status === "idle" || this.status === "closed") {
      this._attempt = 0;
      this._open();
    }
    return this.connected();
  }

  /** Resolves when a connection is up (at once if one is). */
  connected() {
    if (this.status === "connected") return Promise.resolve();
    return new Promise((resolve, reject) => this._connectedWaiters.push({ resolve, reject }));
  }

  /** Ends the session: no more reconnects; pending requests fail with `unavailable`. */
  close() {
    this._stopped = true;
    clearTimeout(this._reconnectTimer);
    clearTimeout(this._markTimer);
    const socket = this._socket;
    this._socket = null;
    if (socket) socket.close(1000);
    this._failPending("the session is closed");
    for (const waiter of this._connectedWaiters.splice(0)) waiter.reject(new SwitchboardError("unavailable", "the session is closed"));
    this._setStatus("closed");
    for (const iterator of this._iterators) iterator.wake();
    this._iterators.clear();
  }

  async _open() {
    if (this._attempt === 0) this._setStatus("connecting");
    let token;
    try {
      token = typeof this._token === "function" ? await this._token() : this._token;
    } catch (error) {
      this._scheduleReconnect();
      return;
    }
    if (this._stopped) return;
    let socket;
    try {
      socket = new this._Socket(socketURL(this.url));
    } catch (error) {
      this._emit("error", { code: "unavailable", message: String(error) });
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    let welcomed = false;
    socket.onopen = () => {
      const resume = Object.fromEntries(this.positions);
      this._write({ type: "auth", id: "auth", payload: Object.keys(resume).length ? { token, resume } : { token } });
    };
    socket.onmessage = (event) => {
      if (this._socket !== socket) return;
      let frame;
      try {
        frame = JSON.parse(typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data));
      } catch {
        return;
      }
      if (frame.type === "welcome") {
        welcomed = true;
        this._attempt = 0;
        this.welcome = frame.payload;
        this._setStatus("connected", { node: frame.payload?.node });
        // What an earlier connection could not mark is marked now.
        this._scheduleMark();
        for (const waiter of this._connectedWaiters.splice(0)) waiter.resolve();
        this._emit("welcome", frame.payload, frame);
        return;
      }
      this._receive(frame);
    };
    // The end of the connection, however it is told (some WebSocket implementations, Node 20's
    // among them, report a failed connect with `error` alone and never `close`): handled once.
    const lost = (code, reason) => {
      if (this._socket !== socket) return;
      this._socket = null;
      this.welcome = null;
      this._failPending("the connection closed");
      if (!welcomed && code === 4501) {
        // The token was refused: trying it again cannot help unless a function gives a fresh one.
        const error = new SwitchboardError("unauthorized", reason || "the token was refused");
        this._emit("error", { code: error.code, message: error.message });
        if (typeof this._token !== "function") {
          this._stopped = true;
          for (const waiter of this._connectedWaiters.splice(0)) waiter.reject(error);
          this._setStatus("closed");
          return;
        }
      }
      this._scheduleReconnect();
    };
    socket.onclose = (event) => lost(event.code, event.reason);
    socket.onerror = () => {
      lost(1006, "");
      try { socket.close(); } catch { /* already closing */ }
    };
  }

  _scheduleReconnect(delayMs) {
    if (this._stopped) return;
    const attempt = this._attempt++;
    const ceiling = Math.min(this._backoff.capMs, this._backoff.baseMs * this._backoff.factor ** Math.min(attempt, 30));
    const delay = delayMs ?? Math.random() * ceiling;
    this._setStatus("reconnecting", { attempt: this._attempt, delayMs: delay });
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => this._open(), delay);
  }

  _receive(frame) {
    if (frame.re !== undefined && frame.re !== null && (frame.type === "ack" || frame.type === "error")) {
      const pending = this._pending.get(frame.re);
      if (pending) {
        this._pending.delete(frame.re);
        clearTimeout(pending.timer);
        if (frame.type === "ack") pending.resolve(frame.payload ?? {});
        else pending.reject(new SwitchboardError(frame.payload?.code, frame.payload?.message));
      }
      return;
    }
    if (frame.type === "reconnect") {
      // The node is draining: wait the delay it names, then move (to whichever node the URL reaches).
      this._emit("reconnect", frame.payload, frame);
      const socket = this._socket;
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = setTimeout(() => {
        if (this._socket !== socket || this._stopped) return;
        this._socket = null;
        socket.close(1000);
        this._failPending("the node asked to reconnect");
        this._open();
      }, Math.max(0, frame.payload?.delay_ms ?? 0));
      return;
    }
    if (ENTRY_EVENTS.includes(frame.type)) {
      const entry = frame.payload?.message;
      if (!entry) return;
      const held = this.positions.get(entry.conversation) ?? 0;
      if (entry.seq <= held) {
        // A repeat (a resume or the node's redelivery): not shown again, and marked in case the
        // node is repeating it because an earlier mark did not reach it.
        this._scheduleMark();
        return;
      }
      this.positions.set(entry.conversation, entry.seq);
      this._scheduleMark();
    }
    this._emit(frame.type, frame.payload, frame);
  }

  _scheduleMark() {
    if (!this._markDelivered || this._markTimer) return;
    this._markTimer = setTimeout(() => {
      this._markTimer = null;
      for (const [conversation, seq] of this.positions) {
        if ((this._acknowledged.get(conversation) ?? 0) >= seq) continue;
        this._acknowledged.set(conversation, seq);
        this.request("receipt.mark", { conversation, delivered: seq }).catch(() => this._acknowledged.delete(conversation));
      }
    }, 50);
  }

  _write(frame) {
    this._socket.send(JSON.stringify(frame));
  }

  _failPending(message) {
    for (const [id, pending] of this._pending) {
      clearTimeout(pending.timer);
      pending.reject(new SwitchboardError("unavailable", message));
      this._pending.delete(id);
    }
  }

  // MARK: Requests

  /**
   * Sends a request frame and resolves with its `ack` payload; an `error` reply rejects with a
   * SwitchboardError of its code; no connection, or one lost before the reply: `unavailable`.
   */
  request(type, payload) {
    if (this.status !== "connected" || !this._socket) {
      return Promise.reject(new SwitchboardError("unavailable", "not connected"));
    }
    const id = `r${++this._nextID}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new SwitchboardError("unavailable", `no reply to ${type} within ${this._requestTimeoutMs} ms`));
      }, this._requestTimeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        this._write(payload === undefined ? { type, id } : { type, id, payload });
      } catch (error) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(new SwitchboardError("unavailable", String(error)));
      }
    });
  }

  /**
   * Posts a message and resolves with it as stored (M). Until a connection acknowledges it, it is
   * sent again with the same client id on each new connection: stored once. Refusals other than
   * `unavailable` reject. `options.clientId` names it (the optimistic message's id); one is made when absent.
   */
  async send(conversation, content, options = {}) {
    const clientID = options.clientId ?? randomID();
    const payload = { conversation, client_id: clientID, content };
    if (options.kind) payload.kind = options.kind;
    if (options.metadata !== undefined) payload.metadata = options.metadata;
    for (;;) {
      if (this._stopped) throw new SwitchboardError("unavailable", "the session is closed");
      if (this.status === "connected") {
        try {
          const reply = await this.request("message.send", payload);
          return reply.message;
        } catch (error) {
          if (!(error instanceof SwitchboardError) || error.code !== "unavailable") throw error;
        }
      }
      await this.connected();
    }
  }

  createDirect(user, workspace) { return this.request("conversation.create_direct", workspace ? { user, workspace } : { user }); }
  createGroup(title, participants, workspace) { return this.request("conversation.create_group", workspace ? { title, participants, workspace } : { title, participants }); }
  conversations(options = {}) { return this.request("conversation.list", options); }
  conversation(conversation) { return this.request("conversation.get", { conversation }); }
  history(conversation, options = {}) { return this.request("message.history", { conversation, ...options }); }
  edit(conversation, seq, content, clientId) { return this.request("message.edit", { conversation, seq, content, ...(clientId ? { client_id: clientId } : {}) }); }
  delete(conversation, seq, clientId) { return this.request("message.delete", { conversation, seq, ...(clientId ? { client_id: clientId } : {}) }); }
  react(conversation, seq, emoji) { return this.request("reaction.add", { conversation, seq, emoji }); }
  unreact(conversation, seq, emoji) { return this.request("reaction.remove", { conversation, seq, emoji }); }
  mark(conversation, { delivered, read } = {}) { return this.request("receipt.mark", { conversation, delivered, read }); }
  typing(conversation) { return this.request("typing", { conversation }); }
  presence(users) { return this.request("presence.query", { users }); }
}

/** The REST API (docs/openapi.json): the same operations over HTTP, errors as SwitchboardError. */
export class SwitchboardREST {
  constructor({ url, token, fetch: fetchFunction = globalThis.fetch }) {
    this.url = url;
    this._token = token;
    this._fetch = fetchFunction;
  }

  /** One call; resolves with the JSON body (or null), rejects with the node's error. */
  async call(method, path, body) {
    const token = typeof this._token === "function" ? await this._token() : this._token;
    let response;
    try {
      // Called on the global object: a browser's fetch refuses any other `this` ("Illegal invocation").
      response = await this._fetch.call(globalThis, new URL(path, this.url), {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new SwitchboardError("unavailable", String(error));
    }
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) throw new SwitchboardError(json?.error?.code, json?.error?.message ?? `HTTP ${response.status}`, response.status);
    return json;
  }

  createDirect(user) { return this.call("POST", "/v1/conversations/direct", { user }); }
  conversations() { return this.call("GET", "/v1/conversations"); }
  send(conversation, content, clientId = randomID()) {
    return this.call("POST", `/v1/conversations/${encodeURIComponent(conversation)}/messages`, { client_id: clientId, content });
  }
  history(conversation) { return this.call("GET", `/v1/conversations/${encodeURIComponent(conversation)}/messages`); }
}
