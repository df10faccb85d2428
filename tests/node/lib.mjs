// lib.mjs: what the node tests share: a real readstated on ephemeral
// loopback ports (started per test, stopped by PID with SIGTERM, exit 0
// checked), named checks that report each outcome and keep going, bounded
// waits, and comparison helpers.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

// ---- arguments: --name value ------------------------------------------------

export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const val = i + 1 < argv.length && !argv[i + 1].startsWith("--") ? argv[++i] : "1";
    (out[key] ??= []).push(val);
  }
  const one = (k, def) => (out[k] ? out[k][out[k].length - 1] : def);
  return { one, all: (k) => out[k] ?? [] };
}

// ---- processes we started, stopped on any exit ------------------------------

const children = new Set();

function killAll() {
  for (const c of children) {
    try {
      process.kill(c.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  children.clear();
}

process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`node test: ${sig}, stopping what it started`);
    killAll();
    process.exit(1);
  });
}

// An error nobody listened for (such as an HTTP/2 session's 'error' when the
// port does not speak HTTP/2) is reported as a failure; the checks go on.
const uncaught = [];
process.on("uncaughtException", (e) => {
  uncaught.push(describe(e));
  console.log(`UNCAUGHT ${describe(e)}`);
});
process.on("unhandledRejection", (e) => {
  uncaught.push(describe(e));
  console.log(`UNHANDLED REJECTION ${describe(e)}`);
});

export function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn() (sync or async) every `every` ms until it returns a truthy value
// or `ms` pass; returns that value, or undefined on timeout.
export async function until(fn, ms, every = 20) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100000; i++) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) return undefined;
    await sleep(every);
  }
  return undefined;
}

// ---- readstated ---------------------------------------------------------------

// Start `bin` with --listen/--http on 127.0.0.1:0 and port files, memory-only.
export async function startServer(bin, extraArgs = []) {
  if (!bin || !existsSync(bin)) throw new Error(`readstated binary not found: ${bin}`);
  const dir = mkdtempSync(join(tmpdir(), "rs-node-"));
  const tcpFile = join(dir, "tcp.port");
  const httpFile = join(dir, "http.port");
  const args = ["--listen", "127.0.0.1:0", "--port-file", tcpFile, "--http", "127.0.0.1:0",
                "--http-port-file", httpFile, ...extraArgs];
  // A .mjs "binary" is reference-server.mjs (selftest.mjs), run with this node.
  const child = track(bin.endsWith(".mjs")
    ? spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    : spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] }));
  const lines = [];
  const keep = (buf) => {
    for (const l of buf.toString().split("\n")) if (l) lines.push(l);
    if (lines.length > 400) lines.splice(0, lines.length - 400);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exit = null;
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => resolve((exit = { code, signal }))));
  const readPort = (f) => {
    try {
      const n = parseInt(readFileSync(f, "utf8"), 10);
      return n > 0 && n < 65536 ? n : 0;
    } catch {
      return 0;
    }
  };
  const ready = await until(() => exit !== null || (readPort(tcpFile) && readPort(httpFile)), 10000);
  if (!ready || exit !== null) {
    try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`readstated ${args.join(" ")} did not start (exit ${JSON.stringify(exit)}):\n` +
                    lines.slice(-30).join("\n"));
  }
  const srv = {
    pid: child.pid,
    args,
    tcpPort: readPort(tcpFile),
    httpPort: readPort(httpFile),
    get baseUrl() { return `http://127.0.0.1:${this.httpPort}`; },
    log: () => lines.join("\n"),
    // SIGTERM by PID; the server must exit 0 within 15 s.
    async stop() {
      if (exit === null) process.kill(child.pid, "SIGTERM");
      const t = await Promise.race([exited, sleep(15000).then(() => null)]);
      rmSync(dir, { recursive: true, force: true });
      if (t === null) {
        try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
        throw new Error("readstated did not exit within 15 s of SIGTERM");
      }
      if (t.code !== 0)
        throw new Error(`readstated exited ${JSON.stringify(t)} after SIGTERM, not 0:\n` +
                        lines.slice(-20).join("\n"));
    },
  };
  console.log(`readstated pid ${srv.pid}: tcp ${srv.tcpPort}, http ${srv.httpPort}` +
              (extraArgs.length ? ` (${extraArgs.join(" ")})` : ""));
  return srv;
}

