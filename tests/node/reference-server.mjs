// reference-server.mjs: a stand-in for readstated built on Connect-ES's own
// server (connectNodeAdapter: Connect, gRPC and gRPC-Web), with the
// service's rules in memory and CORS done the way @connectrpc/cors
// describes. selftest.mjs runs the node tests against it, so they are known
// to pass against a conforming implementation of the protocols: when they
// fail against readstated, the difference is readstated's.
//
// It takes the readstated flags the tests pass: --port-file F (a TCP port,
// only listened on so GetRing has an address), --http-port-file F,
// --http-cors-origin O (repeatable); --listen and --http are ignored
// (127.0.0.1:0). HTTP/1.1 and HTTP/2 with prior knowledge share the port
// (the client preface decides). /healthz and /metrics
// (readstates_watches_open) as readstated has them. SIGTERM ends open
// Watch streams UNAVAILABLE and exits 0.
import { writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ReadStates, ReadStateSchema } from "./gen/readstates_pb.js";

const argv = process.argv.slice(2);
const flag = (k) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : null);
const origins = argv.flatMap((a, i) => (a === "--http-cors-origin" ? [argv[i + 1]] : []));

// ---- the service's rules --------------------------------------------------------
const users = new Map(); // user id -> {v, states: Map(channel -> ReadState)}
const watches = new Set(); // {ids: Set, push(event)}
const user = (id) => {
  if (!users.has(id)) users.set(id, { v: 0n, states: new Map() });
  return users.get(id);
};
const nonZero = (v, field) => {
  if (!v) throw new ConnectError(`${field} must be non-zero`, Code.InvalidArgument);
};
const change = (uid, fields, deleted = false) => {
  const u = user(uid);
  const st = create(ReadStateSchema, { ...fields, version: u.v });
  if (deleted) u.states.delete(st.channelId);
  else u.states.set(st.channelId, st);
  for (const w of watches)
    if (w.ids.has(uid)) w.push({ userId: uid, state: st, deleted, userVersion: u.v });
  return st;
};
const current = (uid, ch) => user(uid).states.get(ch) ?? create(ReadStateSchema, { channelId: ch });

function ack(uid, ch, msg, mentions = 0) {
  const u = user(uid), s = current(uid, ch);
  if (msg <= s.lastMessageId) return { applied: false, state: s, userVersion: u.v };
  u.v++;
  return { applied: true, userVersion: u.v,
           state: change(uid, { channelId: ch, lastMessageId: msg, mentionCount: mentions, flags: 0 }) };
}

