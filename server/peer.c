/*
 * peer.c: calls to other fleet nodes (peer.h).
 *
 *   rs_peers
 *     conns: one peer_conn per host:port (bufferevent, DNS through evdns:
 *            never a blocking lookup on the loop)
 *       pending calls: FIFO in send order (all share one timeout, so the
 *       oldest expire first) + a hash by id for answers in any order
 *     timer (50 ms, while calls are pending): expire the oldest
 *     fail_ev: calls failed before they went out complete from the loop
 *
 * Invariants
 * - A call is on exactly one list: its connection's pending FIFO (and hash),
 *   or the failed list; it is freed right after its fn runs.
 * - A connection that breaks fails all its pending calls and is freed at
 *   once; the next call opens a new one, not before retry_after_ns.
 */
#include "peer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rs_common.h"
#include "rs_list.h"

#define PEER_BUCKETS      256
#define PEER_TICK_MS      50
#define PEER_RETRY_MS     200
#define PEER_RESPONSE_MAX FRAME_RESPONSE_MAX_DEFAULT

typedef struct peer_conn peer_conn;

typedef struct peer_call {
    uint64_t id;
    peer_reply_fn fn;
    void *arg;
    uint64_t deadline_ns;
    const char *why; /* failed before an answer */
    peer_conn *pc;   /* NULL on the failed list */
    struct peer_call *prev, *next;
    struct peer_call *hnext;
} peer_call;

struct peer_conn {
    rs_peers *p;
    char host[256];
    int port;
    struct bufferevent *bev;
    uint64_t retry_after_ns;
    bool failing; /* down since the last failure was logged: quiet until it connects */
    /* a stream (peers_stream_open): not pooled; every answer to stream_id
     * goes to stream_fn, a lost connection once with NULL */
    peer_reply_fn stream_fn;
    void *stream_arg;
    uint64_t stream_id;
    bool stream_closed; /* closed by its owner: no callback, freed later */
    peer_call *head, *tail;
    peer_call *buckets[PEER_BUCKETS];
    peer_conn *prev, *next;
};

struct rs_peers {
    struct event_base *base;
    struct evdns_base *dns;
    const rs_log *log;
    uint32_t timeout_ms;
    char *token;
    uint64_t next_id;
    peer_conn *conns;
    peer_conn *streams; /* open streams */
    peer_conn *dead;    /* closed streams, freed from the loop */
    peer_call *failed;
    struct event *tick_ev;
    struct event *fail_ev;
    bool closing;
    rs_peer_stats stats;
};

static void peer_fifo_push(peer_conn *pc, peer_call *c)
{
    c->prev = pc->tail;
    c->next = NULL;
    if (pc->tail != NULL)
        pc->tail->next = c;
    else
        pc->head = c;
    pc->tail = c;
    peer_call **b = &pc->buckets[c->id % PEER_BUCKETS];
    c->hnext = *b;
    *b = c;
    c->pc = pc;
    pc->p->stats.pending++;
}

static void peer_fifo_remove(peer_conn *pc, peer_call *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        pc->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        pc->tail = c->prev;
    peer_call **b = &pc->buckets[c->id % PEER_BUCKETS];
    while (*b != NULL && *b != c)
        b = &(*b)->hnext;
    if (*b == c)
        *b = c->hnext;
    c->prev = c->next = c->hnext = NULL;
    c->pc = NULL;
    pc->p->stats.pending--;
}

static void peer_finish(rs_peers *p, peer_call *c, const Readstates__V1__Response *resp,
                        const char *why)
{
    if (resp == NULL)
        p->stats.failures++;
    if (c->fn != NULL)
        c->fn(c->arg, resp, why);
    free(c);
}

/* Fail c from the loop (it never went out, or its connection broke while
 * we are inside peers_call). */
static void peer_defer_fail(rs_peers *p, peer_call *c, const char *why)
{
    c->why = why;
    c->next = p->failed;
    p->failed = c;
    if (!p->closing)
        event_active(p->fail_ev, EV_TIMEOUT, 0);
}

static void peer_free_dead(rs_peers *p);

static void peer_fail_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_peers *p = arg;
    peer_free_dead(p);
    peer_call *list = p->failed;
    p->failed = NULL;
    while (list != NULL) {
        peer_call *c = list;
        list = c->next;
        peer_finish(p, c, NULL, c->why);
    }
}

