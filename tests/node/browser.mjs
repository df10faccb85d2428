// browser.mjs: connect-web in headless Chromium against readstated's HTTP
// port from another origin, with and without CORS.
//
//   node browser.mjs --readstated BIN --mode allowed|refused [--chromium PATH]
//
// A static HTTP server of this script (node:http, 127.0.0.1:0) serves
// www/index.html and www/bundle.js (page.mjs bundled with connect-web), so
// the page's origin is http://127.0.0.1:<page port> and readstated's HTTP
// port is another origin. readstated starts
//   allowed: with --http-cors-origin http://127.0.0.1:<page port>
//   refused: without it
// Chromium (headless, driven over the DevTools protocol on a pipe:
// --remote-debugging-pipe, so no WebSocket client is needed) opens the page,
// which calls Ack and Watch over gRPC-Web, Connect binary and Connect JSON
// and writes the outcomes into the DOM; this script reads them with
// Runtime.evaluate and checks:
//   allowed: every Ack applied with the right state; every Watch delivered
//            the three Acks made after it was live, in version order, and
//            ended Canceled when aborted; no CORS failure in the browser's
//            network log; the server holds the browser's changes (read back
//            with connect-node)
//   refused: every call failed in the browser as a network error
//            (ConnectError Unknown "Failed to fetch"), the browser's network
//            log shows CORS failures for readstated's URLs, and the server
//            applied nothing (read back with connect-node)
// Chromium and readstated are stopped by PID; readstated must exit 0.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ReadStates } from "./gen/readstates_pb.js";
import { Checks, describe, eq, ok, parseArgs, sleep, startServer, track, until } from "./lib.mjs";

const args = parseArgs();
const bin = args.one("readstated");
const mode = args.one("mode", "allowed");
const chromiumBin = args.one("chromium", "chromium");
if (mode !== "allowed" && mode !== "refused") {
  console.error(`--mode allowed|refused, not ${mode}`);
  process.exit(2);
}
const C = new Checks(`browser, CORS ${mode}`);
const FIRST_USER = 7001n;
const NAMES = ["grpc-web", "connect-proto", "connect-json"];

// ---- the page's origin: a static server ------------------------------------------
const files = {
  "/index.html": ["text/html; charset=utf-8", readFileSync("www/index.html")],
  "/bundle.js": ["text/javascript; charset=utf-8", readFileSync("www/bundle.js")],
};
const pageRequests = [];
const pages = http.createServer((req, res) => {
  const path = req.url.split("?")[0];
  pageRequests.push(`${req.method} ${path}`);
  if (path === "/favicon.ico") {
    res.writeHead(204).end();
    return;
  }
  const f = files[path];
  if (req.method !== "GET" || !f) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "Content-Type": f[0], "Cache-Control": "no-store" }).end(f[1]);
});
await new Promise((resolve, reject) => {
  pages.once("error", reject);
  pages.listen(0, "127.0.0.1", resolve);
});
const pagePort = pages.address().port;
const pageOrigin = `http://127.0.0.1:${pagePort}`;
console.log(`page server: ${pageOrigin}`);

let srv;
try {
  srv = await startServer(bin, mode === "allowed" ? ["--http-cors-origin", pageOrigin] : []);
} catch (e) {
  C.fail("readstated starts", describe(e));
  pages.close();
  C.finish();
}

