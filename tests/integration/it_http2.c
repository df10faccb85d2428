/*
 * it_http2.c: HTTP/2 on the HTTP port of the real readstated (127.0.0.1:0),
 * driven by a client written with nghttp2's client API over a loopback
 * socket (plain h2c with prior knowledge, or TLS with ALPN "h2"), every
 * wait bounded:
 *
 *   - h2c: GET /healthz, a gRPC Ack (one message, trailers grpc-status 0),
 *     HTTP/1.1 on the same port;
 *   - --http2-max-streams: SETTINGS_MAX_CONCURRENT_STREAMS says it, a
 *     stream past it is refused (RST_STREAM) while 8 Watch streams stay
 *     open and keep working (a hand-written client here: nghttp2's own
 *     never opens a stream past the server's limit);
 *   - a header block over --http-max-headers (431, or a gRPC error) and a
 *     body over --http-max-body (413, RESOURCE_EXHAUSTED): the connection
 *     serves the next stream, and the server still exits at once;
 *   - a stream that never sends its body is reset at
 *     --http-request-deadline-ms while its connection and a Watch go on;
 *   - malformed gRPC requests (a cut envelope, a compressed flag without
 *     grpc-encoding, two messages for a unary method, no message) each get
 *     an error status, and the next stream succeeds;
 *   - a Watch whose reader keeps its window shut is ended
 *     RESOURCE_EXHAUSTED past --max-output (the trailer read once the
 *     window opens), counted in readstates_http_streams_slow_closed_total;
 *   - a Watch cancelled with RST_STREAM leaves
 *     readstates_http_streams_open{protocol="grpc"} at 0;
 *   - h2 over TLS chosen by ALPN, and a gRPC Ping through it;
 *   - after review (d75ab87), each of these failing before it:
 *     --max-output caps a connection's unsent answers across its streams
 *     (64 stalled Watches, each far under the cap, are all ended
 *     RESOURCE_EXHAUSTED; RSS bounded); a reader that takes none of its
 *     waiting answers (window 0: a unary answer, Watch events) is closed
 *     after --http-timeout-s while an idle connection with an open Watch
 *     stays; a stream answered at its headers (reflection, wrong token)
 *     keeps none of the body still coming (300 x 1 MiB: RSS flat); a
 *     bidirectional stream holds at most 64 KiB of a partial message;
 *     grpc-encoding gzip with a compressed message is UNIMPLEMENTED;
 *     ALPN chooses nothing on the framed port, h2 on the HTTP port.
 */
#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_test_client.h"
#include "readstates.pb-c.h"
#include "rs_testsupport.h"

#define RS_PATH       "/readstates.v1.ReadStates/"
#define IO_TIMEOUT_MS 5000
#define MAX_RECS      512

/* ---- the server ------------------------------------------------------------ */

static void start_server(rs_test_server *srv, const char *const *args)
{
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(srv, &o), 0);
}

/* A server whose RSS a test measures: under AddressSanitizer (the suite's
 * second build) freed blocks sit in ASan's quarantine (256 MiB) instead of
 * being reused, so every input buffer the server ever read would count as
 * growth; without the quarantine they are reused, as with any allocator.
 * The variable only matters to a sanitizer build. */
static void start_server_measured(rs_test_server *srv, const char *const *args)
{
    const char *old = getenv("ASAN_OPTIONS");
    char *saved = old != NULL ? strdup(old) : NULL;
    char opts[512];
    snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
             old != NULL ? old : "", old != NULL && old[0] != '\0' ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    start_server(srv, args);
    if (saved != NULL) {
        setenv("ASAN_OPTIONS", saved, 1);
        free(saved);
    } else {
        unsetenv("ASAN_OPTIONS");
    }
}

/* Stop by PID (SIGTERM); returns the milliseconds it took. */
static long long stop_server(rs_test_server *srv)
{
    long long t0 = rs_mono_ms();
    int st = 0;
    int rc = rs_test_server_stop(srv, 30000, &st);
    long long ms = rs_mono_ms() - t0;
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        rs_proc_dump_log(&srv->proc, "readstated", stderr, 4000);
        fail_msg("readstated did not exit cleanly (rc %d, status 0x%x)", rc, st);
    }
    return ms;
}

static double metric(int port, const char *series)
{
    return ht_metric(port, series);
}

typedef struct metric_wait {
    int port;
    const char *series;
    double want;
    bool at_least; /* >= want, else == want */
} metric_wait;

static bool metric_reached(void *arg)
{
    metric_wait *w = arg;
    double v = metric(w->port, w->series);
    return w->at_least ? v >= w->want : v == w->want;
}

static bool wait_metric(int port, const char *series, double want, bool at_least, int ms)
{
    metric_wait w = {port, series, want, at_least};
    return rs_poll_until(metric_reached, &w, ms);
}

/* ---- messages ---------------------------------------------------------------- */

/* A protobuf message in a gRPC envelope (flags 0); malloc'd. */
static uint8_t *envelope(const ProtobufCMessage *m, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n + 5);
    assert_non_null(b);
    b[0] = 0;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    protobuf_c_message_pack(m, b + 5);
    *len = n + 5;
    return b;
}

static uint8_t *ack_envelope(uint64_t user, uint64_t channel, uint64_t message, size_t *len)
{
    Readstates__V1__AckRequest a = READSTATES__V1__ACK_REQUEST__INIT;
    a.user_id = user;
    a.channel_id = channel;
    a.message_id = message;
    return envelope(&a.base, len);
}

static uint8_t *watch_envelope(uint64_t user, size_t *len)
{
    Readstates__V1__WatchRequest w = READSTATES__V1__WATCH_REQUEST__INIT;
    uint64_t ids[1] = {user};
    w.n_user_ids = 1;
    w.user_ids = ids;
    return envelope(&w.base, len);
}

/* ---- an nghttp2 client --------------------------------------------------------- */

typedef struct h2_rec {
    int32_t id;
    int status; /* :status; 0 until the response headers */
    char ctype[96];
    int grpc_status; /* -1 until one came */
    char grpc_message[512];
    bool grpc_in_trailers; /* in a trailer block (after the response headers) */
    uint8_t *data;         /* the response body */
    size_t len, cap;
    bool closed;
    uint32_t close_code;
    bool rst; /* the server sent RST_STREAM */
    uint32_t rst_code;
    uint8_t *body; /* the request body */
    size_t body_len, body_off;
    bool body_hold; /* never end the request body */
    bool body_gen;  /* body_len bytes made up as sent: an envelope header
                       declaring gen_declared, then 'x' (nothing stored) */
    uint32_t gen_declared;
} h2_rec;

typedef struct h2_client {
    int fd;
    SSL *ssl;
    nghttp2_session *ng;
    h2_rec *recs[MAX_RECS];
    size_t nrecs;
    bool eof;
    int error; /* a nghttp2 error from the server's bytes */
    bool settings;
    bool goaway;
    uint32_t goaway_code;
} h2_client;

static h2_rec *rec_of(h2_client *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)ng;
    (void)flags;
    h2_rec *r = rec_of(user_data, frame->hd.stream_id);
    if (r == NULL || frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    bool trailers = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
    char v[512];
    snprintf(v, sizeof(v), "%.*s", (int)valuelen, (const char *)value);
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        r->status = atoi(v);
    } else if (namelen == 12 && memcmp(name, "content-type", 12) == 0) {
        snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)(sizeof(r->ctype) - 1), v);
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        r->grpc_status = atoi(v);
        r->grpc_in_trailers = trailers;
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        snprintf(r->grpc_message, sizeof(r->grpc_message), "%s", v);
    }
    return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                   size_t len, void *user_data)
{
    (void)ng;
    (void)flags;
    h2_rec *r = rec_of(user_data, id);
    if (r == NULL)
        return 0;
    if (r->len + len > r->cap) {
        r->cap = (r->len + len) * 2;
        r->data = realloc(r->data, r->cap);
        assert_non_null(r->data);
    }
    memcpy(r->data + r->len, data, len);
    r->len += len;
    return 0;
}

static int cb_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    (void)ng;
    h2_client *c = user_data;
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0)
        c->settings = true;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = true;
        c->goaway_code = frame->goaway.error_code;
    }
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        h2_rec *r = rec_of(c, frame->hd.stream_id);
        if (r != NULL) {
            r->rst = true;
            r->rst_code = frame->rst_stream.error_code;
        }
    }
    return 0;
}

static int cb_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user_data)
{
    (void)ng;
    h2_rec *r = rec_of(user_data, id);
    if (r != NULL) {
        r->closed = true;
        r->close_code = code;
    }
    return 0;
}

