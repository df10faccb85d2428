/*
 * conn.c: the framed TCP connection state machine (memcached's conn, with
 * Redis's write path and deferred free).
 *
 *            accept                 inflight >= max_inflight or
 *   ───────────────> READING ─────── output > pause mark ──────> WAITING
 *                     │  ^ <──── answers drained / output written ──┘
 *       malformed     │  │
 *       frame ────────┤  └─ shutdown ──> DRAINING ── in-flight answered
 *                     v                              and output written ─┐
 *                  CLOSING ── output written ──> CLOSED <── error, idle, ─┘
 *                                                 │        slow consumer
 *   (EOF from the peer: the buffered requests are still served, then the
 *    connection goes DRAINING, so a half-closing client gets every answer)
 *                     reaper (own event) <────────┘
 *                     closes the socket, frees the buffers and events, drops
 *                     the watches, unrefs the sink; the struct goes when
 *                     pending calls drop theirs
 *
 * The state changes only in conn_set_state(), which also turns reading on
 * and off. conn_drive() is the one loop that serves requests:
 *
 *   c->in:  [hdr N][N bytes]  [hdr M][M ...       (partial)
 *            ^ frame_parse_header in place in the first chunk (a header
 *              or frame crossing chunks: copied out / evbuffer_pullup),
 *              decode (an Ack by req_decode.c onto the stack, the rest by
 *              protobuf-c into s->loop.arena), dispatch, reset the arena; the
 *              served frames are drained once, at the end of the batch
 *
 * I/O, per wake-up (no bufferevent: it costs an ioctl per read and two
 * epoll_ctl per answered batch):
 *
 *   read_ev (EV_READ, persistent) ──> readv into c->in ──> serve a batch
 *        ──> answers packed into c->out ──> writev right away
 *                                            │ would block
 *                                            v
 *                          write_ev (EV_WRITE, persistent) until c->out is
 *                          empty, then removed
 *
 *   With TLS (--tls-cert) the same path reads and writes through OpenSSL
 *   (tls.h): the handshake runs inside the first reads, decrypted bytes
 *   land in c->in exactly as plain ones would, answers leave c->out as
 *   records; batches, budgets and pipelining do not change.
 *
 *   Answers given outside the connection's own batch (storage completions,
 *   watch events, write-through commits) queue the connection on
 *   s->loop.flushing; one flush event per loop turn writes all of them.
 *
 * Invariants
 * - A connection serves at most reqs_per_event requests per wake-up; then a
 *   0-timeout event brings it back after the other ready connections.
 * - read_ev is pending exactly when the state is READING, the peer has not
 *   sent EOF and the input holds less than one largest frame plus slack
 *   (conn_update_read). Its timeout is the idle timeout, re-armed by every
 *   read (a libevent common timeout: O(1) to re-arm).
 * - Output is never left unwritten: c->out is empty, or write_ev is
 *   pending, or the connection is on s->loop.flushing, or it is inside
 *   conn_serve(), which writes at its end.
 * - Replies are encoded straight into c->out (reserve space, pack, commit:
 *   no intermediate buffer); Ack and SetReadState answers by resp_encode.c,
 *   the rest by protobuf-c. Output past max_output closes the connection
 *   (a slow consumer); output past the pause mark stops reading until the
 *   output is written, so an honest pipelining client is slowed down rather
 *   than cut off.
 * - Nothing frees a connection inside one of its callbacks: conn_close()
 *   marks it CLOSED and queues it for the reaper; the struct itself lives
 *   until the last sink reference (pending calls hold one each) is gone,
 *   and replies to a closed connection are dropped.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "frame.h"
#include "req_decode.h"
#include "resp_encode.h"
#include "rs_list.h"
#include "server.h"
#include "tls.h"
#include "watch.h"

static const char *const conn_state_names[CONN_STATE_MAX] = {
    "reading", "waiting", "draining", "closing", "closed",
};

const char *conn_state_name(conn_state st)
{
    return (unsigned)st < CONN_STATE_MAX ? conn_state_names[st] : "unknown";
}

/* Bytes asked of the socket per read (Redis reads 16 KiB, as bufferevent
 * did at most). */
