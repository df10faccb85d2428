// cors.mjs: readstated's CORS headers, request by request (what the
// browser test sees end to end, checked here header by header so a failure
// says which header is wrong).
//
//   node cors.mjs --readstated BIN
//
// With --http-cors-origin twice (two origins allowed):
//   - preflights (OPTIONS) of Connect unary, Connect streaming and gRPC-Web
//     calls from either origin: 2xx, Access-Control-Allow-Origin = that
//     origin, Allow-Methods with POST, Allow-Headers with every header the
//     connect-web transports send (or *)
//   - a preflight from another origin gets no Access-Control-Allow-Origin
//   - calls (Connect JSON, gRPC-Web) from an allowed origin, answers and
//     errors alike: Access-Control-Allow-Origin = the origin; gRPC-Web
//     answers expose grpc-status and grpc-message
//   - a call from another origin is answered without the header
// Without the flag: preflights and calls get no Access-Control-Allow-Origin.
import { Checks, describe, eq, httpRequest, ok, parseArgs, startServer } from "./lib.mjs";

const args = parseArgs();
const bin = args.one("readstated");
const C = new Checks("CORS headers");

const ORIGIN_A = "http://127.0.0.1:18080";
const ORIGIN_B = "http://localhost:18081";
const OTHER = "http://127.0.0.1:18099";
const ACK = "/readstates.v1.ReadStates/Ack";
const WATCH = "/readstates.v1.ReadStates/Watch";
const PING = "/readstates.v1.ReadStates/Ping";

