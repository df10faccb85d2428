// rpc.mjs: every method of readstates.v1.ReadStates from the Connect-ES
// Node clients (@connectrpc/connect-node) against a real memory-only
// readstated, over one transport:
//
//   node rpc.mjs --readstated BIN --transport NAME
//     grpc            gRPC over HTTP/2 cleartext (prior knowledge)
//     grpc-web        gRPC-Web (binary) over HTTP/1.1
//     grpc-web-h2     gRPC-Web (binary) over HTTP/2
//     connect-proto   Connect, application/proto (streams: connect+proto), HTTP/1.1
//     connect-json    Connect, application/json (streams: connect+json), HTTP/1.1
//     connect-h2      Connect, binary, over HTTP/2
//
// Checks: the unary calls' values, `applied` flags and user versions;
// INVALID_ARGUMENT naming the field (unary and Watch); 64-bit ids round-trip;
// concurrent calls; Watch: events of watched users arrive in version order
// with the contents of the changes (none for no-ops or unwatched users),
// 20 streams at once, aborting a stream ends it (Canceled) and the server
// drops the watch; SIGTERM with a stream open ends it UNAVAILABLE and
// readstated exits 0.
// Each check reports ok/FAILED and the run goes on; exit 1 if any failed.
import http2 from "node:http2";
import { Code, createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { ReadStates } from "./gen/readstates_pb.js";
import {
  Checks, describe, eq, metric, ok, parseArgs, rejects, sleep, startServer, stateOf,
  until,
} from "./lib.mjs";

const args = parseArgs();
const bin = args.one("readstated");
const tname = args.one("transport", "connect-proto");

const TRANSPORTS = {
  "grpc": { h2: true, make: (u) => createGrpcTransport({ baseUrl: u, httpVersion: "2" }) },
  "grpc-web": { h2: false,
                make: (u) => createGrpcWebTransport({ baseUrl: u, httpVersion: "1.1" }) },
  "grpc-web-h2": { h2: true,
                   make: (u) => createGrpcWebTransport({ baseUrl: u, httpVersion: "2" }) },
  "connect-proto": { h2: false, make: (u) => createConnectTransport({ baseUrl: u,
                     httpVersion: "1.1", useBinaryFormat: true }) },
  "connect-json": { h2: false, make: (u) => createConnectTransport({ baseUrl: u,
                    httpVersion: "1.1", useBinaryFormat: false }) },
  "connect-h2": { h2: true, make: (u) => createConnectTransport({ baseUrl: u,
                  httpVersion: "2", useBinaryFormat: true }) },
};
const T = TRANSPORTS[tname];
if (!T) {
  console.error(`unknown --transport ${tname}; one of ${Object.keys(TRANSPORTS).join(", ")}`);
  process.exit(2);
}

const C = new Checks(`rpc over ${tname}`);
let srv;
try {
  srv = await startServer(bin);
} catch (e) {
  C.fail("readstated starts", describe(e));
  C.finish();
}
const client = createClient(ReadStates, T.make(srv.baseUrl));

// Users of this run: one range per check, so checks do not disturb each other.
const U = (n) => BigInt(n);

// ---- HTTP/2 prior knowledge on the HTTP port (transports over h2 only) ------
if (T.h2) {
  await C.check("the HTTP port speaks HTTP/2 with prior knowledge (GET /healthz)", async () => {
    const session = http2.connect(srv.baseUrl);
    try {
      const res = await new Promise((resolve, reject) => {
        session.on("error", reject);
        const req = session.request({ ":method": "GET", ":path": "/healthz" });
        req.setTimeout(5000, () => req.close(http2.constants.NGHTTP2_CANCEL));
        let status = 0;
        req.on("response", (h) => (status = h[":status"]));
        req.on("error", reject);
        req.on("close", () => (status ? resolve(status) : reject(new Error(
          "the stream closed with no response (no HTTP/2 server preface?)"))));
        req.resume();
        req.end();
      });
      eq(res, 200, "GET /healthz over h2: status");
    } finally {
      session.destroy();
    }
  }, 10000);
  if (!C.results[C.results.length - 1].ok) {
    C.fail(`the ${tname} checks`, "not run: the HTTP port does not speak HTTP/2 with prior knowledge");
    await srv.stop().catch((e) => C.fail("readstated exits 0 on SIGTERM", describe(e)));
    C.finish();
  }
}

// ---- unary calls ----------------------------------------------------------------

await C.check("Ping: server version and time", async () => {
  const r = await client.ping({});
  ok(typeof r.serverVersion === "string" && r.serverVersion.length > 0,
     `Ping: serverVersion ${JSON.stringify(r.serverVersion)} is empty`);
  const skew = Number(r.serverTimeMs) - Date.now();
  ok(Math.abs(skew) < 60000, `Ping: serverTimeMs ${r.serverTimeMs} is ${skew} ms off this clock`);
});

await C.check("Ack: applies forward only, versions rise by one", async () => {
  const u = U(1001);
  const a = await client.ack({ userId: u, channelId: 7n, messageId: 100n, mentionCount: 2 });
  eq(a.applied, true, "first Ack applied");
  eq(a.userVersion, 1n, "first Ack userVersion");
  eq(stateOf(a.state), { channelId: 7n, lastMessageId: 100n, mentionCount: 2, flags: 0,
                         version: 1n }, "first Ack state");
  const b = await client.ack({ userId: u, channelId: 7n, messageId: 50n, mentionCount: 9 });
  eq(b.applied, false, "older Ack applied");
  eq(b.userVersion, 1n, "older Ack userVersion");
  eq(stateOf(b.state), stateOf(a.state), "older Ack answers the current state");
  const c = await client.ack({ userId: u, channelId: 7n, messageId: 101n });
  eq(c.applied, true, "newer Ack applied");
  eq(c.userVersion, 2n, "newer Ack userVersion");
  eq(stateOf(c.state), { channelId: 7n, lastMessageId: 101n, mentionCount: 0, flags: 0,
                         version: 2n }, "newer Ack state");
});

await C.check("SetReadState: sets exactly in either direction, MANUAL flag, no-op", async () => {
  const u = U(1002);
  const a = await client.setReadState({ userId: u, channelId: 7n, messageId: 100n,
                                        mentionCount: 1 });
  eq([a.applied, a.userVersion], [true, 1n], "SetReadState applied, userVersion");
  eq(stateOf(a.state), { channelId: 7n, lastMessageId: 100n, mentionCount: 1, flags: 1,
                         version: 1n }, "SetReadState state (flags 1 = MANUAL)");
  const b = await client.setReadState({ userId: u, channelId: 7n, messageId: 40n,
                                        mentionCount: 3 });
  eq([b.applied, b.userVersion, b.state?.lastMessageId, b.state?.mentionCount],
     [true, 2n, 40n, 3], "SetReadState backwards: applied, userVersion, message, mentions");
  const c = await client.setReadState({ userId: u, channelId: 7n, messageId: 40n,
                                        mentionCount: 3 });
  eq([c.applied, c.userVersion], [false, 2n], "identical SetReadState: applied, userVersion");
  const d = await client.ack({ userId: u, channelId: 7n, messageId: 41n });
  eq([d.applied, d.userVersion, d.state?.flags], [true, 3n, 0], "Ack after SetReadState clears MANUAL");
});

await C.check("BulkAck: each entry in order, applied counts", async () => {
  const u = U(1003);
  const r = await client.bulkAck({ userId: u, entries: [
    { channelId: 1n, messageId: 10n }, { channelId: 2n, messageId: 20n },
    { channelId: 1n, messageId: 5n } ] });
  eq(r.applied, 2, "BulkAck applied");
  eq(r.userVersion, 2n, "BulkAck userVersion");
  eq(r.states.map((s) => [s.channelId, s.lastMessageId]), [[1n, 10n], [2n, 20n], [1n, 10n]],
     "BulkAck states (channel, message) per entry");
});

await C.check("AddMentions: counts only for users before the message", async () => {
  await client.ack({ userId: U(1004), channelId: 9n, messageId: 100n });
  const r = await client.addMentions({ channelId: 9n, messageId: 150n,
                                       userIds: [U(1004), U(1005)], count: 3 });
  eq(r.mentionCounts, [3, 3], "AddMentions mentionCounts");
  const read = await client.addMentions({ channelId: 9n, messageId: 50n, userIds: [U(1004)],
                                          count: 1 });
  eq(read.mentionCounts, [3], "AddMentions in a message already read");
  const one = await client.addMentions({ channelId: 9n, messageId: 160n, userIds: [U(1005)] });
  eq(one.mentionCounts, [4], "AddMentions count 0 means 1");
  const g = await client.getReadStates({ userId: U(1005) });
  eq(g.states.map((s) => [s.channelId, s.lastMessageId, s.mentionCount]), [[9n, 0n, 4]],
     "GetReadStates after AddMentions");
});

await C.check("GetReadStates: sorted by channel, a subset, an unknown user", async () => {
  const u = U(1006);
  for (const ch of [30n, 10n, 20n]) await client.ack({ userId: u, channelId: ch, messageId: ch * 2n });
  const all = await client.getReadStates({ userId: u });
  eq(all.userVersion, 3n, "GetReadStates userVersion");
  eq(all.states.map((s) => [s.channelId, s.lastMessageId]), [[10n, 20n], [20n, 40n], [30n, 60n]],
     "GetReadStates states");
  const some = await client.getReadStates({ userId: u, channelIds: [20n, 99n] });
  eq(some.states.map((s) => s.channelId), [20n], "GetReadStates of [20, 99]");
  const none = await client.getReadStates({ userId: U(1999) });
  eq([none.states.length, none.userVersion], [0, 0n], "GetReadStates of an unknown user");
});

await C.check("DeleteReadStates: some, all, nothing", async () => {
  const u = U(1007);
  for (const ch of [1n, 2n, 3n]) await client.ack({ userId: u, channelId: ch, messageId: 5n });
  const a = await client.deleteReadStates({ userId: u, channelIds: [2n, 99n] });
  eq([a.deleted, a.userVersion], [1, 4n], "delete [2, 99]: deleted, userVersion");
  const b = await client.deleteReadStates({ userId: u, all: true });
  eq([b.deleted, b.userVersion], [2, 5n], "delete all: deleted, userVersion");
  const c = await client.deleteReadStates({ userId: u, all: true });
  eq([c.deleted, c.userVersion], [0, 5n], "delete of nothing: deleted, userVersion");
  const g = await client.getReadStates({ userId: u });
  eq([g.states.length, g.userVersion], [0, 5n], "GetReadStates after deletes");
});

await C.check("GetRing: one node (this server) owns every slot", async () => {
  const r = await client.getRing({});
  eq(r.nodes.map((n) => n.address), [`127.0.0.1:${srv.tcpPort}`], "GetRing node addresses");
  eq(r.ranges.map((x) => [x.firstSlot, x.lastSlot, x.node]), [[0, 16383, 0]], "GetRing ranges");
});

await C.check("64-bit ids round-trip exactly", async () => {
  const u = 18446744073709551615n, ch = 9223372036854775809n, msg = 18446744073709551614n;
  const a = await client.ack({ userId: u, channelId: ch, messageId: msg, mentionCount: 4294967295 });
  eq([a.applied, a.state?.channelId, a.state?.lastMessageId, a.state?.mentionCount],
     [true, ch, msg, 4294967295], "Ack of max ids");
  const g = await client.getReadStates({ userId: u, channelIds: [ch] });
  eq(g.states.map((s) => [s.channelId, s.lastMessageId]), [[ch, msg]], "GetReadStates of max ids");
});

await C.check("INVALID_ARGUMENT names the field and changes nothing", async () => {
  await rejects(client.ack({ userId: 0n, channelId: 1n, messageId: 1n }), Code.InvalidArgument,
                ["user_id"], "Ack user_id 0");
  await rejects(client.setReadState({ userId: U(1008), channelId: 0n, messageId: 1n }),
                Code.InvalidArgument, ["channel_id"], "SetReadState channel_id 0");
  await rejects(client.bulkAck({ userId: U(1008), entries: [{ channelId: 1n, messageId: 2n },
                                                            { channelId: 0n, messageId: 3n }] }),
                Code.InvalidArgument, ["channel_id"], "BulkAck entry channel_id 0");
  await rejects(client.addMentions({ channelId: 1n, messageId: 2n, userIds: [U(1008), 0n] }),
                Code.InvalidArgument, ["user_ids"], "AddMentions user_ids [.., 0]");
  await rejects(client.getReadStates({ userId: 0n }), Code.InvalidArgument, ["user_id"],
                "GetReadStates user_id 0");
  await rejects(client.deleteReadStates({ userId: 0n, all: true }), Code.InvalidArgument,
                ["user_id"], "DeleteReadStates user_id 0");
  const g = await client.getReadStates({ userId: U(1008) });
  eq([g.states.length, g.userVersion], [0, 0n], "user 1008 after refused calls");
});

await C.check("50 concurrent Acks of one user: all applied, versions 1..50", async () => {
  const u = U(1009);
  const rs = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    client.ack({ userId: u, channelId: BigInt(i + 1), messageId: 1000n })));
  ok(rs.every((r) => r.applied), "some concurrent Ack was not applied");
  eq(rs.map((r) => r.userVersion).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
     Array.from({ length: 50 }, (_, i) => BigInt(i + 1)), "concurrent Acks' userVersions");
});