// ---- Chromium over the DevTools protocol on a pipe ---------------------------------
class Chromium {
  constructor(bin) {
    this.profile = mkdtempSync(join(tmpdir(), "rs-node-chromium-"));
    const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-extensions",
      "--disable-dev-shm-usage", `--user-data-dir=${this.profile}`, "--remote-debugging-pipe",
      "about:blank"];
    // fd 3: commands to Chromium; fd 4: its answers and events (NUL-terminated JSON)
    this.proc = track(spawn(bin, flags, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] }));
    this.stderr = "";
    this.proc.stderr.on("data", (b) => { if (this.stderr.length < 200000) this.stderr += b; });
    this.exit = null;
    this.exited = new Promise((r) => this.proc.once("exit", (code, signal) => r((this.exit = { code, signal }))));
    this.proc.once("error", (e) => { this.spawnError = e; });
    this.nextId = 1;
    this.pending = new Map();
    this.events = [];
    let buf = Buffer.alloc(0);
    this.proc.stdio[4].on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (let i = buf.indexOf(0); i >= 0; i = buf.indexOf(0)) {
        const msg = JSON.parse(buf.subarray(0, i).toString());
        buf = buf.subarray(i + 1);
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p.reject(new Error(`${p.method}: ${JSON.stringify(msg.error)}`));
          else p.resolve(msg.result);
        } else if (msg.method) {
          this.events.push(msg);
        }
      }
    });
    this.proc.stdio[3].on("error", () => {});
  }

  send(method, params = {}, sessionId = undefined, ms = 15000) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer from Chromium within ${ms} ms` +
                         (this.exit ? ` (it exited ${JSON.stringify(this.exit)})` : "")));
      }, ms);
      this.pending.set(id, { method,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); } });
      this.proc.stdio[3].write(JSON.stringify(msg) + "\0");
    });
  }

  async close() {
    if (this.exit === null) {
      await this.send("Browser.close", {}, undefined, 5000).catch(() => {});
      const t = await Promise.race([this.exited, sleep(10000).then(() => null)]);
      if (t === null) {
        try { process.kill(this.proc.pid, "SIGKILL"); } catch { /* gone */ }
        await Promise.race([this.exited, sleep(5000)]);
      }
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

const apiUrl = srv.baseUrl;
const url = `${pageOrigin}/index.html?api=${encodeURIComponent(apiUrl)}&user=${FIRST_USER}`;
let results = null;
let chrome = null;
const t0 = Date.now();

await C.check(`Chromium loads ${pageOrigin}/index.html and the page ends`, async () => {
  chrome = new Chromium(chromiumBin);
  await sleep(50);
  if (chrome.spawnError)
    throw new Error(`cannot run ${chromiumBin}: ${chrome.spawnError.message} ` +
                    "(Debian 12: apt-get install chromium)");
  const version = await chrome.send("Browser.getVersion", {}, undefined, 30000);
  console.log(`browser: ${version.product}`);
  const { targetId } = await chrome.send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await chrome.send("Target.attachToTarget", { targetId, flatten: true });
  for (const d of ["Runtime.enable", "Log.enable", "Network.enable", "Page.enable"])
    await chrome.send(d, {}, sessionId);
  const nav = await chrome.send("Page.navigate", { url }, sessionId);
  if (nav.errorText) throw new Error(`Page.navigate: ${nav.errorText}`);
  const text = await until(async () => {
    const r = await chrome.send("Runtime.evaluate", { returnByValue: true, expression:
      "document.body && document.body.dataset.done === '1' ? " +
      "document.getElementById('result').textContent : ''" }, sessionId);
    return r.result?.value;
  }, 90000, 200);
  if (!text) {
    const r = await chrome.send("Runtime.evaluate", { returnByValue: true,
      expression: "document.documentElement.outerHTML" }, sessionId).catch(() => null);
    throw new Error(`the page did not end within 90 s; page server saw ${JSON.stringify(pageRequests)}; DOM: ${
      String(r?.result?.value).slice(0, 2000)}`);
  }
  results = JSON.parse(text);
  const summary = await chrome.send("Runtime.evaluate", { returnByValue: true,
    expression: "[...document.querySelectorAll('#summary li')].map(li => li.textContent).join('\\n')" },
    sessionId);
  console.log(`page (${Date.now() - t0} ms):\n${summary.result?.value}`);
  if (results.fatal) throw new Error(`the page's script failed: ${results.fatal}`);
}, 150000);

// What the browser itself reported: exceptions, console errors, and
// requests that failed (with their CORS error, if any).
const ev = chrome ? chrome.events : [];
const exceptions = ev.filter((e) => e.method === "Runtime.exceptionThrown")
  .map((e) => e.params.exceptionDetails?.exception?.description ?? e.params.exceptionDetails?.text);
const consoleLines = ev.filter((e) => e.method === "Log.entryAdded")
  .map((e) => `${e.params.entry.level}: ${e.params.entry.text}`)
  .concat(ev.filter((e) => e.method === "Runtime.consoleAPICalled")
    .map((e) => `console.${e.params.type}: ${e.params.args.map((a) => a.value ?? a.description).join(" ")}`));
const requestUrl = new Map();
for (const e of ev)
  if (e.method === "Network.requestWillBeSent") requestUrl.set(e.params.requestId, e.params.request.url);
const failed = ev.filter((e) => e.method === "Network.loadingFailed")
  .map((e) => ({ url: requestUrl.get(e.params.requestId) ?? "?", error: e.params.errorText,
                 cors: e.params.corsErrorStatus?.corsError ?? null,
                 blocked: e.params.blockedReason ?? null }));
const apiFailed = failed.filter((f) => f.url.startsWith(apiUrl));
if (consoleLines.length) console.log(`browser log:\n  ${consoleLines.slice(0, 20).join("\n  ")}`);
if (failed.length) console.log(`failed requests:\n  ${failed.map((f) => JSON.stringify(f)).join("\n  ")}`);

await C.check("no uncaught exception in the page", async () => {
  eq(exceptions, [], "exceptions");
});

// The server's view, with the Node client (no CORS outside a browser).
const node = createClient(ReadStates, createConnectTransport({ baseUrl: apiUrl, httpVersion: "1.1" }));

const T = (name) => {
  const r = results?.transports?.[name];
  if (!r) throw new Error(`the page has no result for ${name}`);
  return r;
};