const service = {
  ping: () => ({ serverTimeMs: BigInt(Date.now()), serverVersion: "reference" }),
  ack(q) {
    nonZero(q.userId, "ack.user_id");
    nonZero(q.channelId, "ack.channel_id");
    return ack(q.userId, q.channelId, q.messageId, q.mentionCount);
  },
  setReadState(q) {
    nonZero(q.userId, "set.user_id");
    nonZero(q.channelId, "set.channel_id");
    const u = user(q.userId), s = u.states.get(q.channelId);
    if (s && s.lastMessageId === q.messageId && s.mentionCount === q.mentionCount && s.flags === 1)
      return { applied: false, state: s, userVersion: u.v };
    u.v++;
    return { applied: true, userVersion: u.v, state: change(q.userId, { channelId: q.channelId,
             lastMessageId: q.messageId, mentionCount: q.mentionCount, flags: 1 }) };
  },
  bulkAck(q) {
    nonZero(q.userId, "bulk_ack.user_id");
    q.entries.forEach((e, i) => nonZero(e.channelId, `bulk_ack.entries[${i}].channel_id`));
    let applied = 0;
    const states = q.entries.map((e) => {
      const r = ack(q.userId, e.channelId, e.messageId);
      applied += r.applied ? 1 : 0;
      return r.state;
    });
    return { states, applied, userVersion: user(q.userId).v };
  },
  addMentions(q) {
    q.userIds.forEach((id, i) => nonZero(id, `add_mentions.user_ids[${i}]`));
    nonZero(q.channelId, "add_mentions.channel_id");
    return { mentionCounts: q.userIds.map((uid) => {
      const s = current(uid, q.channelId);
      if (s.lastMessageId >= q.messageId) return s.mentionCount;
      user(uid).v++;
      return change(uid, { channelId: q.channelId, lastMessageId: s.lastMessageId,
                           mentionCount: s.mentionCount + (q.count || 1), flags: s.flags }).mentionCount;
    }) };
  },
  getReadStates(q) {
    nonZero(q.userId, "get.user_id");
    const u = user(q.userId);
    const chs = (q.channelIds.length ? q.channelIds : [...u.states.keys()]).filter((c) => u.states.has(c));
    chs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { states: chs.map((c) => u.states.get(c)), userVersion: u.v };
  },
  deleteReadStates(q) {
    nonZero(q.userId, "delete.user_id");
    const u = user(q.userId);
    const chs = q.all ? [...u.states.keys()] : q.channelIds.filter((c) => u.states.has(c));
    if (chs.length) u.v++;
    for (const c of chs) change(q.userId, { channelId: c }, true);
    return { deleted: chs.length, userVersion: u.v };
  },
  getRing: () => ({ nodes: [{ address: `127.0.0.1:${tcp.address().port}` }],
                    ranges: [{ firstSlot: 0, lastSlot: 16383, node: 0 }] }),
  async *watch(q, ctx) {
    nonZero(q.userIds.length, "watch.user_ids");
    q.userIds.forEach((id, i) => nonZero(id, `watch.user_ids[${i}]`));
    const queue = [];
    let wake = null, ended = null;
    const w = { ids: new Set(q.userIds), push: (e) => { queue.push(e); wake?.(); },
                end: (err) => { ended = err; wake?.(); } };
    watches.add(w);
    try {
      while (!ctx.signal.aborted) {
        while (queue.length) yield queue.shift();
        if (ended) throw ended;
        await new Promise((r) => {
          wake = r;
          ctx.signal.addEventListener("abort", r, { once: true });
        });
        wake = null;
      }
    } finally {
      watches.delete(w);
    }
  },
};

// ---- HTTP: CORS, operator endpoints, RPC -----------------------------------------
const rpc = connectNodeAdapter({ routes: (r) => r.service(ReadStates, service) });
const CORS_HEADERS = "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, Grpc-Timeout, " +
                     "X-Grpc-Web, X-User-Agent";
const CORS_EXPOSE = "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin";

function handle(req, res) {
  const origin = req.headers.origin;
  const allowed = origin !== undefined && origins.includes(origin);
  if (allowed) {
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Vary", "Origin");
    res.setHeader("Access-Control-Expose-Headers", CORS_EXPOSE);
  }
  if (req.method === "OPTIONS") {
    if (allowed)
      res.writeHead(204, { "Access-Control-Allow-Methods": "POST, GET",
                           "Access-Control-Allow-Headers": CORS_HEADERS,
                           "Access-Control-Max-Age": "7200" });
    else res.writeHead(403);
    res.end();
    return;
  }
  if (req.url === "/healthz") {
    res.end("ok\n");
    return;
  }
  if (req.url === "/metrics") {
    res.end(`readstates_watches_open ${[...watches].reduce((n, w) => n + w.ids.size, 0)}\n`);
    return;
  }
  rpc(req, res);
}

const h1 = http.createServer(handle);
const h2 = http2.createServer({}, handle);
const port = net.createServer({ pauseOnConnect: true }, (sock) => {
  sock.once("readable", () => {
    const first = sock.read();
    if (first === null) {
      sock.destroy();
      return;
    }
    sock.unshift(first);
    (first.toString("latin1").startsWith("PRI * HTTP/2.0") ? h2 : h1).emit("connection", sock);
  });
});
const tcp = net.createServer((s) => s.destroy());
tcp.listen(0, "127.0.0.1", () => {
  port.listen(0, "127.0.0.1", () => {
    writeFileSync(flag("--http-port-file"), String(port.address().port));
    writeFileSync(flag("--port-file"), String(tcp.address().port));
  });
});
// SIGTERM: open Watch streams end UNAVAILABLE, then exit 0.
process.on("SIGTERM", () => {
  for (const w of watches) w.end(new ConnectError("server shutting down", Code.Unavailable));
  setTimeout(() => process.exit(0), 200);
});
