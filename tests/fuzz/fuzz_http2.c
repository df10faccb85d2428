/*
 * fuzz_http2.c: HTTP/2 from a client through the HTTP port: the
 * connection's switch to HTTP/2 on the client preface (http_conn.c),
 * nghttp2's session and our callbacks (http2.c: streams, header blocks,
 * bodies, limits, refusals), the routes, and the enveloped protocols
 * (http_stream.c: gRPC, gRPC-Web, Connect streaming, Watch streams) down to
 * dispatch, on an in-process rs_server (memory-only engine, small limits)
 * that lives across inputs.
 *
 * The harness always sends the 24-byte client preface first; the input's
 * first byte picks what follows it:
 *
 *   < 0x80  raw: the rest of the input, as is (frames the fuzzer writes
 *           itself, HPACK included)
 *   >= 0x80 structured: an empty SETTINGS frame (bit 0 of the mode byte:
 *           SETTINGS_INITIAL_WINDOW_SIZE 0 instead, so the server's DATA
 *           waits: slow readers), then records, each
 *             [kind][flags][stream][len] payload[len]
 *           kind:   bits 0-3 the frame type; 0x10 HEADERS: the block split
 *                   into HEADERS + CONTINUATION, DATA: the payload wrapped
 *                   in a gRPC envelope; 0x20 len counts 64-byte units and
 *                   the payload is zero-filled to it; 0x40 flags as given
 *                   (else HEADERS always gets END_HEADERS)
 *           stream: bits 0-6 the stream id; bit 7 adds 0x7fffff00
 *           A HEADERS payload is not sent as is: it picks a header list
 *           (payload[0] method, [1] path, [2] content-type, [3] extra
 *           headers, the rest a header value; payload[0] bit 7: a trailer
 *           block instead) that the harness HPACK-encodes with
 *           nghttp2_hd_deflate (one deflater per input, like a client).
 *
 * Each input is written into one end of a socketpair whose other end the
 * HTTP port adopts (http_conns_adopt); the write side is then shut, and
 * the event loop runs (bounded) until the server closes the connection.
 * Checks: what the server sends is HTTP/2 frames (a SETTINGS frame on
 * stream 0 first, known frame types only), the server closes the
 * connection after the client's EOF, and no connection, call or reply is
 * left behind.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_http_server.h"
#include "grpc_wire.h"
#include "http.h"
#include "http2.h"
#include "http_rpc.h"
#include "rs_common.h"
#include "server.h"

#define FZ_MAX_ROUNDS  4000
#define FZ_MAX_OUT     (1u << 20) /* the structured input, expanded */
#define FZ_FRAME_MAX   16384u
#define FZ_MAX_HEADERS 16

static rs_server *fz_server;

static void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz_http2: %s\n", what);
    abort();
}

/* Small HTTP/2 limits, so inputs reach the stream cap, the frame limit and
 * the slow-reader end. */
static void fz_tune(rs_config *cfg)
{
    cfg->http2_max_streams = 8;
    cfg->max_frame = 1024;
    cfg->max_output = 4096; /* Watch streams of a reader with a closed window end */
}

static rs_server *fz_get_server(void)
{
    return fz_http_server(&fz_server, "fuzz_http2", fz_tune);
}

/* ---- the structured input -------------------------------------------------- */

typedef struct fz_out {
    uint8_t *buf;
    size_t len;
} fz_out;

