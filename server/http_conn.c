/*
 * http_conn.c: the HTTP/1.1 connection state machine (see http_conn.h).
 *
 *   READ_HEAD ──head parsed──> READ_BODY ──body complete──> SERVE
 *       ^                                                     │ on_request
 *       │                                                     v
 *       └──────────── reply written (keep-alive) ─────── WRITE <── http_req_reply
 *
 * One driver, conn_advance, moves a connection through its states; what
 * may re-enter it (a handler answering from inside on_request) only marks
 * it to run again, so no state is changed under a caller's feet. Events
 * follow the state: reading is on only in READ_*, writing only while
 * output is queued, and one timer holds whichever limit applies: the
 * request deadline once a request's first byte is in (never extended by
 * later bytes), the idle timeout between requests and while a reply waits
 * for the peer to read it, nothing while the handler works.
 *
 * Parse errors are answered by status (400, 413, 431, 501, 505...) with
 * Connection: close. A connection over the cap gets a fixed 503 written
 * straight to the socket and is closed before it costs more than that.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept_pause.h"
#include "http2.h"
#include "http_conn_int.h"
#include "http_parse.h"
#include "rs_common.h"
#include "rs_list.h"
#include "tls.h"

#define HTTP_READ_CHUNK  65536
#define HTTP_CHUNK_TMP   16384
#define HTTP_LOG_EVERY_S 1
#define HTTP_H2_ROOM     65536 /* HTTP/2 frames moved to the output per step */

typedef enum hc_state {
    HC_READ_HEAD,
    HC_READ_BODY,
    HC_SERVE,
    HC_STREAM, /* a streamed reply is being sent (HTTP/1.x) */
    HC_WRITE,
    HC_H2 /* the connection speaks HTTP/2 (http2.c) from here on */
} hc_state;

typedef struct rs_http_conn rs_http_conn;

struct rs_http_conn {
    rs_http_conns *hc;
    rs_http_conn *prev, *next;
    evutil_socket_t fd;
    struct event *rev, *wev, *timer, *kick_ev; /* kick_ev: run conn_advance from the loop */
    struct evbuffer *in, *out;
    hc_state state;
    bool close_after;   /* close once the output is written */
    bool reply_pending; /* a handler's reply is in the output */
    bool busy, kick;    /* conn_advance running / asked to run again */
    bool sent_continue;
    bool chunked;          /* the streamed reply is chunked (HTTP/1.1) */
    uint64_t nrequests;    /* requests read so far (HTTP/2's preface comes first) */
    h2_session *h2;        /* HC_H2 */
    uint64_t req_start_ns; /* first byte of the request being read; 0 = none yet */
    size_t head_scanned;   /* bytes of the head already searched for its end */
    http_chunked chunk;
    rs_http_req req;
    char peer[INET6_ADDRSTRLEN + 8];
    SSL *ssl;                  /* TLS, else NULL */
    bool tls_read_wants_write; /* a TLS read waits for the socket to take bytes */
};

struct rs_http_conns {
    struct event_base *base;
    rs_http_limits lim;
    const rs_log *log;
    rs_http_callbacks cb;
    struct evconnlistener *listener;
    rs_accept_pause pause;
    rs_http_conn *conns;
    rs_http_conn_stats st;
    uint64_t reject_log_ns; /* last "over the cap" line */
    uint64_t rejects_unlogged;
};

