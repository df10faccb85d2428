#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_http2 (tests/fuzz/corpus_http2/), once.

Each seed is in the harness's input format (fuzz_http2.c): the harness
sends the 24-byte client preface itself; the first byte picks raw mode
(< 0x80: HTTP/2 frames follow, HPACK written here as literals without
Huffman coding) or structured mode (>= 0x80: records the harness turns
into frames, HPACK-encoding the header lists it picks).

    python3 tests/fuzz/gen_corpus_http2.py tests/fuzz/corpus_http2
"""
import os
import struct
import sys

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, stream) + payload


def hpack(headers):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in headers:
        name, value = name.encode(), value.encode()
        assert len(name) < 127 and len(value) < 127
        out += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    return out


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, value):  # varint field
    return varint(num << 3) + varint(value)


def ldelim(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def envelope(msg, flags=0):
    return struct.pack(">BI", flags, len(msg)) + msg


def grpc_headers(path, ctype="application/grpc"):
    return hpack([(":method", "POST"), (":scheme", "http"), (":path", path),
                  (":authority", "fuzz"), ("content-type", ctype), ("te", "trailers")])


RS = "/readstates.v1.ReadStates/"
ACK_MSG = field(1, 5) + field(2, 7) + field(3, 100) + field(4, 2)  # AckRequest
WATCH_MSG = ldelim(1, varint(777))  # WatchRequest{user_ids: [777]}


def raw_seeds():
    pre = bytes([0x00]) + frame(SETTINGS, 0, 0)
    yield "raw_grpc_ack", pre + frame(HEADERS, END_HEADERS, 1, grpc_headers(RS + "Ack")) + \
        frame(DATA, END_STREAM, 1, envelope(ACK_MSG))
    yield "raw_get_healthz", pre + frame(
        HEADERS, END_HEADERS | END_STREAM, 1,
        hpack([(":method", "GET"), (":scheme", "http"), (":path", "/healthz"),
               (":authority", "fuzz")]))
    # a Watch for user 777 on stream 1, Acks for it on 3 and 5, a PING,
    # the Watch cancelled, a GOAWAY
    seed = pre + frame(SETTINGS, ACK, 0)
    seed += frame(HEADERS, END_HEADERS, 1, grpc_headers(RS + "Watch"))
    seed += frame(DATA, END_STREAM, 1, envelope(WATCH_MSG))
    for sid, mid in ((3, 10), (5, 11)):
        ack = field(1, 777) + field(2, 1) + field(3, mid)
        seed += frame(HEADERS, END_HEADERS, sid, grpc_headers(RS + "Ack"))
        seed += frame(DATA, END_STREAM, sid, envelope(ack))
    seed += frame(PING, 0, 0, b"12345678")
    seed += frame(RST_STREAM, 0, 1, struct.pack(">I", 8))
    seed += frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0))
    yield "raw_watch_ack_cancel", seed
    # gRPC-Web text and Connect streaming over HTTP/2
    seed = pre
    text = __import__("base64").b64encode(envelope(ACK_MSG))
    seed += frame(HEADERS, END_HEADERS, 1,
                  grpc_headers(RS + "Ack", "application/grpc-web-text"))
    seed += frame(DATA, END_STREAM, 1, text)
    seed += frame(HEADERS, END_HEADERS, 3, grpc_headers(RS + "Ping", "application/connect+proto"))
    seed += frame(DATA, END_STREAM, 3, envelope(b""))
    yield "raw_grpc_web_text_connect", seed
    # the health service's Watch, then its Check
    seed = pre
    seed += frame(HEADERS, END_HEADERS, 1, grpc_headers("/grpc.health.v1.Health/Watch"))
    seed += frame(DATA, END_STREAM, 1, envelope(b""))
    seed += frame(HEADERS, END_HEADERS, 3, grpc_headers("/grpc.health.v1.Health/Check"))
    seed += frame(DATA, END_STREAM, 3, envelope(b""))
    yield "raw_health", seed


def rec(kind, flags, stream, payload):
    assert len(payload) < 256
    return bytes([kind, flags, stream, len(payload)]) + payload


# HEADERS record payload: [method][path][content-type][extras] value...
# (indices into fz_methods, fz_paths, fz_ctypes of fuzz_http2.c)
P_ACK, P_WATCH, P_PING, P_BULKACK = 0, 1, 3, 4
P_HEALTH_CHECK, P_REFLECT = 11, 13
C_GRPC, C_WEB, C_CONNECT = 0, 3, 8


def hrec(stream, path, ctype, extras=0x01, method=0, value=b"", flags=0):
    return rec(0x01, flags, stream, bytes([method, path, ctype, extras]) + value)


def drec(stream, msg, flags=END_STREAM):
    return rec(0x10, flags, stream, msg)  # DATA wrapped in an envelope


def structured_seeds():
    yield "st_grpc_ack", bytes([0x80]) + hrec(1, P_ACK, C_GRPC) + drec(1, ACK_MSG)
    # grpc-timeout (the value from the record), then a trailer block
    yield "st_timeout_trailers", bytes([0x80]) + \
        hrec(1, P_PING, C_GRPC, extras=0x21, value=b"250m") + \
        drec(1, b"", flags=0) + rec(0x01, END_STREAM, 1, bytes([0x81, 0, 0, 0]) + b"t")
    # a Watch whose window stays shut (mode bit 0: INITIAL_WINDOW_SIZE 0)
    # while BulkAcks for its user change 50 states each (250 events): the
    # stream is ended RESOURCE_EXHAUSTED past --max-output (4 KiB)
    seed = bytes([0x81]) + hrec(1, P_WATCH, C_GRPC) + drec(1, WATCH_MSG)
    for i, sid in enumerate((3, 5, 7, 9, 11)):
        entries = b"".join(ldelim(2, field(1, ch) + field(2, 1000 * (i + 1)))
                           for ch in range(1, 51))
        msg = field(1, 777) + entries
        seed += hrec(sid, P_BULKACK, C_GRPC)
        # too long for one record: the envelope by hand, in two DATA records
        env = envelope(msg)
        assert 200 < len(env) < 400
        seed += rec(0x00, 0, sid, env[:200]) + rec(0x00, END_STREAM, sid, env[200:])
    yield "st_watch_slow_reader", seed
    # reflection (bidirectional: the body streams), split header block
    refl = ldelim(7, b"")  # list_services: ""
    yield "st_reflection", bytes([0x80]) + rec(0x11, 0, 1, bytes([0, P_REFLECT, C_GRPC, 1])) + \
        drec(1, refl, flags=0) + drec(1, refl)


def regression_seeds():
    # Streams http2.c refuses itself (stream_refuse): a gRPC call whose
    # header block is over --http-max-headers (extras 0x40: a 3000-byte
    # header), and a JSON body over --http-max-body (200 units of 64 zero
    # bytes). Found by this fuzzer: the refusal's on_written was not
    # matched by a replies_writing++ (left at -1).
    yield "regress_h2_refused_431", bytes([0x80]) + \
        hrec(1, P_ACK, C_GRPC, extras=0x41) + drec(1, ACK_MSG)
    yield "regress_h2_refused_413", bytes([0x80]) + \
        hrec(1, P_ACK, 10, extras=0x00) + bytes([0x20, END_STREAM, 1, 200])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__),
                                                             "corpus_http2")
    os.makedirs(out, exist_ok=True)
    for name, data in list(raw_seeds()) + list(structured_seeds()) + list(regression_seeds()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