#define CONN_READ_CHUNK 16384

/* Output above this stops reading until it is written. */
static size_t conn_output_pause(const rs_server *s)
{
    size_t mark = RS_MIN(s->proc.cfg.max_output / 2, (size_t)1 << 20);
    return mark > 0 ? mark : 1;
}

static void conn_unlink(rs_conn *c)
{
    rs_server *s = c->s;
    RS_DLIST_REMOVE(s->loop.conns, c, prev, next);
    s->loop.nconns--;
    s->proc.metrics.conns_open--;
}

/* Input above this is not read until the parser catches up: one largest
 * frame plus slack. */
static size_t conn_input_limit(const rs_server *s)
{
    return (size_t)s->proc.cfg.max_frame + 64 * 1024;
}

/* Turn read_ev on or off to match the state (see the invariants). */
static void conn_update_read(rs_conn *c)
{
    bool want = c->state == CONN_READING && !c->eof &&
                evbuffer_get_length(c->in) < conn_input_limit(c->s);
    if (want != c->reading) {
        c->reading = want;
        if (want)
            event_add(c->read_ev, c->idle_tv);
        else
            event_del(c->read_ev);
    }
    /* TLS: records OpenSSL already decrypted raise no socket event. */
    if (want && tls_pending(c->ssl))
        event_active(c->read_ev, EV_READ, 0);
}

static void conn_set_state(rs_conn *c, conn_state st)
{
    if (c->state == st || c->state == CONN_CLOSED)
        return;
    c->state = st;
    switch (st) {
    case CONN_READING:
    case CONN_WAITING:
    case CONN_DRAINING:
    case CONN_CLOSING: conn_update_read(c); break;
    case CONN_CLOSED:
        if (c->reading)
            event_del(c->read_ev);
        if (c->writing)
            event_del(c->write_ev);
        c->reading = c->writing = false;
        event_del(c->resume_ev);
        conn_unlink(c);
        c->reap_next = c->s->loop.closing;
        c->s->loop.closing = c;
        event_active(c->s->loop.reaper_ev, EV_TIMEOUT, 0);
        break;
    default: break;
    }
}

void conn_close(rs_conn *c, const char *reason)
{
    if (c->state == CONN_CLOSED)
        return;
    RS_LOG(&c->s->proc.log, RS_LOG_DEBUG, "conn_close", "conn=%llu peer=%s reason=%s",
           (unsigned long long)c->id, c->peer, reason);
    conn_set_state(c, CONN_CLOSED);
}

static size_t conn_output_len(const rs_conn *c)
{
    return evbuffer_get_length(c->out);
}

/* Serve buffered requests on the next loop turn. */
static void conn_schedule(rs_conn *c)
{
    static const struct timeval zero = {0, 0};
    event_add(c->resume_ev, &zero);
}

static void conn_try_resume(rs_conn *c)
{
    const rs_server *s = c->s;
    if (c->state != CONN_WAITING || c->sink.inflight >= s->proc.cfg.max_inflight ||
        conn_output_len(c) > conn_output_pause(s))
        return;
    conn_set_state(c, CONN_READING);
    conn_schedule(c);
}

/* Shutdown or the peer's EOF: close once nothing is owed (a half-closed
 * watcher included: its watches end with its answers). */
static void conn_check_drained(rs_conn *c)
{
    if (c->state == CONN_DRAINING && c->sink.inflight == 0 && conn_output_len(c) == 0)
        conn_close(c, c->eof ? "eof" : "shutdown");
}

static void conn_protocol_error(rs_conn *c, const char *reason, uint32_t len)
{
    rs_server *s = c->s;
    s->proc.metrics.conns_protocol_errors++;
    RS_LOG(&s->proc.log, RS_LOG_WARN, "protocol_error",
           "conn=%llu peer=%s reason=%s frame_len=%u", (unsigned long long)c->id, c->peer,
           reason, len);
    conn_set_state(c, CONN_CLOSING);
    if (conn_output_len(c) == 0)
        conn_close(c, reason);
}