static ssize_t body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)ng;
    (void)id;
    (void)user_data;
    h2_rec *r = source->ptr;
    size_t n = r->body_len - r->body_off;
    if (n > length)
        n = length;
    if (n > 0 && r->body_gen) {
        const uint8_t hdr[5] = {0, (uint8_t)(r->gen_declared >> 24),
                                (uint8_t)(r->gen_declared >> 16),
                                (uint8_t)(r->gen_declared >> 8), (uint8_t)r->gen_declared};
        memset(buf, 'x', n);
        for (size_t i = 0; i < n && r->body_off + i < sizeof(hdr); i++)
            buf[i] = hdr[r->body_off + i];
    } else if (n > 0) {
        memcpy(buf, r->body + r->body_off, n);
    }
    r->body_off += n;
    if (r->body_off == r->body_len) {
        if (r->body_hold)
            return n > 0 ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

static void set_timeouts(int fd)
{
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* A client session on a connected socket (ssl: TLS on it, handshake done);
 * its SETTINGS (iv) are queued. */
static h2_client *h2_client_new(int fd, SSL *ssl, const nghttp2_settings_entry *iv, size_t niv)
{
    h2_client *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->fd = fd;
    c->ssl = ssl;
    nghttp2_session_callbacks *cbs;
    assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
    nghttp2_session_callbacks_set_on_header_callback(cbs, cb_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, cb_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, cb_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, cb_close);
    assert_int_equal(nghttp2_session_client_new(&c->ng, cbs, c), 0);
    nghttp2_session_callbacks_del(cbs);
    assert_int_equal(nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, niv), 0);
    return c;
}

/* h2c with prior knowledge on 127.0.0.1:port. */
static h2_client *h2_connect(int port, const nghttp2_settings_entry *iv, size_t niv)
{
    int fd = rs_tcp_connect(port, IO_TIMEOUT_MS);
    assert_true(fd >= 0);
    set_timeouts(fd);
    return h2_client_new(fd, NULL, iv, niv);
}

static void h2_close(h2_client *c)
{
    if (c == NULL)
        return;
    nghttp2_session_del(c->ng);
    for (size_t i = 0; i < c->nrecs; i++) {
        free(c->recs[i]->data);
        free(c->recs[i]->body);
        free(c->recs[i]);
    }
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    free(c);
}

static void h2_write(h2_client *c, const uint8_t *p, size_t n)
{
    if (c->ssl == NULL) {
        if (rs_fd_write_all(c->fd, p, n, IO_TIMEOUT_MS) != 0)
            c->eof = true;
        return;
    }
    while (n > 0) {
        int w = SSL_write(c->ssl, p, (int)n);
        if (w <= 0) {
            c->eof = true;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Everything the session has to send. */
static void h2_flush(h2_client *c)
{
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->ng, &p);
        assert_true(n >= 0);
        if (n == 0)
            return;
        if (!c->eof)
            h2_write(c, p, (size_t)n);
    }
}

/* Wait up to ms for bytes and feed them to the session. */
static void h2_read_once(h2_client *c, int ms)
{
    if (c->eof || c->error != 0)
        return;
    if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, ms);
        if (pr <= 0)
            return;
    }
    uint8_t buf[16384];
    ssize_t n;
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        n = r > 0 ? r : 0;
    } else {
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
    }
    if (n <= 0) {
        c->eof = true;
        return;
    }
    ssize_t used = nghttp2_session_mem_recv(c->ng, buf, (size_t)n);
    if (used < 0)
        c->error = (int)used;
}

typedef bool (*h2_cond)(h2_client *c, void *arg);

/* Send and receive until cond holds, the connection ends, or ms pass.
 * Returns whether cond held. */
static bool h2_run(h2_client *c, int ms, h2_cond cond, void *arg)
{
    long long end = rs_mono_ms() + ms;
    for (;;) {
        h2_flush(c);
        if (cond != NULL && cond(c, arg))
            return true;
        long long left = end - rs_mono_ms();
        if (left <= 0 || c->eof || c->error != 0)
            return cond != NULL && cond(c, arg);
        h2_read_once(c, left < 50 ? (int)left : 50);
    }
}

static bool cond_closed(h2_client *c, void *arg)
{
    (void)c;
    return ((h2_rec *)arg)->closed;
}

static bool cond_headers(h2_client *c, void *arg)
{
    (void)c;
    h2_rec *r = arg;
    return r->status != 0 || r->closed;
}

static bool cond_settings(h2_client *c, void *arg)
{
    (void)arg;
    return c->settings;
}

/* Open a stream: method and path, a content type (NULL: none), te:
 * trailers for gRPC, extra headers, and a body (NULL: none, END_STREAM on
 * the headers; else copied). */
static h2_rec *h2_open(h2_client *c, const char *method, const char *path, const char *ctype,
                       const uint8_t *body, size_t len, const nghttp2_nv *extra, size_t nextra)
{
    assert_true(c->nrecs < MAX_RECS);
    h2_rec *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->grpc_status = -1;
    c->recs[c->nrecs++] = r;
    nghttp2_nv nv[16];
    size_t n = 0;
#define NV(nm, val)                                                                            \
    nv[n++] = (nghttp2_nv){(uint8_t *)(uintptr_t)(nm), (uint8_t *)(uintptr_t)(val),            \
                           strlen(nm), strlen(val), NGHTTP2_NV_FLAG_NONE}
    NV(":method", method);
    NV(":scheme", c->ssl != NULL ? "https" : "http");
    NV(":path", path);
    NV(":authority", "127.0.0.1");
    if (ctype != NULL) {
        NV("content-type", ctype);
        if (strncmp(ctype, "application/grpc", 16) == 0)
            NV("te", "trailers");
    }
#undef NV
    for (size_t i = 0; i < nextra && n < 16; i++)
        nv[n++] = extra[i];
    nghttp2_data_provider prd = {.source = {.ptr = r}, .read_callback = body_read};
    if (body != NULL) {
        r->body = malloc(len > 0 ? len : 1);
        assert_non_null(r->body);
        if (len > 0)
            memcpy(r->body, body, len);
        r->body_len = len;
    }
    r->id = nghttp2_submit_request(c->ng, NULL, nv, n, body != NULL ? &prd : NULL, r);
    assert_true(r->id > 0);
    return r;
}

/* A gRPC request whose body of len bytes is made up as it goes out (an
 * envelope header declaring `declared`, then filler), held open after it
 * when hold: bodies of any size without a copy. */
static h2_rec *h2_open_gen(h2_client *c, const char *path, size_t len, uint32_t declared,
                           bool hold, const nghttp2_nv *extra, size_t nextra)
{
    /* an empty body for the data provider; the length is set before any
     * of it is read (nghttp2 reads at h2_flush) */
    h2_rec *r =
        h2_open(c, "POST", path, "application/grpc", (const uint8_t *)"", 0, extra, nextra);
    r->body_gen = true;
    r->gen_declared = declared;
    r->body_len = len;
    r->body_hold = hold;
    return r;
}

/* A request, run to its end. */
static h2_rec *h2_call(h2_client *c, const char *method, const char *path, const char *ctype,
                       const uint8_t *body, size_t len, const nghttp2_nv *extra, size_t nextra)
{
    h2_rec *r = h2_open(c, method, path, ctype, body, len, extra, nextra);
    if (!h2_run(c, IO_TIMEOUT_MS, cond_closed, r))
        fail_msg("%s %s: no end of stream in %d ms (eof %d, error %d, goaway %d)", method, path,
                 IO_TIMEOUT_MS, c->eof, c->error, c->goaway);
    return r;
}

static h2_rec *grpc_call(h2_client *c, const char *method, const uint8_t *body, size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), RS_PATH "%s", method);
    return h2_call(c, "POST", path, "application/grpc", body, len, NULL, 0);
}

/* The envelopes of a gRPC response body: their count; each message's
 * bytes go to fn (may be NULL). Fails on a cut or flagged envelope. */
static size_t grpc_messages(const h2_rec *r, void (*fn)(const uint8_t *, size_t, void *),
                            void *arg)
{
    size_t off = 0, n = 0;
    while (off < r->len) {
        if (r->len - off < 5)
            fail_msg("response body ends inside an envelope header");
        uint32_t ml = (uint32_t)r->data[off + 1] << 24 | (uint32_t)r->data[off + 2] << 16 |
                      (uint32_t)r->data[off + 3] << 8 | r->data[off + 4];
        if (r->data[off] != 0)
            fail_msg("response envelope with flags 0x%02x", r->data[off]);
        if (r->len - off - 5 < ml)
            fail_msg("response body ends inside a message");
        if (fn != NULL)
            fn(r->data + off + 5, ml, arg);
        off += 5 + ml;
        n++;
    }
    return n;
}

/* A gRPC Ack on c that must succeed (the connection is still good). */
static void grpc_ack_ok(h2_client *c, uint64_t user, uint64_t channel, uint64_t message)
{
    size_t len;
    uint8_t *env = ack_envelope(user, channel, message, &len);
    h2_rec *r = grpc_call(c, "Ack", env, len);
    free(env);
    if (r->status != 200 || r->grpc_status != 0)
        fail_msg("gRPC Ack: :status %d grpc-status %d (%s), rst %d", r->status, r->grpc_status,
                 r->grpc_message, r->rst);
    assert_int_equal(grpc_messages(r, NULL, NULL), 1);
}

static void h2_get_ok(h2_client *c, const char *path)
{
    h2_rec *r = h2_call(c, "GET", path, NULL, NULL, 0, NULL, 0);
    if (r->status != 200)
        fail_msg("GET %s over HTTP/2: :status %d", path, r->status);
}

/* ---- h2c basics ----------------------------------------------------------------- */

static void check_ack_response(const uint8_t *m, size_t n, void *arg)
{
    (void)arg;
    Readstates__V1__AckResponse *a = readstates__v1__ack_response__unpack(NULL, n, m);
    assert_non_null(a);
    assert_true(a->applied);
    assert_int_equal(a->user_version, 1);
    assert_non_null(a->state);
    assert_int_equal(a->state->channel_id, 7);
    assert_int_equal(a->state->last_message_id, 100);
    readstates__v1__ack_response__free_unpacked(a, NULL);
}

