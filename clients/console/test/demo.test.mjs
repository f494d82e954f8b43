// The demo chat page in headless Chromium against a real node (embedded engine, demo on by default):
// two users chat both ways with typing, read ticks, an edit, a reaction and a deletion, one reloads
// and gets its history and what it missed, and a support request is claimed by one agent while
// another agent's page shows it handled.
// Screenshots of every page go to $SWITCHBOARD_TEST_OUTPUT (default .build/test-output/console).
import { test } from "node:test";
import assert from "node:assert/strict";
import { TestNode } from "../../js/test/node.mjs";
import { Browser, output } from "./browser.mjs";

async function signIn(page, user, agentOf) {
  await page.fill("#user", user);
  if (agentOf) {
    await page.evaluate(`document.querySelector("#agent").checked = true`);
    await page.fill("#agent-workspace", agentOf);
  }
  await page.click("#signin-button");
  await page.waitFor(`!document.querySelector("#app").classList.contains("hidden") && document.querySelector("#status").textContent === "connected"`, `${user} signed in`);
}

/** The contents of the open conversation's posts, in order. */
const shown = `[...document.querySelectorAll("#messages li .content")].map((node) => node.textContent).join("|")`;
const row = (preview) => `[...document.querySelectorAll("#conversations li")].find((li) => li.querySelector(".preview").textContent === ${JSON.stringify(preview)})`;

async function send(page, text) {
  await page.fill("#composer-input", text);
  await page.click("#send-button");
}

test("two pages chat both ways with typing, read ticks, edits, reactions and deletions; a reload gets the history and what it missed", async (t) => {
  const node = new TestNode();
  const url = await node.start();
  const browser = await Browser.launch();
  t.after(async () => { await browser.close(); await node.remove(); });
  const alice = await browser.newPage(`${url}/demo`);
  const bob = await browser.newPage(`${url}/demo`);
  await signIn(alice, "alice");
  await signIn(bob, "bob");

  await alice.fill("#direct-user", "bob");
  await alice.click("#direct-button");
  await alice.waitFor(`document.querySelector("#title").textContent === "bob"`, "alice's chat with bob open");
  await alice.waitFor(`document.querySelector("#peer-presence").dataset.online === "true"`, "bob shown online to alice");
  await send(alice, "hello bob");
  await alice.waitFor(`${shown} === "hello bob"`, "alice's post shown once");

  // bob's list shows the conversation with its unread count and preview; opening it reads it.
  await bob.waitFor(`${row("alice: hello bob")}?.querySelector(".unread")?.textContent === "1"`, "bob's unread count and preview");
  await bob.evaluate(`${row("alice: hello bob")}.click(), true`);
  await bob.waitFor(`${shown} === "hello bob"`, "bob reads alice's post");
  await alice.waitFor(`document.querySelector("#messages li.mine [data-tick]")?.dataset.tick === "read"`, "alice sees her post read");
  assert.equal(await bob.evaluate(`${row("alice: hello bob")}.querySelector(".unread")`), null, "read: no unread count left");

  // bob types: alice sees it; bob's post ends it and arrives.
  await bob.fill("#composer-input", "hi al");
  await alice.waitFor(`document.querySelector("#typing").textContent === "bob is typing…"`, "alice sees bob typing");
  await send(bob, "hi alice");
  await alice.waitFor(`${shown} === "hello bob|hi alice"`, "bob's answer at alice's");
  await alice.waitFor(`document.querySelector("#typing").textContent === ""`, "typing ends with the post");
  await bob.waitFor(`[...document.querySelectorAll("#messages li.mine [data-tick]")].map((n) => n.dataset.tick).join() === "read"`, "bob's post read by alice, who has it open");

  // An edit, a reaction and a deletion reach the other page.
  await alice.click(`#messages li[data-seq="1"] .edit`);
  await send(alice, "hello bob!");
  await bob.waitFor(`document.querySelector('#messages li[data-seq="1"]')?.textContent.includes("hello bob!") && document.querySelector('#messages li[data-seq="1"]').textContent.includes("edited")`, "alice's edit at bob's");
  await bob.click(`#messages li[data-seq="1"] .react`);
  await alice.waitFor(`document.querySelector('#messages li[data-seq="1"] [data-emoji="👍"]')?.textContent === "👍 1"`, "bob's reaction at alice's");
  await send(alice, "oops");
  await bob.waitFor(`${shown} === "hello bob!|hi alice|oops"`, "the post to take back at bob's");
  const oops = await alice.waitFor(`[...document.querySelectorAll("#messages li")].find((li) => li.textContent.includes("oops"))?.dataset.seq`, "alice's post to take back");
  await alice.click(`#messages li[data-seq="${oops}"] .delete`);
  await bob.waitFor(`${shown} === "hello bob!|hi alice|message deleted"`, "the deletion at bob's");
  await alice.screenshot(output, "demo-alice");
  await bob.screenshot(output, "demo-bob");

  // bob's page goes away; alice posts; bob's page comes back (same tab: it signs bob in again).
  await bob.goto("about:blank");
  await send(alice, "while you were away");
  await send(alice, "and this too");
  await alice.waitFor(`${shown} === "hello bob!|hi alice|message deleted|while you were away|and this too"`, "alice's posts shown");
  await bob.goto(`${url}/demo`);
  await bob.waitFor(`document.querySelector("#status").textContent === "connected"`, "bob signed in again after the reload");
  await bob.waitFor(`${row("alice: and this too")}?.querySelector(".unread")?.textContent === "2"`, "what bob missed counted once each");
  await bob.evaluate(`${row("alice: and this too")}.click(), true`);
  await bob.waitFor(`${shown} === "hello bob!|hi alice|message deleted|while you were away|and this too"`, "bob's history after the reload, each post once, as edited and deleted");
  assert.equal(await bob.text(`#messages li[data-seq="1"] [data-emoji="👍"]`), "👍 1", "the reaction in the history");
  await alice.waitFor(`[...document.querySelectorAll("#messages li.mine [data-tick]")].map((n) => n.dataset.tick).join() === "read,read,read,read"`, "everything alice sent read");
  await bob.screenshot(output, "demo-bob-after-reload");
  assert.deepEqual([...alice.errors, ...bob.errors], [], "no page error");
});