// The headers each connect-web transport sends (besides CORS-safelisted ones).
const PREFLIGHTS = [
  ["Connect unary", ACK, ["content-type", "connect-protocol-version", "connect-timeout-ms"]],
  ["Connect streaming", WATCH, ["content-type", "connect-protocol-version", "connect-timeout-ms"]],
  ["gRPC-Web", WATCH, ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"]],
];

const list = (v) => String(v ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
const hdr = (r) => JSON.stringify(Object.fromEntries(Object.entries(r.headers)
  .filter(([k]) => k.startsWith("access-control") || k === "vary")));

function preflight(port, origin, path, headers) {
  return httpRequest(port, "OPTIONS", path, { Origin: origin, "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": headers.join(",") });
}

// An empty PingRequest as a gRPC-Web message: flags 0, length 0.
const GRPC_WEB_PING = Buffer.from([0, 0, 0, 0, 0]);

let srv;
try {
  srv = await startServer(bin, ["--http-cors-origin", ORIGIN_A, "--http-cors-origin", ORIGIN_B]);
} catch (e) {
  C.fail("readstated starts with --http-cors-origin twice", describe(e));
  C.finish();
}
const port = srv.httpPort;

for (const origin of [ORIGIN_A, ORIGIN_B])
  for (const [what, path, headers] of PREFLIGHTS)
    await C.check(`preflight of a ${what} call from ${origin} is allowed`, async () => {
      const r = await preflight(port, origin, path, headers);
      ok(r.status >= 200 && r.status < 300, `OPTIONS ${path}: HTTP ${r.status}, want 2xx; ${hdr(r)}`);
      eq(r.headers["access-control-allow-origin"], origin, `Access-Control-Allow-Origin (${hdr(r)})`);
      const methods = list(r.headers["access-control-allow-methods"]);
      ok(methods.includes("post") || methods.includes("*"),
         `Access-Control-Allow-Methods ${JSON.stringify(r.headers["access-control-allow-methods"])} lacks POST`);
      const allowed = list(r.headers["access-control-allow-headers"]);
      const missing = headers.filter((h) => !allowed.includes(h) && !allowed.includes("*"));
      eq(missing, [], `request headers missing from Access-Control-Allow-Headers ${
         JSON.stringify(r.headers["access-control-allow-headers"])}`);
    });

await C.check("preflight from an origin not configured gets no Access-Control-Allow-Origin", async () => {
  const r = await preflight(port, OTHER, ACK, PREFLIGHTS[0][2]);
  eq(r.headers["access-control-allow-origin"], undefined, `Access-Control-Allow-Origin (HTTP ${r.status})`);
});

await C.check("a Connect call from an allowed origin carries Access-Control-Allow-Origin", async () => {
  const r = await httpRequest(port, "POST", ACK, { Origin: ORIGIN_A, "Content-Type": "application/json",
    "Connect-Protocol-Version": "1" }, '{"userId":"5","channelId":"1","messageId":"2"}');
  eq(r.status, 200, `POST ${ACK} status (${r.body})`);
  eq(r.headers["access-control-allow-origin"], ORIGIN_A, `Access-Control-Allow-Origin (${hdr(r)})`);
  if (!list(r.headers.vary).includes("origin"))
    console.log(`note: the answer has no "Vary: Origin" (${hdr(r)})`);
});

await C.check("a Connect error from an allowed origin carries Access-Control-Allow-Origin", async () => {
  const r = await httpRequest(port, "POST", ACK, { Origin: ORIGIN_A, "Content-Type": "application/json",
    "Connect-Protocol-Version": "1" }, '{"userId":"0","channelId":"1","messageId":"2"}');
  eq(r.status, 400, `POST ${ACK} with user 0: status (${r.body})`);
  eq(r.headers["access-control-allow-origin"], ORIGIN_A, `Access-Control-Allow-Origin (${hdr(r)})`);
});

await C.check("a gRPC-Web call from an allowed origin: Allow-Origin, grpc-status exposed", async () => {
  const r = await httpRequest(port, "POST", PING, { Origin: ORIGIN_B,
    "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", "X-User-Agent": "cors.mjs" },
    GRPC_WEB_PING);
  eq(r.status, 200, `POST ${PING} (gRPC-Web): status (content-type ${r.headers["content-type"]})`);
  ok(String(r.headers["content-type"]).startsWith("application/grpc-web"),
     `gRPC-Web answer content-type ${r.headers["content-type"]}`);
  eq(r.headers["access-control-allow-origin"], ORIGIN_B, `Access-Control-Allow-Origin (${hdr(r)})`);
  const exposed = list(r.headers["access-control-expose-headers"]);
  const missing = ["grpc-status", "grpc-message"].filter((h) => !exposed.includes(h) && !exposed.includes("*"));
  eq(missing, [], `headers missing from Access-Control-Expose-Headers ${
     JSON.stringify(r.headers["access-control-expose-headers"])}`);
});

await C.check("a call from an origin not configured is answered without Access-Control-Allow-Origin", async () => {
  const r = await httpRequest(port, "POST", PING, { Origin: OTHER, "Content-Type": "application/json",
    "Connect-Protocol-Version": "1" }, "{}");
  eq(r.headers["access-control-allow-origin"], undefined, `Access-Control-Allow-Origin (HTTP ${r.status})`);
});

try {
  await srv.stop();
} catch (e) {
  C.fail("readstated (CORS on) exits 0 on SIGTERM", describe(e));
}

// ---- no --http-cors-origin: nothing is allowed -------------------------------------
try {
  srv = await startServer(bin);
} catch (e) {
  C.fail("readstated starts without --http-cors-origin", describe(e));
  C.finish();
}
await C.check("without --http-cors-origin a preflight gets no Access-Control-Allow-Origin", async () => {
  for (const [, path, headers] of PREFLIGHTS) {
    const r = await preflight(srv.httpPort, ORIGIN_A, path, headers);
    eq(r.headers["access-control-allow-origin"], undefined,
       `OPTIONS ${path}: Access-Control-Allow-Origin (HTTP ${r.status})`);
    ok(r.status < 200 || r.status >= 300 || !r.headers["access-control-allow-methods"],
       `OPTIONS ${path}: HTTP ${r.status} with ${hdr(r)}: a preflight that is not refused`);
  }
});
await C.check("without --http-cors-origin a call gets no Access-Control-Allow-Origin", async () => {
  const r = await httpRequest(srv.httpPort, "POST", PING, { Origin: ORIGIN_A,
    "Content-Type": "application/json", "Connect-Protocol-Version": "1" }, "{}");
  eq(r.status, 200, "POST Ping status");
  eq(r.headers["access-control-allow-origin"], undefined, "Access-Control-Allow-Origin");
});
try {
  await srv.stop();
  C.results.push({ name: "readstated exits 0 on SIGTERM", ok: true });
} catch (e) {
  C.fail("readstated (CORS off) exits 0 on SIGTERM", describe(e));
}
C.finish();