static void test_h2c_basics(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    int port = srv.http_port;
    h2_client *c = h2_connect(port, NULL, 0);

    h2_rec *r = h2_call(c, "GET", "/healthz", NULL, NULL, 0, NULL, 0);
    assert_int_equal(r->status, 200);
    assert_true(r->len >= 2 && memcmp(r->data, "ok", 2) == 0);
    assert_true(c->settings);

    size_t len;
    uint8_t *env = ack_envelope(5, 7, 100, &len);
    r = grpc_call(c, "Ack", env, len);
    free(env);
    assert_int_equal(r->status, 200);
    if (strncmp(r->ctype, "application/grpc", 16) != 0)
        fail_msg("gRPC reply content-type \"%s\"", r->ctype);
    assert_false(r->rst);
    assert_int_equal(r->close_code, NGHTTP2_NO_ERROR);
    assert_int_equal(r->grpc_status, 0);
    assert_true(r->grpc_in_trailers); /* after the message, not trailers-only */
    assert_int_equal(grpc_messages(r, check_ack_response, NULL), 1);

    /* HTTP/1.1 on the same port, meanwhile */
    ht_response hr;
    assert_int_equal(ht_get(port, "/healthz", &hr), 0);
    assert_int_equal(hr.status, 200);
    ht_response_free(&hr);
    /* gRPC needs HTTP/2: over HTTP/1.1 it is refused in plain HTTP */
    assert_int_equal(ht_request(port, "POST", RS_PATH "Ping", "application/grpc", "\0\0\0\0\0",
                                5, NULL, &hr),
                     0);
    assert_int_equal(hr.status, 415);
    ht_response_free(&hr);

    /* and the HTTP/2 connection goes on */
    h2_get_ok(c, "/readyz");
    assert_false(c->goaway);
    h2_close(c);
    assert_true(metric(port, "readstates_http2_connections_total") >= 1);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- --http2-max-streams: a hand-written client ---------------------------------
 *
 * nghttp2's client holds back streams past the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, so the client that opens one anyway
 * writes its own frames (HPACK by nghttp2_hd_deflate / inflate). */

#define RAW_STREAMS 64 /* odd stream ids 1..127 */

typedef struct raw_h2 {
    int fd;
    nghttp2_hd_deflater *dfl;
    nghttp2_hd_inflater *inf;
    bool ack_settings; /* answer the server's SETTINGS with an ACK */
    uint8_t in[1 << 16];
    size_t have;
    uint8_t block[1 << 16]; /* a header block being gathered */
    size_t blen;
    bool eof;
    bool write_failed;
    bool settings;
    uint32_t max_streams;
    bool goaway;
    uint32_t goaway_code;
    int status[RAW_STREAMS];
    int grpc_status[RAW_STREAMS];
    uint32_t rst[RAW_STREAMS]; /* error code + 1; 0: none */
    size_t data[RAW_STREAMS];
    bool ended[RAW_STREAMS];
} raw_h2;

static int raw_slot(uint32_t sid)
{
    assert_true(sid % 2 == 1 && sid / 2 < RAW_STREAMS);
    return (int)(sid / 2);
}

/* One frame header and payload into out (at least 9 + n bytes). */
static size_t raw_pack(uint8_t *out, uint8_t type, uint8_t flags, uint32_t sid,
                       const uint8_t *p, size_t n)
{
    uint8_t hd[9] = {
        (uint8_t)(n >> 16),   (uint8_t)(n >> 8),    (uint8_t)n,          type,        flags,
        (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
    memcpy(out, hd, sizeof(hd));
    if (n > 0)
        memcpy(out + sizeof(hd), p, n);
    return sizeof(hd) + n;
}

/* A write the server may no longer read (it closed after a GOAWAY) is
 * noted, not fatal: what it sent before is still read. */
static void raw_write(raw_h2 *r, const uint8_t *p, size_t n)
{
    if (!r->write_failed && rs_fd_write_all(r->fd, p, n, IO_TIMEOUT_MS) != 0)
        r->write_failed = true;
}

static void raw_frame(raw_h2 *r, uint8_t type, uint8_t flags, uint32_t sid, const uint8_t *p,
                      size_t n)
{
    uint8_t buf[9 + 1024];
    assert_true(n <= 1024);
    raw_write(r, buf, raw_pack(buf, type, flags, sid, p, n));
}

static raw_h2 *raw_connect(int port, bool ack_settings)
{
    raw_h2 *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fd = rs_tcp_connect(port, IO_TIMEOUT_MS);
    assert_true(r->fd >= 0);
    set_timeouts(r->fd);
    r->ack_settings = ack_settings;
    for (int i = 0; i < RAW_STREAMS; i++)
        r->grpc_status[i] = -1;
    assert_int_equal(nghttp2_hd_deflate_new(&r->dfl, 4096), 0);
    assert_int_equal(nghttp2_hd_inflate_new(&r->inf), 0);
    assert_int_equal(
        rs_fd_write_all(r->fd, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN, IO_TIMEOUT_MS),
        0);
    raw_frame(r, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
    return r;
}

static void raw_free(raw_h2 *r)
{
    nghttp2_hd_deflate_del(r->dfl);
    nghttp2_hd_inflate_del(r->inf);
    close(r->fd);
    free(r);
}

/* A gRPC request on stream sid: HEADERS, then one DATA with END_STREAM. */
static void raw_grpc(raw_h2 *r, uint32_t sid, const char *method, const uint8_t *body,
                     size_t len)
{
    char path[128];
    snprintf(path, sizeof(path), RS_PATH "%s", method);
    nghttp2_nv nv[] = {
#define NVS(nm, val)                                                                           \
    {(uint8_t *)(uintptr_t)(nm), (uint8_t *)(uintptr_t)(val), sizeof(nm) - 1, strlen(val),     \
     NGHTTP2_NV_FLAG_NONE}
        NVS(":method", "POST"),
        NVS(":scheme", "http"),
        NVS(":path", path),
        NVS(":authority", "127.0.0.1"),
        NVS("content-type", "application/grpc"),
        NVS("te", "trailers"),
#undef NVS
    };
    uint8_t block[1024];
    ssize_t bl = nghttp2_hd_deflate_hd(r->dfl, block, sizeof(block), nv, 6);
    assert_true(bl > 0);
    /* HEADERS and DATA in one write */
    uint8_t out[2 * 9 + 1024 + 512];
    assert_true(len <= 512);
    size_t n = raw_pack(out, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)bl);
    n += raw_pack(out + n, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, sid, body, len);
    raw_write(r, out, n);
}

static void raw_header_block(raw_h2 *r, uint32_t sid)
{
    uint8_t *in = r->block;
    size_t left = r->blen;
    for (;;) {
        nghttp2_nv nv;
        int fl = 0;
        ssize_t used = nghttp2_hd_inflate_hd2(r->inf, &nv, &fl, in, left, 1);
        assert_true(used >= 0);
        in += used;
        left -= (size_t)used;
        if ((fl & NGHTTP2_HD_INFLATE_EMIT) != 0 && sid % 2 == 1 && sid / 2 < RAW_STREAMS) {
            char v[64];
            snprintf(v, sizeof(v), "%.*s", (int)nv.valuelen, (const char *)nv.value);
            if (nv.namelen == 7 && memcmp(nv.name, ":status", 7) == 0)
                r->status[sid / 2] = atoi(v);
            if (nv.namelen == 11 && memcmp(nv.name, "grpc-status", 11) == 0)
                r->grpc_status[sid / 2] = atoi(v);
        }
        if ((fl & NGHTTP2_HD_INFLATE_FINAL) != 0) {
            nghttp2_hd_inflate_end_headers(r->inf);
            break;
        }
        if ((fl & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0)
            break;
    }
    r->blen = 0;
}

static void raw_on_frame(raw_h2 *r, const uint8_t *hd, const uint8_t *p, size_t n)
{
    uint8_t type = hd[3], flags = hd[4];
    uint32_t sid =
        ((uint32_t)hd[5] << 24 | (uint32_t)hd[6] << 16 | (uint32_t)hd[7] << 8 | hd[8]) &
        0x7fffffffu;
    bool in_range = sid % 2 == 1 && sid / 2 < RAW_STREAMS;
    switch (type) {
    case NGHTTP2_SETTINGS:
        if ((flags & NGHTTP2_FLAG_ACK) != 0)
            break;
        for (size_t i = 0; i + 6 <= n; i += 6) {
            uint16_t id = (uint16_t)(p[i] << 8 | p[i + 1]);
            uint32_t v = (uint32_t)p[i + 2] << 24 | (uint32_t)p[i + 3] << 16 |
                         (uint32_t)p[i + 4] << 8 | p[i + 5];
            if (id == NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
                r->max_streams = v;
        }
        r->settings = true;
        if (r->ack_settings)
            raw_frame(r, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
        break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_CONTINUATION: {
        size_t off = 0, pad = 0;
        if (type == NGHTTP2_HEADERS && (flags & NGHTTP2_FLAG_PADDED) != 0 && n > 0) {
            pad = p[0];
            off = 1;
        }
        if (type == NGHTTP2_HEADERS && (flags & NGHTTP2_FLAG_PRIORITY) != 0)
            off += 5;
        assert_true(off + pad <= n);
        assert_true(r->blen + n - off - pad <= sizeof(r->block));
        memcpy(r->block + r->blen, p + off, n - off - pad);
        r->blen += n - off - pad;
        if ((flags & NGHTTP2_FLAG_END_HEADERS) != 0)
            raw_header_block(r, sid);
        if ((flags & NGHTTP2_FLAG_END_STREAM) != 0 && in_range)
            r->ended[sid / 2] = true;
        break;
    }
    case NGHTTP2_DATA:
        if (in_range) {
            r->data[sid / 2] += n;
            if ((flags & NGHTTP2_FLAG_END_STREAM) != 0)
                r->ended[sid / 2] = true;
        }
        break;
    case NGHTTP2_RST_STREAM:
        if (in_range && n >= 4)
            r->rst[sid / 2] =
                ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) + 1;
        break;
    case NGHTTP2_GOAWAY:
        r->goaway = true;
        if (n >= 8)
            r->goaway_code =
                (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        break;
    case NGHTTP2_PING:
        if ((flags & NGHTTP2_FLAG_ACK) == 0)
            raw_frame(r, NGHTTP2_PING, NGHTTP2_FLAG_ACK, 0, p, n);
        break;
    default: break;
    }
}

typedef bool (*raw_cond)(raw_h2 *r, void *arg);

/* Read frames until cond holds, EOF, or ms pass. */
static bool raw_run(raw_h2 *r, int ms, raw_cond cond, void *arg)
{
    long long end = rs_mono_ms() + ms;
    for (;;) {
        if (cond(r, arg))
            return true;
        long long left = end - rs_mono_ms();
        if (left <= 0 || r->eof)
            return cond(r, arg);
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        if (poll(&pfd, 1, left < 50 ? (int)left : 50) <= 0)
            continue;
        ssize_t n = recv(r->fd, r->in + r->have, sizeof(r->in) - r->have, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            r->eof = true;
            continue;
        }
        r->have += (size_t)n;
        size_t off = 0;
        while (r->have - off >= 9) {
            const uint8_t *hd = r->in + off;
            size_t len = (size_t)hd[0] << 16 | (size_t)hd[1] << 8 | hd[2];
            assert_true(len <= sizeof(r->in) - 9);
            if (r->have - off < 9 + len)
                break;
            raw_on_frame(r, hd, hd + 9, len);
            off += 9 + len;
        }
        memmove(r->in, r->in + off, r->have - off);
        r->have -= off;
    }
}

static bool raw_cond_eof(raw_h2 *r, void *arg)
{
    (void)arg;
    return r->eof;
}

static bool raw_cond_settings(raw_h2 *r, void *arg)
{
    (void)arg;
    return r->settings;
}

typedef struct sid_set {
    const uint32_t *sids;
    size_t n;
} sid_set;

static bool raw_cond_all_status(raw_h2 *r, void *arg)
{
    const sid_set *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (r->status[raw_slot(s->sids[i])] == 0 && r->rst[raw_slot(s->sids[i])] == 0)
            return false;
    return true;
}

static bool raw_cond_all_data(raw_h2 *r, void *arg)
{
    const sid_set *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (r->data[raw_slot(s->sids[i])] == 0 && r->rst[raw_slot(s->sids[i])] == 0)
            return false;
    return true;
}

static bool raw_cond_answered(raw_h2 *r, void *arg)
{
    int slot = raw_slot(*(const uint32_t *)arg);
    return r->goaway || r->rst[slot] != 0 || r->status[slot] != 0;
}

static bool raw_cond_ended(raw_h2 *r, void *arg)
{
    int slot = raw_slot(*(const uint32_t *)arg);
    return r->goaway || r->rst[slot] != 0 || r->ended[slot];
}

/* 8 Watch streams (users base..base+7) on stream ids 1..15, then an Ack on
 * stream 17: it must be refused alone. */
static bool open_watches_then_one_more(raw_h2 *r, uint64_t base, bool wait_between,
                                       bool allow_goaway)
{
    uint32_t sids[8];
    for (uint32_t i = 0; i < 8; i++) {
        sids[i] = 1 + 2 * i;
        size_t len;
        uint8_t *env = watch_envelope(base + i, &len);
        raw_grpc(r, sids[i], "Watch", env, len);
        free(env);
    }
    sid_set set = {sids, 8};
    if (wait_between) {
        assert_true(raw_run(r, IO_TIMEOUT_MS, raw_cond_all_status, &set));
        for (int i = 0; i < 8; i++)
            assert_int_equal(r->status[i], 200);
    }
    size_t len;
    uint8_t *env = ack_envelope(base, 1, 1, &len);
    uint32_t ninth = 17;
    raw_grpc(r, ninth, "Ack", env, len);
    free(env);
    if (!raw_run(r, IO_TIMEOUT_MS, raw_cond_answered, &ninth))
        fail_msg("the stream past --http2-max-streams got no answer");
    if (r->goaway) {
        raw_run(r, 1000, raw_cond_eof, NULL);
        if (!allow_goaway)
            fail_msg("a stream past SETTINGS_MAX_CONCURRENT_STREAMS (settings %s) ended the "
                     "whole connection: GOAWAY error code %u%s, where RFC 9113 5.1.2 asks for "
                     "a stream error (RST_STREAM PROTOCOL_ERROR or REFUSED_STREAM)",
                     r->ack_settings ? "acknowledged" : "not yet acknowledged", r->goaway_code,
                     r->eof ? ", and closed it (the 8 Watch streams with it)" : "");
        /* a connection error: allowed (RFC 9113 5.4.1), but then for breaking
         * the rules, with the stream unserved */
        assert_int_equal(r->goaway_code, NGHTTP2_PROTOCOL_ERROR);
        assert_int_equal(r->status[raw_slot(ninth)], 0);
        return false;
    }
    uint32_t code = r->rst[raw_slot(ninth)];
    if (code == 0)
        fail_msg("the stream past --http2-max-streams was served (:status %d)",
                 r->status[raw_slot(ninth)]);
    code--;
    if (code != NGHTTP2_REFUSED_STREAM && code != NGHTTP2_PROTOCOL_ERROR)
        fail_msg("the stream past --http2-max-streams was reset with error code %u", code);
    assert_int_equal(r->status[raw_slot(ninth)], 0);
    if (!wait_between) {
        assert_true(raw_run(r, IO_TIMEOUT_MS, raw_cond_all_status, &set));
        for (int i = 0; i < 8; i++)
            assert_int_equal(r->status[i], 200);
    }
    for (int i = 0; i < 8; i++)
        assert_int_equal(r->rst[i], 0);
    return true;
}

/* Every one of the 8 Watch streams gets the event of an Ack for its user. */
static void watches_keep_working(raw_h2 *r, int port, uint64_t base)
{
    h2_client *c = h2_connect(port, NULL, 0);
    for (uint64_t i = 0; i < 8; i++)
        grpc_ack_ok(c, base + i, 2, 50);
    h2_close(c);
    uint32_t sids[8];
    for (uint32_t i = 0; i < 8; i++)
        sids[i] = 1 + 2 * i;
    sid_set set = {sids, 8};
    assert_true(raw_run(r, IO_TIMEOUT_MS, raw_cond_all_data, &set));
    for (int i = 0; i < 8; i++) {
        if (r->rst[i] != 0 || r->data[i] == 0)
            fail_msg("Watch stream %d: reset %u, %zu bytes of events", 1 + 2 * i, r->rst[i],
                     r->data[i]);
    }
    assert_false(r->goaway);
}

static void test_max_streams_before_ack(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--http2-max-streams", "8", NULL};
    start_server(&srv, args);
    /* everything at once, before the server's SETTINGS are even read */
    raw_h2 *r = raw_connect(srv.http_port, false);
    assert_true(open_watches_then_one_more(r, 300, false, false));
    assert_true(r->settings);
    assert_int_equal(r->max_streams, 8);
    watches_keep_working(r, srv.http_port, 300);
    raw_free(r);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

static bool cond_all_events(h2_client *c, void *arg)
{
    (void)c;
    h2_rec **w = arg;
    for (int i = 1; i < 8; i++)
        if (w[i]->len == 0)
            return false;
    return true;
}

static void test_max_streams(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--http2-max-streams", "8", NULL};
    start_server(&srv, args);
    int port = srv.http_port;

    /* nghttp2's client reads the limit, and holds a 9th stream back until
     * one of 8 open Watch streams ends */
    h2_client *c = h2_connect(port, NULL, 0);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_settings, NULL));
    assert_int_equal(
        nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 8);
    h2_rec *w[8];
    size_t len;
    for (int i = 0; i < 8; i++) {
        uint8_t *env = watch_envelope(320 + (uint64_t)i, &len);
        w[i] = h2_open(c, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
        free(env);
    }
    for (int i = 0; i < 8; i++) {
        assert_true(h2_run(c, IO_TIMEOUT_MS, cond_headers, w[i]));
        assert_int_equal(w[i]->status, 200);
    }
    uint8_t *env = ack_envelope(320, 1, 1, &len);
    h2_rec *ninth = h2_open(c, "POST", RS_PATH "Ack", "application/grpc", env, len, NULL, 0);
    free(env);
    h2_run(c, 300, cond_closed, ninth);
    assert_false(ninth->closed);
    assert_int_equal(ninth->status, 0);
    assert_int_equal(
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, w[0]->id, NGHTTP2_CANCEL), 0);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_closed, ninth));
    assert_int_equal(ninth->status, 200);
    assert_int_equal(ninth->grpc_status, 0);
    /* the other seven still get their events */
    h2_client *m = h2_connect(port, NULL, 0);
    for (uint64_t i = 1; i < 8; i++)
        grpc_ack_ok(m, 320 + i, 2, 50);
    h2_close(m);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_all_events, w));
    for (int i = 1; i < 8; i++)
        assert_false(w[i]->closed);
    assert_false(c->goaway);
    h2_close(c);

    /* a client that acknowledges the SETTINGS and opens a 9th stream
     * anyway: refused alone (then the 8 go on, and a slot freed by a
     * cancel takes a new stream), or the connection ends with GOAWAY
     * PROTOCOL_ERROR (nghttp2's choice for a client that breaks a limit it
     * acknowledged; RFC 9113 5.4.1 allows it) */
    raw_h2 *r = raw_connect(port, true);
    assert_true(raw_run(r, IO_TIMEOUT_MS, raw_cond_settings, NULL));
    assert_int_equal(r->max_streams, 8);
    if (!open_watches_then_one_more(r, 310, true, true)) {
        print_message("a stream past the acknowledged limit: GOAWAY PROTOCOL_ERROR%s\n",
                      r->eof ? ", connection closed" : "");
    } else {
        watches_keep_working(r, port, 310);
        static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
        raw_frame(r, NGHTTP2_RST_STREAM, 0, 1, cancel, sizeof(cancel));
        env = ack_envelope(319, 1, 1, &len);
        uint32_t sid = 19;
        raw_grpc(r, sid, "Ack", env, len);
        free(env);
        assert_true(raw_run(r, IO_TIMEOUT_MS, raw_cond_ended, &sid));
        assert_false(r->goaway);
        assert_int_equal(r->rst[raw_slot(sid)], 0);
        assert_int_equal(r->status[raw_slot(sid)], 200);
        assert_int_equal(r->grpc_status[raw_slot(sid)], 0);
    }
    raw_free(r);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- header and body limits -------------------------------------------------------- */

static const char *const limit_args[] = {"--http-max-headers", "4096", "--http-max-body",
                                         "65536", NULL};

static char big_value[6000];

static nghttp2_nv big_header(void)
{
    memset(big_value, 'a', sizeof(big_value) - 1);
    return (nghttp2_nv){(uint8_t *)"x-big", (uint8_t *)big_value, 5, sizeof(big_value) - 1,
                        NGHTTP2_NV_FLAG_NONE};
}

/* A body of n bytes: one gRPC envelope declaring n - 5 (spaces). */
static uint8_t *big_body(size_t n)
{
    uint8_t *body = malloc(n);
    assert_non_null(body);
    memset(body, ' ', n);
    uint32_t ml = (uint32_t)(n - 5);
    body[0] = 0;
    body[1] = (uint8_t)(ml >> 24);
    body[2] = (uint8_t)(ml >> 16);
    body[3] = (uint8_t)(ml >> 8);
    body[4] = (uint8_t)ml;
    return body;
}

static void test_header_limit(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, limit_args);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_settings, NULL));
    nghttp2_nv bignv = big_header();

    /* headers over the limit: 431 over plain HTTP/2 */
    h2_rec *r = h2_call(c, "GET", "/healthz", NULL, NULL, 0, &bignv, 1);
    if (r->status != 431)
        fail_msg("GET with %zu bytes of headers (max 4096): :status %d, rst %d code %u",
                 sizeof(big_value), r->status, r->rst, r->rst_code);
    h2_get_ok(c, "/healthz");

    /* ...and RESOURCE_EXHAUSTED for gRPC (http2.h), which reads grpc-status
     * and not :status */
    size_t len;
    uint8_t *env = ack_envelope(11, 1, 10, &len);
    r = h2_call(c, "POST", RS_PATH "Ack", "application/grpc", env, len, &bignv, 1);
    free(env);
    if (r->status != 200 || r->grpc_status != 8)
        fail_msg("gRPC Ack with %zu bytes of headers (max 4096): :status %d grpc-status %d "
                 "(%s), content-type \"%s\", rst %d; want :status 200 grpc-status 8",
                 sizeof(big_value), r->status, r->grpc_status, r->grpc_message, r->ctype,
                 r->rst);
    grpc_ack_ok(c, 11, 1, 11);
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