// ---- Watch ------------------------------------------------------------------------

// Start a Watch; returns {events, done, abort, waitFor}. `done` resolves to
// {ended: "eof" | "error", err}.
function watch(userIds) {
  const ac = new AbortController();
  const events = [];
  let headers = null;
  const stream = client.watch({ userIds }, { signal: ac.signal, onHeader: (h) => (headers = h) });
  const done = (async () => {
    try {
      for await (const ev of stream) events.push(ev);
      return { ended: "eof" };
    } catch (err) {
      return { ended: "error", err };
    }
  })();
  let finished = null;
  done.then((d) => (finished = d));
  return {
    events, done, abort: () => ac.abort(), get headers() { return headers; },
    get finished() { return finished; },
    waitFor: (pred, ms) => until(() => finished !== null || pred(events), ms, 10),
  };
}

const evOf = (e) => ({ userId: e.userId, deleted: e.deleted, userVersion: e.userVersion,
                       channelId: e.state?.channelId, lastMessageId: e.state?.lastMessageId,
                       mentionCount: e.state?.mentionCount, flags: e.state?.flags });

// Make changes to `u` on a private channel until the watch delivers one
// (the watch is registered once the server has it; nothing tells a client
// when): returns the user version of the last such change, which the
// watch has then delivered.
async function primeWatch(w, u, what) {
  let last = 0n;
  for (let i = 1; i <= 100 && w.events.length === 0 && w.finished === null; i++) {
    last = (await client.ack({ userId: u, channelId: 999999n, messageId: BigInt(i) })).userVersion;
    await w.waitFor((evs) => evs.length > 0, 50);
  }
  if (w.finished) throw new Error(`${what}: the stream ended before any event: ${
    w.finished.ended === "error" ? describe(w.finished.err) : "end of stream"}`);
  if (w.events.length === 0) throw new Error(`${what}: no event after 100 changes of a watched user`);
  const got = await w.waitFor((evs) => evs.some((e) => e.userId === u && e.userVersion === last), 5000);
  if (!got || w.finished) throw new Error(`${what}: the event of version ${last} did not arrive`);
  const pv = w.events.filter((e) => e.userId === u).map((e) => e.userVersion);
  for (let i = 1; i < pv.length; i++)
    if (pv[i] !== pv[i - 1] + 1n) throw new Error(`${what}: priming events out of order: ${pv}`);
  return last;
}

