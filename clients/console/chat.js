// The demo chat page (served at /demo where the demo is on): a small chat app on the JavaScript
// client, signed in with tokens the node mints for any user in this mode. Each tab keeps its user in
// sessionStorage, so a reload signs the same user in again and reads what it missed.
import { Switchboard, SwitchboardError } from "/client/v1/switchboard.js";

const $ = (id) => document.getElementById(id);
const state = {
  me: null,
  agentOf: null,
  chat: null,
  conversations: new Map(), // id → {conversation, last_message, unread}
  entries: new Map(), // id → Map(seq → post)
  selected: null,
  presence: new Map(), // user → {online, last_seen}
  typing: new Map(), // conversation → Map(user → expiry timer)
  desk: new Map(), // request id → request
  lastTyping: 0,
  listed: false, // the conversation list has loaded
  editing: null, // the post the composer edits, if any
};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function showError(where, error) {
  $(where).textContent = error ? `${error.code ?? "error"}: ${error.message}` : "";
}

function guard(where, action) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      showError(where, null);
      await action(event);
    } catch (error) {
      showError(where, error);
    }
  };
}

// MARK: Signing in

async function demoToken(user, roles) {
  const response = await fetch("/demo/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, roles }),
  });
  const body = await response.json();
  if (!response.ok) throw new SwitchboardError(body.error?.code ?? "internal", body.error?.message, response.status);
  return body.token;
}

async function signIn(user, agentOf) {
  const roles = agentOf ? [`agent:${agentOf}`] : [];
  await demoToken(user, roles); // refuses a bad user id before anything else starts
  state.me = user;
  state.agentOf = agentOf;
  sessionStorage.setItem("switchboard-demo", JSON.stringify({ user, agentOf }));
  const chat = new Switchboard({ url: location.origin, token: () => demoToken(user, roles) });
  state.chat = chat;
  chat.on("status", ({ status }) => { $("status").textContent = status; });
  for (const type of ["message.new", "message.edited", "message.deleted", "reaction.added", "reaction.removed"]) {
    chat.on(type, ({ message }) => entryArrived(message));
  }
  chat.on("receipt", receiptArrived);
  chat.on("typing", typingArrived);
  chat.on("presence", (presence) => { state.presence.set(presence.user, presence); renderList(); renderHeader(); });
  chat.on("conversation.joined", ({ conversation }) => { upsert(conversation); renderList(); });
  chat.on("conversation.updated", ({ conversation }) => { upsert(conversation); renderList(); renderHeader(); renderMessages(); });
  chat.on("conversation.left", ({ conversation }) => { state.conversations.delete(conversation); if (state.selected === conversation) select(null); renderList(); });
  chat.on("support.queued", ({ request }) => { state.desk.set(request.id, request); renderDesk(); });
  chat.on("support.claimed", ({ request }) => { state.desk.set(request.id, request); renderDesk(); });
  chat.on("support.closed", ({ request }) => { state.desk.set(request.id, request); renderDesk(); });
  await chat.connect();
  $("whoami").textContent = agentOf ? `${user} (agent of ${agentOf})` : user;
  $("signin").classList.add("hidden");
  $("app").classList.remove("hidden");
  await loadConversations();
  if (agentOf) {
    $("desk-panel").classList.remove("hidden");
    $("desk-workspace").textContent = agentOf;
    const { requests } = await chat.request("support.queue", { workspace: agentOf });
    for (const request of requests) state.desk.set(request.id, request);
    renderDesk();
  }
}

// MARK: Conversations

function upsert(conversation, extra = {}) {
  const known = state.conversations.get(conversation.id) ?? { unread: 0 };
  state.conversations.set(conversation.id, { ...known, ...extra, conversation });
}

async function loadConversations() {
  const { conversations } = await state.chat.conversations({ limit: 100 });
  for (const summary of conversations) {
    upsert(summary.conversation, { last_message: summary.last_message, unread: summary.unread });
  }
  state.listed = true;
  renderList();
  await refreshPresence();
}

function others(conversation) {
  return conversation.participants.map((participant) => participant.user).filter((user) => user !== state.me);
}

function titleOf(conversation) {
  if (conversation.kind === "group") return conversation.title;
  if (conversation.kind === "support") return `Support: ${conversation.title ?? conversation.created_by}`;
  return others(conversation)[0] ?? conversation.created_by;
}