static void test_body_limit(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, limit_args);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    size_t blen = 70000;
    uint8_t *body = big_body(blen);

    /* a body over the limit: 413 for Connect unary JSON */
    h2_rec *r = h2_call(c, "POST", RS_PATH "Ack", "application/json", body, blen, NULL, 0);
    if (r->status != 413)
        fail_msg("a %zu-byte JSON body (max 65536): :status %d, rst %d", blen, r->status,
                 r->rst);
    h2_get_ok(c, "/healthz");

    /* ...and RESOURCE_EXHAUSTED for gRPC: one envelope over the limit */
    r = grpc_call(c, "Ack", body, blen);
    if (r->status != 200 || r->grpc_status != 8)
        fail_msg("a %zu-byte gRPC body (max 65536): :status %d grpc-status %d (%s), rst %d",
                 blen, r->status, r->grpc_status, r->grpc_message, r->rst);
    grpc_ack_ok(c, 12, 1, 10);
    /* an envelope that only declares too much: refused without the bytes */
    r = grpc_call(c, "Ack", body, 5);
    if (r->status != 200 || r->grpc_status != 8)
        fail_msg("an envelope declaring %zu bytes (max 65536): grpc-status %d (%s)", blen - 5,
                 r->grpc_status, r->grpc_message);
    free(body);
    grpc_ack_ok(c, 12, 1, 11);
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* Streams refused by the HTTP/2 layer (431, 413) leave no reply "being
 * written": SIGTERM exits at once, not after the 2 s grace the server
 * gives replies still being written. */
