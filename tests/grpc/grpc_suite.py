#!/usr/bin/python3
"""grpc_suite.py: readstated's gRPC service on its HTTP port (HTTP/2
cleartext with prior knowledge), driven by Python's official gRPC client
(Debian python3-grpcio) with message classes generated at run time by protoc
(Debian protobuf-compiler, python3-protobuf) from proto/.

Every group starts its own real readstated on ephemeral loopback ports
(--listen 127.0.0.1:0 --http 127.0.0.1:0 and the port files), memory-only
unless it says otherwise, and stops it by PID with SIGTERM, expecting exit
code 0. The deadline group also starts its own redis-server on a free
loopback port and stops it by PID.

Groups (--group, one ctest each; tests/grpc.cmake):
  unary        every unary method's answers and values, the same state seen
               over gRPC, the framed TCP protocol and Connect on HTTP/1.1,
               INVALID_ARGUMENT with the framed protocol's exact messages,
               UNIMPLEMENTED (a gRPC status, not an HTTP error) for unknown
               methods and services, application/grpc+proto and +json
               (curl, trailers), a request over one DATA frame and a
               10000-state answer, HTTP/1.1 still served on the port
  watch        server-streaming Watch: headers once registered, one event per
               applied change made over gRPC, framed TCP and Connect, in each
               user's version order, no events for no-ops or unwatched users;
               four concurrent writers against a gRPC and a framed watcher;
               cancel closes the watch on the server; an unread Watch
               (--max-output 64KiB) ends RESOURCE_EXHAUSTED while a reading
               one gets everything; SIGTERM ends a Watch UNAVAILABLE
  health       grpc.health.v1 Check and Watch
  reflection   grpc.reflection.v1 and v1alpha ServerReflectionInfo, and a
               call made with the message classes built from its answer
  concurrency  1000 concurrent Acks and 1000 open Watch streams on ONE
               channel (one HTTP/2 connection, by the metrics); the default
               limit of 1024 streams and --http2-max-streams 8 enforced
  deadline     (with a redis-server, write-through) grpc-timeout against a
               stalled Redis (SIGSTOP): the client and the server (curl, raw
               trailers) see DEADLINE_EXCEEDED in about 300 ms, other
               streams of the connection are served meanwhile; health
               follows readiness when Redis stops and comes back

A check that fails prints FAIL with the reason and the group exits 1; the
remaining checks of the group still run. Every wait is bounded.
"""
import argparse
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    import grpc
except ImportError as e:  # fail loudly: this is a test dependency
    sys.stderr.write("grpc_suite: cannot import grpc (%s): install Debian's python3-grpcio "
                     "and run this with /usr/bin/python3\n" % e)
    sys.exit(1)
try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as e:
    sys.stderr.write("grpc_suite: cannot import google.protobuf (%s): install Debian's "
                     "python3-protobuf and run this with /usr/bin/python3\n" % e)
    sys.exit(1)

SVC = "/readstates.v1.ReadStates/"
CALL_TIMEOUT = 10.0      # seconds, any single call expected to succeed
START_TIMEOUT = 15.0     # readstated / redis-server start
STOP_TIMEOUT = 30.0      # SIGTERM to exit
QUIET = 0.3              # how long "no more events" is watched for


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def now_ms():
    return int(time.time() * 1000)


# ---- the run's context: temporary folder, generated code, processes --------