/* Every complete frame is served. After the peer's EOF nothing more can
 * come: answer what is in flight, write it out, then close. */
static void conn_input_done(rs_conn *c)
{
    if (!c->eof)
        return;
    conn_set_state(c, CONN_DRAINING);
    conn_check_drained(c);
}

/* The unserved front of c->in: its first chunk is read in place, and the
 * frames served from it are drained once, at the end of the batch. */
typedef struct conn_window {
    const uint8_t *p; /* c->in's first chunk (NULL: look again) */
    size_t len;       /* its bytes */
    size_t done;      /* bytes of it served, not yet drained */
} conn_window;

typedef enum conn_next {
    CONN_NEXT_FRAME, /* a whole frame, contiguous */
    CONN_NEXT_NONE,  /* no whole frame (yet) */
    CONN_NEXT_ERROR, /* a bad header (now CLOSING) or out of memory (closed) */
    CONN_NEXT_MAX
} conn_next;

/* Look again at the front of c->in after draining what was served. */
static void conn_window_reset(rs_conn *c, conn_window *w)
{
    evbuffer_drain(c->in, w->done);
    w->p = NULL;
    w->len = w->done = 0;
    struct evbuffer_iovec v;
    if (evbuffer_peek(c->in, -1, NULL, &v, 1) >= 1) {
        w->p = v.iov_base;
        w->len = v.iov_len;
    }
}

/* The next frame: *frame points at its header, followed by *len payload
 * bytes, all contiguous. Usually inside the window; a frame crossing chunks
 * is made contiguous with evbuffer_pullup. */
static conn_next conn_next_frame(rs_conn *c, conn_window *w, const uint8_t **frame,
                                 uint32_t *len)
{
    rs_server *s = c->s;
    uint8_t hdr[FRAME_HEADER_LEN];
    const uint8_t *h = hdr;
    if (w->len - w->done >= FRAME_HEADER_LEN) {
        h = w->p + w->done;
    } else {
        conn_window_reset(c, w);
        if (evbuffer_get_length(c->in) < FRAME_HEADER_LEN)
            return CONN_NEXT_NONE;
        evbuffer_copyout(c->in, hdr, sizeof(hdr));
    }
    frame_result fr = frame_parse_header(h, s->proc.cfg.max_frame, len);
    if (fr != FRAME_OK) {
        uint32_t raw = ((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) |
                       (uint32_t)h[3];
        conn_protocol_error(c, frame_result_name(fr), raw);
        return CONN_NEXT_ERROR;
    }
    size_t need = FRAME_HEADER_LEN + (size_t)*len;
    if (w->len - w->done >= need) {
        *frame = w->p + w->done;
        return CONN_NEXT_FRAME;
    }
    conn_window_reset(c, w);
    if (evbuffer_get_length(c->in) < need)
        return CONN_NEXT_NONE; /* the rest arrives later, or never after EOF */
    if (evbuffer_pullup(c->in, (ev_ssize_t)need) == NULL) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "conn_pullup_failed", "conn=%llu frame_len=%u",
               (unsigned long long)c->id, *len);
        conn_close(c, "out_of_memory");
        return CONN_NEXT_ERROR;
    }
    conn_window_reset(c, w); /* the first chunk now holds the whole frame */
    *frame = w->p;
    return CONN_NEXT_FRAME;
}

/* Tokens (auth.h): a request on a connection not authenticated yet goes
 * through the gate; past too many failures the connection answers nothing
 * more and closes once the refusal is written. */
static dispatch_gate conn_auth(rs_conn *c, const Readstates__V1__Request *req, uint64_t now)
{
    rs_server *s = c->s;
    dispatch_gate g = dispatch_auth_gate(s, &c->sink, req, now, &c->auth_failures);
    if (g == DISPATCH_GATE_PASS || g == DISPATCH_GATE_OK) {
        c->authenticated = true;
    } else if (g == DISPATCH_GATE_CLOSE) {
        s->proc.metrics.auth_closed++;
        RS_LOG(&s->proc.log, RS_LOG_WARN, "auth_closed", "conn=%llu peer=%s failures=%u",
               (unsigned long long)c->id, c->peer, c->auth_failures);
        conn_set_state(c, CONN_CLOSING);
        if (conn_output_len(c) == 0)
            conn_close(c, "auth_failed");
    }
    return g;
}

