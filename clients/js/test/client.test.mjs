// The JavaScript client against a real node (node --test; `make test` runs it after building the node).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Switchboard, SwitchboardError, SwitchboardREST } from "../switchboard.js";
import { TestNode, eventually } from "./node.mjs";

/** A node for one test, removed (with its data) when the test ends. */
async function startNode(t, extra) {
  const node = new TestNode(extra);
  t.after(() => node.remove());
  await node.start();
  return node;
}

/** A session for `user` on `node` that records every entry the application is shown, in order. */
function session(node, user, options = {}) {
  const chat = new Switchboard({ url: node.url, token: () => node.token(user), backoff: { baseMs: 50, capMs: 500 }, ...options });
  chat.shown = [];
  chat.statuses = [];
  for (const type of ["message.new", "message.edited", "message.deleted", "reaction.added", "reaction.removed"]) {
    chat.on(type, (payload) => chat.shown.push(payload.message));
  }
  chat.on("status", ({ status }) => chat.statuses.push(status));
  return chat;
}

const seqs = (chat, conversation) => chat.shown.filter((m) => m.conversation === conversation).map((m) => m.seq);
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

test("two users chat; refusals are typed errors with the documented codes", async (t) => {
  const node = await startNode(t);
  const alice = session(node, "alice"), bob = session(node, "bob");
  await Promise.all([alice.connect(), bob.connect()]);
  const { conversation } = await alice.createDirect("bob");
  const sent = await alice.send(conversation.id, "hello bob");
  assert.equal(sent.seq, 1);
  await bob.send(conversation.id, "hello alice");
  await eventually("both see both posts", () => seqs(alice, conversation.id).length === 2 && seqs(bob, conversation.id).length === 2);
  assert.deepEqual(bob.shown.map((m) => m.content), ["hello bob", "hello alice"]);
  // The same events through the async iterator, which ends when the session closes.
  const iterated = [];
  const reading = (async () => { for await (const event of bob.events()) if (event.type === "message.new") iterated.push(event.payload.message.seq); })();
  await alice.send(conversation.id, "third");
  await eventually("the iterator has the third post", () => iterated.length === 1);

  await assert.rejects(alice.conversation("c_doesnotexist"), (error) => error instanceof SwitchboardError && error.code === "not_found");
  await assert.rejects(alice.createGroup("", []), (error) => error instanceof SwitchboardError && error.code === "validation");
  await assert.rejects(alice.send(conversation.id, ""), (error) => error.code === "validation");
  const rest = new SwitchboardREST({ url: node.url, token: "not-a-token" });
  await assert.rejects(rest.conversations(), (error) => error.code === "unauthorized" && error.status === 401);
  alice.close();
  bob.close();
  await reading;
  assert.deepEqual(iterated, [3]);
});

test("a send retried with its client id is stored once, over WebSocket and REST alike", async (t) => {
  const node = await startNode(t);
  const alice = session(node, "alice");
  await alice.connect();
  const { conversation } = await alice.createDirect("carol");
  const first = await alice.send(conversation.id, "once", { clientId: "k-1" });
  const again = await alice.send(conversation.id, "once", { clientId: "k-1" });
  assert.equal(again.seq, first.seq);
  const rest = new SwitchboardREST({ url: node.url, token: node.token("alice") });
  const viaREST = await rest.send(conversation.id, "once", "k-1");
  assert.equal(viaREST.duplicate, true);
  assert.equal(viaREST.message.seq, first.seq);
  const history = await alice.history(conversation.id);
  assert.deepEqual(history.messages.map((m) => m.seq), [first.seq]);
  alice.close();
});

test("after a drain and a restart the session reconnects, resumes, and shows every entry once", async (t) => {
  const node = await startNode(t, ["--drain-grace-ms", "3000", "--drain-jitter-ms", "100"]);
  const alice = session(node, "alice"), bob = session(node, "bob");
  await Promise.all([alice.connect(), bob.connect()]);
  const { conversation } = await alice.createDirect("bob");
  for (let index = 1; index <= 5; index++) await alice.send(conversation.id, `before ${index}`);
  await eventually("bob has 1…5", () => seqs(bob, conversation.id).length === 5);

  const advised = new Promise((resolve) => bob.on("reconnect", resolve));
  const stopped = node.stop();
  const advisory = await advised;
  assert.ok(advisory.delay_ms >= 0, "the drain's advisory names a delay");
  assert.deepEqual(await stopped, { code: 0, signal: null }, "the node drained and exited 0");
  await eventually("bob is reconnecting", () => bob.status === "reconnecting");

  await node.start();
  // alice's sends wait for her session to come back, then are stored once each.
  for (let index = 6; index <= 10; index++) await alice.send(conversation.id, `after ${index}`);
  await eventually("bob has 1…10", () => seqs(bob, conversation.id).length >= 10);
  assert.deepEqual(seqs(bob, conversation.id), range(1, 10), "each entry once, in order");
  assert.ok(bob.statuses.includes("reconnecting") && bob.statuses.at(-1) === "connected");
  alice.close();
  bob.close();
});

test("a new session resumes from kept positions: what was missed, without what was held", async (t) => {
  const node = await startNode(t);
  const alice = session(node, "alice");
  await alice.connect();
  const { conversation } = await alice.createDirect("dave");
  for (let index = 1; index <= 3; index++) await alice.send(conversation.id, `${index}`);
  const dave = session(node, "dave", { markDelivered: false, positions: { [conversation.id]: 1 } });
  await dave.connect();
  await eventually("dave has 2 and 3", () => seqs(dave, conversation.id).length === 2);
  for (let index = 4; index <= 6; index++) await alice.send(conversation.id, `${index}`);
  await eventually("and 4…6 live", () => seqs(dave, conversation.id).length === 5);
  assert.deepEqual(seqs(dave, conversation.id), range(2, 6));
  assert.equal(dave.positions.get(conversation.id), 6);
  alice.close();
  dave.close();
});

test("what the node's redelivery repeats reaches the application once, and a receipt stops it", async (t) => {
  const node = await startNode(t, ["--redeliver-delay-ms", "200", "--jobs-retry-redeliver-base-ms", "200", "--jobs-retry-redeliver-jitter", "0"]);
  const alice = session(node, "alice");
  await alice.connect();
  const { conversation } = await alice.createDirect("erin");
  for (let index = 1; index <= 3; index++) await alice.send(conversation.id, `${index}`);
  // erin's device keeps its deliveries to itself for now: the node sends them again, and again.
  const erin = session(node, "erin", { markDelivered: false });
  // What reaches the socket, before the client's dedupe.
  const wire = [];
  const receive = erin._receive.bind(erin);
  erin._receive = (frame) => {
    if (frame.type === "message.new") wire.push(frame.payload.message.seq);
    receive(frame);
  };
  await erin.connect();
  await eventually("the node sent 1…3 at least twice", () => wire.filter((seq) => seq === 3).length >= 2);
  assert.deepEqual(seqs(erin, conversation.id), [1, 2, 3], "the application saw each once");
  await erin.mark(conversation.id, { delivered: 3 });
  const done = async () => (await (await fetch(`${node.url}/metrics`)).text()).match(/switchboard_jobs_total\{kind="redeliver",result="done"\} (\d+)/)?.[1];
  await eventually("the check found everything acknowledged and ended", async () => Number(await done()) >= 1);
  assert.deepEqual(seqs(erin, conversation.id), [1, 2, 3], "still once each");
  alice.close();
  erin.close();
});