static void test_refusals_then_shutdown(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, limit_args);
    int port = srv.http_port;
    h2_client *c = h2_connect(port, NULL, 0);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_settings, NULL));
    nghttp2_nv bignv = big_header();
    h2_rec *r = h2_call(c, "GET", "/healthz", NULL, NULL, 0, &bignv, 1);
    assert_int_equal(r->status, 431);
    size_t blen = 70000;
    uint8_t *body = big_body(blen);
    r = h2_call(c, "POST", RS_PATH "Ack", "application/json", body, blen, NULL, 0);
    free(body);
    assert_int_equal(r->status, 413);
    h2_close(c);
    /* (the scrape's own connection is the one left open) */
    assert_true(wait_metric(port, "readstates_http_connections_open", 1, false, 3000));
    long long ms = stop_server(&srv);
    char *log = rs_read_file(srv.proc.stderr_path, NULL);
    bool waited = log != NULL && strstr(log, "shutdown_conns_left") != NULL;
    free(log);
    if (waited || ms >= 1500)
        fail_msg("after two HTTP/2 streams refused (431, 413) and their connection closed, "
                 "SIGTERM took %lld ms%s: the server still counts a reply being written",
                 ms, waited ? " and logged shutdown_conns_left" : "");
    rs_test_server_cleanup(&srv);
}

/* ---- the request deadline ------------------------------------------------------------- */

static void test_request_deadline(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--http-request-deadline-ms", "300", NULL};
    start_server(&srv, args);
    int port = srv.http_port;
    h2_client *c = h2_connect(port, NULL, 0);

    /* a Watch, open before and after */
    size_t len;
    uint8_t *env = watch_envelope(500, &len);
    h2_rec *w = h2_open(c, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
    free(env);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_headers, w));
    assert_int_equal(w->status, 200);

    /* headers, and a body that never comes */
    long long t0 = rs_mono_ms();
    env = ack_envelope(500, 1, 1, &len);
    h2_rec *a = h2_open(c, "POST", RS_PATH "Ack", "application/grpc", env, 0, NULL, 0);
    a->body_hold = true;
    free(env);
    /* meanwhile the connection serves other streams */
    h2_get_ok(c, "/healthz");
    assert_false(a->closed);
    if (!h2_run(c, 3000, cond_closed, a))
        fail_msg("a stream without its body was not reset in 3 s (deadline 300 ms)");
    long long ms = rs_mono_ms() - t0;
    if (!a->rst || a->rst_code != NGHTTP2_CANCEL)
        fail_msg("the stream past its deadline: rst %d code %u, :status %d", a->rst,
                 a->rst_code, a->status);
    if (ms < 250 || ms > 2500)
        fail_msg("the stream was reset after %lld ms (deadline 300 ms)", ms);

    /* the connection and the Watch go on */
    assert_false(c->goaway);
    assert_false(w->closed);
    h2_client *m = h2_connect(port, NULL, 0);
    grpc_ack_ok(m, 500, 3, 30);
    h2_close(m);
    bool got_event = false;
    long long end = rs_mono_ms() + IO_TIMEOUT_MS;
    while (!got_event && rs_mono_ms() < end && !c->eof) {
        h2_run(c, 50, NULL, NULL);
        got_event = w->len > 0;
    }
    assert_true(got_event);
    assert_false(w->closed);
    grpc_ack_ok(c, 500, 4, 40);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- malformed gRPC requests ----------------------------------------------------------- */

static void expect_grpc_error(h2_client *c, const char *what, const uint8_t *body, size_t len)
{
    h2_rec *r = grpc_call(c, "Ack", body, len);
    if (r->rst || r->status != 200 || r->grpc_status <= 0)
        fail_msg("%s: :status %d grpc-status %d (%s), rst %d code %u", what, r->status,
                 r->grpc_status, r->grpc_message, r->rst, r->rst_code);
    print_message("%s: grpc-status %d (%s)\n", what, r->grpc_status, r->grpc_message);
    assert_false(c->goaway);
}

