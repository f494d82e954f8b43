// The admin page (served at /admin): the cluster as the admin API reports it (every node answers for
// all of them), refreshed every few seconds. The token stays in this tab's sessionStorage.
import { SwitchboardREST } from "/client/v1/switchboard.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;
let api = null;
let timer = null;
let previous = new Map(); // node → {at, frames_in, events_out}

function cell(...children) {
  const td = document.createElement("td");
  td.append(...children.filter((child) => child !== null && child !== undefined).map(String));
  return td;
}

function row(attributes, ...cells) {
  const tr = document.createElement("tr");
  for (const [key, value] of Object.entries(attributes)) tr.setAttribute(key, value);
  tr.append(...cells);
  return tr;
}

function rate(node, field) {
  const before = previous.get(node.node);
  if (!before || node.reported_at <= before.reported_at) return "–";
  return ((node[field] - before[field]) / ((node.reported_at - before.reported_at) / 1000)).toFixed(1);
}

function renderNodes(nodes) {
  $("nodes").tBodies[0].replaceChildren(...nodes.map((node) => {
    const errors = Object.entries(node.errors).filter(([, count]) => count > 0).map(([code, count]) => `${code} ${count}`).join(", ") || "none";
    return row({ "data-node": node.node },
      cell(node.node), cell(node.engine), cell(node.ready ? "ready" : "not ready"), cell(new Date(node.started_at).toLocaleString()),
      cell(node.connections), cell(node.sessions), cell(node.users), cell(rate(node, "frames_in")), cell(rate(node, "events_out")), cell(errors));
  }));
  previous = new Map(nodes.map((node) => [node.node, node]));
  const sessions = nodes.flatMap((node) => node.sessions_listed.map((session) => ({ ...session, node: node.node })))
    .sort((a, b) => a.user.localeCompare(b.user) || a.node.localeCompare(b.node));
  $("sessions").tBodies[0].replaceChildren(...sessions.map((session) =>
    row({ "data-node": session.node, "data-user": session.user },
      cell(session.user), cell(session.node), cell(session.connection), cell(new Date(session.connected_at).toLocaleTimeString()))));
  const listed = sessions.length;
  const total = nodes.reduce((sum, node) => sum + node.sessions, 0);
  const users = new Set(sessions.map((session) => session.user)).size;
  $("sessions-note").textContent = `${total} connections on ${nodes.length} nodes; ${users} users online among the ${listed} listed`;
}

function renderJobs(jobs) {
  const pending = Object.entries(jobs.pending).map(([kind, count]) => `${kind} ${count}`).join(", ") || "none";
  const due = jobs.earliest_due_at ? `, oldest due ${new Date(jobs.earliest_due_at).toLocaleTimeString()}` : "";
  $("queue").textContent = `pending: ${pending}${due}; dead letters: ${jobs.dead_letter_count}`;
  $("dead-letters").tBodies[0].replaceChildren(...jobs.dead_letters.map((job) => {
    const actions = document.createElement("td");
    for (const [label, action] of [["Retry", () => api.call("POST", `/v1/admin/jobs/dead/${encodeURIComponent(job.id)}/retry`)],
      ["Drop", () => api.call("DELETE", `/v1/admin/jobs/dead/${encodeURIComponent(job.id)}`)]]) {
      const button = document.createElement("button");
      button.textContent = label;
      button.className = `plain ${label.toLowerCase()}`;
      button.addEventListener("click", () => act(action));
      actions.append(button);
    }
    return row({ "data-job": job.id }, cell(job.id), cell(job.kind), cell(job.attempts),
      cell(job.payload ?? `${job.payload_bytes} bytes`), actions);
  }));
}

async function act(action) {
  try {
    await action();
    await refresh();
  } catch (error) {
    $("error").textContent = `${error.code}: ${error.message}`;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [{ nodes }, jobs] = await Promise.all([api.call("GET", "/v1/admin/nodes"), api.call("GET", "/v1/admin/jobs")]);
    renderNodes(nodes);
    renderJobs(jobs);
    $("error").textContent = "";
    $("status").textContent = `${nodes.length} node${nodes.length === 1 ? "" : "s"}`;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("error").textContent = `${error.code}: ${error.message}`;
    if (error.code === "unauthorized" || error.code === "forbidden") return signOut(error);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

async function open(token) {
  api = new SwitchboardREST({ url: location.origin, token });
  await api.call("GET", "/v1/admin/nodes");
  sessionStorage.setItem("switchboard-admin-token", token);
  $("signin").classList.add("hidden");
  $("console").classList.remove("hidden");
  await refresh();
}

function signOut(error) {
  clearTimeout(timer);
  sessionStorage.removeItem("switchboard-admin-token");
  $("console").classList.add("hidden");
  $("signin").classList.remove("hidden");
  $("status").textContent = "signed out";
  $("signin-error").textContent = error ? `${error.code}: ${error.message}` : "";
}

$("signin-button").addEventListener("click", () => open($("token").value.trim()).catch((error) => {
  $("signin-error").textContent = `${error.code}: ${error.message}`;
}));
$("refresh").addEventListener("click", () => refresh());
$("signout").addEventListener("click", () => signOut(null));

const kept = sessionStorage.getItem("switchboard-admin-token");
if (kept) open(kept).catch((error) => signOut(error));