/* The connection is gone: fail its calls, free it. */
static void peer_conn_drop(peer_conn *pc, const char *why)
{
    rs_peers *p = pc->p;
    /* Said once per outage at warn (every retry, 5 a second, at debug). */
    if (!p->closing)
        RS_LOG(p->log, pc->failing ? RS_LOG_DEBUG : RS_LOG_WARN, "peer_down",
               "addr=%s:%d reason=\"%s\" pending=%s retry_ms=%d", pc->host, pc->port, why,
               pc->head != NULL ? "failed" : "none", PEER_RETRY_MS);
    pc->failing = true;
    if (pc->bev != NULL) {
        bufferevent_free(pc->bev);
        pc->bev = NULL;
    }
    pc->retry_after_ns = rs_now_ns() + PEER_RETRY_MS * 1000000ull;
    while (pc->head != NULL) {
        peer_call *c = pc->head;
        peer_fifo_remove(pc, c);
        peer_finish(p, c, NULL, why);
    }
    if (pc->stream_fn != NULL && !pc->stream_closed) {
        peer_reply_fn fn = pc->stream_fn;
        pc->stream_fn = NULL; /* once */
        fn(pc->stream_arg, NULL, why);
    }
}

static void peer_read_cb(struct bufferevent *bev, void *arg)
{
    peer_conn *pc = arg;
    rs_peers *p = pc->p;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        uint8_t hdr[FRAME_HEADER_LEN];
        if (evbuffer_copyout(in, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
            return;
        uint32_t len;
        if (frame_parse_header(hdr, PEER_RESPONSE_MAX, &len) != FRAME_OK) {
            peer_conn_drop(pc, "malformed frame from the peer");
            return;
        }
        if (evbuffer_get_length(in) < FRAME_HEADER_LEN + (size_t)len)
            return;
        const uint8_t *frame = evbuffer_pullup(in, FRAME_HEADER_LEN + (ev_ssize_t)len);
        Readstates__V1__Response *resp =
            readstates__v1__response__unpack(NULL, len, frame + FRAME_HEADER_LEN);
        evbuffer_drain(in, FRAME_HEADER_LEN + (size_t)len);
        if (resp == NULL) {
            peer_conn_drop(pc, "a response that does not decode");
            return;
        }
        if (pc->stream_fn != NULL && resp->id == pc->stream_id) {
            pc->stream_fn(pc->stream_arg, resp, NULL); /* may close the stream */
            readstates__v1__response__free_unpacked(resp, NULL);
            if (pc->stream_closed || pc->bev == NULL)
                return;
            continue;
        }
        peer_call *c = pc->buckets[resp->id % PEER_BUCKETS];
        while (c != NULL && c->id != resp->id)
            c = c->hnext;
        if (c != NULL) { /* else a late answer to a call that timed out */
            peer_fifo_remove(pc, c);
            peer_finish(p, c, resp, NULL);
        }
        readstates__v1__response__free_unpacked(resp, NULL);
        if (pc->bev == NULL) /* dropped from a callback */
            return;
    }
}

static void peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    peer_conn *pc = arg;
    if (what & BEV_EVENT_CONNECTED) {
        pc->p->stats.connects++;
        pc->failing = false;
        RS_LOG(pc->p->log, RS_LOG_INFO, "peer_up", "addr=%s:%d", pc->host, pc->port);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
        peer_conn_drop(pc, what & BEV_EVENT_EOF ? "closed by the peer" : "connection error");
}

static peer_conn *peer_conn_get(rs_peers *p, const char *host, int port)
{
    for (peer_conn *pc = p->conns; pc != NULL; pc = pc->next)
        if (pc->port == port && strcmp(pc->host, host) == 0)
            return pc;
    peer_conn *pc = rs_xcalloc(1, sizeof(*pc), "peer");
    pc->p = p;
    snprintf(pc->host, sizeof(pc->host), "%s", host);
    pc->port = port;
    RS_DLIST_PUSH(p->conns, pc, prev, next);
    return pc;
}

static bool peer_write(peer_conn *pc, const Readstates__V1__Request *req)
{
    size_t n = readstates__v1__request__get_packed_size(req);
    uint8_t stackbuf[1024];
    uint8_t *buf = n + FRAME_HEADER_LEN <= sizeof(stackbuf)
                       ? stackbuf
                       : rs_xmalloc(n + FRAME_HEADER_LEN, "peer frame");
    frame_put_header(buf, (uint32_t)n);
    readstates__v1__request__pack(req, buf + FRAME_HEADER_LEN);
    int rc = bufferevent_write(pc->bev, buf, n + FRAME_HEADER_LEN);
    if (buf != stackbuf)
        free(buf);
    return rc == 0;
}

static void peer_auth_reply(void *arg, const Readstates__V1__Response *resp, const char *why)
{
    peer_conn *pc = arg;
    if (resp != NULL && (resp->status == NULL || resp->status->code == 0))
        return;
    RS_LOG(pc->p->log, RS_LOG_ERROR, "peer_auth_failed", "addr=%s:%d error=\"%s\"", pc->host,
           pc->port,
           resp != NULL && resp->status != NULL && resp->status->message != NULL
               ? resp->status->message
               : (why != NULL ? why : ""));
}

static peer_call *peer_call_new(rs_peers *p, peer_reply_fn fn, void *arg)
{
    peer_call *c = rs_xcalloc(1, sizeof(*c), "peer call");
    c->id = PEER_ID_FORWARDED | ++p->next_id;
    c->fn = fn;
    c->arg = arg;
    c->deadline_ns = rs_now_ns() + (uint64_t)p->timeout_ms * 1000000ull;
    return c;
}

/* Open pc's connection; the Auth call goes first when there is a token. */
static bool peer_connect(peer_conn *pc)
{
    rs_peers *p = pc->p;
    pc->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (pc->bev == NULL)
        return false;
    bufferevent_setcb(pc->bev, peer_read_cb, NULL, peer_event_cb, pc);
    bufferevent_enable(pc->bev, EV_READ | EV_WRITE);
    int rc =
        bufferevent_socket_connect_hostname(pc->bev, p->dns, AF_UNSPEC, pc->host, pc->port);
    if (pc->bev == NULL) /* failed at once, through the event callback (freed there) */
        return false;
    if (rc != 0) {
        bufferevent_free(pc->bev);
        pc->bev = NULL;
        return false;
    }
    if (p->token != NULL) {
        Readstates__V1__AuthRequest a = READSTATES__V1__AUTH_REQUEST__INIT;
        a.token = p->token;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.call_case = READSTATES__V1__REQUEST__CALL_AUTH;
        req.auth = &a;
        peer_call *c = peer_call_new(p, peer_auth_reply, pc);
        req.id = c->id;
        if (!peer_write(pc, &req)) {
            free(c);
            return false;
        }
        peer_fifo_push(pc, c);
    }
    return true;
}

static void peer_schedule_tick(rs_peers *p)
{
    if (p->closing || evtimer_pending(p->tick_ev, NULL))
        return;
    struct timeval tv = {0, PEER_TICK_MS * 1000};
    evtimer_add(p->tick_ev, &tv);
}

void peers_call(rs_peers *p, const char *host, int port, const Readstates__V1__Request *req,
                peer_reply_fn fn, void *arg)
{
    peer_call *c = peer_call_new(p, fn, arg);
    if (p->closing) {
        peer_defer_fail(p, c, "shutting down");
        return;
    }
    peer_conn *pc = peer_conn_get(p, host, port);
    if (pc->bev == NULL) {
        if (rs_now_ns() < pc->retry_after_ns) {
            peer_defer_fail(p, c, "the owner was unreachable moments ago");
            return;
        }
        if (!peer_connect(pc)) {
            pc->retry_after_ns = rs_now_ns() + PEER_RETRY_MS * 1000000ull;
            peer_defer_fail(p, c, "cannot connect to the owner");
            return;
        }
    }
    Readstates__V1__Request copy = *req;
    copy.id = c->id;
    if (!peer_write(pc, &copy)) {
        peer_defer_fail(p, c, "cannot write to the owner");
        return;
    }
    peer_fifo_push(pc, c);
    p->stats.calls++;
    peer_schedule_tick(p);
}

/* Expire the oldest calls of every connection. */
static void peer_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_peers *p = arg;
    uint64_t now = rs_now_ns();
    for (peer_conn *pc = p->conns; pc != NULL; pc = pc->next) {
        while (pc->head != NULL && pc->head->deadline_ns <= now) {
            peer_call *c = pc->head;
            peer_fifo_remove(pc, c);
            p->stats.timeouts++;
            peer_finish(p, c, NULL, "the owner did not answer in time");
        }
    }
    if (p->stats.pending > 0)
        peer_schedule_tick(p);
}