static void test_malformed_grpc(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    size_t len;
    uint8_t *env = ack_envelope(21, 1, 100, &len);
    uint8_t buf[512];

    /* a length prefix larger than the data */
    memcpy(buf, env, len);
    buf[4] = (uint8_t)(len - 5 + 90);
    expect_grpc_error(c, "envelope declaring more than the body", buf, len);
    grpc_ack_ok(c, 21, 1, 10);

    /* the compressed flag without grpc-encoding */
    memcpy(buf, env, len);
    buf[0] = 1;
    expect_grpc_error(c, "compressed flag without grpc-encoding", buf, len);
    grpc_ack_ok(c, 21, 1, 11);

    /* an empty body: a DATA frame with nothing, and no DATA at all */
    expect_grpc_error(c, "an empty body (empty DATA)", buf, 0);
    grpc_ack_ok(c, 21, 1, 13);
    h2_rec *r = h2_call(c, "POST", RS_PATH "Ack", "application/grpc", NULL, 0, NULL, 0);
    if (r->grpc_status <= 0)
        fail_msg("no body at all: :status %d grpc-status %d", r->status, r->grpc_status);
    grpc_ack_ok(c, 21, 1, 14);

    free(env);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* Two messages for a unary method: the call is refused whole (the
 * request is in before the method runs), whatever the engine's speed. */
static void test_unary_two_messages(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    size_t len;
    uint8_t *env = ack_envelope(22, 1, 100, &len);
    uint8_t buf[512];
    assert_true(2 * len <= sizeof(buf));
    memcpy(buf, env, len);
    memcpy(buf + len, env, len);
    free(env);
    expect_grpc_error(c, "two messages for unary Ack", buf, 2 * len);
    grpc_ack_ok(c, 22, 1, 12);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- a slow Watch reader ---------------------------------------------------------------- */

static uint8_t *bulk_ack_envelope(uint64_t user, uint64_t round, size_t n, size_t *len)
{
    Readstates__V1__BulkAckRequest b = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    Readstates__V1__AckEntry *ents = calloc(n, sizeof(*ents));
    Readstates__V1__AckEntry **ptrs = calloc(n, sizeof(*ptrs));
    assert_non_null(ents);
    assert_non_null(ptrs);
    for (size_t i = 0; i < n; i++) {
        readstates__v1__ack_entry__init(&ents[i]);
        ents[i].channel_id = i + 1;
        ents[i].message_id = round * 100000 + i + 1;
        ptrs[i] = &ents[i];
    }
    b.user_id = user;
    b.n_entries = n;
    b.entries = ptrs;
    uint8_t *env = envelope(&b.base, len);
    free(ents);
    free(ptrs);
    return env;
}

typedef struct event_check {
    uint64_t user;
    size_t n;
} event_check;

static void check_event(const uint8_t *m, size_t n, void *arg)
{
    event_check *ec = arg;
    Readstates__V1__ReadStateEvent *e = readstates__v1__read_state_event__unpack(NULL, n, m);
    assert_non_null(e);
    assert_int_equal(e->user_id, ec->user);
    readstates__v1__read_state_event__free_unpacked(e, NULL);
    ec->n++;
}

static void test_slow_watch_reader(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--max-output", "64KiB", NULL};
    start_server(&srv, args);
    int port = srv.http_port;

    /* the slow reader: its streams' windows start (and stay) shut */
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}};
    h2_client *slow = h2_connect(port, iv, 1);
    size_t len;
    uint8_t *env = watch_envelope(600, &len);
    h2_rec *w = h2_open(slow, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
    free(env);
    assert_true(h2_run(slow, IO_TIMEOUT_MS, cond_headers, w));
    assert_int_equal(w->status, 200);
    assert_true(
        wait_metric(port, "readstates_http_streams_open{protocol=\"grpc\"}", 1, false, 3000));

    /* 4000 changes for the watched user from another connection (about
     * 100 KiB of events) */
    h2_client *m = h2_connect(port, NULL, 0);
    for (uint64_t round = 1; round <= 4; round++) {
        env = bulk_ack_envelope(600, round, 1000, &len);
        h2_rec *r = grpc_call(m, "BulkAck", env, len);
        free(env);
        if (r->grpc_status != 0)
            fail_msg("BulkAck round %llu: grpc-status %d (%s)", (unsigned long long)round,
                     r->grpc_status, r->grpc_message);
    }
    if (!wait_metric(port, "readstates_http_streams_slow_closed_total", 1, true, 5000))
        fail_msg("readstates_http_streams_slow_closed_total stayed %.0f",
                 metric(port, "readstates_http_streams_slow_closed_total"));
    assert_true(
        wait_metric(port, "readstates_http_streams_open{protocol=\"grpc\"}", 0, false, 3000));

    /* the server stays healthy */
    h2_get_ok(m, "/healthz");
    grpc_ack_ok(m, 601, 1, 1);

    /* the reader opens its window: what was queued, then the status */
    assert_false(w->closed);
    assert_int_equal(w->len, 0);
    assert_int_equal(nghttp2_submit_window_update(slow->ng, NGHTTP2_FLAG_NONE, w->id, 16 << 20),
                     0);
    if (!h2_run(slow, IO_TIMEOUT_MS, cond_closed, w))
        fail_msg("the slow Watch did not end once its window opened (%zu bytes read)", w->len);
    if (w->rst || w->grpc_status != 8 || !w->grpc_in_trailers)
        fail_msg("the slow Watch ended with rst %d, grpc-status %d (%s)", w->rst,
                 w->grpc_status, w->grpc_message);
    event_check ec = {600, 0};
    grpc_messages(w, check_event, &ec);
    print_message("slow Watch: %zu events (%zu bytes) before RESOURCE_EXHAUSTED: %s\n", ec.n,
                  w->len, w->grpc_message);
    assert_true(w->len > 65536);
    assert_true(ec.n > 0 && ec.n < 4000);
    h2_close(slow);
    h2_close(m);

    ht_response hr;
    assert_int_equal(ht_get(port, "/healthz", &hr), 0);
    assert_int_equal(hr.status, 200);
    ht_response_free(&hr);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- a cancelled Watch --------------------------------------------------------------------
 */

static void test_cancel_watch(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    int port = srv.http_port;
    const char *open_series = "readstates_http_streams_open{protocol=\"grpc\"}";
    h2_client *c = h2_connect(port, NULL, 0);
    size_t len;
    uint8_t *env = watch_envelope(700, &len);
    h2_rec *w = h2_open(c, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
    free(env);
    assert_true(h2_run(c, IO_TIMEOUT_MS, cond_headers, w));
    assert_int_equal(w->status, 200);
    if (!wait_metric(port, open_series, 1, false, 3000))
        fail_msg("%s is %.0f with one Watch open", open_series, metric(port, open_series));

    assert_int_equal(nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, w->id, NGHTTP2_CANCEL),
                     0);
    h2_flush(c);
    if (!wait_metric(port, open_series, 0, false, 3000))
        fail_msg("%s is %.0f after the Watch was cancelled", open_series,
                 metric(port, open_series));
    /* the connection goes on; no event reaches the cancelled Watch */
    grpc_ack_ok(c, 700, 1, 1);
    h2_get_ok(c, "/healthz");
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* ---- h2 over TLS by ALPN ---------------------------------------------------------------- */

static void run_ok(const char *const argv[])
{
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0)
        fail_msg("%s exited %d: %s", argv[0], code, err != NULL ? err : "");
    free(out);
    free(err);
}

static SSL *tls_connect(SSL_CTX *ctx, int port, const unsigned char *alpn, unsigned alpn_len,
                        int *fd_out)
{
    int fd = rs_tcp_connect(port, IO_TIMEOUT_MS);
    assert_true(fd >= 0);
    set_timeouts(fd);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    assert_int_equal(SSL_set_alpn_protos(ssl, alpn, alpn_len), 0);
    if (SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("TLS handshake failed");
    }
    *fd_out = fd;
    return ssl;
}

static void check_ping(const uint8_t *m, size_t n, void *arg)
{
    (void)arg;
    Readstates__V1__PingResponse *p = readstates__v1__ping_response__unpack(NULL, n, m);
    assert_non_null(p);
    assert_true(p->server_time_ms > 0);
    assert_true(p->server_version != NULL && p->server_version[0] != '\0');
    readstates__v1__ping_response__free_unpacked(p, NULL);
}

/* A self-signed certificate for localhost and 127.0.0.1 in a new
 * temporary directory (dir), as cert.pem and key.pem. */
static void make_cert(const char *tag, char *dir, size_t dirlen, char *cert, size_t certlen,
                      char *key, size_t keylen)
{
    assert_int_equal(rs_tmpdir_create(tag, dir, dirlen), 0);
    snprintf(cert, certlen, "%s/cert.pem", dir);
    snprintf(key, keylen, "%s/key.pem", dir);
    const char *gen[] = {"openssl",
                         "req",
                         "-x509",
                         "-newkey",
                         "ec",
                         "-pkeyopt",
                         "ec_paramgen_curve:P-256",
                         "-nodes",
                         "-keyout",
                         key,
                         "-out",
                         cert,
                         "-days",
                         "2",
                         "-subj",
                         "/CN=localhost",
                         "-addext",
                         "subjectAltName=IP:127.0.0.1,DNS:localhost",
                         NULL};
    run_ok(gen);
}

static void test_h2_over_tls(void **state)
{
    (void)state;
    char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    make_cert("h2tls", dir, sizeof(dir), cert, sizeof(cert), key, sizeof(key));
    rs_test_server srv;
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    start_server(&srv, args);
    int port = srv.http_port;

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    /* offering h2 and http/1.1: the server picks h2 */
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    int fd;
    SSL *ssl = tls_connect(ctx, port, both, sizeof(both) - 1, &fd);
    const unsigned char *sel = NULL;
    unsigned sel_len = 0;
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    if (sel_len != 2 || memcmp(sel, "h2", 2) != 0)
        fail_msg("ALPN selected \"%.*s\", want h2", (int)sel_len,
                 sel != NULL ? (char *)sel : "");
    h2_client *c = h2_client_new(fd, ssl, NULL, 0);
    Readstates__V1__PingRequest ping = READSTATES__V1__PING_REQUEST__INIT;
    size_t len;
    uint8_t *env = envelope(&ping.base, &len);
    h2_rec *r = grpc_call(c, "Ping", env, len);
    free(env);
    if (r->status != 200 || r->grpc_status != 0)
        fail_msg("gRPC Ping over h2/TLS: :status %d grpc-status %d (%s)", r->status,
                 r->grpc_status, r->grpc_message);
    assert_int_equal(grpc_messages(r, check_ping, NULL), 1);
    grpc_ack_ok(c, 800, 1, 1);
    h2_close(c);

    /* offering only http/1.1: HTTP/1.1 it is */
    static const unsigned char h1[] = "\x08http/1.1";
    ssl = tls_connect(ctx, port, h1, sizeof(h1) - 1, &fd);
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    assert_true(sel_len == 8 && memcmp(sel, "http/1.1", 8) == 0);
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_int_equal(SSL_write(ssl, get, sizeof(get) - 1), (int)sizeof(get) - 1);
    char resp[256];
    int n = SSL_read(ssl, resp, sizeof(resp) - 1);
    assert_true(n > 12);
    resp[n] = '\0';
    assert_memory_equal(resp, "HTTP/1.1 200", 12);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);

    stop_server(&srv);
    rs_test_server_cleanup(&srv);
    rs_tmpdir_remove(dir);
}

/* ---- after review (d75ab87) ------------------------------------------------------------- */

#define REFLECTION_PATH "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"

/* The server's resident set (VmRSS), in KiB. */
static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *st = rs_read_file(path, NULL);
    assert_non_null(st);
    const char *p = strstr(st, "VmRSS:");
    long kb = p != NULL ? strtol(p + 6, NULL, 10) : -1;
    free(st);
    assert_true(kb > 0);
    return kb;
}

