// selftest.mjs: the node tests against reference-server.mjs (Connect-ES's
// own server with the service's rules in memory) instead of readstated:
// every rpc.mjs transport, cors.mjs and both browser.mjs runs must pass. A
// failure here is the tests' (or the client libraries'), not readstated's;
// with this passing, a failure of node_rpc_*, node_cors_headers or
// node_browser_* is a difference of readstated's.
//
//   node selftest.mjs
import { spawn } from "node:child_process";
import { track } from "./lib.mjs";

const REF = new URL("./reference-server.mjs", import.meta.url).pathname;
const runs = [
  ...["grpc", "grpc-web", "grpc-web-h2", "connect-proto", "connect-json", "connect-h2"]
    .map((t) => ["rpc.mjs", "--transport", t]),
  ["cors.mjs"],
  ["browser.mjs", "--mode", "allowed"],
  ["browser.mjs", "--mode", "refused"],
];

function run(args) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = track(spawn(process.execPath, [args[0], "--readstated", REF, ...args.slice(1)],
                          { stdio: ["ignore", "pipe", "pipe"] }));
    let out = "";
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (out += b));
    const timer = setTimeout(() => p.kill("SIGTERM"), 180000);
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, ms: Date.now() - t0 });
    });
  });
}

let failed = 0;
for (const args of runs) {
  const r = await run(args);
  const name = args.join(" ");
  const summary = r.out.trim().split("\n").filter((l) => / checks passed$/.test(l)).pop() ?? "";
  if (r.code === 0) {
    console.log(`ok     ${name} against the reference server: ${summary} (${r.ms} ms)`);
  } else {
    failed++;
    console.log(`FAILED ${name} against the reference server (exit ${r.code ?? r.signal}):\n${r.out}`);
  }
}
console.log(`\nselftest: ${runs.length - failed} of ${runs.length} runs passed against the reference server`);
process.exit(failed ? 1 : 0);