peer_stream *peers_stream_open(rs_peers *p, const char *host, int port,
                               const Readstates__V1__Request *req, peer_reply_fn fn, void *arg)
{
    peer_conn *pc = rs_xcalloc(1, sizeof(*pc), "peer stream");
    pc->p = p;
    snprintf(pc->host, sizeof(pc->host), "%s", host);
    pc->port = port;
    pc->stream_fn = fn;
    pc->stream_arg = arg;
    pc->stream_id = PEER_ID_FORWARDED | ++p->next_id;
    RS_DLIST_PUSH(p->streams, pc, prev, next);
    Readstates__V1__Request copy = *req;
    copy.id = pc->stream_id;
    if (p->closing || !peer_connect(pc) || !peer_write(pc, &copy)) {
        /* fails from the loop, as every failure does */
        pc->stream_fn = NULL;
        peer_call *c = peer_call_new(p, fn, arg);
        peer_defer_fail(p, c, p->closing ? "shutting down" : "cannot connect to the owner");
        peers_stream_close(pc);
        return NULL;
    }
    p->stats.calls++;
    return pc;
}

static void peer_free_dead(rs_peers *p)
{
    while (p->dead != NULL) {
        peer_conn *pc = p->dead;
        p->dead = pc->next;
        free(pc);
    }
}