typedef struct rec_set {
    h2_rec **r;
    size_t n;
} rec_set;

/* A gRPC outcome came (grpc-status), or the stream ended or was reset: a
 * stream whose request the client holds open never closes on its side. */
static bool rec_answered(const h2_rec *r)
{
    return r->grpc_status >= 0 || r->rst || r->closed;
}

static bool cond_answered(h2_client *c, void *arg)
{
    (void)c;
    return rec_answered(arg);
}

static bool cond_all_headers(h2_client *c, void *arg)
{
    (void)c;
    const rec_set *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (s->r[i]->status == 0 && !s->r[i]->closed)
            return false;
    return true;
}

static bool cond_all_closed(h2_client *c, void *arg)
{
    (void)c;
    const rec_set *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (!s->r[i]->closed)
            return false;
    return true;
}

/* Every stream answered and every request body out (held ones included). */
static bool cond_all_answered_sent(h2_client *c, void *arg)
{
    (void)c;
    const rec_set *s = arg;
    for (size_t i = 0; i < s->n; i++)
        if (!rec_answered(s->r[i]) || s->r[i]->body_off < s->r[i]->body_len)
            return false;
    return true;
}

/* 1. --max-output is per connection, not per stream: 64 Watch streams of
 * one reader that never opens its windows, each with a backlog far under
 * the cap, together past it. Before d75ab87 no stream was ended (the cap
 * was per stream: 1024 streams x 8 MiB). */
#define CAP_STREAMS 64
#define CAP_ROUNDS  6