static void out_add(fz_out *o, const void *p, size_t n)
{
    if (n > FZ_MAX_OUT - o->len)
        n = FZ_MAX_OUT - o->len;
    if (n == 0)
        return;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_frame(fz_out *o, uint8_t type, uint8_t flags, uint32_t stream,
                      const uint8_t *payload, size_t n)
{
    uint8_t hd[9] = {(uint8_t)(n >> 16),
                     (uint8_t)(n >> 8),
                     (uint8_t)n,
                     type,
                     flags,
                     (uint8_t)(stream >> 24),
                     (uint8_t)(stream >> 16),
                     (uint8_t)(stream >> 8),
                     (uint8_t)stream};
    out_add(o, hd, sizeof(hd));
    out_add(o, payload, n);
}

static const char *const fz_methods[] = {"POST", "GET", "HEAD", "OPTIONS", "PUT", "CONNECT"};

static const char *const fz_paths[] = {
    "/readstates.v1.ReadStates/Ack",
    "/readstates.v1.ReadStates/Watch",
    "/readstates.v1.ReadStates/GetReadStates",
    "/readstates.v1.ReadStates/Ping",
    "/readstates.v1.ReadStates/BulkAck",
    "/readstates.v1.ReadStates/SetReadState",
    "/readstates.v1.ReadStates/AddMentions",
    "/readstates.v1.ReadStates/DeleteReadStates",
    "/readstates.v1.ReadStates/GetRing",
    "/readstates.v1.ReadStates/Auth",
    "/readstates.v1.ReadStates/Nope",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    "/twirp/readstates.v1.ReadStates/Ack",
    "/healthz",
    "/readyz",
    "/metrics",
    "/dashboard",
    "/dashboard.json",
    "/",
    "/readstates.v1.ReadStates/Ack?x=1",
    "*",
};

static const char *const fz_ctypes[] = {
    "application/grpc",
    "application/grpc+proto",
    "application/grpc+json",
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
    "application/grpc-web+json",
    "application/connect+proto",
    "application/connect+json",
    "application/json",
    "application/proto",
    "text/plain",
    NULL,
};

static const char *const fz_timeouts[] = {"1n", "100m", "1S", "1H", "99999999H", "5x", "", "1"};

#define FZ_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A header list from a HEADERS record's payload, HPACK-encoded into
 * block. Returns the block's length. */
static size_t fz_header_block(nghttp2_hd_deflater *dfl, const uint8_t *p, size_t n,
                              uint8_t *block, size_t cap)
{
    nghttp2_nv nv[FZ_MAX_HEADERS];
    size_t nnv = 0;
    uint8_t sel[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < 4 && i < n; i++)
        sel[i] = p[i];
    const uint8_t *val = n > 4 ? p + 4 : (const uint8_t *)"";
    size_t vlen = n > 4 ? n - 4 : 0;
#define NV(name, value, vl)                                                                    \
    do {                                                                                       \
        if (nnv < FZ_MAX_HEADERS)                                                              \
            nv[nnv++] =                                                                        \
                (nghttp2_nv){(uint8_t *)(uintptr_t)(name), (uint8_t *)(uintptr_t)(value),      \
                             strlen(name), (vl), NGHTTP2_NV_FLAG_NONE};                        \
    } while (0)
#define NVS(name, value) NV(name, value, strlen(value))
    if ((sel[0] & 0x80) != 0) {
        /* trailers: no pseudo-headers */
        NV("x-fuzz-trailer", val, vlen);
        if ((sel[0] & 1) != 0)
            NVS("grpc-status", "0");
    } else {
        bool no_method = (sel[3] & 0x80) != 0 && (sel[3] & 0x40) != 0;
        if (!no_method)
            NVS(":method", fz_methods[sel[0] % FZ_LEN(fz_methods)]);
        NVS(":scheme", "http");
        if ((sel[0] & 0x40) == 0)
            NVS(":path", fz_paths[sel[1] % FZ_LEN(fz_paths)]);
        NVS(":authority", "fuzz");
        const char *ct = fz_ctypes[sel[2] % FZ_LEN(fz_ctypes)];
        if (ct != NULL)
            NVS("content-type", ct);
        if ((sel[3] & 0x01) != 0)
            NVS("te", "trailers");
        if ((sel[3] & 0x02) != 0)
            NVS("grpc-timeout", fz_timeouts[(sel[0] >> 3) % FZ_LEN(fz_timeouts)]);
        if ((sel[3] & 0x04) != 0)
            NVS("grpc-encoding", (sel[0] & 0x08) != 0 ? "identity" : "gzip");
        if ((sel[3] & 0x08) != 0)
            NVS("connect-timeout-ms", (sel[0] & 0x08) != 0 ? "50" : "x");
        if ((sel[3] & 0x10) != 0)
            NVS("origin", "http://example.test");
        if ((sel[3] & 0x20) != 0)
            NV("grpc-timeout", val, vlen); /* a value the fuzzer writes */
        else
            NV("x-fuzz", val, vlen);
        if ((sel[3] & 0xc0) == 0x40) {
            static uint8_t big[3000];
            memset(big, 'b', sizeof(big)); /* over --http-max-headers alone */
            NV("x-big", big, sizeof(big));
        }
    }
#undef NV
#undef NVS
    ssize_t r = nghttp2_hd_deflate_hd(dfl, block, cap, nv, nnv);
    return r < 0 ? 0 : (size_t)r;
}

/* Expand a structured input into the bytes sent after the preface. */
static void fz_structured(const uint8_t *data, size_t size, fz_out *o)
{
    nghttp2_hd_deflater *dfl = NULL;
    if (nghttp2_hd_deflate_new(&dfl, 4096) != 0)
        fz_fail("nghttp2_hd_deflate_new");
    if ((data[0] & 1) != 0) {
        static const uint8_t iw0[6] = {0, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0, 0, 0, 0};
        out_frame(o, NGHTTP2_SETTINGS, 0, 0, iw0, sizeof(iw0));
    } else {
        out_frame(o, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
    }
    static uint8_t payload[FZ_FRAME_MAX + GRPC_ENV_HEADER + 8];
    static uint8_t block[FZ_FRAME_MAX * 2];
    size_t i = 1;
    while (i + 4 <= size && o->len < FZ_MAX_OUT) {
        uint8_t kind = data[i], flags = data[i + 1], sid = data[i + 2];
        size_t want = data[i + 3];
        i += 4;
        if ((kind & 0x20) != 0)
            want *= 64;
        size_t take = RS_MIN(want, size - i);
        size_t plen = (kind & 0x20) != 0 ? want : take;
        memset(payload, 0, plen);
        memcpy(payload, data + i, take);
        i += take;
        uint8_t type = kind & 0x0f;
        uint32_t stream = (uint32_t)(sid & 0x7f) | ((sid & 0x80) != 0 ? 0x7fffff00u : 0);
        bool raw_flags = (kind & 0x40) != 0;
        if (type == NGHTTP2_HEADERS) {
            size_t pre = 0;
            uint8_t hdr[6] = {0};
            if (!raw_flags)
                flags |= NGHTTP2_FLAG_END_HEADERS;
            if ((flags & NGHTTP2_FLAG_PADDED) != 0)
                hdr[pre++] = 0; /* no padding */
            if ((flags & NGHTTP2_FLAG_PRIORITY) != 0) {
                memset(hdr + pre, 0, 4); /* depends on stream 0 */
                hdr[pre + 4] = 15;       /* weight 16 */
                pre += 5;
            }
            memcpy(block, hdr, pre);
            size_t blen =
                pre + fz_header_block(dfl, payload, plen, block + pre, sizeof(block) - pre);
            if ((kind & 0x10) != 0 && blen > pre + 1) {
                size_t half = pre + (blen - pre) / 2;
                out_frame(o, type, (uint8_t)(flags & ~NGHTTP2_FLAG_END_HEADERS), stream, block,
                          half);
                out_frame(o, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, stream,
                          block + half, blen - half);
            } else {
                out_frame(o, type, flags, stream, block, blen);
            }
        } else if (type == NGHTTP2_DATA && (kind & 0x10) != 0) {
            memmove(payload + GRPC_ENV_HEADER, payload, plen);
            grpc_env_header(payload, 0, (uint32_t)plen);
            out_frame(o, type, flags, stream, payload, plen + GRPC_ENV_HEADER);
        } else {
            out_frame(o, type, flags, stream, payload, plen);
        }
    }
    nghttp2_hd_deflate_del(dfl);
}

/* ---- what the server sends ---------------------------------------------------- */

typedef struct fz_frames {
    uint8_t hd[9];
    size_t hd_have;   /* bytes of the current frame header */
    size_t skip;      /* payload bytes of the current frame still to come */
    uint64_t nframes; /* whole frame headers seen */
} fz_frames;

/* Walk the server's bytes as HTTP/2 frames (a partial frame may be cut by
 * the close: only whole headers are judged). */
static void fz_check_frames(fz_frames *f, const uint8_t *p, size_t n)
{
    while (n > 0) {
        if (f->skip > 0) {
            size_t k = RS_MIN(f->skip, n);
            f->skip -= k;
            p += k;
            n -= k;
            continue;
        }
        f->hd[f->hd_have++] = *p++;
        n--;
        if (f->hd_have < 9)
            continue;
        f->hd_have = 0;
        uint32_t len = (uint32_t)f->hd[0] << 16 | (uint32_t)f->hd[1] << 8 | f->hd[2];
        uint8_t type = f->hd[3];
        uint32_t stream = (uint32_t)f->hd[5] << 24 | (uint32_t)f->hd[6] << 16 |
                          (uint32_t)f->hd[7] << 8 | f->hd[8];
        if (f->nframes == 0 && (type != NGHTTP2_SETTINGS || stream != 0))
            fz_fail("the server's first frame is not SETTINGS on stream 0");
        if (type > NGHTTP2_CONTINUATION || type == NGHTTP2_PUSH_PROMISE)
            fz_fail("the server sent a frame of an unexpected type");
        if (len > FZ_FRAME_MAX)
            fz_fail("the server sent a frame over the default SETTINGS_MAX_FRAME_SIZE");
        f->nframes++;
        f->skip = len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    rs_server *s = fz_get_server();
    struct rs_http *h = s->loop.http;
    static uint8_t sendbuf[H2_PREFACE_LEN + FZ_MAX_OUT];
    fz_out o = {sendbuf, 0};
    memcpy(sendbuf, H2_PREFACE, H2_PREFACE_LEN);
    o.len = H2_PREFACE_LEN;
    if (data[0] < 0x80)
        out_add(&o, data + 1, size - 1);
    else
        fz_structured(data, size, &o);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        fz_fail("socketpair");
    if (http_conns_adopt(h->conns, sv[0], "fuzz") != 0)
        fz_fail("adopt");
    size_t off = 0;
    bool shut = false, closed = false;
    fz_frames fr;
    memset(&fr, 0, sizeof(fr));
    for (int round = 0; round < FZ_MAX_ROUNDS && !closed; round++) {
        if (off < o.len) {
            ssize_t n = send(sv[1], o.buf + off, o.len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        event_base_loop(s->loop.base, EVLOOP_NONBLOCK);
        for (;;) {
            uint8_t buf[4096];
            ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0) {
                closed = true;
                break;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    closed = true; /* reset: the server closed too */
                break;
            }
            fz_check_frames(&fr, buf, (size_t)n);
        }
    }
    if (!closed)
        fz_fail("the server did not close the connection after the client's EOF");
    close(sv[1]);
    /* a Watch call leaves the registry from the loop (http_stream.c) */
    for (int round = 0; round < 100 && h->calls_live != 0; round++)
        event_base_loop(s->loop.base, EVLOOP_NONBLOCK);
    if (http_conns_stats(h->conns)->open != 0)
        fz_fail("a connection was left open");
    if (h->replies_writing != 0 || h->calls_live != 0 || s->loop.inflight != 0) {
        fprintf(stderr, "fuzz_http2: replies_writing=%lld calls_live=%lld inflight=%lld\n",
                (long long)h->replies_writing, (long long)h->calls_live,
                (long long)s->loop.inflight);
        fz_fail("a reply, call or request was left behind");
    }
    return 0;
}