class Ctx:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="rs-grpc-")
        self.procs = []  # every process started, stopped by PID at the end
        self.stopped = set()  # pids SIGSTOPped (SIGCONT before killing)

    def gen_protos(self):
        protoc = self.args.protoc
        if not protoc or protoc.endswith("NOTFOUND") or shutil.which(protoc) is None:
            raise Failure("protoc not found (%r): install Debian's protobuf-compiler" % protoc)
        out = os.path.join(self.tmp, "gen")
        os.mkdir(out)
        files = ["readstates.proto", "grpc/health/v1/health.proto",
                 "grpc/reflection/v1/reflection.proto",
                 "grpc/reflection/v1alpha/reflection.proto"]
        r = subprocess.run([protoc, "--proto_path=" + self.args.proto_dir,
                            "--python_out=" + out] + files,
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failure("protoc failed (%d): %s" % (r.returncode, r.stderr.strip()))

        # Loaded by path under private names: a generated package "grpc"
        # would shadow grpcio's.
        def load(name, rel):
            spec = importlib.util.spec_from_file_location(name, os.path.join(out, rel))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
        self.pb = load("rs_readstates_pb2", "readstates_pb2.py")
        self.health = load("rs_health_pb2", "grpc/health/v1/health_pb2.py")
        self.refl = load("rs_reflection_v1_pb2", "grpc/reflection/v1/reflection_pb2.py")
        self.refl_a = load("rs_reflection_v1alpha_pb2",
                           "grpc/reflection/v1alpha/reflection_pb2.py")

    def start(self, argv, log_path):
        log = open(log_path, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                if p.pid in self.stopped:
                    os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if os.environ.get("RS_GRPC_KEEP_TMP"):
            print("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def log_tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return data[-n:].decode("utf-8", "replace")
    except OSError as e:
        return "(no log: %s)" % e


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A real readstated on ephemeral loopback ports."""

    def __init__(self, ctx, extra_args=(), name="readstated"):
        self.ctx = ctx
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=ctx.tmp)
        self.log = os.path.join(self.dir, "readstated.log")
        pf = os.path.join(self.dir, "port")
        hpf = os.path.join(self.dir, "http_port")
        argv = [ctx.args.readstated, "--listen", "127.0.0.1:0", "--port-file", pf,
                "--http", "127.0.0.1:0", "--http-port-file", hpf] + list(extra_args)
        self.proc = ctx.start(argv, self.log)
        deadline = time.monotonic() + START_TIMEOUT
        self.port = self.http_port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure("readstated %s exited with %d at start:\n%s" %
                              (" ".join(extra_args), self.proc.returncode,
                               log_tail(self.log)))
            self.port = self.port or read_port(pf)
            self.http_port = self.http_port or read_port(hpf)
            if self.port and self.http_port:
                return
            time.sleep(0.02)
        raise Failure("readstated wrote no port files within %.0f s:\n%s" %
                      (START_TIMEOUT, log_tail(self.log)))

    def target(self):
        return "127.0.0.1:%d" % self.http_port

    def stop(self):
        """SIGTERM by PID; the exit code must be 0."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure("readstated did not exit within %.0f s of SIGTERM" % STOP_TIMEOUT)
        if rc != 0:
            raise Failure("readstated exited with %d after SIGTERM:\n%s" % (rc, log_tail(self.log)))

    def metrics(self):
        """/metrics over HTTP/1.1: {'name{labels}': value}."""
        self.metrics_requests = getattr(self, "metrics_requests", 0) + 1
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=CALL_TIMEOUT)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            body = r.read().decode()
            eq(r.status, 200, "GET /metrics status")
        finally:
            conn.close()
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, val = line.rpartition(" ")
            try:
                out[key] = float(val)
            except ValueError:
                pass
        return out


def read_port(path):
    try:
        with open(path) as f:
            s = f.read().strip()
        return int(s) if s.isdigit() and int(s) > 0 else None
    except OSError:
        return None


def channel(srv, options=()):
    ch = grpc.insecure_channel(srv.target(), options=[("grpc.enable_http_proxy", 0)] +
                               list(options))
    try:
        grpc.channel_ready_future(ch).result(timeout=CALL_TIMEOUT)
    except grpc.FutureTimeoutError:
        ch.close()
        raise Failure("gRPC channel to %s (HTTP/2 with prior knowledge) not READY within "
                      "%.0f s: the HTTP port does not speak h2c" % (srv.target(), CALL_TIMEOUT))
    return ch


# ---- the three transports ----------------------------------------------------

class Api:
    """The ReadStates methods over a gRPC channel."""

    def __init__(self, ctx, ch):
        pb = ctx.pb
        self.pb = pb

        def u(method, req, resp):
            return ch.unary_unary(SVC + method, request_serializer=req.SerializeToString,
                                  response_deserializer=resp.FromString)
        self.Ping = u("Ping", pb.PingRequest, pb.PingResponse)
        self.Ack = u("Ack", pb.AckRequest, pb.AckResponse)
        self.SetReadState = u("SetReadState", pb.SetReadStateRequest, pb.AckResponse)
        self.BulkAck = u("BulkAck", pb.BulkAckRequest, pb.BulkAckResponse)
        self.AddMentions = u("AddMentions", pb.AddMentionsRequest, pb.AddMentionsResponse)
        self.GetReadStates = u("GetReadStates", pb.GetReadStatesRequest,
                               pb.GetReadStatesResponse)
        self.DeleteReadStates = u("DeleteReadStates", pb.DeleteReadStatesRequest,
                                  pb.DeleteReadStatesResponse)
        self.GetRing = u("GetRing", pb.GetRingRequest, pb.GetRingResponse)
        self.Watch = ch.unary_stream(SVC + "Watch",
                                     request_serializer=pb.WatchRequest.SerializeToString,
                                     response_deserializer=pb.ReadStateEvent.FromString)


class Framed:
    """The framed TCP protocol: 4-byte big-endian length + Request/Response."""

    def __init__(self, ctx, port):
        self.pb = ctx.pb
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT)
        self.next_id = 1

    def send(self, **call):
        rid = self.next_id
        self.next_id += 1
        data = self.pb.Request(id=rid, **call).SerializeToString()
        self.sock.sendall(struct.pack(">I", len(data)) + data)
        return rid

    def recv(self, timeout=CALL_TIMEOUT):
        self.sock.settimeout(timeout)
        n = struct.unpack(">I", self._exact(4))[0]
        return self.pb.Response.FromString(self._exact(n))

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Failure("framed connection closed by the server")
            buf += chunk
        return buf

    def call(self, **call):
        rid = self.send(**call)
        for _ in range(10000):  # skip events of a watch on this connection
            r = self.recv()
            if r.id == rid and r.WhichOneof("result") != "event":
                return r
        raise Failure("no framed answer to request %d" % rid)

    def ok(self, field, **call):
        r = self.call(**call)
        eq(r.status.code, 0, "framed %s status (%s)" % (field, r.status.message))
        return getattr(r, field)

    def close(self):
        self.sock.close()


def connect_call(ctx, srv, method, req, resp_cls):
    """Connect unary over HTTP/1.1, application/proto."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=CALL_TIMEOUT)
    try:
        conn.request("POST", SVC + method, body=req.SerializeToString(),
                     headers={"Content-Type": "application/proto"})
        r = conn.getresponse()
        body = r.read()
        eq(r.version, 11, "Connect %s HTTP version" % method)
        if r.status != 200:
            raise Failure("Connect %s over HTTP/1.1: status %d: %r" % (method, r.status, body))
        return resp_cls.FromString(body)
    finally:
        conn.close()


def expect_rpc_error(fn, code, what, contains=None):
    try:
        fn()
    except grpc.RpcError as e:
        if e.code() != code:
            raise Failure("%s: expected %s, got %s (%r)" % (what, code.name, e.code().name,
                                                           e.details()))
        if contains is not None and contains not in (e.details() or ""):
            raise Failure("%s: message %r does not contain %r" % (what, e.details(), contains))
        return e
    raise Failure("%s: expected %s, got a successful answer" % (what, code.name))


def curl_grpc(ctx, srv, path, body, content_type="application/grpc", headers=(),
              max_time=10):
    """A gRPC call made by curl over h2c with prior knowledge. Returns
    (http status, {lowercased header or trailer: value}, body, seconds)."""
    curl = ctx.args.curl
    if not curl or curl.endswith("NOTFOUND") or shutil.which(curl) is None:
        raise Failure("curl not found (%r): install Debian's curl" % curl)
    d = tempfile.mkdtemp(prefix="curl-", dir=ctx.tmp)
    bf, hf, of = (os.path.join(d, n) for n in ("req", "headers", "resp"))
    with open(bf, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(body)) + body)
    argv = [curl, "-sS", "--http2-prior-knowledge", "--noproxy", "*", "-X", "POST",
            "-H", "content-type: " + content_type, "-H", "te: trailers",
            "--data-binary", "@" + bf, "-D", hf, "-o", of, "-w", "%{http_code} %{http_version}",
            "--max-time", str(max_time)]
    for h in headers:
        argv += ["-H", h]
    argv.append("http://%s%s" % (srv.target(), path))
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=max_time + 10)
    elapsed = time.monotonic() - t0
    if r.returncode != 0:
        raise Failure("curl %s: exit %d after %.2f s: %s" % (path, r.returncode, elapsed,
                                                             r.stderr.strip()))
    code, _, version = r.stdout.partition(" ")
    eq(version, "2", "curl %s HTTP version" % path)
    hdrs = {}
    with open(hf, "rb") as f:
        for line in f.read().decode("latin-1").splitlines():
            k, sep, v = line.partition(":")
            if sep and not k.startswith("HTTP/"):
                hdrs[k.strip().lower()] = v.strip()
    with open(of, "rb") as f:
        out = f.read()
    return int(code), hdrs, out, elapsed


def grpc_frames(data):
    """Split a gRPC body into its messages."""
    msgs = []
    while data:
        check(len(data) >= 5, "truncated gRPC message prefix")
        flag, n = data[0], struct.unpack(">I", data[1:5])[0]
        eq(flag, 0, "gRPC message compressed flag")
        msgs.append(data[5:5 + n])
        check(len(data) >= 5 + n, "truncated gRPC message")
        data = data[5 + n:]
    return msgs


# ---- group: unary ------------------------------------------------------------

def g_unary(ctx, run):
    pb = ctx.pb
    srv = Server(ctx)
    ch = channel(srv)
    api = Api(ctx, ch)
    U = 101

    def ping():
        t0 = now_ms()
        r = api.Ping(pb.PingRequest(), timeout=CALL_TIMEOUT)
        check(r.server_version != "", "Ping: empty server_version")
        check(abs(r.server_time_ms - t0) < 60000,
              "Ping: server_time_ms %d is far from now %d" % (r.server_time_ms, t0))
    run("ping", ping)

    def values():
        r = api.Ack(pb.AckRequest(user_id=U, channel_id=7, message_id=100, mention_count=2),
                    timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version), (True, 1), "Ack (applied, user_version)")
        eq((r.state.channel_id, r.state.last_message_id, r.state.mention_count,
            r.state.flags, r.state.version), (7, 100, 2, 0, 1), "Ack state")
        r = api.Ack(pb.AckRequest(user_id=U, channel_id=7, message_id=50), timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version, r.state.last_message_id, r.state.mention_count),
           (False, 1, 100, 2), "older Ack (applied, user_version, last, mentions)")
        r = api.SetReadState(pb.SetReadStateRequest(user_id=U, channel_id=7, message_id=40,
                                                    mention_count=5), timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version), (True, 2), "SetReadState (applied, user_version)")
        eq((r.state.last_message_id, r.state.mention_count, r.state.flags, r.state.version),
           (40, 5, 1, 2), "SetReadState state (last, mentions, MANUAL flag, version)")
        r = api.BulkAck(pb.BulkAckRequest(user_id=U, entries=[
            pb.AckEntry(channel_id=7, message_id=120), pb.AckEntry(channel_id=7, message_id=110),
            pb.AckEntry(channel_id=8, message_id=3), pb.AckEntry(channel_id=9, message_id=4)]),
            timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version), (3, 5), "BulkAck (applied, user_version)")
        last = {s.channel_id: s.last_message_id for s in r.states}
        eq((last.get(7), last.get(8), last.get(9)), (120, 3, 4), "BulkAck states' last ids")
        r = api.AddMentions(pb.AddMentionsRequest(channel_id=8, message_id=10,
                                                  user_ids=[U, U + 1], count=3),
                            timeout=CALL_TIMEOUT)
        eq(list(r.mention_counts), [3, 3], "AddMentions mention_counts")
        r = api.AddMentions(pb.AddMentionsRequest(channel_id=8, message_id=2, user_ids=[U]),
                            timeout=CALL_TIMEOUT)
        eq(list(r.mention_counts), [3], "AddMentions in a read message: mention_counts")
        r = api.GetReadStates(pb.GetReadStatesRequest(user_id=U), timeout=CALL_TIMEOUT)
        eq(r.user_version, 6, "GetReadStates user_version")
        eq([(s.channel_id, s.last_message_id, s.mention_count, s.flags, s.version)
            for s in r.states],
           [(7, 120, 0, 0, 3), (8, 3, 3, 0, 6), (9, 4, 0, 0, 5)], "GetReadStates states")
        r = api.GetReadStates(pb.GetReadStatesRequest(user_id=U, channel_ids=[9, 7, 12345]),
                              timeout=CALL_TIMEOUT)
        eq([s.channel_id for s in r.states], [7, 9], "GetReadStates of [9, 7, 12345]: channels")
        r = api.DeleteReadStates(pb.DeleteReadStatesRequest(user_id=U, channel_ids=[8, 999]),
                                 timeout=CALL_TIMEOUT)
        eq((r.deleted, r.user_version), (1, 7), "DeleteReadStates [8, 999]")
        r = api.DeleteReadStates(pb.DeleteReadStatesRequest(user_id=U, channel_ids=[8]),
                                 timeout=CALL_TIMEOUT)
        eq((r.deleted, r.user_version), (0, 7), "DeleteReadStates of nothing")
        r = api.DeleteReadStates(pb.DeleteReadStatesRequest(user_id=U, all=True),
                                 timeout=CALL_TIMEOUT)
        eq((r.deleted, r.user_version), (2, 8), "DeleteReadStates all")
        r = api.GetReadStates(pb.GetReadStatesRequest(user_id=U), timeout=CALL_TIMEOUT)
        eq((len(r.states), r.user_version), (0, 8), "GetReadStates after delete all")
    run("unary methods' values (Ack, SetReadState, BulkAck, AddMentions, GetReadStates, "
        "DeleteReadStates)", values)

    def ring():
        r = api.GetRing(pb.GetRingRequest(), timeout=CALL_TIMEOUT)
        eq(r.generation, 0, "GetRing generation outside a fleet")
        eq([(n.node_id, n.address) for n in r.nodes], [("", "127.0.0.1:%d" % srv.port)],
           "GetRing nodes")
        eq([(s.first_slot, s.last_slot, s.node) for s in r.ranges], [(0, 16383, 0)],
           "GetRing ranges")
    run("GetRing", ring)

    def transports():
        f = Framed(ctx, srv.port)
        try:
            # gRPC writes, framed and Connect read
            r = api.Ack(pb.AckRequest(user_id=U + 50, channel_id=3, message_id=30),
                        timeout=CALL_TIMEOUT)
            eq(r.user_version, 1, "gRPC Ack user_version")
            g = f.ok("get", get=pb.GetReadStatesRequest(user_id=U + 50))
            eq([(s.channel_id, s.last_message_id) for s in g.states], [(3, 30)],
               "framed GetReadStates after a gRPC Ack")
            g = connect_call(ctx, srv, "GetReadStates", pb.GetReadStatesRequest(user_id=U + 50),
                             pb.GetReadStatesResponse)
            eq([(s.channel_id, s.last_message_id, g.user_version) for s in g.states],
               [(3, 30, 1)], "Connect (HTTP/1.1) GetReadStates after a gRPC Ack")
            # framed and Connect write, gRPC reads
            a = f.ok("ack", ack=pb.AckRequest(user_id=U + 50, channel_id=4, message_id=40))
            eq((a.applied, a.user_version), (True, 2), "framed Ack")
            a = connect_call(ctx, srv, "SetReadState",
                             pb.SetReadStateRequest(user_id=U + 50, channel_id=3, message_id=31,
                                                    mention_count=1), pb.AckResponse)
            eq((a.applied, a.user_version), (True, 3), "Connect SetReadState")
            g = api.GetReadStates(pb.GetReadStatesRequest(user_id=U + 50), timeout=CALL_TIMEOUT)
            eq([(s.channel_id, s.last_message_id, s.mention_count, s.flags) for s in g.states],
               [(3, 31, 1, 1), (4, 40, 0, 0)], "gRPC GetReadStates after framed and Connect")
            eq(g.user_version, 3, "gRPC GetReadStates user_version")
        finally:
            f.close()
    run("one state over gRPC, framed TCP and Connect on HTTP/1.1", transports)

    def invalid():
        V = 3001
        r = api.Ack(pb.AckRequest(user_id=V, channel_id=10, message_id=100),
                    timeout=CALL_TIMEOUT)
        eq(r.user_version, 1, "setup Ack")
        f = Framed(ctx, srv.port)
        many = [pb.AckEntry(channel_id=10, message_id=1000 + i) for i in range(1001)]
        cases = [
            ("ack", "Ack", pb.AckRequest(user_id=0, channel_id=10, message_id=200),
             "ack.user_id"),
            ("ack", "Ack", pb.AckRequest(user_id=V, channel_id=0, message_id=200),
             "ack.channel_id"),
            ("set", "SetReadState", pb.SetReadStateRequest(user_id=0, channel_id=10),
             "set.user_id"),
            ("set", "SetReadState", pb.SetReadStateRequest(user_id=V, channel_id=0),
             "set.channel_id"),
            ("bulk_ack", "BulkAck", pb.BulkAckRequest(user_id=0), "bulk_ack.user_id"),
            ("bulk_ack", "BulkAck", pb.BulkAckRequest(user_id=V, entries=[
                pb.AckEntry(channel_id=10, message_id=500), pb.AckEntry(channel_id=0)]),
             "bulk_ack.entries[1].channel_id"),
            ("bulk_ack", "BulkAck", pb.BulkAckRequest(user_id=V, entries=many),
             "bulk_ack.entries"),
            ("add_mentions", "AddMentions",
             pb.AddMentionsRequest(channel_id=0, message_id=200, user_ids=[V]),
             "add_mentions.channel_id"),
            ("add_mentions", "AddMentions",
             pb.AddMentionsRequest(channel_id=10, message_id=200), "add_mentions.user_ids"),
            ("add_mentions", "AddMentions",
             pb.AddMentionsRequest(channel_id=10, message_id=200, user_ids=[V, 0]),
             "add_mentions.user_ids[1]"),
            ("add_mentions", "AddMentions",
             pb.AddMentionsRequest(channel_id=10, message_id=200,
                                   user_ids=list(range(V, V + 1001))),
             "add_mentions.user_ids"),
            ("get", "GetReadStates", pb.GetReadStatesRequest(user_id=0), "get.user_id"),
            ("get", "GetReadStates", pb.GetReadStatesRequest(user_id=V, channel_ids=[10, 0]),
             "get.channel_ids[1]"),
            ("delete", "DeleteReadStates", pb.DeleteReadStatesRequest(user_id=0, all=True),
             "delete.user_id"),
            ("delete", "DeleteReadStates",
             pb.DeleteReadStatesRequest(user_id=V, channel_ids=[0]), "delete.channel_ids[0]"),
        ]
        try:
            for field, method, req, name in cases:
                e = expect_rpc_error(lambda: getattr(api, method)(req, timeout=CALL_TIMEOUT),
                                     grpc.StatusCode.INVALID_ARGUMENT,
                                     "%s with a bad %s" % (method, name), contains=name)
                fr = f.call(**{field: req})
                eq(fr.status.code, 3, "framed %s with a bad %s: code" % (method, name))
                eq(e.details(), fr.status.message,
                   "gRPC %s message vs the framed protocol's" % method)
            # Watch: the error ends the stream before any event
            call = api.Watch(pb.WatchRequest(), timeout=CALL_TIMEOUT)
            e = expect_rpc_error(lambda: next(call), grpc.StatusCode.INVALID_ARGUMENT,
                                 "Watch without users", contains="watch.user_ids")
            fr = f.call(watch=pb.WatchRequest())
            eq(e.details(), fr.status.message, "gRPC Watch message vs the framed protocol's")
            call = api.Watch(pb.WatchRequest(user_ids=[V, 0]), timeout=CALL_TIMEOUT)
            expect_rpc_error(lambda: next(call), grpc.StatusCode.INVALID_ARGUMENT,
                             "Watch of user 0", contains="watch.user_ids[1]")
        finally:
            f.close()
        g = api.GetReadStates(pb.GetReadStatesRequest(user_id=V), timeout=CALL_TIMEOUT)
        eq((g.user_version, [(s.channel_id, s.last_message_id) for s in g.states]),
           (1, [(10, 100)]), "user after the invalid calls (unchanged)")
    run("INVALID_ARGUMENT naming the field, the framed protocol's exact messages", invalid)

    def unimplemented():
        for path in (SVC + "NoSuchMethod", "/readstates.v1.NoSuchService/Ping",
                     "/readstates.v1.ReadStates/Auth"):
            m = ch.unary_unary(path, request_serializer=pb.PingRequest.SerializeToString,
                               response_deserializer=pb.PingResponse.FromString)
            e = expect_rpc_error(lambda: m(pb.PingRequest(), timeout=CALL_TIMEOUT),
                                 grpc.StatusCode.UNIMPLEMENTED, "call of %s" % path)
            # a gRPC status, not an HTTP error the client maps (404 -> 12)
            check(not (e.details() or "").startswith("Received http2 header with status"),
                  "call of %s: UNIMPLEMENTED only from an HTTP error status: %r" %
                  (path, e.details()))
        code, hdrs, _, _ = curl_grpc(ctx, srv, SVC + "NoSuchMethod", b"")
        eq((code, hdrs.get("grpc-status")), (200, "12"),
           "curl of an unknown method: HTTP status, grpc-status trailer")
        # the channel is still usable afterwards
        api.Ping(pb.PingRequest(), timeout=CALL_TIMEOUT)
    run("UNIMPLEMENTED for unknown methods and services", unimplemented)

    def grpc_proto_ct():
        for ct in ("application/grpc+proto", "application/grpc"):
            code, hdrs, body, _ = curl_grpc(ctx, srv, SVC + "Ack", pb.AckRequest(
                user_id=U + 60, channel_id=1, message_id=5).SerializeToString(),
                content_type=ct)
            eq(code, 200, "curl %s HTTP status" % ct)
            eq(hdrs.get("grpc-status"), "0", "curl %s grpc-status trailer" % ct)
            check(hdrs.get("content-type", "").startswith("application/grpc"),
                  "curl %s response content-type %r" % (ct, hdrs.get("content-type")))
            msgs = grpc_frames(body)
            eq(len(msgs), 1, "curl %s: messages in the response" % ct)
            a = pb.AckResponse.FromString(msgs[0])
            eq(a.state.last_message_id, 5, "curl %s Ack state" % ct)
        code, hdrs, body, _ = curl_grpc(
            ctx, srv, SVC + "Ack", b'{"userId":"161","channelId":"1","messageId":"6"}',
            content_type="application/grpc+json")
        eq((code, hdrs.get("grpc-status")), (200, "0"), "curl application/grpc+json Ack: "
           "HTTP status, grpc-status")
        msgs = grpc_frames(body)
        eq(len(msgs), 1, "application/grpc+json: messages in the response")
        try:
            j = json.loads(msgs[0])
        except ValueError:
            raise Failure("application/grpc+json answer is not JSON: %r" % msgs[0])
        eq((j.get("applied"), j.get("state", {}).get("lastMessageId")), (True, "6"),
           "application/grpc+json Ack answer (applied, state.lastMessageId)")
        code, hdrs, body, _ = curl_grpc(ctx, srv, SVC + "Ack",
                                        pb.AckRequest(user_id=0).SerializeToString())
        eq((code, hdrs.get("grpc-status")), (200, "3"), "curl bad Ack: HTTP status, grpc-status")
        check("ack.user_id" in grpc_message_decode(hdrs.get("grpc-message", "")),
              "curl bad Ack grpc-message %r names ack.user_id" % hdrs.get("grpc-message"))
    run("application/grpc+proto, application/grpc and +json over curl (trailers)", grpc_proto_ct)

    def large():
        # a request over one 16 KiB DATA frame, and answers over the 64 KiB
        # initial flow-control window
        L = 5001
        big = 1 << 60
        for k in range(10):
            r = api.BulkAck(pb.BulkAckRequest(user_id=L, entries=[
                pb.AckEntry(channel_id=big + k * 1000 + i, message_id=big + i)
                for i in range(1000)]), timeout=CALL_TIMEOUT)
            eq((r.applied, r.user_version), (1000, 1000 * (k + 1)), "BulkAck %d of 1000" % k)
        r = api.GetReadStates(pb.GetReadStatesRequest(user_id=L), timeout=CALL_TIMEOUT)
        check(r.ByteSize() > 200000, "GetReadStates answer is only %d bytes" % r.ByteSize())
        eq(r.user_version, 10000, "GetReadStates of 10000 states: user_version")
        eq([(s.channel_id, s.last_message_id) for s in r.states],
           [(big + k * 1000 + i, big + i) for k in range(10) for i in range(1000)],
           "GetReadStates of 10000 states: channels and last ids, sorted")
    run("large messages: 1000-entry BulkAcks (%s), a 10000-state answer" % "~25 KiB",
        large)

    def http1_still():
        conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=CALL_TIMEOUT)
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            eq((r.version, r.status), (11, 200), "GET /healthz over HTTP/1.1")
        finally:
            conn.close()
        r = connect_call(ctx, srv, "Ping", pb.PingRequest(), pb.PingResponse)
        check(r.server_version != "", "Connect Ping over HTTP/1.1: empty server_version")
    run("HTTP/1.1 still served on the same port", http1_still)

    ch.close()
    run("readstated stops with exit code 0", srv.stop)


def grpc_message_decode(s):
    """grpc-message is percent-encoded."""
    import urllib.parse
    return urllib.parse.unquote(s)


# ---- group: watch ------------------------------------------------------------

class EventReader:
    """Reads a gRPC Watch stream in a thread into a queue."""

    def __init__(self, call):
        self.call = call
        self.events = []
        self.error = None
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ev in self.call:
                with self.cv:
                    self.events.append(ev)
                    self.cv.notify_all()
        except grpc.RpcError as e:
            self.error = e
        with self.cv:
            self.done = True
            self.cv.notify_all()

    def wait_count(self, n, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while len(self.events) < n and self.thread.is_alive():
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cv.wait(left)
            return list(self.events)

    def stop(self):
        self.call.cancel()
        self.thread.join(timeout=CALL_TIMEOUT)
        check(not self.thread.is_alive(), "Watch stream did not end after cancel")


class FramedWatcher:
    """A framed TCP Watch read in a thread."""

    def __init__(self, ctx, port, users):
        self.f = Framed(ctx, port)
        r = self.f.call(watch=ctx.pb.WatchRequest(user_ids=users))
        eq(r.status.code, 0, "framed Watch answer (%s)" % r.status.message)
        self.wid = r.id
        self.events = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                r = self.f.recv(timeout=0.2)
            except socket.timeout:
                continue
            except (OSError, Failure):
                return
            if r.WhichOneof("result") == "event" and r.id == self.wid:
                with self.lock:
                    self.events.append(r.event)

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=CALL_TIMEOUT)
        self.f.close()


def ev_key(e):
    return (e.user_id, e.user_version, e.state.channel_id, e.deleted,
            None if e.deleted else (e.state.last_message_id, e.state.mention_count,
                                    e.state.flags, e.state.version))


def per_user(events):
    out = {}
    for e in events:
        out.setdefault(e.user_id, []).append(ev_key(e))
    return out


def normalize(seq):
    """Events of one delete share a version; their order is free."""
    out, i = [], 0
    while i < len(seq):
        j = i
        while j < len(seq) and seq[j][1] == seq[i][1]:
            j += 1
        out.append(sorted(seq[i:j], key=repr))
        i = j
    return out


def g_watch(ctx, run):
    pb = ctx.pb
    srv = Server(ctx)
    ch_w = channel(srv)   # the watcher's channel, also used for some writes
    ch_x = channel(srv)   # another gRPC connection
    w_api, x_api = Api(ctx, ch_w), Api(ctx, ch_x)
    T = CALL_TIMEOUT

    def sequence():
        A, B, C = 201, 202, 203
        call = w_api.Watch(pb.WatchRequest(user_ids=[A, B]), timeout=60)
        t0 = time.monotonic()
        try:
            md = call.initial_metadata()
        except grpc.RpcError as e:
            raise Failure("Watch: no response headers: %s %s" % (e.code(), e.details()))
        check(md is not None, "Watch: no response headers")
        check(time.monotonic() - t0 < 5, "Watch: headers took %.1f s" % (time.monotonic() - t0))
        rd = EventReader(call)
        f = Framed(ctx, srv.port)
        try:
            r = x_api.Ack(pb.AckRequest(user_id=A, channel_id=1, message_id=100), timeout=T)
            eq(r.user_version, 1, "1 gRPC Ack")
            r = f.ok("ack", ack=pb.AckRequest(user_id=A, channel_id=1, message_id=100))
            eq(r.applied, False, "2 framed equal Ack applied")
            r = connect_call(ctx, srv, "Ack", pb.AckRequest(user_id=B, channel_id=5,
                                                             message_id=10, mention_count=1),
                             pb.AckResponse)
            eq(r.user_version, 1, "3 Connect Ack")
            r = w_api.SetReadState(pb.SetReadStateRequest(user_id=A, channel_id=2, message_id=40,
                                                          mention_count=3), timeout=T)
            eq(r.user_version, 2, "4 gRPC SetReadState on the watcher's channel")
            r = f.ok("bulk_ack", bulk_ack=pb.BulkAckRequest(user_id=A, entries=[
                pb.AckEntry(channel_id=1, message_id=110), pb.AckEntry(channel_id=1, message_id=105),
                pb.AckEntry(channel_id=3, message_id=7), pb.AckEntry(channel_id=2, message_id=40)]))
            eq((r.applied, r.user_version), (2, 4), "5 framed BulkAck")
            r = x_api.Ack(pb.AckRequest(user_id=C, channel_id=1, message_id=1), timeout=T)
            eq(r.user_version, 1, "6 gRPC Ack of an unwatched user")
            r = connect_call(ctx, srv, "AddMentions", pb.AddMentionsRequest(
                channel_id=3, message_id=8, user_ids=[A, B], count=2), pb.AddMentionsResponse)
            eq(list(r.mention_counts), [2, 2], "7 Connect AddMentions")
            r = f.ok("add_mentions", add_mentions=pb.AddMentionsRequest(
                channel_id=1, message_id=90, user_ids=[A], count=2))
            eq(list(r.mention_counts), [0], "8 framed AddMentions in a read message")
            r = x_api.DeleteReadStates(pb.DeleteReadStatesRequest(user_id=A,
                                                                  channel_ids=[1, 3, 999]),
                                       timeout=T)
            eq((r.deleted, r.user_version), (2, 6), "9 gRPC DeleteReadStates")
            r = connect_call(ctx, srv, "DeleteReadStates",
                             pb.DeleteReadStatesRequest(user_id=B, all=True),
                             pb.DeleteReadStatesResponse)
            eq((r.deleted, r.user_version), (2, 3), "10 Connect DeleteReadStates all")
            r = f.ok("set", set=pb.SetReadStateRequest(user_id=B, channel_id=9, message_id=5))
            eq(r.user_version, 4, "11 framed SetReadState")
            r = w_api.Ack(pb.AckRequest(user_id=A, channel_id=2, message_id=50, mention_count=1),
                          timeout=T)
            eq(r.user_version, 7, "12 gRPC Ack on the watcher's channel")
        finally:
            f.close()
        st = lambda ch, last, m, fl, v: (last, m, fl, v)  # noqa: E731
        want = {
            A: [(A, 1, 1, False, st(1, 100, 0, 0, 1)), (A, 2, 2, False, st(2, 40, 3, 1, 2)),
                (A, 3, 1, False, st(1, 110, 0, 0, 3)), (A, 4, 3, False, st(3, 7, 0, 0, 4)),
                (A, 5, 3, False, st(3, 7, 2, 0, 5)),
                (A, 6, 1, True, None), (A, 6, 3, True, None),
                (A, 7, 2, False, st(2, 50, 1, 0, 7))],
            B: [(B, 1, 5, False, st(5, 10, 1, 0, 1)), (B, 2, 3, False, st(3, 0, 2, 0, 2)),
                (B, 3, 5, True, None), (B, 3, 3, True, None),
                (B, 4, 9, False, st(9, 5, 0, 1, 4))],
        }
        n = sum(len(v) for v in want.values())
        got = rd.wait_count(n, 10)
        time.sleep(QUIET)
        got = rd.wait_count(n + 1, 0)
        rd.stop()
        if rd.error is None or rd.error.code() != grpc.StatusCode.CANCELLED:
            raise Failure("Watch ended with %s, expected CANCELLED after cancel" %
                          repr(rd.error and (rd.error.code(), rd.error.details())))
        pu = per_user(got)
        check(set(pu) <= {A, B}, "events of unwatched users: %r" % sorted(set(pu) - {A, B}))
        for u in (A, B):
            g = pu.get(u, [])
            if normalize(g) != normalize(want[u]):
                raise Failure("user %d events:\n  got  %r\n  want %r" % (u, g, want[u]))
        eq(len(got), n, "event count")
    run("Watch: events of gRPC, framed and Connect writes, in version order, no no-ops",
        sequence)

    def concurrent():
        users = [301, 302, 303, 304]
        N = 40
        call = w_api.Watch(pb.WatchRequest(user_ids=users), timeout=120)
        call.initial_metadata()
        rd = EventReader(call)
        fw = FramedWatcher(ctx, srv.port, users)
        errors = []

        def writer(kind, chan):
            try:
                f = Framed(ctx, srv.port) if kind == "framed" else None
                for m in range(1, N + 1):
                    for u in users:
                        req = pb.AckRequest(user_id=u, channel_id=chan, message_id=m)
                        if kind == "grpc":
                            r = x_api.Ack(req, timeout=T)
                        elif kind == "grpc-w":
                            r = w_api.Ack(req, timeout=T)
                        elif kind == "framed":
                            r = f.ok("ack", ack=req)
                        else:
                            r = connect_call(ctx, srv, "Ack", req, pb.AckResponse)
                        if not r.applied:
                            errors.append("%s Ack(%d, %d, %d) not applied" % (kind, u, chan, m))
                if f:
                    f.close()
            except Exception as e:  # reported below
                errors.append("%s writer: %r" % (kind, e))
        kinds = ["grpc", "grpc-w", "framed", "connect"]
        ts = [threading.Thread(target=writer, args=(k, i + 1)) for i, k in enumerate(kinds)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        check(not any(t.is_alive() for t in ts), "writers did not finish within 60 s")
        check(not errors, "writers: %s" % errors[:5])
        total = len(users) * len(kinds) * N
        got = rd.wait_count(total, 20)
        time.sleep(QUIET)
        got = rd.wait_count(total + 1, 0)
        rd.stop()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            with fw.lock:
                if len(fw.events) >= total:
                    break
            time.sleep(0.05)
        fw.stop()
        pu, fu = per_user(got), per_user(fw.events)
        for u in users:
            g = pu.get(u, [])
            vers = [k[1] for k in g]
            if vers != list(range(1, len(kinds) * N + 1)):
                bad = next((i for i, v in enumerate(vers) if v != i + 1), len(vers))
                raise Failure("user %d: gRPC watcher's versions not 1..%d in order: %d events, "
                              "first wrong at index %d: %r" % (u, len(kinds) * N, len(vers),
                                                               bad, vers[bad:bad + 5]))
            for chan in range(1, len(kinds) + 1):
                lasts = [k[4][0] for k in g if k[2] == chan]
                eq(lasts, list(range(1, N + 1)), "user %d channel %d last ids in order" % (u, chan))
            check(all(k[4][3] == k[1] for k in g), "user %d: state.version != user_version" % u)
            if fu.get(u, []) != g:
                raise Failure("user %d: framed watcher saw %d events, gRPC watcher %d, or a "
                              "different order" % (u, len(fu.get(u, [])), len(g)))
            r = x_api.GetReadStates(pb.GetReadStatesRequest(user_id=u), timeout=T)
            eq((r.user_version, [(s.channel_id, s.last_message_id) for s in r.states]),
               (len(kinds) * N, [(c, N) for c in range(1, len(kinds) + 1)]),
               "user %d final states" % u)
        eq(len(got), total, "gRPC watcher's event count")
    run("Watch: 4 concurrent writers (2 gRPC connections, framed, Connect), gRPC and framed "
        "watchers see the same complete ordered streams", concurrent)

    def cancel_closes():
        end = time.monotonic() + 5
        while True:
            v = srv.metrics().get("readstates_watches_open")
            if v == 0 or time.monotonic() > end:
                break
            time.sleep(0.1)
        eq(v, 0, "readstates_watches_open after every watch was cancelled")
        call = w_api.Watch(pb.WatchRequest(user_ids=[401]), timeout=30)
        call.initial_metadata()
        eq(srv.metrics().get("readstates_watches_open"), 1,
           "readstates_watches_open with one gRPC Watch open")
        call.cancel()
        end = time.monotonic() + 5
        while time.monotonic() < end:
            v = srv.metrics().get("readstates_watches_open")
            if v == 0:
                break
            time.sleep(0.05)
        eq(v, 0, "readstates_watches_open after cancel")
        # the connection is still fine, and a new watch works
        r = w_api.Ack(pb.AckRequest(user_id=401, channel_id=1, message_id=1), timeout=T)
        eq(r.user_version, 1, "Ack after cancel")
    run("Watch: cancel (RST_STREAM) closes the watch on the server", cancel_closes)

    def slow_reader():
        # a second server whose --max-output is small: a Watch that is not
        # read ends RESOURCE_EXHAUSTED, a reading one on another connection
        # gets everything
        s2 = Server(ctx, ["--max-frame", "16KiB", "--max-output", "64KiB"], name="slow")
        # the slow client's stream window stays at 64 KiB (no BDP growth)
        c_slow, c_fast = channel(s2, [("grpc.http2.bdp_probe", 0)]), channel(s2)
        try:
            a_slow, a_fast = Api(ctx, c_slow), Api(ctx, c_fast)
            u = 601
            slow = a_slow.Watch(pb.WatchRequest(user_ids=[u]), timeout=60)
            slow.initial_metadata()
            fast = EventReader(a_fast.Watch(pb.WatchRequest(user_ids=[u]), timeout=60))
            calls, per = 30, 1000
            for k in range(calls):
                r = a_fast.BulkAck(pb.BulkAckRequest(user_id=u, entries=[
                    pb.AckEntry(channel_id=i + 1, message_id=(1 << 40) + k)
                    for i in range(per)]), timeout=T)
                eq(r.applied, per, "BulkAck %d" % k)
            total = calls * per
            got = fast.wait_count(total, 30)
            fast.stop()
            eq([e.user_version for e in got], list(range(1, total + 1)),
               "the reading watcher's versions")
            n, err = 0, None
            try:
                for ev in slow:  # bounded by the call's 60 s deadline
                    n += 1
                    eq(ev.user_version, n, "the slow watcher's event %d version" % n)
                    if n == total:
                        break
            except grpc.RpcError as e:
                err = e
            check(err is not None and err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED,
                  "the unread Watch ended with %s after %d of %d events, expected "
                  "RESOURCE_EXHAUSTED" % (repr(err and (err.code(), err.details())), n, total))
            check(n < total, "the unread Watch got all %d events" % total)
            eq(s2.metrics().get("readstates_http_streams_slow_closed_total"), 1,
               "readstates_http_streams_slow_closed_total")
            print("    unread Watch: %d of %d events, then %s %r" % (n, total, err.code().name,
                                                                   err.details()))
        finally:
            c_slow.close()
            c_fast.close()
        s2.stop()
    run("Watch not read (--max-output 64KiB): RESOURCE_EXHAUSTED for it alone", slow_reader)

    def shutdown_ends_watch():
        call = x_api.Watch(pb.WatchRequest(user_ids=[501]), timeout=60)
        call.initial_metadata()
        rd = EventReader(call)
        w_api.Ack(pb.AckRequest(user_id=501, channel_id=1, message_id=1), timeout=T)
        eq([ev_key(e) for e in rd.wait_count(1, 10)], [(501, 1, 1, False, (1, 0, 0, 1))],
           "the event before SIGTERM")
        srv.stop()
        rd.thread.join(timeout=CALL_TIMEOUT)
        check(not rd.thread.is_alive(), "Watch stream still open after readstated exited")
        check(rd.error is not None and rd.error.code() == grpc.StatusCode.UNAVAILABLE,
              "Watch at SIGTERM ended with %s, expected UNAVAILABLE" %
              repr(rd.error and (rd.error.code(), rd.error.details())))
        check(rd.error.details() not in ("", "Socket closed", "Connection reset by peer"),
              "Watch at SIGTERM: UNAVAILABLE %r is the client's own (connection lost), not a "
              "status from the server" % rd.error.details())
        print("    Watch at shutdown: %s %r" % (rd.error.code().name, rd.error.details()))
    run("SIGTERM with a Watch open: the stream ends UNAVAILABLE, readstated exits 0",
        shutdown_ends_watch)
    ch_w.close()
    ch_x.close()


# ---- group: health -------------------------------------------------------------

def g_health(ctx, run):
    h = ctx.health
    srv = Server(ctx)
    ch = channel(srv)
    check_m = ch.unary_unary("/grpc.health.v1.Health/Check",
                             request_serializer=h.HealthCheckRequest.SerializeToString,
                             response_deserializer=h.HealthCheckResponse.FromString)
    watch_m = ch.unary_stream("/grpc.health.v1.Health/Watch",
                              request_serializer=h.HealthCheckRequest.SerializeToString,
                              response_deserializer=h.HealthCheckResponse.FromString)
    SERVING = h.HealthCheckResponse.SERVING

    def check_ok():
        for name in ("", "readstates.v1.ReadStates"):
            r = check_m(h.HealthCheckRequest(service=name), timeout=CALL_TIMEOUT)
            eq(r.status, SERVING, "Check(%r) status" % name)
    run("Health/Check of \"\" and readstates.v1.ReadStates: SERVING", check_ok)

    def check_unknown():
        expect_rpc_error(lambda: check_m(h.HealthCheckRequest(service="no.such.Service"),
                                         timeout=CALL_TIMEOUT),
                         grpc.StatusCode.NOT_FOUND, "Check of an unknown service")
    run("Health/Check of an unknown service: NOT_FOUND", check_unknown)

    def watch_first():
        for name in ("", "readstates.v1.ReadStates"):
            t0 = time.monotonic()
            call = watch_m(h.HealthCheckRequest(service=name), timeout=CALL_TIMEOUT)
            try:
                first = next(call)
                took = time.monotonic() - t0
            except grpc.RpcError as e:
                raise Failure("Health/Watch(%r): %s %s" % (name, e.code(), e.details()))
            finally:
                call.cancel()
            eq(first.status, SERVING, "Health/Watch(%r) first status" % name)
            check(took < 1.0, "Health/Watch(%r): first message after %.2f s, not at once" %
                  (name, took))
    run("Health/Watch: SERVING at once", watch_first)

    def watch_unknown():
        # The health protocol: Watch of an unknown service answers
        # SERVICE_UNKNOWN (and keeps the stream) instead of an error status.
        call = watch_m(h.HealthCheckRequest(service="no.such.Service"), timeout=CALL_TIMEOUT)
        try:
            first = next(call)
        except grpc.RpcError as e:
            raise Failure("Health/Watch of an unknown service: %s %s (the health protocol "
                          "says a SERVICE_UNKNOWN message)" % (e.code(), e.details()))
        finally:
            call.cancel()
        eq(first.status, h.HealthCheckResponse.SERVICE_UNKNOWN,
           "Health/Watch of an unknown service: first status")
    run("Health/Watch of an unknown service: SERVICE_UNKNOWN (grpc health protocol)",
        watch_unknown)

    ch.close()
    run("readstated stops with exit code 0", srv.stop)


# ---- group: reflection -----------------------------------------------------------

EXPECTED_METHODS = {
    "Ping": ("PingRequest", "PingResponse", False),
    "Ack": ("AckRequest", "AckResponse", False),
    "SetReadState": ("SetReadStateRequest", "AckResponse", False),
    "BulkAck": ("BulkAckRequest", "BulkAckResponse", False),
    "AddMentions": ("AddMentionsRequest", "AddMentionsResponse", False),
    "GetReadStates": ("GetReadStatesRequest", "GetReadStatesResponse", False),
    "DeleteReadStates": ("DeleteReadStatesRequest", "DeleteReadStatesResponse", False),
    "GetRing": ("GetRingRequest", "GetRingResponse", False),
    "Watch": ("WatchRequest", "ReadStateEvent", True),
}


def g_reflection(ctx, run):
    srv = Server(ctx)
    ch = channel(srv)

    def info(mod, version, requests):
        m = ch.stream_stream("/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" %
                             version,
                             request_serializer=mod.ServerReflectionRequest.SerializeToString,
                             response_deserializer=mod.ServerReflectionResponse.FromString)
        try:
            return list(m(iter(requests), timeout=CALL_TIMEOUT))
        except grpc.RpcError as e:
            raise Failure("ServerReflectionInfo (%s): %s %s" % (version, e.code(), e.details()))

    def list_services(mod, version):
        R = mod.ServerReflectionRequest
        resps = info(mod, version, [R(list_services="")])
        eq(len(resps), 1, "%s list_services: responses" % version)
        eq(resps[0].WhichOneof("message_response"), "list_services_response",
           "%s list_services: response kind" % version)
        names = {s.name for s in resps[0].list_services_response.service}
        for want in ("readstates.v1.ReadStates", "grpc.health.v1.Health"):
            check(want in names, "%s list_services: %s missing from %s" %
                  (version, want, sorted(names)))
        return names

    run("reflection v1 list_services", lambda: list_services(ctx.refl, "v1"))
    run("reflection v1alpha list_services", lambda: list_services(ctx.refl_a, "v1alpha"))

    def check_readstates_file(fdp, what):
        eq(fdp.package, "readstates.v1", "%s: package" % what)
        svcs = {s.name: s for s in fdp.service}
        check("ReadStates" in svcs, "%s: no service ReadStates in %s" % (what, sorted(svcs)))
        got = {m.name: (m.input_type, m.output_type, m.server_streaming)
               for m in svcs["ReadStates"].method}
        want = {k: (".readstates.v1." + i, ".readstates.v1." + o, s)
                for k, (i, o, s) in EXPECTED_METHODS.items()}
        eq(got, want, "%s: ReadStates methods (input, output, server_streaming)" % what)
        check(not any(m.client_streaming for m in svcs["ReadStates"].method),
              "%s: a client-streaming method" % what)
        msgs = {m.name for m in fdp.message_type}
        for i, o, _ in EXPECTED_METHODS.values():
            check(i in msgs and o in msgs, "%s: message %s or %s missing" % (what, i, o))

    def by_symbol(mod, version):
        R = mod.ServerReflectionRequest
        reqs = [R(file_containing_symbol="readstates.v1.ReadStates"),
                R(file_containing_symbol="readstates.v1.AckRequest"),
                R(file_by_filename="readstates.proto"),
                R(file_containing_symbol="grpc.health.v1.Health"),
                R(file_containing_symbol="no.such.Symbol"),
                R(file_by_filename="no/such/file.proto")]
        resps = info(mod, version, reqs)
        eq(len(resps), len(reqs), "%s: responses on one stream" % version)
        fdps = []
        for i in range(4):
            eq(resps[i].WhichOneof("message_response"), "file_descriptor_response",
               "%s response %d (%s) kind" % (version, i, str(reqs[i]).strip()))
            files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                     for b in resps[i].file_descriptor_response.file_descriptor_proto]
            check(files, "%s response %d: no file_descriptor_proto" % (version, i))
            fdps.append(files)
        for i in range(3):
            fd = fdps[i][0]
            eq(fd.name, "readstates.proto", "%s response %d: first file name" % (version, i))
            check_readstates_file(fd, "%s response %d" % (version, i))
        eq(fdps[3][0].name, "grpc/health/v1/health.proto", "%s health file name" % version)
        eq([m.name for m in fdps[3][0].service[0].method], ["Check", "Watch"],
           "%s health methods" % version)
        for i in (4, 5):
            eq(resps[i].WhichOneof("message_response"), "error_response",
               "%s response %d (%s) kind" % (version, i, str(reqs[i]).strip()))
            eq(resps[i].error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0],
               "%s response %d error_code" % (version, i))
        return fdps[0][0]

    fd_holder = {}
    run("reflection v1 file_containing_symbol / file_by_filename / errors",
        lambda: fd_holder.setdefault("fd", by_symbol(ctx.refl, "v1")))
    run("reflection v1alpha file_containing_symbol / file_by_filename / errors",
        lambda: by_symbol(ctx.refl_a, "v1alpha"))

    def dynamic_call():
        check("fd" in fd_holder, "no descriptor from the v1 check")
        pool = descriptor_pool.DescriptorPool()
        pool.Add(fd_holder["fd"])
        sd = pool.FindServiceByName("readstates.v1.ReadStates")
        md = sd.methods_by_name["Ack"]
        if hasattr(message_factory, "GetMessageClass"):
            mk = message_factory.GetMessageClass
        else:
            fac = message_factory.MessageFactory(pool)
            mk = fac.GetPrototype
        Req, Resp = mk(md.input_type), mk(md.output_type)
        call = ch.unary_unary("/%s/%s" % (sd.full_name, md.name),
                              request_serializer=Req.SerializeToString,
                              response_deserializer=Resp.FromString)
        r = call(Req(user_id=77, channel_id=5, message_id=9), timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version, r.state.last_message_id), (True, 1, 9),
           "Ack with message classes built from reflection")
    run("a call with message classes built from the reflected descriptor", dynamic_call)

    ch.close()
    run("readstated stops with exit code 0", srv.stop)


# ---- group: concurrency --------------------------------------------------------

def g_concurrency(ctx, run):
    pb = ctx.pb
    srv = Server(ctx)
    N = 1000

    GRPC_CALLS = 'readstates_rpc_calls_total{protocol="grpc"}'
    H2 = "readstates_http2_connections_total"
    STREAMS = 'readstates_http_streams_open{protocol="grpc"}'
    m0 = srv.metrics()
    before = m0.get("readstates_http_connections_accepted_total", 0)
    before_requests = srv.metrics_requests
    ch = channel(srv)
    api = Api(ctx, ch)

    def acks():
        t0 = time.monotonic()
        futs = [api.Ack.future(pb.AckRequest(user_id=10000 + i, channel_id=1, message_id=i + 1,
                                             mention_count=i % 7), timeout=60)
                for i in range(N)]
        bad = []
        for i, f in enumerate(futs):
            try:
                r = f.result(timeout=60)
            except grpc.RpcError as e:
                bad.append("Ack %d: %s %s" % (i, e.code(), e.details()))
                continue
            if (r.applied, r.user_version, r.state.channel_id, r.state.last_message_id,
                    r.state.mention_count) != (True, 1, 1, i + 1, i % 7):
                bad.append("Ack %d: %s" % (i, str(r).replace("\n", " ")))
        check(not bad, "%d of %d concurrent Acks wrong: %s" % (len(bad), N, bad[:5]))
        m = srv.metrics()
        eq(m.get(GRPC_CALLS, 0) - m0.get(GRPC_CALLS, 0), N, "%s after %d Acks" % (GRPC_CALLS, N))
        eq(m.get(H2, 0) - m0.get(H2, 0), 1, "%s after %d Acks on one channel" % (H2, N))
        print("    %d concurrent Acks in %.2f s" % (N, time.monotonic() - t0))
    run("1000 concurrent Ack futures on one channel", acks)

    def watches():
        t0 = time.monotonic()
        calls = [api.Watch(pb.WatchRequest(user_ids=[20000 + i]), timeout=90) for i in range(N)]
        try:
            for i, c in enumerate(calls):
                try:
                    c.initial_metadata()
                except grpc.RpcError as e:
                    raise Failure("Watch %d of %d: %s %s" % (i, N, e.code(), e.details()))
                check(time.monotonic() - t0 < 60, "1000 Watch streams not open within 60 s "
                      "(%d open)" % i)
            m = srv.metrics()
            eq(m.get("readstates_watches_open"), N, "readstates_watches_open with %d gRPC "
               "Watch streams open" % N)
            eq(m.get(STREAMS), N, "%s with %d Watch streams open" % (STREAMS, N))
            eq(m.get(H2, 0) - m0.get(H2, 0), 1, "%s with %d Watch streams open" % (H2, N))
            # HTTP connections since m0: the channel's one, and one per /metrics
            # request (HTTP/1.1, one connection each)
            eq(m.get("readstates_http_connections_accepted_total", 0) - before,
               1 + srv.metrics_requests - before_requests,
               "HTTP connections accepted: the channel's one (1000 streams on ONE "
               "connection) and one per /metrics request")
            futs = [api.Ack.future(pb.AckRequest(user_id=20000 + i, channel_id=2,
                                                 message_id=5 + i), timeout=60)
                    for i in range(N)]
            for i, f in enumerate(futs):
                eq(f.result(timeout=60).user_version, 1, "Ack %d for the watchers" % i)
            bad = []
            for i, c in enumerate(calls):
                try:
                    ev = next(c)
                except grpc.RpcError as e:
                    bad.append("watch %d: %s %s" % (i, e.code(), e.details()))
                    continue
                if (ev.user_id, ev.state.channel_id, ev.state.last_message_id,
                        ev.user_version) != (20000 + i, 2, 5 + i, 1):
                    bad.append("watch %d: %s" % (i, str(ev).replace("\n", " ")))
            check(not bad, "%d of %d watches got a wrong or no event: %s" % (len(bad), N,
                                                                            bad[:5]))
        finally:
            for c in calls:
                c.cancel()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            m = srv.metrics()
            v = (m.get("readstates_watches_open"), m.get(STREAMS))
            if v == (0, 0):
                break
            time.sleep(0.1)
        eq(v, (0, 0), "(readstates_watches_open, %s) after cancelling them all" % STREAMS)
        print("    %d Watch streams in %.2f s" % (N, time.monotonic() - t0))
    run("1000 open Watch streams on one channel, each gets its event", watches)
    def default_limit():
        calls = [api.Watch(pb.WatchRequest(user_ids=[40000 + i]), timeout=60)
                 for i in range(1024)]
        try:
            for i, c in enumerate(calls):
                try:
                    c.initial_metadata()
                except grpc.RpcError as e:
                    raise Failure("Watch %d of 1024: %s %s" % (i, e.code(), e.details()))
            eq(srv.metrics().get(STREAMS), 1024, "%s with 1024 Watch streams" % STREAMS)
            expect_rpc_error(lambda: api.Ping(pb.PingRequest(), timeout=1.0),
                             grpc.StatusCode.DEADLINE_EXCEEDED,
                             "a 1025th stream with the default --http2-max-streams (1024)")
            calls[0].cancel()
            api.Ping(pb.PingRequest(), timeout=CALL_TIMEOUT)
        finally:
            for c in calls:
                c.cancel()
    run("default --http2-max-streams 1024: 1024 streams open, a 1025th waits", default_limit)
    ch.close()
    run("readstated stops with exit code 0", srv.stop)

    def limit():
        s2 = Server(ctx, ["--http2-max-streams", "8"], name="maxstreams")
        c2 = channel(s2)
        a2 = Api(ctx, c2)
        calls = [a2.Watch(pb.WatchRequest(user_ids=[30000 + i]), timeout=60) for i in range(8)]
        try:
            for c in calls:
                c.initial_metadata()
            # a ninth stream waits for a free one (the client honours the
            # server's SETTINGS_MAX_CONCURRENT_STREAMS)
            expect_rpc_error(lambda: a2.Ping(pb.PingRequest(), timeout=1.0),
                             grpc.StatusCode.DEADLINE_EXCEEDED,
                             "a 9th stream with --http2-max-streams 8 and 8 watches open")
            calls[0].cancel()
            t0 = time.monotonic()
            a2.Ping(pb.PingRequest(), timeout=CALL_TIMEOUT)
            check(time.monotonic() - t0 < 3, "Ping after a stream was freed took %.1f s" %
                  (time.monotonic() - t0))
        finally:
            for c in calls:
                c.cancel()
            c2.close()
        s2.stop()
    run("--http2-max-streams 8: a 9th call waits until a stream ends", limit)


# ---- group: deadline ---------------------------------------------------------------

def start_redis(ctx, want_port=None):
    rs = ctx.args.redis_server
    if not rs or rs.endswith("NOTFOUND") or shutil.which(rs) is None:
        raise Failure("redis-server not found (%r): install Debian's redis-server" % rs)
    d = tempfile.mkdtemp(prefix="redis-", dir=ctx.tmp)
    for attempt in range(5 if want_port is None else 25):
        port = want_port or free_port()
        p = ctx.start([rs, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", d, "--daemonize", "no",
                       "--protected-mode", "yes"], os.path.join(d, "redis.log"))
        end = time.monotonic() + START_TIMEOUT
        while time.monotonic() < end and p.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return p, port
            except OSError:
                pass
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        elif want_port:
            time.sleep(0.2)  # the port may still be held for a moment
    raise Failure("redis-server did not start:\n%s" % log_tail(os.path.join(d, "redis.log")))


def g_deadline(ctx, run):
    pb = ctx.pb
    redis, rport = start_redis(ctx)
    srv = Server(ctx, ["--redis", "127.0.0.1:%d" % rport, "--durability", "write-through",
                       "--redis-timeout-ms", "5000"])
    ch = channel(srv)
    api = Api(ctx, ch)
    h = ctx.health
    check_m = ch.unary_unary("/grpc.health.v1.Health/Check",
                             request_serializer=h.HealthCheckRequest.SerializeToString,
                             response_deserializer=h.HealthCheckResponse.FromString)

    def before():
        r = api.Ack(pb.AckRequest(user_id=1, channel_id=1, message_id=1), timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version), (True, 1), "Ack with Redis up")
        eq(check_m(h.HealthCheckRequest(), timeout=CALL_TIMEOUT).status,
           h.HealthCheckResponse.SERVING, "Health/Check with Redis up")
    run("write-through Ack and health with Redis up", before)

    os.kill(redis.pid, signal.SIGSTOP)
    ctx.stopped.add(redis.pid)
    try:
        def client_deadline():
            for user, what in ((2, "a user not yet loaded"), (1, "a cached user")):
                t0 = time.monotonic()
                expect_rpc_error(lambda: api.Ack(pb.AckRequest(user_id=user, channel_id=1,
                                                               message_id=2), timeout=0.3),
                                 grpc.StatusCode.DEADLINE_EXCEEDED,
                                 "Ack of %s with a 300 ms deadline, Redis stopped" % what)
                took = time.monotonic() - t0
                check(0.25 <= took <= 1.5, "Ack of %s: DEADLINE_EXCEEDED after %.3f s, not "
                      "about 0.3 s" % (what, took))
        run("Ack with a 300 ms deadline and Redis stopped: DEADLINE_EXCEEDED (client)",
            client_deadline)

        def server_deadline():
            # curl has no deadline of its own below --max-time 4, so the
            # trailers come from the server honouring grpc-timeout.
            code, hdrs, body, took = curl_grpc(
                ctx, srv, SVC + "Ack",
                pb.AckRequest(user_id=3, channel_id=1, message_id=1).SerializeToString(),
                headers=["grpc-timeout: 300m"], max_time=4)
            eq(code, 200, "HTTP status")
            eq(hdrs.get("grpc-status"), "4", "grpc-status trailer (DEADLINE_EXCEEDED = 4) of "
               "an Ack with grpc-timeout: 300m, Redis stopped; headers %r" % hdrs)
            check(0.25 <= took <= 1.5, "server's DEADLINE_EXCEEDED after %.3f s, not about "
                  "0.3 s" % took)
        run("grpc-timeout: 300m honoured by the server (curl, raw trailers)", server_deadline)

        def others_served():
            slow = api.Ack.future(pb.AckRequest(user_id=4, channel_id=1, message_id=1),
                                  timeout=3)
            t0 = time.monotonic()
            r = api.Ping(pb.PingRequest(), timeout=CALL_TIMEOUT)
            took = time.monotonic() - t0
            check(r.server_version != "", "Ping: empty server_version")
            check(took < 1.0, "Ping beside a stalled Ack took %.2f s" % took)
            check(not slow.done(), "the Ack beside the Ping finished with Redis stopped")
            slow.cancel()
        run("a stalled stream does not hold up others on the connection", others_served)
    finally:
        os.kill(redis.pid, signal.SIGCONT)
        ctx.stopped.discard(redis.pid)

    def after():
        r = api.Ack(pb.AckRequest(user_id=5, channel_id=1, message_id=1), timeout=CALL_TIMEOUT)
        eq((r.applied, r.user_version), (True, 1), "Ack after Redis resumed")
        r = api.GetReadStates(pb.GetReadStatesRequest(user_id=1), timeout=CALL_TIMEOUT)
        check(r.user_version >= 1, "user 1's version after Redis resumed")
    run("calls succeed once Redis resumes", after)

    watch_m = ch.unary_stream("/grpc.health.v1.Health/Watch",
                              request_serializer=h.HealthCheckRequest.SerializeToString,
                              response_deserializer=h.HealthCheckResponse.FromString)
    S, NS = h.HealthCheckResponse.SERVING, h.HealthCheckResponse.NOT_SERVING
    cur = {"redis": redis}

    def readiness():
        rd = EventReader(watch_m(h.HealthCheckRequest(service=""), timeout=90))
        try:
            eq([e.status for e in rd.wait_count(1, 5)], [S], "Health/Watch first status")
            r = cur["redis"]
            os.kill(r.pid, signal.SIGTERM)
            r.wait(timeout=STOP_TIMEOUT)
            got = [e.status for e in rd.wait_count(2, 15)]
            eq(got, [S, NS], "Health/Watch statuses after redis-server stopped")
            for name in ("", "readstates.v1.ReadStates"):
                eq(check_m(h.HealthCheckRequest(service=name), timeout=CALL_TIMEOUT).status, NS,
                   "Health/Check(%r) with Redis down" % name)
            cur["redis"], _ = start_redis(ctx, want_port=rport)
            got = [e.status for e in rd.wait_count(3, 30)]
            eq(got, [S, NS, S], "Health/Watch statuses after redis-server is back")
            eq(check_m(h.HealthCheckRequest(), timeout=CALL_TIMEOUT).status, S,
               "Health/Check with Redis back")
        finally:
            rd.stop()
    run("health follows readiness: NOT_SERVING with Redis down (Check, Watch update), "
        "SERVING again when it is back", readiness)

    ch.close()
    run("readstated stops with exit code 0", srv.stop)
    r = cur["redis"]
    if r.poll() is None:
        os.kill(r.pid, signal.SIGTERM)
        r.wait(timeout=STOP_TIMEOUT)


GROUPS = {"unary": g_unary, "watch": g_watch, "health": g_health, "reflection": g_reflection,
          "concurrency": g_concurrency, "deadline": g_deadline}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readstated", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--curl", default="curl")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--group", required=True, choices=sorted(GROUPS) + ["all"])
    args = ap.parse_args()
    check_bin = args.readstated
    if not os.access(check_bin, os.X_OK):
        print("FAIL - readstated not executable: %s" % check_bin)
        return 1
    ctx = Ctx(args)
    results = []

    def run(name, fn):
        t0 = time.monotonic()
        try:
            fn()
            results.append((name, None))
            print("ok   - %s (%.2f s)" % (name, time.monotonic() - t0), flush=True)
        except Failure as e:
            results.append((name, str(e)))
            print("FAIL - %s (%.2f s): %s" % (name, time.monotonic() - t0, e), flush=True)
        except grpc.RpcError as e:
            # a call that should have succeeded: say which, where
            here = [f for f in traceback.extract_tb(e.__traceback__)
                    if f.filename == os.path.abspath(__file__) or
                    f.filename.endswith("grpc_suite.py")]
            where = ("line %d: %s" % (here[-1].lineno, here[-1].line)) if here else "?"
            msg = "gRPC call failed with %s %r (%s)" % (e.code().name, e.details(), where)
            results.append((name, msg))
            print("FAIL - %s (%.2f s): %s" % (name, time.monotonic() - t0, msg), flush=True)
        except Exception as e:
            results.append((name, repr(e)))
            print("FAIL - %s (%.2f s): unexpected %s" % (name, time.monotonic() - t0,
                                                        traceback.format_exc()), flush=True)

    t0 = time.monotonic()
    try:
        run("generate Python code from proto/ with protoc", ctx.gen_protos)
        if results[-1][1] is None:
            for g in (sorted(GROUPS) if args.group == "all" else [args.group]):
                print("# group %s" % g, flush=True)
                run("group %s: start, checks, stop" % g, lambda: GROUPS[g](ctx, run))
    finally:
        ctx.cleanup()
    failed = [n for n, e in results if e is not None]
    print("# %d checks, %d failed, %.1f s" % (len(results), len(failed),
                                             time.monotonic() - t0))
    for n in failed:
        print("#   failed: %s" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
