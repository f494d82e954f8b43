// Headless Chromium driven over the DevTools protocol with Node's own WebSocket: no npm package.
// Each page is a tab in a browser context of its own (its own storage), attached with a flat session.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const chromiumBinary = process.env.CHROMIUM ?? "chromium";
/** Where screenshots go: $SWITCHBOARD_TEST_OUTPUT, by default .build/test-output/console. */
export const output = process.env.SWITCHBOARD_TEST_OUTPUT
  ?? join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", ".build", "test-output", "console");

export class Browser {
  /** Starts Chromium and connects to its DevTools endpoint. */
  static async launch() {
    const profile = mkdtempSync(join(tmpdir(), "sb-chromium-"));
    const child = spawn(chromiumBinary, [
      "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
      "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", `--user-data-dir=${profile}`, "--window-size=1200,800",
      "about:blank",
    ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    const endpoint = await new Promise((resolve, reject) => {
      let output = "";
      const seen = (chunk) => {
        output += chunk;
        const match = output.match(/DevTools listening on (ws:\/\/\S+)/);
        if (match) { child.stderr.off("data", seen); resolve(match[1]); }
      };
      child.stderr.on("data", seen);
      child.once("exit", (code) => reject(new Error(`chromium exited (${code}) before listening:\n${output}`)));
    });
    child.stderr.resume();
    const browser = new Browser(child, profile);
    await browser._connect(endpoint);
    return browser;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.exited = new Promise((resolve) => child.once("exit", resolve));
    this._nextID = 0;
    this._pending = new Map();
    this._events = new Set();
  }

  _connect(endpoint) {
    this.socket = new WebSocket(endpoint);
    this.socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const pending = this._pending.get(message.id);
        this._pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`${pending.method}: ${message.error.message}`));
        else pending?.resolve(message.result);
      } else {
        for (const listener of this._events) listener(message);
      }
    };
    return new Promise((resolve, reject) => {
      this.socket.onopen = resolve;
      this.socket.onerror = () => reject(new Error(`cannot reach chromium at ${endpoint}`));
    });
  }

  /** One DevTools command (on a page's session when `sessionId` is given). */
  send(method, params = {}, sessionId) {
    const id = ++this._nextID;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, method });
      this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /** A new tab, in a browser context of its own, showing `url` once loaded. */
  async newPage(url) {
    const { browserContextId } = await this.send("Target.createBrowserContext");
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank", browserContextId });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId, targetId);
    await this.send("Runtime.enable", {}, sessionId);
    await this.send("Page.enable", {}, sessionId);
    this._events.add((message) => {
      if (message.sessionId !== sessionId) return;
      if (message.method === "Runtime.exceptionThrown") page.errors.push(message.params.exceptionDetails.exception?.description ?? message.params.exceptionDetails.text);
      if (message.method === "Runtime.consoleAPICalled" && message.params.type === "error") page.errors.push(message.params.args.map((a) => a.value ?? a.description).join(" "));
    });
    await page.goto(url);
    return page;
  }

  async close() {
    try { this.socket.close(); } catch {}
    // Chromium's helper processes share its process group: they go with it.
    try { process.kill(-this.child.pid, "SIGKILL"); } catch {}
    await this.exited;
    rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

export class Page {
  constructor(browser, sessionId, targetId) {
    this.browser = browser;
    this.sessionId = sessionId;
    this.targetId = targetId;
    /** Uncaught exceptions and console errors the page reported. */
    this.errors = [];
  }

  send(method, params) { return this.browser.send(method, params, this.sessionId); }

  /** Navigates and waits until the document has loaded. */
  async goto(url) {
    await this.send("Page.navigate", { url });
    await this.waitFor(`document.readyState === "complete" && location.href === ${JSON.stringify(new URL(url).href)}`, `${url} loaded`);
  }

  /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
  async evaluate(expression) {
    const { result, exceptionDetails } = await this.send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
    return result.value;
  }

  /** Waits until `expression` is truthy in the page (checked every 20 ms) and returns its value. */
  async waitFor(expression, what = expression, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
      try {
        last = await this.evaluate(expression);
        if (last) return last;
      } catch (error) {
        last = error.message;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)}; page errors: ${JSON.stringify(this.errors)})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Types `text` into the element `selector` names (as input events) and optionally clicks `button`. */
  async fill(selector, text) {
    await this.evaluate(`(() => { const input = document.querySelector(${JSON.stringify(selector)}); input.focus(); input.value = ${JSON.stringify(text)};
      input.dispatchEvent(new Event("input", { bubbles: true })); return true; })()`);
  }

  async click(selector) {
    await this.waitFor(`document.querySelector(${JSON.stringify(selector)}) && !document.querySelector(${JSON.stringify(selector)}).disabled`, `${selector} to click`);
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).click(), true`);
  }

  text(selector) {
    return this.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`);
  }

  /** Writes a PNG of the page to `directory/name.png`. */
  async screenshot(directory, name) {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" });
    mkdirSync(directory, { recursive: true });
    const path = join(directory, `${name}.png`);
    writeFileSync(path, Buffer.from(data, "base64"));
    return path;
  }
}