function previewOf(message) {
  if (!message) return "";
  if (message.deleted_at) return "message deleted";
  return `${message.sender === state.me ? "you" : message.sender}: ${message.content}`;
}

async function refreshPresence() {
  const users = [...new Set([...state.conversations.values()].flatMap(({ conversation }) => others(conversation)))].slice(0, 200);
  if (users.length === 0) return;
  const { users: known } = await state.chat.presence(users);
  for (const presence of known) state.presence.set(presence.user, presence);
  renderList();
  renderHeader();
}

function renderList() {
  const list = $("conversations");
  const sorted = [...state.conversations.values()].sort((a, b) => b.conversation.last_activity_at - a.conversation.last_activity_at);
  list.replaceChildren(...sorted.map(({ conversation, last_message, unread }) => {
    const peer = conversation.kind === "direct" ? others(conversation)[0] : null;
    const online = peer && state.presence.get(peer)?.online;
    return element("li", {
      "data-conversation": conversation.id,
      class: conversation.id === state.selected ? "selected" : "",
      onclick: () => select(conversation.id),
    },
      element("span", { class: "name" }, peer ? element("span", { class: online ? "dot online" : "dot" }) : null, " ", titleOf(conversation)),
      unread > 0 ? element("span", { class: "badge unread" }, String(unread)) : element("span"),
      element("span", { class: "preview" }, previewOf(last_message)));
  }));
}

async function select(id) {
  if (state.editing) { stopEditing(); $("composer-input").value = ""; }
  state.selected = id;
  $("composer").classList.toggle("hidden", id === null);
  renderList();
  renderHeader();
  if (id === null) { $("messages").replaceChildren(); return; }
  const { messages } = await state.chat.history(id, { limit: 100 });
  for (const message of messages) entryArrived(message, { fromHistory: true });
  renderMessages();
  markRead();
}

function renderHeader() {
  const summary = state.conversations.get(state.selected);
  if (!summary) { $("title").textContent = "Pick a conversation"; $("peer-presence").textContent = ""; return; }
  $("title").textContent = titleOf(summary.conversation);
  const peer = summary.conversation.kind === "direct" ? others(summary.conversation)[0] : null;
  const presence = peer ? state.presence.get(peer) : null;
  $("peer-presence").textContent = !presence ? "" : presence.online
    ? "online" : presence.last_seen ? `last seen ${new Date(presence.last_seen).toLocaleString()}` : "offline";
  $("peer-presence").dataset.online = presence?.online ? "true" : "false";
}

// MARK: The log

/** Folds one log entry into the conversation's posts: a post is added, actions change their target. */
function entryArrived(message, { fromHistory = false } = {}) {
  const posts = state.entries.get(message.conversation) ?? new Map();
  state.entries.set(message.conversation, posts);
  const action = message.action ?? "post";
  if (action === "post") {
    if (!posts.has(message.seq)) posts.set(message.seq, { ...message, reactions: message.reactions ?? [] });
  } else {
    const target = posts.get(message.target);
    if (target) {
      if (action === "edit") { target.content = message.content; target.edited_at = message.created_at; }
      if (action === "delete") { target.content = ""; target.deleted_at = message.created_at; target.reactions = []; }
      if (action === "react" || action === "unreact") react(target, message.emoji, message.sender, action === "react");
    }
  }
  const summary = state.conversations.get(message.conversation);
  if (summary) {
    // The list's unread count covers entries up to its last_seq: only a newer post adds to it.
    const newer = message.seq > summary.conversation.last_seq;
    if (newer) summary.conversation.last_seq = message.seq;
    if (action === "post") {
      summary.last_message = posts.get(message.seq) ?? message;
      summary.conversation.last_activity_at = Math.max(summary.conversation.last_activity_at, message.created_at);
      if (newer && message.sender !== state.me && message.conversation !== state.selected) summary.unread += 1;
    } else if (summary.last_message?.seq === message.target) {
      summary.last_message = posts.get(message.target);
    }
  } else if (!fromHistory && state.listed) {
    // A conversation this page has not heard of (before its list loaded, the list accounts for it).
    state.chat.conversation(message.conversation).then(({ conversation, last_message }) => {
      if (state.conversations.has(conversation.id)) return;
      upsert(conversation, { last_message, unread: message.sender === state.me ? 0 : 1 });
      renderList();
    }).catch(() => {});
  }
  if (fromHistory) return;
  clearTyping(message.conversation, message.sender);
  renderList();
  if (message.conversation === state.selected) { renderMessages(); markRead(); }
}