static const char HTTP_REJECT_503[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                      "Content-Type: text/plain; charset=utf-8\r\n"
                                      "Content-Length: 21\r\n"
                                      "Connection: close\r\n\r\n"
                                      "too many connections\n";
static const char HTTP_TIMEOUT_408[] = "HTTP/1.1 408 Request Timeout\r\n"
                                       "Content-Type: text/plain; charset=utf-8\r\n"
                                       "Content-Length: 16\r\n"
                                       "Connection: close\r\n\r\n"
                                       "request timeout\n";

static struct evbuffer *http_xbuffer(void)
{
    return rs_xcheck(evbuffer_new(), "http buffer");
}

/* ---- closing ----------------------------------------------------------- */

static void req_reset(rs_http_req *r)
{
    free(r->head_buf);
    r->head_buf = NULL;
    memset(&r->head, 0, sizeof(r->head));
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
    evbuffer_drain(r->out_headers, evbuffer_get_length(r->out_headers));
    evbuffer_drain(r->trailers, evbuffer_get_length(r->trailers));
    r->gone_fn = NULL;
    r->gone_arg = NULL;
    r->body_fn = NULL;
}

static void conn_free(rs_http_conn *c, const char *reason)
{
    rs_http_conns *hc = c->hc;
    h2_session_free(c->h2); /* its streams' requests see their gone callbacks */
    c->h2 = NULL;
    if ((c->state == HC_SERVE || c->state == HC_STREAM) && c->req.gone_fn != NULL) {
        void (*fn)(void *) = c->req.gone_fn;
        c->req.gone_fn = NULL;
        fn(c->req.gone_arg);
    }
    if (c->reply_pending && hc->cb.on_written != NULL)
        hc->cb.on_written(hc->cb.arg);
    RS_LOG(hc->log, RS_LOG_DEBUG, "http_conn_close", "peer=%s reason=%s", c->peer, reason);
    RS_DLIST_REMOVE(hc->conns, c, prev, next);
    hc->st.open--;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->timer);
    event_free(c->kick_ev);
    tls_conn_free(c->ssl);
    evutil_closesocket(c->fd);
    evbuffer_free(c->in);
    evbuffer_free(c->out);
    free(c->req.head_buf);
    evbuffer_free(c->req.body);
    evbuffer_free(c->req.out_headers);
    evbuffer_free(c->req.trailers);
    free(c);
}

/* Best effort: a fixed answer straight to the socket, without waiting. */
static void send_now(evutil_socket_t fd, const char *text, size_t len)
{
    ssize_t n = send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
}

/* A fixed answer before closing (408): best effort, once, never waiting. */
static void conn_send_now(rs_http_conn *c, const char *text, size_t len)
{
    if (c->ssl == NULL) {
        send_now(c->fd, text, len);
        return;
    }
    if (!SSL_is_init_finished(c->ssl))
        return; /* no handshake yet: nothing can be said */
    evbuffer_add(c->out, text, len);
    tls_write(c->ssl, c->out);
}

/* Move output to the socket. Returns -1 on an error that ends it. */
static int conn_send(rs_http_conn *c)
{
    if (c->ssl == NULL) {
        if (evbuffer_write(c->out, c->fd) < 0) {
            int err = EVUTIL_SOCKET_ERROR();
            if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR)
                return -1;
        }
        return 0;
    }
    rs_tls_io r = tls_write(c->ssl, c->out);
    return r == TLS_ERROR || r == TLS_EOF ? -1 : 0;
}

/* ---- timers and events ------------------------------------------------- */

static bool reading_state(const rs_http_conn *c)
{
    return c->state == HC_READ_HEAD || c->state == HC_READ_BODY;
}

static void conn_update_events(rs_http_conn *c)
{
    const rs_http_limits *lim = &c->hc->lim;
    /* close_after only ends it after the reply; a streamed reply's
     * connection is read to see the client leave */
    bool want_read = reading_state(c) || c->state == HC_STREAM || c->state == HC_H2;
    bool want_write = evbuffer_get_length(c->out) > 0 || c->tls_read_wants_write;
    if (want_read != (event_pending(c->rev, EV_READ, NULL) != 0)) {
        if (want_read)
            event_add(c->rev, NULL);
        else
            event_del(c->rev);
    }
    if (want_write != (event_pending(c->wev, EV_WRITE, NULL) != 0)) {
        if (want_write)
            event_add(c->wev, NULL);
        else
            event_del(c->wev);
    }
    uint64_t ms = 0;
    uint64_t end = 0;
    if (c->state == HC_H2) {
        /* the oldest stream still receiving, or a reader that stalls */
        end = h2_session_deadline_ns(c->h2);
        uint64_t stall = h2_session_stall_ns(c->h2);
        if (stall != 0 && (end == 0 || stall < end))
            end = stall;
    } else if (reading_state(c) && c->req_start_ns != 0)
        end = c->req_start_ns + (uint64_t)lim->request_deadline_ms * 1000000u;
    if (end != 0) {
        uint64_t now = rs_now_ns();
        ms = end > now ? (end - now + 999999u) / 1000000u : 0;
        if (ms == 0)
            ms = 1; /* due now: fire on the next loop turn */
    } else if (reading_state(c) || want_write ||
               (c->state == HC_H2 && h2_session_idle(c->h2))) {
        ms = lim->idle_timeout_ms;
    }
    if (ms == 0) {
        event_del(c->timer);
        return;
    }
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    event_add(c->timer, &tv);
    /* TLS: records OpenSSL already decrypted raise no socket event. */
    if (want_read && tls_pending(c->ssl))
        event_active(c->rev, EV_READ, 0);
}