/* The driver: serve complete frames while READING, within the budget. */
static void conn_drive(rs_conn *c)
{
    rs_server *s = c->s;
    uint32_t budget = s->proc.cfg.reqs_per_event;
    uint64_t now = rs_now_ns(); /* latency counts time queued behind this batch */
    conn_window w = {NULL, 0, 0};
    conn_window_reset(c, &w);
    while (c->state == CONN_READING) {
        if (c->sink.inflight >= s->proc.cfg.max_inflight ||
            conn_output_len(c) > conn_output_pause(s)) {
            conn_set_state(c, CONN_WAITING);
            break;
        }
        const uint8_t *frame = NULL;
        uint32_t len = 0;
        conn_next next = conn_next_frame(c, &w, &frame, &len);
        if (next == CONN_NEXT_ERROR)
            break;
        if (next == CONN_NEXT_NONE) {
            conn_input_done(c);
            break;
        }
        if (budget == 0) {
            conn_schedule(c); /* let the other connections have a turn */
            break;
        }
        dispatch_arena_enter(s);
        /* Ack, the hot call: read into the stack; the rest by protobuf-c. */
        Readstates__V1__Request fast_req;
        Readstates__V1__AckRequest fast_ack;
        const uint8_t *payload = frame + FRAME_HEADER_LEN;
        Readstates__V1__Request *req =
            req_decode_ack(payload, len, &fast_req, &fast_ack)
                ? &fast_req
                : frame_decode_request(payload, len, rs_arena_pb(&s->loop.arena));
        if (req == NULL) {
            dispatch_arena_leave(s);
            conn_protocol_error(c, "bad_protobuf", len);
            break;
        }
        if (c->authenticated || conn_auth(c, req, now) == DISPATCH_GATE_PASS) {
            s->proc.metrics.tcp_calls++;
            dispatch_request(s, &c->sink, req, now);
        }
        dispatch_arena_leave(s);
        w.done += FRAME_HEADER_LEN + len;
        budget--;
    }
    evbuffer_drain(c->in, w.done);
}

/* The output was written out: what waited for that goes on. */
static void conn_output_drained(rs_conn *c)
{
    switch (c->state) {
    case CONN_WAITING: conn_try_resume(c); break;
    case CONN_DRAINING: conn_check_drained(c); break;
    case CONN_CLOSING: conn_close(c, "protocol_error"); break;
    default: break;
    }
}

/* Send what the socket takes: one writev, or TLS records. Returns -1 on
 * an error that ends the connection. */