if (mode === "allowed") {
  for (const [i, name] of NAMES.entries()) {
    const user = FIRST_USER + BigInt(i);
    await C.check(`${name}: Ack from the browser applied`, async () => {
      const a = T(name).ack;
      ok(a.ok, `Ack failed in the browser: ${a.codeName} (${a.code}) ${JSON.stringify(a.rawMessage)}${
         a.cause ? ` cause ${a.cause}` : ""}`);
      eq([a.applied, a.userVersion], [true, "1"], "Ack applied, userVersion");
      eq(a.state, { channelId: "1", lastMessageId: "100", mentionCount: 2, flags: 0, version: "1" },
         "Ack state");
    });
    await C.check(`${name}: Watch in the browser delivers the changes in version order, abort ends it`, async () => {
      const w = T(name).watch;
      ok(w.ok, `Watch failed in the browser: ${w.codeName ?? ""} (${w.code}) ${JSON.stringify(w.rawMessage)}${
         w.cause ? ` cause ${w.cause}` : ""}; stream end: ${JSON.stringify(w.end)}; ${
         w.events?.length ?? 0} events`);
      eq(w.acks.map((a) => a.applied), [true, true, true], "the Acks made while watching: applied");
      const want = w.acks.map((a) => ({ userId: String(user), userVersion: a.userVersion, deleted: false,
                                        state: a.state }));
      eq(w.after, want, "the events after the watch was live");
      const vs = w.events.map((e) => BigInt(e.userVersion));
      for (let k = 1; k < vs.length; k++)
        ok(vs[k] === vs[k - 1] + 1n, `events out of version order: ${vs.join(",")}`);
      ok(w.end && !w.end.ok && w.end.code === Code.Canceled,
         `the aborted stream ended with ${JSON.stringify(w.end)}, want Canceled`);
    });
    await C.check(`${name}: the server holds the browser's changes`, async () => {
      const g = await node.getReadStates({ userId: user, channelIds: [1n, 3n] });
      eq(g.states.map((s) => [s.channelId, s.lastMessageId, s.mentionCount]),
         [[1n, 100n, 2], [3n, 30n, 0]], `user ${user}'s channels 1 and 3`);
    });
  }
  await C.check("the browser saw no CORS failure for readstated", async () => {
    const bad = apiFailed.filter((f) => f.cors || /CORS|ERR_FAILED/.test(f.error ?? ""));
    ok(bad.length === 0, `${bad.length} requests to readstated failed in the browser (${
       [...new Set(bad.map((f) => f.cors ?? f.error))].join(", ")}), the first: ${JSON.stringify(bad[0])}`);
  });
} else {
  for (const [i, name] of NAMES.entries()) {
    const user = FIRST_USER + BigInt(i);
    await C.check(`${name}: the browser blocks Ack (network error, not a server answer)`, async () => {
      const a = T(name).ack;
      ok(!a.ok, `Ack succeeded in the browser without --http-cors-origin: ${JSON.stringify(a)}`);
      ok(a.code === Code.Unknown && a.rawMessage === "Failed to fetch",
         `Ack failed with ${a.codeName} (${a.code}) ${JSON.stringify(a.rawMessage)}, want the fetch ` +
         "network error (Unknown \"Failed to fetch\") of a request CORS blocked");
    });
    await C.check(`${name}: the browser blocks Watch`, async () => {
      const w = T(name).watch;
      ok(!w.ok, `Watch worked in the browser without --http-cors-origin: ${JSON.stringify(w)}`);
      ok(w.end && !w.end.ok && w.end.code === Code.Unknown && w.end.rawMessage === "Failed to fetch",
         `the Watch stream ended with ${JSON.stringify(w.end)}, want Unknown "Failed to fetch"`);
      eq(w.events, [], "Watch events");
    });
    await C.check(`${name}: the server applied nothing`, async () => {
      const g = await node.getReadStates({ userId: user });
      eq([g.states.length, g.userVersion], [0, 0n], `user ${user}'s states, version`);
    });
  }
  await C.check("the browser's network log shows CORS failures for readstated", async () => {
    const cors = apiFailed.filter((f) => f.cors);
    ok(cors.length >= NAMES.length, `${cors.length} requests to ${apiUrl} failed with a CORS error, want at least ${
       NAMES.length}; failed requests: ${JSON.stringify(failed)}`);
    console.log(`CORS errors: ${[...new Set(cors.map((f) => f.cors))].join(", ")}`);
  });
}

if (chrome) await chrome.close();
pages.close();
try {
  await srv.stop();
  C.results.push({ name: "readstated exits 0 on SIGTERM", ok: true });
  console.log("ok     readstated exits 0 on SIGTERM");
} catch (e) {
  C.fail("readstated exits 0 on SIGTERM", describe(e));
}
if (chrome?.exit && chrome.exit.code !== 0 && chrome.exit.signal !== null)
  console.log(`chromium exited ${JSON.stringify(chrome.exit)}`);
C.finish();