/* ---- the driver ---------------------------------------------------------- */

typedef enum step_result { STEP_AGAIN, STEP_WAIT, STEP_CLOSED } step_result;

static const char *status_reason(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* A parse error: answer it and close. */
static step_result conn_error(rs_http_conn *c, int status)
{
    const char *reason = status_reason(status);
    evbuffer_add_printf(c->out,
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                        status, reason, strlen(reason) + 1, reason);
    c->hc->st.bad_requests++;
    c->state = HC_WRITE;
    c->close_after = true;
    RS_LOG(c->hc->log, RS_LOG_DEBUG, "http_bad_request", "peer=%s status=%d", c->peer, status);
    return STEP_AGAIN;
}

static void conn_kick(rs_http_conn *c)
{
    event_active(c->kick_ev, EV_TIMEOUT, 0);
}

static step_result conn_start_h2(rs_http_conn *c)
{
    rs_http_conns *hc = c->hc;
    h2_session_host host = {
        .lim = &hc->lim,
        .cb = &hc->cb,
        .log = hc->log,
        .st = &hc->st,
        .peer = c->peer,
        .conn = c,
        .kick = conn_kick,
    };
    c->h2 = h2_session_new(&host);
    if (c->h2 == NULL)
        return conn_error(c, 503);
    c->state = HC_H2;
    c->req_start_ns = 0;
    c->head_scanned = 0;
    hc->st.http2++;
    return STEP_AGAIN;
}

static step_result conn_deliver(rs_http_conn *c)
{
    c->nrequests++;
    c->state = HC_SERVE;
    c->req_start_ns = 0;
    c->hc->cb.on_request(c->hc->cb.arg, &c->req);
    return STEP_AGAIN;
}

static step_result step_head(rs_http_conn *c)
{
    const rs_http_limits *lim = &c->hc->lim;
    size_t len = evbuffer_get_length(c->in);
    if (len == 0)
        return STEP_WAIT;
    size_t look = len < lim->max_headers ? len : lim->max_headers;
    const char *data = (const char *)evbuffer_pullup(c->in, (ev_ssize_t)look);
    if (c->nrequests == 0 && data[0] == 'P') {
        /* HTTP/2 with prior knowledge (h2c), or after ALPN chose h2 */
        size_t n = RS_MIN(look, (size_t)H2_PREFACE_LEN);
        if (memcmp(data, H2_PREFACE, n) == 0) {
            if (n < H2_PREFACE_LEN)
                return STEP_WAIT;
            return conn_start_h2(c);
        }
    }
    /* Resume the search where the last one stopped (less the 3 bytes a
     * blank line may straddle): a head trickled a byte at a time costs
     * linear time, not quadratic. */
    size_t from = c->head_scanned > 3 ? c->head_scanned - 3 : 0;
    long end = http_head_end(data + from, look - from, lim->max_headers - from);
    if (end < 0)
        return conn_error(c, 431);
    if (end == 0) {
        c->head_scanned = look;
        return STEP_WAIT;
    }
    end += (long)from;
    c->head_scanned = 0;
    c->req.head_buf = malloc((size_t)end + 1);
    if (c->req.head_buf == NULL)
        return conn_error(c, 503);
    evbuffer_remove(c->in, c->req.head_buf, (size_t)end);
    int rc = http_head_parse(c->req.head_buf, (size_t)end, &c->req.head);
    if (rc != 0)
        return conn_error(c, rc);
    const http_head *h = &c->req.head;
    if (!h->keep_alive)
        c->close_after = true;
    if (h->framing == HTTP_BODY_NONE)
        return conn_deliver(c);
    if (h->framing == HTTP_BODY_LENGTH && h->content_length > lim->max_body)
        return conn_error(c, 413);
    memset(&c->chunk, 0, sizeof(c->chunk));
    c->sent_continue = false;
    c->state = HC_READ_BODY;
    return STEP_AGAIN;
}

static step_result step_body(rs_http_conn *c)
{
    const http_head *h = &c->req.head;
    const rs_http_limits *lim = &c->hc->lim;
    size_t len = evbuffer_get_length(c->in);
    if (h->expect_continue && !c->sent_continue && len == 0) {
        evbuffer_add_printf(c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        c->sent_continue = true;
    }
    if (h->framing == HTTP_BODY_LENGTH) {
        if (len < h->content_length)
            return STEP_WAIT;
        evbuffer_remove_buffer(c->in, c->req.body, (size_t)h->content_length);
        return conn_deliver(c);
    }
    while (evbuffer_get_length(c->in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(c->in, -1, NULL, &v, 1) < 1)
            break;
        uint8_t tmp[HTTP_CHUNK_TMP];
        size_t out = 0;
        bool done = false;
        long used = http_chunked_decode(&c->chunk, v.iov_base, v.iov_len, tmp, sizeof(tmp),
                                        &out, &done);
        if (used < 0)
            return conn_error(c, 400);
        if (c->chunk.total > lim->max_body)
            return conn_error(c, 413);
        evbuffer_add(c->req.body, tmp, out);
        evbuffer_drain(c->in, (size_t)used);
        if (done)
            return conn_deliver(c);
        if (used == 0 && out == 0)
            break; /* cannot happen with a non-empty segment; never spin */
    }
    return STEP_WAIT;
}

static step_result step_write(rs_http_conn *c)
{
    if (evbuffer_get_length(c->out) > 0) {
        if (conn_send(c) != 0) {
            conn_free(c, "write_error");
            return STEP_CLOSED;
        }
        if (evbuffer_get_length(c->out) > 0)
            return STEP_WAIT;
    }
    if (c->reply_pending) {
        c->reply_pending = false;
        if (c->hc->cb.on_written != NULL)
            c->hc->cb.on_written(c->hc->cb.arg);
    }
    if (c->close_after) {
        conn_free(c, "done");
        return STEP_CLOSED;
    }
    req_reset(&c->req);
    c->state = HC_READ_HEAD;
    c->req_start_ns = evbuffer_get_length(c->in) > 0 ? rs_now_ns() : 0;
    return STEP_AGAIN;
}

/* A streamed reply: write what is queued; the handler ends it. */
static step_result step_stream(rs_http_conn *c)
{
    if (evbuffer_get_length(c->out) > 0 && conn_send(c) != 0) {
        conn_free(c, "write_error");
        return STEP_CLOSED;
    }
    return STEP_WAIT;
}

static step_result step_h2(rs_http_conn *c)
{
    if (evbuffer_get_length(c->in) > 0 && h2_session_recv(c->h2, c->in) != 0)
        c->close_after = true; /* a GOAWAY is queued: send it, then close */
    if (evbuffer_get_length(c->out) < HTTP_H2_ROOM &&
        h2_session_fill(c->h2, c->out, HTTP_H2_ROOM) != 0) {
        conn_free(c, "http2_error");
        return STEP_CLOSED;
    }
    if (evbuffer_get_length(c->out) > 0 && conn_send(c) != 0) {
        conn_free(c, "write_error");
        return STEP_CLOSED;
    }
    if (evbuffer_get_length(c->out) > 0)
        return STEP_WAIT;
    h2_session_written(c->h2); /* what was framed is on the socket now */
    if (h2_session_want_write(c->h2))
        return STEP_AGAIN;
    if (c->close_after || h2_session_finished(c->h2)) {
        conn_free(c, c->close_after ? "http2_error" : "done");
        return STEP_CLOSED;
    }
    return STEP_WAIT;
}

static step_result conn_step(rs_http_conn *c)
{
    switch (c->state) {
    case HC_READ_HEAD: return step_head(c);
    case HC_READ_BODY: return step_body(c);
    case HC_WRITE: return step_write(c);
    case HC_STREAM: return step_stream(c);
    case HC_H2: return step_h2(c);
    case HC_SERVE:
    default: return STEP_WAIT;
    }
}

static void conn_advance(rs_http_conn *c)
{
    if (c->busy) {
        c->kick = true;
        return;
    }
    c->busy = true;
    for (;;) {
        c->kick = false;
        step_result r = conn_step(c);
        if (r == STEP_CLOSED)
            return;
        if (r == STEP_WAIT && !c->kick)
            break;
    }
    c->busy = false;
    conn_update_events(c);
}

/* ---- I/O callbacks --------------------------------------------------------- */

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    rs_http_conn *c = arg;
    const rs_http_limits *lim = &c->hc->lim;
    /* Never hold more than one request's worth of input. */
    size_t cap = lim->max_headers + lim->max_body + HTTP_READ_CHUNK;
    size_t have = evbuffer_get_length(c->in);
    if (have >= cap) {
        event_del(c->rev);
        return;
    }
    size_t room = cap - have < HTTP_READ_CHUNK ? cap - have : HTTP_READ_CHUNK;
    if (c->ssl != NULL) {
        size_t got = 0;
        rs_tls_io r = tls_read(c->ssl, c->in, room, &got);
        if (r == TLS_WANT_WRITE) {
            c->tls_read_wants_write = true;
            conn_update_events(c);
            return;
        }
        if (r == TLS_WANT_READ) {
            /* handshake bytes came: the deadline covers the handshake */
            if (c->req_start_ns == 0 && reading_state(c) && !SSL_is_init_finished(c->ssl)) {
                c->req_start_ns = rs_now_ns();
                conn_update_events(c);
            }
            return;
        }
        if (r == TLS_EOF) {
            conn_free(c, "eof");
            return;
        }
        if (r == TLS_OK && tls_peer_closed(c->ssl))
            c->close_after = true; /* serve what came with close_notify, then close */
        if (r == TLS_ERROR) {
            char buf[160];
            RS_LOG(c->hc->log, RS_LOG_DEBUG, "tls_error", "peer=%s error=\"%s\"", c->peer,
                   tls_error_string(buf, sizeof(buf)));
            c->hc->st.tls_errors++;
            conn_free(c, "tls_error");
            return;
        }
    } else {
        int n = evbuffer_read(c->in, fd, (int)room);
        if (n == 0) {
            conn_free(c, "eof");
            return;
        }
        if (n < 0) {
            int err = EVUTIL_SOCKET_ERROR();
            if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
                return;
            conn_free(c, "read_error");
            return;
        }
    }
    if (c->req_start_ns == 0 && reading_state(c))
        c->req_start_ns = rs_now_ns(); /* the deadline runs from here */
    if (c->state == HC_STREAM) {
        conn_update_events(c); /* only watching for the client to leave */
        return;
    }
    conn_advance(c);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_http_conn *c = arg;
    if (c->tls_read_wants_write) { /* a TLS read waited for this */
        c->tls_read_wants_write = false;
        conn_update_events(c);
        conn_read_cb(fd, EV_READ, c);
        return;
    }
    if (c->state == HC_WRITE || c->state == HC_STREAM || c->state == HC_H2) {
        conn_advance(c);
        return;
    }
    /* a 100 Continue while reading a body */
    if (conn_send(c) != 0) {
        conn_free(c, "write_error");
        return;
    }
    conn_update_events(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_http_conn *c = arg;
    if (c->state == HC_H2) {
        uint64_t now = rs_now_ns();
        uint64_t due = h2_session_deadline_ns(c->h2), stall = h2_session_stall_ns(c->h2);
        if (stall != 0 && stall <= now) {
            /* answers wait and the reader took none of them for the idle
             * timeout: the connection goes, as a stalled HTTP/1.1 one does */
            c->hc->st.idle_closed++;
            conn_free(c, "write_stalled");
            return;
        }
        if (due != 0 && due <= now) {
            h2_session_expire(c->h2, now);
            conn_advance(c);
            return;
        }
        if (due != 0 || stall != 0 ||
            (!h2_session_idle(c->h2) && evbuffer_get_length(c->out) == 0)) {
            conn_update_events(c);
            return;
        }
    }
    if (reading_state(c) && c->req_start_ns != 0) {
        c->hc->st.deadline_closed++;
        if (evbuffer_get_length(c->out) == 0)
            conn_send_now(c, HTTP_TIMEOUT_408, sizeof(HTTP_TIMEOUT_408) - 1);
        conn_free(c, "request_deadline");
        return;
    }
    c->hc->st.idle_closed++;
    conn_free(c, c->state == HC_WRITE ? "write_stalled" : "idle");
}

static void conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_advance(arg);
}

/* ---- accepting ---------------------------------------------------------- */

static void conn_peer(char *buf, size_t len, const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "-";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(buf, len, "%s:%d", host, port);
}

static void http_reject(rs_http_conns *hc, evutil_socket_t fd)
{
    if (hc->lim.tls == NULL) /* under TLS nothing can be said before a handshake */
        send_now(fd, HTTP_REJECT_503, sizeof(HTTP_REJECT_503) - 1);
    evutil_closesocket(fd);
    hc->st.rejected++;
    hc->rejects_unlogged++;
    uint64_t now = rs_now_ns();
    if (hc->reject_log_ns == 0 ||
        now - hc->reject_log_ns >= (uint64_t)HTTP_LOG_EVERY_S * 1000000000u) {
        RS_LOG(hc->log, RS_LOG_WARN, "http_conn_rejected",
               "reason=max_connections max=%u count=%llu", hc->lim.max_connections,
               (unsigned long long)hc->rejects_unlogged);
        hc->rejects_unlogged = 0;
        hc->reject_log_ns = now;
    }
}

/* A connected socket becomes a connection (or is refused over the cap). */
static int http_conn_add(rs_http_conns *hc, evutil_socket_t fd, const char *peer)
{
    if (hc->st.open >= hc->lim.max_connections) {
        http_reject(hc, fd);
        return -1;
    }
    SSL *ssl = NULL;
    if (hc->lim.tls != NULL && (ssl = tls_conn_new(hc->lim.tls, fd)) == NULL) {
        /* out of memory for this one connection: refuse it, keep serving */
        hc->st.tls_errors++;
        evutil_closesocket(fd);
        return -1;
    }
    if (ssl != NULL)
        SSL_set_app_data(ssl, hc); /* ALPN may choose h2 or http/1.1 (tls.c) */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    rs_http_conn *c = rs_xcalloc(1, sizeof(*c), "http connection");
    c->ssl = ssl;
    c->hc = hc;
    c->fd = fd;
    c->in = http_xbuffer();
    c->out = http_xbuffer();
    c->req.conn = c;
    c->req.body = http_xbuffer();
    c->req.out_headers = http_xbuffer();
    c->req.trailers = http_xbuffer();
    c->rev = rs_xcheck(event_new(hc->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c), "event");
    c->wev =
        rs_xcheck(event_new(hc->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c), "event");
    c->timer = rs_xcheck(event_new(hc->base, -1, 0, conn_timer_cb, c), "event");
    c->kick_ev = rs_xcheck(event_new(hc->base, -1, 0, conn_kick_cb, c), "event");
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->state = HC_READ_HEAD;
    RS_DLIST_PUSH(hc->conns, c, prev, next);
    hc->st.open++;
    hc->st.accepted++;
    conn_update_events(c);
    return 0;
}

static void http_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
    (void)l;
    (void)salen;
    char peer[INET6_ADDRSTRLEN + 8];
    conn_peer(peer, sizeof(peer), sa);
    http_conn_add(arg, fd, peer);
}