static int conn_send(rs_conn *c)
{
    if (c->ssl == NULL) {
        if (evbuffer_write(c->out, c->fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR)
            return -1;
        return 0;
    }
    rs_tls_io r = tls_write(c->ssl, c->out);
    c->tls_write_wants_read = r == TLS_WANT_READ;
    return r == TLS_ERROR || r == TLS_EOF ? -1 : 0;
}

/* Write what is queued (one writev). What the socket does not take waits
 * for write_ev; once the output is empty write_ev is removed. May close
 * the connection (a write error) or change its state (drained). */
static void conn_write(rs_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (evbuffer_get_length(c->out) > 0) {
        if (conn_send(c) != 0) {
            conn_close(c, "error");
            return;
        }
        if (evbuffer_get_length(c->out) > 0) {
            if (!c->writing) {
                c->writing = true;
                /* The idle timeout bounds a write stall too: a peer that
                 * stops reading is closed, whatever state reading is in
                 * (a persistent event's timeout restarts on every write). */
                event_add(c->write_ev, c->idle_tv);
            }
            return;
        }
    }
    if (c->writing) {
        c->writing = false;
        event_del(c->write_ev);
    }
    if (c->state != CONN_READING)
        conn_output_drained(c);
}

/* Serve a batch, then write its answers right away. */
static void conn_serve(rs_conn *c)
{
    c->serving = true;
    conn_drive(c);
    c->serving = false;
    conn_write(c);
    if (c->state != CONN_CLOSED)
        conn_update_read(c);
}

/* TLS: decrypt what came (the handshake runs inside the first reads). */
static int conn_read_tls(rs_conn *c)
{
    size_t n = 0;
    rs_tls_io r = tls_read(c->ssl, c->in, CONN_READ_CHUNK, &n);
    if (r == TLS_OK) {
        if (tls_peer_closed(c->ssl)) { /* a last request with close_notify */
            c->eof = true;
            conn_update_read(c);
        }
        return 1;
    }
    if (r == TLS_WANT_READ)
        return 0;
    if (r == TLS_WANT_WRITE) { /* a handshake message waits for room */
        c->tls_read_wants_write = true;
        event_add(c->write_ev, NULL);
        return 0;
    }
    if (r == TLS_EOF) {
        c->eof = true;
        conn_update_read(c);
        return -1;
    }
    char buf[160];
    RS_LOG(&c->s->proc.log, RS_LOG_DEBUG, "tls_error", "conn=%llu peer=%s error=\"%s\"",
           (unsigned long long)c->id, c->peer, tls_error_string(buf, sizeof(buf)));
    c->s->proc.metrics.tls_errors++;
    conn_close(c, "tls_error");
    return -1;
}

/* One read into the input. Returns 1 when bytes came, 0 when nothing did
 * (would block), -1 at EOF or on an error (c->eof set, or closed). */
static int conn_read(rs_conn *c)
{
    if (c->ssl != NULL)
        return conn_read_tls(c);
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(c->in, CONN_READ_CHUNK, v, 2);
    if (nv <= 0) {
        conn_close(c, "out_of_memory");
        return -1;
    }
    struct iovec iov[2];
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t n = readv(c->fd, iov, nv);
    if (n > 0) {
        size_t left = (size_t)n;
        int used = 0;
        for (; used < nv && left > 0; used++) {
            v[used].iov_len = RS_MIN(v[used].iov_len, left);
            left -= v[used].iov_len;
        }
        evbuffer_commit_space(c->in, v, used);
        return 1;
    }
    if (n == 0) {
        c->eof = true;
        conn_update_read(c);
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    conn_close(c, "error");
    return -1;
}

/* Idle: no request for idle_timeout_s. A connection that watches users or
 * waits for answers is not idle (read_ev stays armed: it is persistent). */
static void conn_idle(rs_conn *c)
{
    if (c->sink.watches != NULL || c->sink.inflight > 0)
        return;
    c->s->proc.metrics.conns_idle_closed++;
    conn_close(c, "idle");
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    rs_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_idle(c);
        return;
    }
    if (c->tls_write_wants_read) { /* a TLS write waited for this */
        c->tls_write_wants_read = false;
        conn_write(c);
        if (c->state == CONN_CLOSED)
            return;
    }
    if (conn_read(c) == 0 || c->state == CONN_CLOSED)
        return;
    /* Bytes, or the peer's EOF: a half-close still gets its answers, the
     * requests already read are served before the connection closes. */
    if (c->state == CONN_READING)
        conn_serve(c);
    else if (c->state == CONN_DRAINING)
        conn_check_drained(c);
}

static void conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_serve(arg);
}

/* The socket takes more output. */
static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    rs_conn *c = arg;
    if (c->tls_read_wants_write) { /* a TLS read waited for this */
        c->tls_read_wants_write = false;
        if (!c->writing)
            event_del(c->write_ev);
        conn_read_cb(fd, EV_READ, c);
        return;
    }
    if (what & EV_TIMEOUT) { /* nothing could be written for idle_timeout_s */
        c->s->proc.metrics.conns_slow_closed++;
        RS_LOG(&c->s->proc.log, RS_LOG_WARN, "slow_consumer",
               "conn=%llu peer=%s output_bytes=%zu reason=write_stalled",
               (unsigned long long)c->id, c->peer, evbuffer_get_length(c->out));
        struct linger lg = {1, 0}; /* abortive: drop what the kernel still holds */
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        conn_close(c, "write_stalled");
        return;
    }
    conn_write(c);
}