static void test_output_cap_across_streams(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--max-output", "1MiB", NULL};
    start_server_measured(&srv, args);
    int port = srv.http_port;
    const char *open_series = "readstates_http_streams_open{protocol=\"grpc\"}";
    const char *slow_series = "readstates_http_streams_slow_closed_total";
    long rss0 = rss_kb(srv.proc.pid);

    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}};
    h2_client *slow = h2_connect(port, iv, 1);
    h2_rec *w[CAP_STREAMS];
    size_t len;
    for (int i = 0; i < CAP_STREAMS; i++) {
        uint8_t *env = watch_envelope(900, &len);
        w[i] = h2_open(slow, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
        free(env);
    }
    rec_set all = {w, CAP_STREAMS};
    assert_true(h2_run(slow, IO_TIMEOUT_MS, cond_all_headers, &all));
    for (int i = 0; i < CAP_STREAMS; i++)
        assert_int_equal(w[i]->status, 200);
    if (!wait_metric(port, open_series, CAP_STREAMS, false, 3000))
        fail_msg("%s is %.0f with %d Watches open", open_series, metric(port, open_series),
                 CAP_STREAMS);

    /* CAP_ROUNDS x 1000 changes of the watched user, from another connection */
    h2_client *m = h2_connect(port, NULL, 0);
    for (uint64_t round = 1; round <= CAP_ROUNDS; round++) {
        uint8_t *env = bulk_ack_envelope(900, round, 1000, &len);
        h2_rec *r = grpc_call(m, "BulkAck", env, len);
        free(env);
        if (r->grpc_status != 0)
            fail_msg("BulkAck round %llu: grpc-status %d (%s)", (unsigned long long)round,
                     r->grpc_status, r->grpc_message);
        h2_run(slow, 1, NULL, NULL);
    }
    h2_get_ok(m, "/healthz");
    long rss1 = rss_kb(srv.proc.pid);
    print_message("%d Watches x %d changes: server RSS %ld -> %ld KiB\n", CAP_STREAMS,
                  CAP_ROUNDS * 1000, rss0, rss1);
    if (!wait_metric(port, slow_series, 1, true, 3000))
        fail_msg("--max-output 1MiB, %d Watch streams of one connection that reads nothing, "
                 "%d changes each: no stream was ended (%s %.0f, %s %.0f): the cap is not "
                 "per connection",
                 CAP_STREAMS, CAP_ROUNDS * 1000, slow_series, metric(port, slow_series),
                 open_series, metric(port, open_series));
    if (!wait_metric(port, open_series, 0, false, 3000))
        fail_msg("%s is %.0f: not every stream of the stalled connection was ended",
                 open_series, metric(port, open_series));
    /* what is held for the stalled reader costs its bytes (about 1 MiB
     * here), not a buffer chain per small event (that was 48 MB) */
    if (rss1 - rss0 > 16 * 1024)
        fail_msg("server RSS grew %ld KiB for a stalled reader under --max-output 1MiB",
                 rss1 - rss0);

    /* the reader opens its windows: what was queued, then RESOURCE_EXHAUSTED */
    assert_int_equal(nghttp2_submit_window_update(slow->ng, NGHTTP2_FLAG_NONE, 0, 64 << 20), 0);
    for (int i = 0; i < CAP_STREAMS; i++) {
        assert_false(w[i]->closed);
        assert_int_equal(w[i]->len, 0);
        assert_int_equal(
            nghttp2_submit_window_update(slow->ng, NGHTTP2_FLAG_NONE, w[i]->id, 16 << 20), 0);
    }
    if (!h2_run(slow, IO_TIMEOUT_MS, cond_all_closed, &all))
        fail_msg("the stalled Watches did not all end once their windows opened");
    size_t total = 0, events = 0;
    for (int i = 0; i < CAP_STREAMS; i++) {
        if (w[i]->rst || w[i]->grpc_status != 8 || !w[i]->grpc_in_trailers)
            fail_msg(
                "Watch %d of the stalled connection ended with rst %d, grpc-status %d (%s)", i,
                w[i]->rst, w[i]->grpc_status, w[i]->grpc_message);
        event_check ec = {900, 0};
        grpc_messages(w[i], check_event, &ec);
        assert_true(ec.n < CAP_ROUNDS * 1000);
        total += w[i]->len;
        events += ec.n;
    }
    print_message("stalled connection: %zu events (%zu bytes) over %d streams before "
                  "RESOURCE_EXHAUSTED: %s\n",
                  events, total, CAP_STREAMS, w[0]->grpc_message);
    /* what was queued, across all its streams, is about the cap */
    assert_true(total < 3u * (1u << 20));
    h2_close(slow);
    grpc_ack_ok(m, 901, 1, 1);
    h2_close(m);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* 2. A connection whose reader takes none of its waiting answers is
 * closed after --http-timeout-s, while an idle one with an open Watch and
 * nothing to send stays. Before d75ab87 an HTTP/2 connection with an open
 * stream had no timer at all. */
static bool cond_gone(h2_client *c, void *arg)
{
    (void)arg;
    return c->eof || c->goaway;
}

static void test_stalled_reader_closed(void **state)
{
    (void)state;
    rs_test_server srv;
    const char *args[] = {"--http-timeout-s", "1", NULL};
    start_server(&srv, args);
    int port = srv.http_port;
    size_t len;

    /* idle: a Watch open, nothing to send it */
    h2_client *idle = h2_connect(port, NULL, 0);
    uint8_t *env = watch_envelope(950, &len);
    h2_rec *iw = h2_open(idle, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
    free(env);
    assert_true(h2_run(idle, IO_TIMEOUT_MS, cond_headers, iw));
    assert_int_equal(iw->status, 200);

    /* window 0: a Watch with events waiting, and a unary call's answer */
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}};
    h2_client *sw = h2_connect(port, iv, 1);
    env = watch_envelope(951, &len);
    h2_rec *w = h2_open(sw, "POST", RS_PATH "Watch", "application/grpc", env, len, NULL, 0);
    free(env);
    assert_true(h2_run(sw, IO_TIMEOUT_MS, cond_headers, w));
    assert_int_equal(w->status, 200);
    h2_client *su = h2_connect(port, iv, 1);
    env = ack_envelope(952, 1, 1, &len);
    h2_rec *a = h2_open(su, "POST", RS_PATH "Ack", "application/grpc", env, len, NULL, 0);
    free(env);
    long long t0 = rs_mono_ms();
    assert_true(h2_run(su, IO_TIMEOUT_MS, cond_headers, a));
    assert_int_equal(a->status, 200);
    h2_client *m = h2_connect(port, NULL, 0);
    grpc_ack_ok(m, 951, 1, 1);
    h2_close(m);
    long long t_sw = rs_mono_ms();

    /* up to 4 s, and at least 2.5 s (the idle connection's proof) */
    long long gone_su = -1, gone_sw = -1;
    for (;;) {
        long long now = rs_mono_ms();
        if (gone_su < 0 && cond_gone(su, NULL))
            gone_su = now - t0;
        if (gone_sw < 0 && cond_gone(sw, NULL))
            gone_sw = now - t_sw;
        if (now - t0 >= 4000 || (gone_su >= 0 && gone_sw >= 0 && now - t0 >= 2500))
            break;
        h2_run(su, 10, NULL, NULL);
        h2_run(sw, 10, NULL, NULL);
        h2_run(idle, 10, NULL, NULL);
    }
    print_message("--http-timeout-s 1: the stalled unary reader closed after %lld ms (eof %d "
                  "goaway %d), the stalled Watch reader after %lld ms (eof %d goaway %d)\n",
                  gone_su, su->eof, su->goaway, gone_sw, sw->eof, sw->goaway);
    if (gone_su < 0)
        fail_msg("a connection with window 0 and a unary answer waiting was not closed in "
                 "4 s (--http-timeout-s 1)");
    if (gone_sw < 0)
        fail_msg("a connection with window 0 and Watch events waiting was not closed in "
                 "4 s (--http-timeout-s 1)");
    if (gone_su < 700 || gone_su > 3500 || gone_sw < 700 || gone_sw > 3500)
        fail_msg("stalled readers closed after %lld and %lld ms, want about 1 s", gone_su,
                 gone_sw);
    assert_int_equal(a->len, 0);
    assert_int_equal(w->len, 0);

    /* the idle one stays, and its Watch still works */
    if (idle->eof || idle->goaway || iw->closed)
        fail_msg("an idle HTTP/2 connection with an open Watch was closed (eof %d, goaway "
                 "%d, stream closed %d)",
                 idle->eof, idle->goaway, iw->closed);
    m = h2_connect(port, NULL, 0);
    grpc_ack_ok(m, 950, 1, 1);
    h2_close(m);
    long long end = rs_mono_ms() + IO_TIMEOUT_MS;
    while (iw->len == 0 && rs_mono_ms() < end && !idle->eof)
        h2_run(idle, 50, NULL, NULL);
    assert_true(iw->len > 0);
    h2_get_ok(idle, "/healthz");
    h2_close(idle);
    h2_close(sw);
    h2_close(su);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* 4. A stream answered at its headers (reflection with a wrong token)
 * keeps none of the body that still comes. Before d75ab87 each kept up to
 * --http-max-body: 300 such streams, 300 MiB. */
#define BODY_STREAMS 300
#define BODY_LEN     ((1u << 20) - 64)

static void test_answered_stream_keeps_no_body(void **state)
{
    (void)state;
    char dir[PATH_MAX], tokens[PATH_MAX + 16];
    assert_int_equal(rs_tmpdir_create("h2body", dir, sizeof(dir)), 0);
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    assert_int_equal(rs_write_file(tokens, "it-http2-token-7c41e09b5d\n"), 0);
    rs_test_server srv;
    const char *args[] = {"--auth-token-file", tokens, NULL};
    start_server_measured(&srv, args);
    int port = srv.http_port;
    h2_client *c = h2_connect(port, NULL, 0);
    h2_get_ok(c, "/healthz");
    long rss0 = rss_kb(srv.proc.pid);

    nghttp2_nv bad = {(uint8_t *)"authorization", (uint8_t *)"Bearer it-http2-wrong-token", 13,
                      strlen("Bearer it-http2-wrong-token"), NGHTTP2_NV_FLAG_NONE};
    h2_rec *r[BODY_STREAMS];
    long long t0 = rs_mono_ms();
    for (int i = 0; i < BODY_STREAMS; i++)
        r[i] = h2_open_gen(c, REFLECTION_PATH, BODY_LEN, BODY_LEN - 5, true, &bad, 1);
    rec_set all = {r, BODY_STREAMS};
    if (!h2_run(c, 20000, cond_all_answered_sent, &all))
        fail_msg("%d streams x %u bytes: not all answered and sent in 20 s (eof %d, error %d, "
                 "goaway %d)",
                 BODY_STREAMS, BODY_LEN, c->eof, c->error, c->goaway);
    /* the server has read all of it once it answers what came after */
    h2_get_ok(c, "/healthz");
    long long ms = rs_mono_ms() - t0;
    long rss1 = rss_kb(srv.proc.pid);
    print_message("%d answered streams x %u body bytes still sent (%lld ms): server RSS %ld "
                  "-> %ld KiB\n",
                  BODY_STREAMS, BODY_LEN, ms, rss0, rss1);
    for (int i = 0; i < BODY_STREAMS; i++)
        if (r[i]->grpc_status != 16)
            fail_msg("stream %d with a wrong token: :status %d grpc-status %d (%s), rst %d", i,
                     r[i]->status, r[i]->grpc_status, r[i]->grpc_message, r[i]->rst);
    if (rss1 - rss0 > 100 * 1024)
        fail_msg("the server grew by %ld MiB holding bodies of %d streams it had answered",
                 (rss1 - rss0) / 1024, BODY_STREAMS);
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
    rs_tmpdir_remove(dir);
}

/* 5. A bidirectional stream holds at most 64 KiB of a message not yet
 * whole. Before d75ab87 it held up to --http-max-body (1 MiB) per stream,
 * waiting. */
static void test_bidi_partial_message_cap(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    long long t0 = rs_mono_ms();
    h2_rec *r = h2_open_gen(c, REFLECTION_PATH, 256 << 10, (1u << 20) - 16, true, NULL, 0);
    if (!h2_run(c, 3000, cond_answered, r))
        fail_msg("a reflection stream sending a message declared as 1 MiB - 16 (%zu bytes "
                 "sent) was not ended in 3 s: the partial message is held",
                 r->body_off);
    print_message("partial 1 MiB message on a reflection stream: grpc-status %d (%s) after "
                  "%lld ms, %zu bytes sent\n",
                  r->grpc_status, r->grpc_message, rs_mono_ms() - t0, r->body_off);
    if (r->rst || r->grpc_status != 8)
        fail_msg("reflection stream with a 1 MiB message: rst %d grpc-status %d (%s), want 8",
                 r->rst, r->grpc_status, r->grpc_message);

    /* a small reflection request (list_services) is still served */
    static const uint8_t list[] = {0, 0, 0, 0, 2, 0x3a, 0};
    h2_rec *ok =
        h2_call(c, "POST", REFLECTION_PATH, "application/grpc", list, sizeof(list), NULL, 0);
    if (ok->grpc_status != 0 || grpc_messages(ok, NULL, NULL) != 1)
        fail_msg("reflection list_services: grpc-status %d (%s)", ok->grpc_status,
                 ok->grpc_message);
    grpc_ack_ok(c, 24, 1, 1);
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* 6. grpc-encoding this server does not take, with a compressed message:
 * UNIMPLEMENTED (it was INTERNAL); the compressed flag with no encoding
 * named stays INTERNAL; the encoding named but the message not compressed
 * is served. */
static void test_grpc_encoding(void **state)
{
    (void)state;
    rs_test_server srv;
    start_server(&srv, NULL);
    h2_client *c = h2_connect(srv.http_port, NULL, 0);
    size_t len;
    uint8_t *env = ack_envelope(25, 1, 100, &len);
    uint8_t buf[512];
    assert_true(len <= sizeof(buf));
    memcpy(buf, env, len);
    buf[0] = 1;
    nghttp2_nv gz = {(uint8_t *)"grpc-encoding", (uint8_t *)"gzip", 13, 4,
                     NGHTTP2_NV_FLAG_NONE};

    h2_rec *r = h2_call(c, "POST", RS_PATH "Ack", "application/grpc", buf, len, &gz, 1);
    print_message("grpc-encoding gzip, compressed flag: grpc-status %d (%s)\n", r->grpc_status,
                  r->grpc_message);
    if (r->status != 200 || r->grpc_status != 12)
        fail_msg("grpc-encoding gzip and a compressed message: :status %d grpc-status %d (%s), "
                 "want 12 (UNIMPLEMENTED)",
                 r->status, r->grpc_status, r->grpc_message);
    r = grpc_call(c, "Ack", buf, len);
    if (r->grpc_status != 13)
        fail_msg("the compressed flag without grpc-encoding: grpc-status %d (%s), want 13 "
                 "(INTERNAL)",
                 r->grpc_status, r->grpc_message);
    r = h2_call(c, "POST", RS_PATH "Ack", "application/grpc", env, len, &gz, 1);
    if (r->grpc_status != 0)
        fail_msg("grpc-encoding gzip with an uncompressed message: grpc-status %d (%s)",
                 r->grpc_status, r->grpc_message);
    free(env);
    grpc_ack_ok(c, 25, 2, 1);
    assert_false(c->goaway);
    h2_close(c);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
}

/* 7. ALPN: h2 on the HTTP port only; a TLS client of the framed port that
 * offers h2 gets no protocol chosen. */
static void test_alpn_framed_port(void **state)
{
    (void)state;
    char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    make_cert("h2alpn", dir, sizeof(dir), cert, sizeof(cert), key, sizeof(key));
    rs_test_server srv;
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    start_server(&srv, args);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    static const unsigned char h2[] = "\x02h2";
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    const unsigned char *sel = NULL;
    unsigned sel_len = 0;
    int fd;

    SSL *ssl = tls_connect(ctx, srv.port, h2, sizeof(h2) - 1, &fd);
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    if (sel_len != 0)
        fail_msg("the framed port chose ALPN \"%.*s\" for a client offering h2", (int)sel_len,
                 (const char *)sel);
    SSL_free(ssl);
    close(fd);
    ssl = tls_connect(ctx, srv.port, both, sizeof(both) - 1, &fd);
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    if (sel_len != 0)
        fail_msg("the framed port chose ALPN \"%.*s\" for a client offering h2, http/1.1",
                 (int)sel_len, (const char *)sel);
    SSL_free(ssl);
    close(fd);

    ssl = tls_connect(ctx, srv.http_port, h2, sizeof(h2) - 1, &fd);
    SSL_get0_alpn_selected(ssl, &sel, &sel_len);
    if (sel_len != 2 || memcmp(sel, "h2", 2) != 0)
        fail_msg("the HTTP port chose ALPN \"%.*s\", want h2", (int)sel_len,
                 sel != NULL ? (const char *)sel : "");
    h2_client *c = h2_client_new(fd, ssl, NULL, 0);
    h2_get_ok(c, "/healthz");
    h2_close(c);
    SSL_CTX_free(ctx);
    stop_server(&srv);
    rs_test_server_cleanup(&srv);
    rs_tmpdir_remove(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h2c_basics),
        cmocka_unit_test(test_max_streams_before_ack),
        cmocka_unit_test(test_max_streams),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test(test_refusals_then_shutdown),
        cmocka_unit_test(test_request_deadline),
        cmocka_unit_test(test_malformed_grpc),
        cmocka_unit_test(test_unary_two_messages),
        cmocka_unit_test(test_slow_watch_reader),
        cmocka_unit_test(test_cancel_watch),
        cmocka_unit_test(test_h2_over_tls),
        cmocka_unit_test(test_output_cap_across_streams),
        cmocka_unit_test(test_stalled_reader_closed),
        cmocka_unit_test(test_answered_stream_keeps_no_body),
        cmocka_unit_test(test_bidi_partial_message_cap),
        cmocka_unit_test(test_grpc_encoding),
        cmocka_unit_test(test_alpn_framed_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