void peers_stream_close(peer_stream *pc)
{
    if (pc == NULL || pc->stream_closed)
        return;
    rs_peers *p = pc->p;
    pc->stream_closed = true;
    pc->stream_fn = NULL;
    if (pc->bev != NULL) {
        bufferevent_free(pc->bev);
        pc->bev = NULL;
    }
    while (pc->head != NULL) { /* its Auth call, if still waiting */
        peer_call *c = pc->head;
        peer_fifo_remove(pc, c);
        peer_finish(p, c, NULL, "closed");
    }
    RS_DLIST_REMOVE(p->streams, pc, prev, next);
    pc->next = p->dead; /* freed from the loop: a callback may still be on the stack */
    p->dead = pc;
    if (!p->closing)
        event_active(p->fail_ev, EV_TIMEOUT, 0);
}

rs_peers *peers_new(struct event_base *base, const rs_log *log, uint32_t timeout_ms,
                    const char *token)
{
    rs_peers *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->base = base;
    p->log = log;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    if (token != NULL && token[0] != '\0') {
        size_t n = strlen(token) + 1;
        p->token = malloc(n);
        if (p->token != NULL)
            memcpy(p->token, token, n);
    }
    p->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (p->dns == NULL) /* no resolv.conf: numeric addresses still work */
        p->dns = evdns_base_new(base, 0);
    p->tick_ev = evtimer_new(base, peer_tick_cb, p);
    p->fail_ev = event_new(base, -1, 0, peer_fail_cb, p);
    if (p->dns == NULL || p->tick_ev == NULL || p->fail_ev == NULL ||
        (token != NULL && token[0] != '\0' && p->token == NULL)) {
        peers_free(p);
        return NULL;
    }
    return p;
}

void peers_free(rs_peers *p)
{
    if (p == NULL)
        return;
    p->closing = true;
    while (p->conns != NULL) {
        peer_conn *pc = p->conns;
        peer_conn_drop(pc, "shutting down");
        RS_DLIST_REMOVE(p->conns, pc, prev, next);
        free(pc);
    }
    while (p->streams != NULL) {
        peer_conn *pc = p->streams;
        peer_conn_drop(pc, "shutting down"); /* its owner hears of it once */
        peers_stream_close(pc);
    }
    peer_fail_cb(-1, 0, p);
    if (p->tick_ev != NULL)
        event_free(p->tick_ev);
    if (p->fail_ev != NULL)
        event_free(p->fail_ev);
    if (p->dns != NULL)
        evdns_base_free(p->dns, 0);
    free(p->token);
    free(p);
}

const rs_peer_stats *peers_stats(const rs_peers *p)
{
    return &p->stats;
}