int http_conns_adopt(rs_http_conns *hc, evutil_socket_t fd, const char *peer)
{
    if (evutil_make_socket_nonblocking(fd) != 0) {
        evutil_closesocket(fd);
        return -1;
    }
    return http_conn_add(hc, fd, peer);
}

static void http_accept_error_cb(struct evconnlistener *l, void *arg)
{
    rs_http_conns *hc = arg;
    hc->st.accept_failures++;
    accept_pause_failed(&hc->pause, l, EVUTIL_SOCKET_ERROR());
}

/* ---- the set -------------------------------------------------------------- */

rs_http_conns *http_conns_new(struct event_base *base, const rs_http_limits *limits,
                              const rs_log *log, const rs_http_callbacks *cb)
{
    rs_http_conns *hc = rs_xcalloc(1, sizeof(*hc), "http");
    hc->base = base;
    hc->lim = *limits;
    hc->log = log;
    hc->cb = *cb;
    accept_pause_init(&hc->pause, base, log, "http");
    return hc;
}

int http_conns_listen(rs_http_conns *hc, const char *host, int port)
{
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        RS_LOG(hc->log, RS_LOG_ERROR, "http_bad_address", "host=%s error=\"%s\"", host,
               gai_strerror(gai));
        return -1;
    }
    hc->listener = evconnlistener_new_bind(hc->base, http_accept_cb, hc,
                                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                               LEV_OPT_CLOSE_ON_EXEC,
                                           1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (hc->listener == NULL) {
        int err = EVUTIL_SOCKET_ERROR();
        RS_LOG(hc->log, RS_LOG_ERROR, "http_listen_failed",
               "host=%s port=%d errno=%d error=\"%s\"", host, port, err,
               evutil_socket_error_to_string(err));
        return -1;
    }
    evconnlistener_set_error_cb(hc->listener, http_accept_error_cb);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evconnlistener_get_fd(hc->listener), (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

void http_conns_stop_accepting(rs_http_conns *hc)
{
    if (hc == NULL || hc->listener == NULL)
        return;
    accept_pause_forget(&hc->pause);
    evconnlistener_free(hc->listener); /* closes the socket */
    hc->listener = NULL;
    for (rs_http_conn *c = hc->conns; c != NULL; c = c->next)
        if (c->state == HC_H2)
            h2_session_shutdown(c->h2); /* GOAWAY: no new streams here */
}

void http_conns_free(rs_http_conns *hc)
{
    if (hc == NULL)
        return;
    http_conns_stop_accepting(hc);
    while (hc->conns != NULL)
        conn_free(hc->conns, "shutdown");
    accept_pause_destroy(&hc->pause);
    free(hc);
}

const rs_http_conn_stats *http_conns_stats(const rs_http_conns *hc)
{
    return &hc->st;
}

/* ---- the request ------------------------------------------------------------ */

rs_http_method http_req_method(const rs_http_req *r)
{
    const char *m = r->head.method;
    if (strcmp(m, "GET") == 0)
        return HTTP_M_GET;
    if (strcmp(m, "POST") == 0)
        return HTTP_M_POST;
    if (strcmp(m, "HEAD") == 0)
        return HTTP_M_HEAD;
    if (strcmp(m, "OPTIONS") == 0)
        return HTTP_M_OPTIONS;
    return HTTP_M_OTHER;
}

const char *http_req_method_name(const rs_http_req *r)
{
    return r->head.method;
}

const char *http_req_path(const rs_http_req *r)
{
    return r->head.path;
}

const char *http_req_query(const rs_http_req *r)
{
    return r->head.query;
}

const char *http_req_header(const rs_http_req *r, const char *name)
{
    return http_head_get(&r->head, name);
}

const uint8_t *http_req_body(const rs_http_req *r, size_t *len)
{
    *len = evbuffer_get_length(r->body);
    if (*len == 0)
        return (const uint8_t *)"";
    return evbuffer_pullup(r->body, -1);
}

const char *http_req_peer(const rs_http_req *r)
{
    return r->conn->peer;
}

bool http_req_body_streams(const rs_http_req *r)
{
    return r->early;
}

void http_buffer_append(struct evbuffer *dst, struct evbuffer *src)
{
    size_t n = evbuffer_get_length(src);
    if (n >= HTTP_APPEND_MOVE) {
        evbuffer_add_buffer(dst, src);
        return;
    }
    /* copied into dst's last chain: moving a small chain would keep a
     * whole chain (about 1 KiB) per small message queued for a slow reader */
    evbuffer_add(dst, evbuffer_pullup(src, -1), n);
    evbuffer_drain(src, n);
}

int http_req_version(const rs_http_req *r)
{
    return r->h2 != NULL ? 2 : 1;
}

/* "name\0value\0" into buf: a name or value never carries a line break
 * (or a colon in the name) into the response. */
static void http_pair_add(struct evbuffer *buf, const char *name, const char *value)
{
    if (name[0] == '\0' || strpbrk(name, "\r\n: ") != NULL || strpbrk(value, "\r\n") != NULL)
        return;
    evbuffer_add(buf, name, strlen(name) + 1);
    evbuffer_add(buf, value, strlen(value) + 1);
}

void http_req_add_header(rs_http_req *r, const char *name, const char *value)
{
    http_pair_add(r->out_headers, name, value);
}

void http_req_add_trailer(rs_http_req *r, const char *name, const char *value)
{
    if (r->h2 != NULL)
        http_pair_add(r->trailers, name, value);
}

void http_req_on_body(rs_http_req *r,
                      void (*fn)(void *arg, const uint8_t *data, size_t len, bool end),
                      void *arg)
{
    r->body_fn = fn;
    r->body_arg = arg;
}

/* The added headers as "Name: value\r\n" lines. */
static void http_put_headers(struct evbuffer *out, struct evbuffer *pairs)
{
    size_t len = evbuffer_get_length(pairs);
    if (len == 0)
        return; /* (an empty buffer pulls up to NULL) */
    const char *p = (const char *)evbuffer_pullup(pairs, -1), *end = p + len, *name, *value;
    while (http_pairs_next(&p, end, &name, &value))
        evbuffer_add_printf(out, "%s: %s\r\n", name, value);
    evbuffer_drain(pairs, len);
}

void http_req_on_gone(rs_http_req *r, void (*fn)(void *arg), void *arg)
{
    r->gone_fn = fn;
    r->gone_arg = arg;
}

bool http_req_reply(rs_http_req *r, int status, const char *reason, struct evbuffer *body)
{
    if (r->h2 != NULL)
        return h2_req_reply(r, status, body);
    rs_http_conn *c = r->conn;
    if (c->state != HC_SERVE)
        return false; /* answered already: a bug in the caller, never a second reply */
    size_t blen = body != NULL ? evbuffer_get_length(body) : 0;
    bool head = strcmp(r->head.method, "HEAD") == 0;
    bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
    evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\n", status, reason);
    http_put_headers(c->out, r->out_headers);
    if (!no_body)
        evbuffer_add_printf(c->out, "Content-Length: %zu\r\n", blen);
    if (c->close_after)
        evbuffer_add_printf(c->out, "Connection: close\r\n");
    else if (r->head.minor == 0)
        evbuffer_add_printf(c->out, "Connection: keep-alive\r\n");
    evbuffer_add(c->out, "\r\n", 2);
    if (body != NULL) {
        if (!head && !no_body)
            evbuffer_add_buffer(c->out, body);
        else
            evbuffer_drain(body, blen);
    }
    r->gone_fn = NULL;
    c->state = HC_WRITE;
    c->reply_pending = true;
    conn_advance(c);
    return true;
}

bool http_req_stream_begin(rs_http_req *r, int status, const char *reason)
{
    if (r->h2 != NULL)
        return h2_req_stream_begin(r, status);
    rs_http_conn *c = r->conn;
    if (c->state != HC_SERVE)
        return false;
    evbuffer_add_printf(c->out, "HTTP/1.1 %d %s\r\n", status, reason);
    http_put_headers(c->out, r->out_headers);
    c->chunked = r->head.minor >= 1;
    if (c->chunked)
        evbuffer_add_printf(c->out, "Transfer-Encoding: chunked\r\n");
    else
        c->close_after = true; /* HTTP/1.0: the body ends with the connection */
    if (c->close_after)
        evbuffer_add_printf(c->out, "Connection: close\r\n");
    evbuffer_add(c->out, "\r\n", 2);
    c->state = HC_STREAM;
    c->reply_pending = true;
    conn_kick(c);
    return true;
}

size_t http_req_stream_send(rs_http_req *r, struct evbuffer *data)
{
    if (r->h2 != NULL)
        return h2_req_stream_send(r, data);
    rs_http_conn *c = r->conn;
    size_t n = evbuffer_get_length(data);
    if (c->state != HC_STREAM) {
        evbuffer_drain(data, n);
        return 0;
    }
    if (n > 0) {
        if (c->chunked)
            evbuffer_add_printf(c->out, "%zx\r\n", n);
        http_buffer_append(c->out, data);
        if (c->chunked)
            evbuffer_add(c->out, "\r\n", 2);
        conn_kick(c);
    }
    return evbuffer_get_length(c->out);
}

void http_req_stream_end(rs_http_req *r)
{
    if (r->h2 != NULL) {
        h2_req_stream_end(r);
        return;
    }
    rs_http_conn *c = r->conn;
    if (c->state != HC_STREAM)
        return;
    if (c->chunked)
        evbuffer_add(c->out, "0\r\n\r\n", 5);
    r->gone_fn = NULL;
    c->state = HC_WRITE;
    conn_kick(c);
}