await C.check("Watch: events of two watched users in version order, with their contents", async () => {
  const u = U(2001), u2 = U(2002), other = U(2003);
  const w = watch([u, u2]);
  try {
    const v0 = await primeWatch(w, u, "Watch");
    const start = w.events.length;
    const want = [];
    const expect = (userId, userVersion, st, deleted = false) =>
      want.push({ userId, deleted, userVersion, channelId: st.channelId,
                  lastMessageId: st.lastMessageId, mentionCount: st.mentionCount, flags: st.flags });

    const a = await client.ack({ userId: u, channelId: 1n, messageId: 10n, mentionCount: 2 });
    expect(u, a.userVersion, a.state);
    const noop = await client.ack({ userId: u, channelId: 1n, messageId: 5n }); // no event
    eq(noop.applied, false, "older Ack applied");
    const s = await client.setReadState({ userId: u, channelId: 2n, messageId: 7n, mentionCount: 1 });
    expect(u, s.userVersion, s.state);
    const b = await client.bulkAck({ userId: u, entries: [{ channelId: 3n, messageId: 30n },
                                                          { channelId: 1n, messageId: 11n }] });
    eq(b.applied, 2, "BulkAck applied");
    expect(u, b.userVersion - 1n, b.states[0]);
    expect(u, b.userVersion, b.states[1]);
    const o = await client.ack({ userId: other, channelId: 1n, messageId: 1n }); // not watched
    eq(o.applied, true, "Ack of an unwatched user applied");
    const x = await client.ack({ userId: u2, channelId: 5n, messageId: 50n });
    expect(u2, x.userVersion, x.state);
    const m = await client.addMentions({ channelId: 1n, messageId: 20n, userIds: [u, other], count: 4 });
    eq(m.mentionCounts, [4, 4], "AddMentions mentionCounts");
    expect(u, b.userVersion + 1n, { channelId: 1n, lastMessageId: 11n, mentionCount: 4, flags: 0 });
    const d = await client.deleteReadStates({ userId: u, channelIds: [2n] });
    eq(d.deleted, 1, "DeleteReadStates deleted");
    want.push({ userId: u, deleted: true, userVersion: d.userVersion, channelId: 2n });

    const n = start + want.length;
    await w.waitFor((evs) => evs.length >= n, 5000);
    await sleep(200); // anything extra (no-ops, unwatched users) would be here by now
    if (w.finished) throw new Error(`the stream ended early: ${
      w.finished.ended === "error" ? describe(w.finished.err) : "end of stream"}`);
    const got = w.events.slice(start).map(evOf);
    ok(got.length === want.length, `Watch delivered ${got.length} events after version ${v0}, want ${
      want.length}: ${JSON.stringify(got, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
    for (let i = 0; i < want.length; i++) {
      const g = got[i], x2 = want[i];
      const pick = x2.deleted ? { userId: g.userId, deleted: g.deleted, userVersion: g.userVersion,
                                  channelId: g.channelId } : g;
      eq(pick, x2, `event ${i + 1} of ${want.length}`);
    }
    // version order per user, and the last event matches GetReadStates
    const g = await client.getReadStates({ userId: u });
    eq(g.userVersion, d.userVersion, "GetReadStates userVersion after the changes");
  } finally {
    w.abort();
    await Promise.race([w.done, sleep(5000)]);
  }
});

await C.check("Watch: abort ends the stream (Canceled) and the server drops the watch", async () => {
  const u = U(2101);
  const w = watch([u]);
  await primeWatch(w, u, "Watch");
  const open = await metric(srv.httpPort, "readstates_watches_open");
  ok(open >= 1, `readstates_watches_open is ${open} with a watch open`);
  w.abort();
  const d = await Promise.race([w.done, sleep(5000).then(() => null)]);
  ok(d !== null, "the stream did not end within 5 s of abort()");
  ok(d.ended === "error" && d.err?.code === Code.Canceled,
     `the aborted stream ended with ${d.ended === "error" ? describe(d.err) : "end of stream"}, want Canceled`);
  const closed = await until(async () => (await metric(srv.httpPort, "readstates_watches_open")) === 0,
                             5000, 50);
  ok(closed, `readstates_watches_open is still ${await metric(srv.httpPort,
     "readstates_watches_open")} 5 s after the client aborted`);
  const p = await client.ping({});
  ok(p.serverVersion.length > 0, "Ping after the aborted watch");
});

await C.check("Watch: 20 streams at once, each gets its own user's events", async () => {
  const ws = Array.from({ length: 20 }, (_, i) => ({ u: U(3000 + i), w: watch([U(3000 + i)]) }));
  try {
    const primed = [];
    for (const { u, w } of ws) primed.push(await primeWatch(w, u, `Watch of user ${u}`));
    const starts = ws.map(({ w }) => w.events.length);
    const acks = await Promise.all(ws.map(({ u }) =>
      client.ack({ userId: u, channelId: 42n, messageId: 4200n + u })));
    for (const [i, { u, w }] of ws.entries()) {
      await w.waitFor((evs) => evs.length >= starts[i] + 1, 5000);
      const got = w.events.slice(starts[i]).map(evOf);
      eq(got, [{ userId: u, deleted: false, userVersion: acks[i].userVersion, channelId: 42n,
                 lastMessageId: 4200n + u, mentionCount: 0, flags: 0 }],
         `stream ${i + 1} (user ${u}) after version ${primed[i]}`);
    }
  } finally {
    for (const { w } of ws) w.abort();
    await Promise.race([Promise.all(ws.map(({ w }) => w.done)), sleep(5000)]);
  }
  const closed = await until(async () => (await metric(srv.httpPort, "readstates_watches_open")) === 0,
                             5000, 50);
  ok(closed, "readstates_watches_open is not 0 5 s after the 20 streams were aborted");
});

await C.check("Watch: INVALID_ARGUMENT for a user id 0, naming user_ids", async () => {
  const w = watch([U(2201), 0n]);
  const d = await Promise.race([w.done, sleep(5000).then(() => null)]);
  if (d === null) {
    w.abort();
    throw new Error("Watch of user 0: the stream stayed open 5 s, want INVALID_ARGUMENT");
  }
  ok(d.ended === "error", "Watch of user 0: the stream ended without an error, want INVALID_ARGUMENT");
  ok(d.err.code === Code.InvalidArgument, `Watch of user 0: got ${describe(d.err)}, want InvalidArgument`);
  const msg = d.err.rawMessage ?? d.err.message;
  ok(msg.includes("user_ids"), `Watch of user 0: the message ${JSON.stringify(msg)} does not name user_ids`);
});

await C.check("the server still answers after the streams (Ping)", async () => {
  const p = await client.ping({});
  ok(p.serverVersion.length > 0, "Ping");
});

// Last: SIGTERM with a Watch open. The server ends the stream with
// UNAVAILABLE (proto/readstates.proto) and exits 0 without waiting on it.
let stopped = false;
await C.check("SIGTERM with a Watch open: the stream ends UNAVAILABLE, readstated exits 0", async () => {
  const u = U(2301);
  const w = watch([u]);
  await primeWatch(w, u, "Watch");
  const t0 = Date.now();
  const stop = srv.stop();
  stopped = true;
  const d = await Promise.race([w.done, sleep(10000).then(() => null)]);
  if (d === null) w.abort();
  await stop; // throws unless exit 0 within 15 s
  ok(d !== null, "the stream was still open 10 s after SIGTERM");
  ok(d.ended === "error" && d.err?.code === Code.Unavailable,
     `the stream ended with ${d.ended === "error" ? describe(d.err) : "end of stream, no status"}, want Unavailable`);
  console.log(`       stream ended ${Date.now() - t0} ms after SIGTERM`);
});
if (!stopped) {
  try {
    await srv.stop();
    C.results.push({ name: "readstated exits 0 on SIGTERM", ok: true });
    console.log("ok     readstated exits 0 on SIGTERM");
  } catch (e) {
    C.fail("readstated exits 0 on SIGTERM", describe(e));
  }
}
C.finish();