// A plain HTTP/1.1 request (for /metrics, CORS headers): resolves
// {status, headers, body}. Bounded by `ms`.
export function httpRequest(port, method, path, headers = {}, body = null, ms = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers,
                                      body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
    req.setTimeout(ms, () => req.destroy(new Error(`${method} ${path}: no answer within ${ms} ms`)));
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

// A gauge or counter from /metrics (the first sample of that name).
export async function metric(port, name) {
  const r = await httpRequest(port, "GET", "/metrics");
  if (r.status !== 200) throw new Error(`/metrics: HTTP ${r.status}`);
  const m = r.body.toString().match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m"));
  if (!m) throw new Error(`/metrics has no ${name}`);
  return Number(m[1]);
}

// ---- named checks ---------------------------------------------------------------

export class Checks {
  constructor(title) {
    this.title = title;
    this.results = [];
  }

  // Run one check; a throw fails it (with its message) and the run goes on.
  async check(name, fn, ms = 30000) {
    const t0 = Date.now();
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`check did not finish within ${ms} ms`)), ms);
        }),
      ]);
      this.results.push({ name, ok: true });
      console.log(`ok     ${name} (${Date.now() - t0} ms)`);
      return true;
    } catch (e) {
      this.results.push({ name, ok: false, error: describe(e) });
      console.log(`FAILED ${name} (${Date.now() - t0} ms): ${describe(e)}`);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  fail(name, why) {
    this.results.push({ name, ok: false, error: why });
    console.log(`FAILED ${name}: ${why}`);
  }

  // Print the summary and exit: 0 only if every check passed (and at least one ran).
  finish() {
    if (uncaught.length)
      this.fail("no uncaught exception or unhandled rejection (connect-node raises a failed " +
                "HTTP/2 session's 'error' there)", [...new Set(uncaught)].join("; ") +
                ` (${uncaught.length} times)`);
    const bad = this.results.filter((r) => !r.ok);
    console.log(`\n${this.title}: ${this.results.length - bad.length} of ${this.results.length} checks passed`);
    for (const r of bad) console.log(`  FAILED ${r.name}: ${r.error}`);
    process.exit(bad.length === 0 && this.results.length > 0 ? 0 : 1);
  }
}

export function describe(e) {
  if (e === undefined || e === null) return String(e);
  if (typeof e !== "object") return String(e);
  let s = e.name === "ConnectError" || e.code !== undefined && e.rawMessage !== undefined
    ? `ConnectError code=${e.code} (${codeName(e.code)}) message=${JSON.stringify(e.rawMessage ?? e.message)}`
    : `${e.name ?? "Error"}: ${e.message}`;
  let c = e.cause;
  for (let i = 0; c && i < 4; i++, c = c.cause)
    s += ` <- ${c.name ?? "Error"}${c.code ? `[${c.code}]` : ""}: ${c.message ?? String(c)}`;
  return s;
}

const CODE_NAMES = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
  "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
  "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
  "Unauthenticated"];
export const codeName = (c) => CODE_NAMES[c] ?? `code ${c}`;

// ---- assertions -------------------------------------------------------------------

const show = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));

export function eq(actual, expected, what) {
  if (show(actual) !== show(expected))
    throw new Error(`${what}: got ${show(actual)}, want ${show(expected)}`);
}

export function ok(cond, what) {
  if (!cond) throw new Error(what);
}

// The plain fields of a ReadState (what a message compares by).
export function stateOf(s) {
  if (!s) return null;
  return { channelId: s.channelId, lastMessageId: s.lastMessageId, mentionCount: s.mentionCount,
           flags: s.flags, version: s.version };
}

// Expect `p` to reject with a ConnectError of `code` whose message contains
// each of `words`; returns the error.
export async function rejects(p, code, words, what) {
  let err = null;
  try {
    const v = await p;
    throw new Error(`${what}: succeeded (${show(v)}), want ${codeName(code)}`);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith(`${what}: succeeded`)) throw e;
    err = e;
  }
  if (err.code !== code)
    throw new Error(`${what}: want ${codeName(code)}, got ${describe(err)}`);
  const msg = err.rawMessage ?? err.message;
  for (const w of words)
    if (!msg.includes(w)) throw new Error(`${what}: the message ${JSON.stringify(msg)} does not name ${w}`);
  return err;
}
