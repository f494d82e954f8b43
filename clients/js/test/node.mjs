// A real Switchboard node for the client's tests: the debug binary `make test` builds, on the embedded
// engine in a temporary directory, started, stopped (SIGTERM: it drains) and started again on its port.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const binary = process.env.SWITCHBOARD_BINARY ?? join(root, ".build", "debug", "switchboard");
const secret = "js-client-tests-secret-0123456789abcdef";

export class TestNode {
  constructor(extra = []) {
    this.directory = mkdtempSync(join(tmpdir(), "sb-js-"));
    this.extra = extra;
    this.port = 0;
    this.process = null;
  }

  /** Starts the node (on the port it had, after a stop) and resolves with its base URL once it listens. */
  start() {
    const args = ["serve", "--http-port", String(this.port), "--data-dir", this.directory, "--auth-secret", secret,
      "--limits-rate-messages", "100000", "--limits-rate-burst", "100000", ...this.extra];
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.process = child;
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    return new Promise((resolve, reject) => {
      let output = "";
      const seen = (chunk) => {
        output += chunk;
        const match = output.match(/http=http:\/\/127\.0\.0\.1:(\d+)/);
        if (match) {
          this.port = Number(match[1]);
          child.stdout.off("data", seen);
          child.stderr.off("data", seen);
          resolve(this.url);
        }
      };
      child.stdout.on("data", seen);
      child.stderr.on("data", seen);
      child.once("exit", (code) => reject(new Error(`the node exited (${code}) before listening:\n${output}`)));
    });
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  /** SIGTERM (the node drains: readiness off, the `reconnect` advisory, then 1012) and waits for the exit. */
  async stop() {
    if (!this.process) return;
    this.process.kill("SIGTERM");
    const exit = await this.exited;
    this.process = null;
    return exit;
  }

  async remove() {
    if (this.process) {
      this.process.kill("SIGKILL");
      await this.exited;
    }
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** A token for `user` (with `roles`, if any), minted by the node's CLI with the node's key. */
  token(user, roles = []) {
    const extra = roles.length > 0 ? ["--roles", roles.join(",")] : [];
    return execFileSync(binary, ["token", "--user", user, "--auth-secret", secret, ...extra], { encoding: "utf8" }).trim();
  }
}

/** Resolves once `condition()` holds, checking as events arrive (every 10 ms), or rejects after `timeoutMs`. */
export async function eventually(what, condition, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