/* An answer outside the connection's own batch: write it this loop turn,
 * with every other such connection. */
static void conn_queue_flush(rs_conn *c)
{
    if (c->serving || c->writing || c->flush_queued)
        return;
    rs_server *s = c->s;
    c->flush_queued = true;
    c->flush_next = s->loop.flushing;
    s->loop.flushing = c;
    event_active(s->loop.flush_ev, EV_TIMEOUT, 0);
}

void conn_flush_pending(rs_server *s)
{
    while (s->loop.flushing != NULL) {
        rs_conn *c = s->loop.flushing;
        s->loop.flushing = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = false;
        conn_write(c);
    }
}

/* rs_sink_ops.reply: encode one Response frame into the output. */
static void conn_reply(rs_sink *sink, const Readstates__V1__Response *resp)
{
    rs_conn *c = (rs_conn *)sink;
    rs_server *s = c->s;
    if (c->state >= CONN_CLOSING)
        return; /* answer nothing more */
    struct evbuffer *out = c->out;
    resp_plan plan;
    bool fast = resp_encode_plan(resp, &plan); /* Ack/Set: skip protobuf-c's walks */
    size_t n = fast ? plan.len : protobuf_c_message_get_packed_size(&resp->base);
    struct evbuffer_iovec v;
    if (n > UINT32_MAX - FRAME_HEADER_LEN ||
        evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + n), &v, 1) != 1) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "reply_failed", "conn=%llu bytes=%zu",
               (unsigned long long)c->id, n);
        conn_close(c, "reply_failed");
        return;
    }
    uint8_t *p = v.iov_base;
    frame_put_header(p, (uint32_t)n);
    if (fast)
        resp_encode(resp, &plan, p + FRAME_HEADER_LEN);
    else
        protobuf_c_message_pack(&resp->base, p + FRAME_HEADER_LEN);
    v.iov_len = FRAME_HEADER_LEN + n;
    evbuffer_commit_space(out, &v, 1);

    /* Over the limit with a backlog: a slow consumer. (One answer larger
     * than the limit on an empty buffer is let through.) */
    size_t queued = evbuffer_get_length(out);
    if (queued > s->proc.cfg.max_output && queued > v.iov_len) {
        s->proc.metrics.conns_slow_closed++;
        RS_LOG(&s->proc.log, RS_LOG_WARN, "slow_consumer",
               "conn=%llu peer=%s output_bytes=%zu max=%zu", (unsigned long long)c->id, c->peer,
               queued, s->proc.cfg.max_output);
        /* Abortive close (RST): drop what the kernel still holds for a
         * reader this far behind instead of trickling it out. */
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        conn_close(c, "slow_consumer");
        return;
    }
    conn_queue_flush(c);
    if (c->state == CONN_WAITING)
        conn_try_resume(c);
}

/* rs_sink_ops.release: the last reference is gone (the reaper ran). */
static void conn_release(rs_sink *sink)
{
    free(sink);
}

/* rs_sink_ops.close: the server ends this connection (a relayed watch lost). */
static void conn_sink_close(rs_sink *sink, const char *why)
{
    conn_close((rs_conn *)sink, why);
}

static const rs_sink_ops conn_sink_ops = {
    .reply = conn_reply,
    .release = conn_release,
    .streams = true,
    .close = conn_sink_close,
};

