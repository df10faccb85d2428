// page.mjs: the browser page's script (bundled into bundle.js by
// build-browser.mjs). It runs in headless Chromium from the test's own
// static server, so readstated's HTTP port (?api=http://127.0.0.1:PORT) is
// another origin: every call is a CORS request with a preflight.
//
// For each transport of @connectrpc/connect-web (gRPC-Web binary, Connect
// binary, Connect JSON), user ?user= + i:
//   - Ack(channel 1, message 100, mentions 2)
//   - Watch([user]): changes on channel 2 until an event arrives (the watch
//     is then registered), then three Acks on channel 3 (messages 10, 20,
//     30), the events collected, then the stream aborted
// and writes the outcomes (values, or the error's code and message) as JSON
// into <pre id="result">, one <li> per transport into #summary, and sets
// <body data-done="1">. Every wait is bounded; the page never throws.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { ReadStates } from "../gen/readstates_pb.js";

const q = new URLSearchParams(location.search);
const api = q.get("api");
const firstUser = BigInt(q.get("user") ?? "1");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const str = (v) => (typeof v === "bigint" ? String(v) : v);

function errorOf(e) {
  const ce = ConnectError.from(e);
  return { ok: false, name: e?.name, code: ce.code, codeName: Code[ce.code],
           rawMessage: ce.rawMessage, cause: ce.cause ? String(ce.cause) : null };
}

function stateOf(s) {
  return s ? { channelId: str(s.channelId), lastMessageId: str(s.lastMessageId),
               mentionCount: s.mentionCount, flags: s.flags, version: str(s.version) } : null;
}

async function runWatch(client, user) {
  const ac = new AbortController();
  const events = [];
  let end = null;
  const stream = client.watch({ userIds: [user] }, { signal: ac.signal });
  const done = (async () => {
    try {
      for await (const ev of stream)
        events.push({ userId: str(ev.userId), userVersion: str(ev.userVersion),
                      deleted: ev.deleted, state: stateOf(ev.state) });
      end = { ok: true, eof: true };
    } catch (e) {
      end = errorOf(e);
    }
  })();
  const out = { events, acks: [], primed: null };
  try {
    // Changes on channel 2 until the watch delivers one: it is registered then.
    let last = null;
    for (let i = 1; i <= 50 && events.length === 0 && end === null; i++) {
      last = await client.ack({ userId: user, channelId: 2n, messageId: BigInt(i) },
                              { timeoutMs: 10000 });
      for (let k = 0; k < 10 && events.length === 0 && end === null; k++) await sleep(10);
    }
    if (events.length === 0)
      throw new Error(end ? `the stream ended before any event: ${JSON.stringify(end)}`
                          : "no event after 50 changes of the watched user");
    out.primed = str(last.userVersion);
    for (let k = 0; k < 500 && end === null &&
                    !events.some((e) => e.userVersion === out.primed); k++) await sleep(10);
    const start = events.length;
    for (const m of [10n, 20n, 30n]) {
      const a = await client.ack({ userId: user, channelId: 3n, messageId: m },
                                 { timeoutMs: 10000 });
      out.acks.push({ applied: a.applied, userVersion: str(a.userVersion), state: stateOf(a.state) });
    }
    for (let k = 0; k < 500 && end === null && events.length < start + 3; k++) await sleep(10);
    out.after = events.slice(start);
    out.ok = true;
  } catch (e) {
    Object.assign(out, errorOf(e));
    // A call failed: give the stream the time to fail (or not) on its own
    // before aborting it, so its outcome is its own.
    await Promise.race([done, sleep(3000)]);
  }
  ac.abort();
  await Promise.race([done, sleep(5000)]);
  out.end = end ?? { ok: false, rawMessage: "the stream did not end within 5 s of abort()" };
  return out;
}

async function main() {
  const transports = [
    ["grpc-web", () => createGrpcWebTransport({ baseUrl: api })],
    ["connect-proto", () => createConnectTransport({ baseUrl: api, useBinaryFormat: true })],
    ["connect-json", () => createConnectTransport({ baseUrl: api, useBinaryFormat: false })],
  ];
  const results = { origin: location.origin, api, transports: {} };
  for (let i = 0; i < transports.length; i++) {
    const [name, make] = transports[i];
    const user = firstUser + BigInt(i);
    const r = { user: String(user) };
    const client = createClient(ReadStates, make());
    try {
      const a = await client.ack({ userId: user, channelId: 1n, messageId: 100n, mentionCount: 2 },
                                 { timeoutMs: 10000 });
      r.ack = { ok: true, applied: a.applied, userVersion: str(a.userVersion), state: stateOf(a.state) };
    } catch (e) {
      r.ack = errorOf(e);
    }
    r.watch = await runWatch(client, user);
    results.transports[name] = r;
    const li = document.createElement("li");
    li.dataset.transport = name;
    li.dataset.ack = r.ack.ok ? "ok" : "error";
    li.dataset.watch = r.watch.ok ? "ok" : "error";
    li.textContent = `${name}: Ack ${r.ack.ok ? "ok" : `${r.ack.codeName} ${r.ack.rawMessage}`}; ` +
                     `Watch ${r.watch.ok ? `${r.watch.events.length} events` :
                                           `${r.watch.codeName ?? ""} ${r.watch.rawMessage}`}`;
    document.getElementById("summary").appendChild(li);
  }
  return results;
}

main()
  .catch((e) => ({ fatal: String(e?.stack ?? e) }))
  .then((results) => {
    document.getElementById("result").textContent = JSON.stringify(results);
    document.body.dataset.done = "1";
  });