test("an agent claims a support request and another agent's page shows it handled", async (t) => {
  const node = new TestNode();
  const url = await node.start();
  const browser = await Browser.launch();
  t.after(async () => { await browser.close(); await node.remove(); });
  const dave = await browser.newPage(`${url}/demo`);
  const erin = await browser.newPage(`${url}/demo`);
  const carol = await browser.newPage(`${url}/demo`);
  await signIn(dave, "dave", "demo");
  await signIn(erin, "erin", "demo");
  await signIn(carol, "carol");

  await carol.fill("#support-text", "My order is late");
  await carol.click("#support-button");
  await carol.waitFor(`${shown} === "My order is late"`, "carol's request opened as a conversation");
  for (const agent of [dave, erin]) {
    await agent.waitFor(`document.querySelector("#desk li[data-status=waiting]")?.textContent.includes("carol: My order is late")`, "the request queued at every agent");
  }
  await dave.click("#desk li[data-status=waiting] .claim");
  await dave.waitFor(`${shown} === "My order is late"`, "dave holds the conversation");
  await erin.waitFor(`document.querySelector("#desk li[data-status=handled] .handled")?.textContent === "handled by dave"`, "erin sees it handled by dave");
  await send(dave, "On it");
  await carol.waitFor(`${shown} === "My order is late|On it"`, "carol gets the agent's answer");
  await carol.screenshot(output, "support-carol");
  await dave.screenshot(output, "support-dave");
  await erin.screenshot(output, "support-erin");
  assert.deepEqual([...dave.errors, ...erin.errors, ...carol.errors], [], "no page error");
});