function react(post, emoji, user, add) {
  const reaction = post.reactions.find((r) => r.emoji === emoji) ?? { emoji, users: [] };
  if (!post.reactions.includes(reaction)) post.reactions.push(reaction);
  reaction.users = add ? [...new Set([...reaction.users, user])] : reaction.users.filter((u) => u !== user);
  post.reactions = post.reactions.filter((r) => r.users.length > 0);
}

/** What the others have done with my post: `read` when every other read it, `delivered`, or `sent`. */
function tickOf(conversation, seq) {
  const peers = conversation.participants.filter((participant) => participant.user !== state.me);
  if (peers.length === 0) return "sent";
  if (peers.every((participant) => participant.read_seq >= seq)) return "read";
  if (peers.every((participant) => participant.delivered_seq >= seq)) return "delivered";
  return "sent";
}

function renderMessages() {
  const summary = state.conversations.get(state.selected);
  const posts = [...(state.entries.get(state.selected)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren(...posts.map((post) => {
    const mine = post.sender === state.me;
    const tick = mine && summary ? tickOf(summary.conversation, post.seq) : null;
    const deleted = Boolean(post.deleted_at);
    return element("li", { class: [mine ? "mine" : "", deleted ? "deleted" : ""].join(" "), "data-seq": String(post.seq), "data-sender": post.sender },
      element("div", { class: "meta" }, mine ? "" : post.sender),
      element("span", { class: "bubble content" }, deleted ? "message deleted" : post.content),
      element("div", { class: "reactions" }, ...post.reactions.map((r) => element("span", { "data-emoji": r.emoji, title: r.users.join(", ") }, `${r.emoji} ${r.users.length}`))),
      element("div", { class: "meta" },
        new Date(post.created_at).toLocaleTimeString(), post.edited_at && !deleted ? " · edited" : "",
        tick ? element("span", { class: `tick ${tick}`, "data-tick": tick }, tick === "sent" ? " ✓" : tick === "delivered" ? " ✓✓" : " ✓✓ read") : null,
        deleted ? null : element("span", { class: "actions" },
          element("button", { class: "plain react", onclick: guard("app-error", () => toggleReaction(post, "👍")) }, "👍"),
          mine ? element("button", { class: "plain edit", onclick: () => editPost(post) }, "edit") : null,
          mine ? element("button", { class: "plain delete", onclick: guard("app-error", () => state.chat.delete(post.conversation, post.seq)) }, "delete") : null)));
  }));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function toggleReaction(post, emoji) {
  const mine = post.reactions.some((r) => r.emoji === emoji && r.users.includes(state.me));
  if (mine) await state.chat.unreact(post.conversation, post.seq, emoji);
  else await state.chat.react(post.conversation, post.seq, emoji);
}

/** Puts the post in the composer: the next submit edits it (Escape, or an empty text, cancels). */
function editPost(post) {
  state.editing = post;
  $("composer-input").value = post.content;
  $("composer-input").focus();
  $("send-button").textContent = "Save";
}

function stopEditing() {
  state.editing = null;
  $("send-button").textContent = "Send";
}

/** Marks the open conversation read up to its newest seq, when the page is visible. */
function markRead() {
  const summary = state.conversations.get(state.selected);
  if (!summary || document.visibilityState === "hidden") return;
  const seq = summary.conversation.last_seq;
  const me = summary.conversation.participants.find((participant) => participant.user === state.me);
  summary.unread = 0;
  renderList();
  if (seq > 0 && (!me || me.read_seq < seq)) state.chat.mark(summary.conversation.id, { read: seq }).catch(() => {});
}

function receiptArrived(receipt) {
  const summary = state.conversations.get(receipt.conversation);
  if (!summary) return;
  const participant = summary.conversation.participants.find((p) => p.user === receipt.user);
  if (participant) {
    participant.delivered_seq = Math.max(participant.delivered_seq, receipt.delivered_seq);
    participant.read_seq = Math.max(participant.read_seq, receipt.read_seq);
  }
  if (receipt.conversation === state.selected) renderMessages();
}

// MARK: Typing

function typingArrived({ conversation, user, expires_in_ms }) {
  const typists = state.typing.get(conversation) ?? new Map();
  state.typing.set(conversation, typists);
  clearTimeout(typists.get(user));
  typists.set(user, setTimeout(() => clearTyping(conversation, user), expires_in_ms));
  renderTyping();
}

function clearTyping(conversation, user) {
  const typists = state.typing.get(conversation);
  if (!typists?.has(user)) return;
  clearTimeout(typists.get(user));
  typists.delete(user);
  renderTyping();
}

function renderTyping() {
  const typists = [...(state.typing.get(state.selected)?.keys() ?? [])];
  $("typing").textContent = typists.length === 0 ? "" : `${typists.join(", ")} ${typists.length === 1 ? "is" : "are"} typing…`;
}

// MARK: Support desk

function renderDesk() {
  const requests = [...state.desk.values()].filter((request) => request.status !== "closed").sort((a, b) => a.created_at - b.created_at);
  $("desk").replaceChildren(...requests.map((request) => {
    const handled = request.agent && request.agent !== state.me;
    return element("li", { "data-request": request.id, "data-status": handled ? "handled" : request.agent ? "mine" : "waiting" },
      element("span", {}, `${request.customer}: ${request.subject ?? "(no subject)"}`),
      handled ? element("span", { class: "muted handled" }, `handled by ${request.agent}`)
        : request.agent ? element("span", { class: "muted" }, "yours")
          : element("button", { class: "claim", onclick: guard("app-error", () => claim(request)) }, "Claim"));
  }));
}

async function claim(request) {
  const reply = await state.chat.request("support.claim", { request: request.id });
  state.desk.set(reply.request.id, reply.request);
  renderDesk();
  if (reply.outcome === "won") {
    upsert(reply.conversation);
    renderList();
    await select(reply.conversation.id);
  }
}

// MARK: Wiring

$("signin-button").addEventListener("click", guard("signin-error", () => signIn(
  $("user").value.trim(), $("agent").checked ? $("agent-workspace").value.trim() : null)));
$("user").addEventListener("keydown", (event) => { if (event.key === "Enter") $("signin-button").click(); });

$("direct-button").addEventListener("click", guard("app-error", async () => {
  const { conversation } = await state.chat.createDirect($("direct-user").value.trim());
  upsert(conversation);
  $("direct-user").value = "";
  await refreshPresence();
  await select(conversation.id);
}));

$("group-button").addEventListener("click", guard("app-error", async () => {
  const members = $("group-members").value.split(",").map((user) => user.trim()).filter(Boolean);
  const { conversation } = await state.chat.createGroup($("group-title").value.trim(), members);
  upsert(conversation);
  $("group-title").value = "";
  $("group-members").value = "";
  await select(conversation.id);
}));

$("support-button").addEventListener("click", guard("app-error", async () => {
  const workspace = $("agent-workspace").value.trim() || "demo";
  const reply = await state.chat.request("support.open", { workspace, content: $("support-text").value, subject: $("support-text").value.slice(0, 60) });
  $("support-text").value = "";
  upsert(reply.conversation);
  await select(reply.conversation.id);
}));

$("composer").addEventListener("submit", guard("app-error", async () => {
  const input = $("composer-input");
  const content = input.value;
  const editing = state.editing;
  stopEditing();
  input.value = "";
  if (!content.trim() || !state.selected) return;
  if (editing) {
    if (content !== editing.content) await state.chat.edit(editing.conversation, editing.seq, content);
  } else {
    await state.chat.send(state.selected, content);
  }
}));

$("composer-input").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.editing) { stopEditing(); event.target.value = ""; }
});

$("composer-input").addEventListener("input", () => {
  const now = Date.now();
  if (!state.selected || now - state.lastTyping < 1000) return;
  state.lastTyping = now;
  state.chat.typing(state.selected).catch(() => {});
});

document.addEventListener("visibilitychange", markRead);

const kept = JSON.parse(sessionStorage.getItem("switchboard-demo") ?? "null");
if (kept) {
  signIn(kept.user, kept.agentOf).catch((error) => showError("signin-error", error));
}