static void conn_format_peer(const struct sockaddr *addr, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (addr != NULL && addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (addr != NULL && addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(buf, len, "%s:%d", host, port);
}

void conn_accept(rs_server *s, evutil_socket_t fd, const struct sockaddr *addr, int addrlen)
{
    (void)addrlen;
    if (s->proc.shutting_down || s->loop.nconns >= s->loop.max_connections) {
        uint64_t n = ++s->proc.metrics.conns_rejected;
        if ((n & (n - 1)) == 0) /* 1, 2, 4, 8...: a flood does not flood the log */
            RS_LOG(&s->proc.log, RS_LOG_WARN, "conn_rejected",
                   "open=%u max=%u rejected_total=%llu", s->loop.nconns,
                   s->loop.max_connections, (unsigned long long)n);
        evutil_closesocket(fd);
        return;
    }
    if (addr != NULL && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    evutil_make_socket_nonblocking(fd);
    SSL *ssl = NULL;
    if (s->proc.tls != NULL && (ssl = tls_conn_new(s->proc.tls, fd)) == NULL) {
        /* out of memory for this one connection: refuse it, keep serving */
        s->proc.metrics.tls_errors++;
        evutil_closesocket(fd);
        return;
    }
    rs_conn *c = rs_xcalloc(1, sizeof(*c), "conn");
    c->ssl = ssl;
    c->sink.ops = &conn_sink_ops;
    c->sink.refs = 1; /* the connection's own, dropped by the reaper */
    c->s = s;
    c->fd = fd;
    c->id = ++s->loop.next_conn_id;
    c->state = CONN_READING;
    c->in = evbuffer_new();
    c->out = evbuffer_new();
    c->read_ev = event_new(s->loop.base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->write_ev = event_new(s->loop.base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    c->resume_ev = evtimer_new(s->loop.base, conn_resume_cb, c);
    if (c->in == NULL || c->out == NULL || c->read_ev == NULL || c->write_ev == NULL ||
        c->resume_ev == NULL)
        rs_oom("conn events");
    conn_format_peer(addr, c->peer, sizeof(c->peer));
    if (s->proc.cfg.idle_timeout_s > 0) {
        /* A common timeout: re-armed on every read in O(1). */
        struct timeval idle = {(time_t)s->proc.cfg.idle_timeout_s, 0};
        c->idle_tv = event_base_init_common_timeout(s->loop.base, &idle);
        if (c->idle_tv == NULL) {
            c->idle_buf = idle;
            c->idle_tv = &c->idle_buf;
        }
    }
    RS_DLIST_PUSH(s->loop.conns, c, prev, next);
    s->loop.nconns++;
    s->proc.metrics.conns_open++;
    s->proc.metrics.conns_accepted++;
    conn_update_read(c);
    RS_LOG(&s->proc.log, RS_LOG_DEBUG, "conn_open", "conn=%llu peer=%s",
           (unsigned long long)c->id, c->peer);
}

void conn_drain_all(rs_server *s)
{
    rs_conn *c = s->loop.conns;
    while (c != NULL) {
        rs_conn *next = c->next;
        if (c->state == CONN_READING || c->state == CONN_WAITING) {
            conn_set_state(c, CONN_DRAINING);
            conn_check_drained(c);
        }
        c = next;
    }
}

uint32_t conn_close_waiting(rs_server *s)
{
    uint32_t n = 0;
    rs_conn *c = s->loop.conns;
    while (c != NULL) {
        rs_conn *next = c->next;
        if (c->sink.inflight > 0) {
            conn_close(c, "shutdown_unanswered");
            n++;
        }
        c = next;
    }
    return n;
}

void conn_reap(rs_server *s)
{
    /* Write (or skip, when closed) the queued connections first: nothing
     * freed here may stay on s->loop.flushing. */
    conn_flush_pending(s);
    while (s->loop.closing != NULL) {
        rs_conn *c = s->loop.closing;
        s->loop.closing = c->reap_next;
        watch_remove_sink(s, &c->sink);
        dispatch_fleet_sink_gone(s, &c->sink); /* its relayed watches, if any */
        event_free(c->read_ev);
        event_free(c->write_ev);
        event_free(c->resume_ev);
        c->read_ev = c->write_ev = c->resume_ev = NULL;
        evbuffer_free(c->in);
        evbuffer_free(c->out);
        c->in = c->out = NULL;
        tls_conn_free(c->ssl);
        c->ssl = NULL;
        evutil_closesocket(c->fd);
        c->fd = -1;
        rs_sink_unref(&c->sink); /* frees c unless a pending call holds it */
    }
    s->loop.output_done(s);
}

void conn_close_all(rs_server *s)
{
    while (s->loop.conns != NULL)
        conn_close(s->loop.conns, "server_stop");
    conn_reap(s);
}
