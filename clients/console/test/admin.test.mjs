// The admin page in headless Chromium against two nodes sharing one Redis and one PostgreSQL
// (scripts/console-test.sh provides them): it lists both nodes and each one's connections, and a
// dead letter the test makes (an away notice whose webhook fails) is retried from it and delivered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { TestNode } from "../../js/test/node.mjs";
import { Switchboard } from "../../js/switchboard.js";
import { Browser, output } from "./browser.mjs";

const database = process.env.SWITCHBOARD_CONSOLE_DATABASE_URL;
const redis = process.env.SWITCHBOARD_CONSOLE_REDIS_URL;

test("the admin page lists both nodes of a cluster with their connections, and retries a dead letter", async (t) => {
  assert.ok(database && redis, "needs SWITCHBOARD_CONSOLE_DATABASE_URL and SWITCHBOARD_CONSOLE_REDIS_URL: run scripts/console-test.sh");
  // The away-notice webhook: failing until the test says otherwise.
  let healthy = false;
  const delivered = [];
  const hook = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => { body += chunk; });
    request.on("end", () => {
      if (healthy) delivered.push(JSON.parse(body));
      response.writeHead(healthy ? 200 : 500).end();
    });
  });
  await new Promise((resolve) => hook.listen(0, "127.0.0.1", resolve));
  const cluster = [
    "--database-url", database, "--redis-url", redis, "--redis-prefix", `console${process.pid}`, "--admin-report-interval-ms", "500",
    "--notify-webhook-url", `http://127.0.0.1:${hook.address().port}/hook`, "--notify-webhook-secret", "console-test-webhook-secret",
    "--notify-delay-ms", "100", "--jobs-retry-notify-attempts", "1",
  ];
  const one = new TestNode(["--node-id", "console-one", ...cluster]);
  const two = new TestNode(["--node-id", "console-two", ...cluster]);
  const [urlOne, urlTwo] = [await one.start(), await two.start()];
  const browser = await Browser.launch();
  const sessions = [];
  t.after(async () => {
    for (const session of sessions) session.close();
    await browser.close();
    await one.remove();
    await two.remove();
    hook.close();
  });

  // alice on node one, carol on node two; bob never connects, so a post to him makes an away notice.
  const alice = new Switchboard({ url: urlOne, token: one.token("alice") });
  const carol = new Switchboard({ url: urlTwo, token: two.token("carol") });
  sessions.push(alice, carol);
  await alice.connect();
  await carol.connect();
  const { conversation } = await alice.createDirect("bob");
  await alice.send(conversation.id, "are you there?");

  const admin = await browser.newPage(`${urlTwo}/admin`);
  await admin.fill("#token", two.token("ops", ["admin"]));
  await admin.click("#signin-button");
  await admin.waitFor(`["console-one", "console-two"].every((node) => document.querySelector(\`#nodes tr[data-node="\${node}"]\`)?.textContent.includes("ready"))`, "both nodes listed, ready");
  await admin.waitFor(`document.querySelector('#sessions tr[data-node="console-one"][data-user="alice"]') && document.querySelector('#sessions tr[data-node="console-two"][data-user="carol"]')`, "each node's connection listed under it");
  await admin.waitFor(`document.querySelector("#dead-letters tbody tr[data-job]")?.textContent.includes("notify")`, "the failed notice listed as a dead letter");
  assert.match(await admin.text("#queue"), /dead letters: 1/);
  await admin.screenshot(output, "admin-dead-letter");

  healthy = true;
  await admin.click("#dead-letters tbody tr[data-job] .retry");
  await admin.waitFor(`document.querySelector("#queue").textContent.includes("dead letters: 0") && !document.querySelector("#dead-letters tbody tr")`, "the dead letter gone from the page");
  const deadline = Date.now() + 30000;
  while (delivered.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(delivered.length, 1, "the retried notice reached the webhook");
  assert.equal(delivered[0].conversation.id, conversation.id);
  assert.deepEqual(delivered[0].recipients.map((recipient) => recipient.user), ["bob"]);
  await admin.screenshot(output, "admin-retried");
  assert.deepEqual(admin.errors, [], "no page error");
});
