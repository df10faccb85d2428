/*
 * lg_target_rs.c: the rs:// target, readstated's framed protocol.
 *
 * Requests are built as protobuf-c structs on the stack and packed straight
 * into space reserved in the connection's output evbuffer (header, then
 * payload): no allocation and no copy per request. The request id carries
 * the slot and its generation:
 *
 *   id = gen << 32 | slot
 *
 * I/O is done by hand on a non-blocking socket rather than through a
 * bufferevent, to keep the load generator's syscalls per request below the
 * server's: writes are batched (every request queued during one callback
 * goes out in one write per connection at the end of it) and a write event
 * is armed only when the kernel pushes back; reads go into one contiguous
 * buffer per connection and frames are taken from it in place.
 *
 * Answers are timed by the kernel: every socket has SO_TIMESTAMPNS, and
 * recvmsg returns the receive time of the last segment it read. A frame
 * completed by a read is dated by that stamp: the arrival of the segment
 * that completed it, or of a later one read in the same call (segments the
 * kernel merged while unread carry the newer time), never earlier than
 * the frame really arrived. Because the time no longer depends on when we
 * read, reading can wait: the sockets sit in a private epoll set, and only
 * in eager mode is that set watched by the event loop; in deferred mode the
 * engine's tick collects (lg_engine.h). Reads without a stamp date their
 * frames by the clock and switch the target to eager for good.
 *
 *   send(op) -> out evbuffer --(end of callback: flush dirty conns)--> write()
 *   eager:    event loop -> ep readable --+
 *   deferred: engine tick -> collect -----+-> recvmsg() -> in[pos..len) +
 *             stamp -> frame_peek -> scan id+status -> engine (arrival time)
 *
 * Answers are not decoded into structs: a small scanner walks the
 * Response's top-level fields for the id (1) and the status code (2.1) and
 * skips the rest.
 *
 * TLS (rss://): after connecting, a connection runs its handshake on its
 * own events, then (with a token) Auth, then joins the load; reads and
 * writes go through OpenSSL. Records are decrypted when read, so no kernel
 * stamp dates them: the target reads eagerly and dates frames by the clock.
 *
 * Tokens (--token): a connection sends an Auth call as soon as it is
 * connected and is ready for load only once that is answered OK. Until
 * then it sits outside the epoll set, read by its own one-off event, so
 * the paths above never see it; a refused token stops the run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "lg_engine.h"
#include "lg_proto.h"
#include "readstates.pb-c.h"
#include "rs_common.h"
#include "rs_ring.h"

#define IN_CHUNK    (64u * 1024u)
#define DIRECT_MAX  2u /* collect: read this many busy connections without epoll */
#define READS_MAX   8  /* reads per connection per collection, when they fill the buffer */
#define EPOLL_BATCH 256

typedef struct rs_conn {
    int fd;
    struct event *wev; /* one-shot write: connect completion, kernel push-back */
    struct evbuffer *out;
    uint8_t *in;
    size_t in_len, in_pos, in_cap;
    bool dirty;        /* queued in the dirty list */
    bool polled;       /* in the epoll set */
    bool authing;      /* connected, waiting for the answer to Auth */
    struct event *rev; /* reads the Auth answer, while authing (or the handshake) */
    SSL *ssl;          /* rss:// */
    bool handshaking;  /* TLS handshake under way */
} rs_conn;

/* The Auth request's id: no slot's (slots are gen << 32 | slot < depth). */
#define AUTH_ID UINT64_MAX

typedef struct rs_target {
    struct sockaddr_storage *addrs; /* one per ring node (one without a ring) */
    socklen_t *addrlens;
    uint32_t naddrs;
    rs_conn *rc;     /* one per lg_conn */
    uint32_t *dirty; /* connections with output to flush */
    uint32_t ndirty;
    int batching;        /* > 0 while answers are read: flush at the end */
    int ep;              /* epoll set of connected sockets, level-triggered */
    struct event *ep_ev; /* ep readable: added only in eager mode */
    bool eager;
    bool stamps;  /* every read so far carried a kernel receive stamp */
    SSL_CTX *tls; /* rss://, else NULL */
} rs_target;

static void rst_poll_cb(evutil_socket_t fd, short what, void *arg);

static rs_target *rst_tgt(lg_conn *c)
{
    return c->eng->target_data;
}

static int rst_tls_fail(char *err, size_t errlen, const char *what)
{
    char buf[200] = "";
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s", what, buf[0] != '\0' ? ": " : "", buf);
    return -1;
}

/* rss://: one client context for every connection. */
static int rst_tls_prepare(lg_engine *e, rs_target *t, char *err, size_t errlen)
{
    const lg_config *cfg = &e->cfg;
    t->tls = SSL_CTX_new(TLS_client_method());
    if (t->tls == NULL)
        return rst_tls_fail(err, errlen, "TLS");
    SSL_CTX_set_min_proto_version(t->tls, TLS1_2_VERSION);
    SSL_CTX_set_mode(t->tls,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(t->tls, 1); /* one read() per socket wake-up, not two per record */
    if ((cfg->tls_ca[0] != '\0' ? SSL_CTX_load_verify_locations(t->tls, cfg->tls_ca, NULL)
                                : SSL_CTX_set_default_verify_paths(t->tls)) != 1)
        return rst_tls_fail(err, errlen, "--tls-ca");
    SSL_CTX_set_verify(t->tls, SSL_VERIFY_PEER, NULL);
    if (cfg->tls_cert[0] != '\0' &&
        (SSL_CTX_use_certificate_chain_file(t->tls, cfg->tls_cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(t->tls,
                                     cfg->tls_key[0] != '\0' ? cfg->tls_key : cfg->tls_cert,
                                     SSL_FILETYPE_PEM) != 1))
        return rst_tls_fail(err, errlen, "--tls-cert/--tls-key");
    t->stamps = false; /* decrypted bytes carry no kernel stamp: read eagerly */
    return 0;
}

static int rst_rs_prepare(lg_engine *e, char *err, size_t errlen)
{
    rs_target *t = calloc(1, sizeof(*t));
    if (t == NULL)
        goto oom;
    e->target_data = t;
    t->ep = -1;
    t->rc = calloc(e->cfg.conns, sizeof(*t->rc));
    t->dirty = calloc(e->cfg.conns, sizeof(*t->dirty));
    if (t->rc == NULL || t->dirty == NULL)
        goto oom;
    for (uint32_t i = 0; i < e->cfg.conns; i++)
        t->rc[i].fd = -1;
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    if (t->ep < 0) {
        snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        return -1;
    }
    t->ep_ev = event_new(e->base, t->ep, EV_READ | EV_PERSIST, rst_poll_cb, e);
    if (t->ep_ev == NULL || event_add(t->ep_ev, NULL) != 0)
        goto oom;
    t->eager = true;
    t->stamps = true;
    const rs_ring *ring = e->cfg.ring;
    t->naddrs = ring != NULL ? (uint32_t)ring->nnodes : 1;
    t->addrs = calloc(t->naddrs, sizeof(*t->addrs));
    t->addrlens = calloc(t->naddrs, sizeof(*t->addrlens));
    if (t->addrs == NULL || t->addrlens == NULL)
        goto oom;
    for (uint32_t i = 0; i < t->naddrs; i++) {
        const char *host = ring != NULL ? ring->nodes[i].host : e->cfg.host;
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        char port[16];
        snprintf(port, sizeof(port), "%d", ring != NULL ? ring->nodes[i].port : e->cfg.port);
        int rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0 || res == NULL) {
            snprintf(err, errlen, "cannot resolve %.200s: %s", host, gai_strerror(rc));
            return -1;
        }
        memcpy(&t->addrs[i], res->ai_addr, res->ai_addrlen);
        t->addrlens[i] = (socklen_t)res->ai_addrlen;
        freeaddrinfo(res);
    }
    if (e->cfg.tls && rst_tls_prepare(e, t, err, errlen) != 0)
        return -1;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static void rst_rs_release(lg_engine *e)
{
    rs_target *t = e->target_data;
    if (t == NULL)
        return;
    for (uint32_t i = 0; t->rc != NULL && i < e->cfg.conns; i++)
        free(t->rc[i].in);
    free(t->rc);
    free(t->dirty);
    free(t->addrs);
    free(t->addrlens);
    if (t->ep_ev != NULL)
        event_free(t->ep_ev);
    if (t->ep >= 0)
        close(t->ep);
    SSL_CTX_free(t->tls);
}

/* Write what c has queued. Returns 0, or -1 after failing the connection. */
static int rst_flush_one(lg_conn *c)
{
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    while (r->ssl != NULL && evbuffer_get_length(r->out) > 0) {
        size_t len = RS_MIN(evbuffer_get_length(r->out), (size_t)16384);
        const unsigned char *p = evbuffer_pullup(r->out, (ev_ssize_t)len);
        int n = p != NULL ? SSL_write(r->ssl, p, (int)len) : -1;
        if (n > 0) {
            evbuffer_drain(r->out, (size_t)n);
            continue;
        }
        int e = SSL_get_error(r->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            event_add(r->wev, NULL);
            return 0;
        }
        if (e == SSL_ERROR_WANT_READ)
            return 0; /* the read side brings it on */
        ERR_clear_error();
        lg_engine_on_conn_error(c, "TLS write failed");
        return -1;
    }
    while (evbuffer_get_length(r->out) > 0) {
        int n = evbuffer_write(r->out, r->fd);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            event_add(r->wev, NULL); /* the kernel pushed back: wait */
            return 0;
        }
        lg_engine_on_conn_error(c, n == 0 ? "closed by peer" : strerror(errno));
        return -1;
    }
    return 0;
}

static void rst_rs_flush(lg_engine *e)
{
    rs_target *t = e->target_data;
    if (t->batching > 0)
        return;
    /* flushing can fail a connection, which never adds to the list */
    for (uint32_t i = 0; i < t->ndirty; i++) {
        lg_conn *c = &e->conns[t->dirty[i]];
        rs_conn *r = &t->rc[c->idx];
        r->dirty = false;
        if (c->state == LG_CONN_READY && !event_pending(r->wev, EV_WRITE, NULL))
            rst_flush_one(c);
    }
    t->ndirty = 0;
}

/* Take every whole frame out of the input buffer. */
static void rst_take_frames(lg_conn *c, rs_conn *r, uint64_t done_ns)
{
    lg_engine *e = c->eng;
    while (c->state == LG_CONN_READY) {
        uint32_t n;
        frame_result fr = frame_peek(r->in + r->in_pos, r->in_len - r->in_pos,
                                     FRAME_RESPONSE_MAX_DEFAULT, &n);
        if (fr == FRAME_NEED_MORE)
            break;
        if (fr != FRAME_OK) {
            lg_engine_on_conn_error(c, frame_result_name(fr));
            return;
        }
        const uint8_t *p = r->in + r->in_pos + FRAME_HEADER_LEN;
        r->in_pos += FRAME_HEADER_LEN + n;
        uint64_t id = 0;
        uint32_t code = 0;
        int ok = lg_scan_response(p, n, &id, &code);
        uint32_t slot = (uint32_t)id;
        uint32_t gen = (uint32_t)(id >> 32);
        if (ok != 0 || slot >= e->cfg.depth || !c->slots[slot].busy ||
            c->slots[slot].gen != gen) {
            e->stats.status[LG_ST_BAD_REPLY]++;
            continue;
        }
        lg_engine_on_answer_at(c, slot, code < LG_ST_WIRE_MAX ? (int)code : LG_ST_BAD_REPLY,
                               done_ns);
    }
    if (r->in_pos == r->in_len) {
        r->in_pos = r->in_len = 0;
    } else if (r->in_pos > 0 && r->in_cap - r->in_len < IN_CHUNK) {
        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
        r->in_len -= r->in_pos;
        r->in_pos = 0;
    }
}

/* Make room for IN_CHUNK more bytes (or the rest of a large frame). */
static int rst_grow_in(rs_conn *r)
{
    size_t want = IN_CHUNK;
    if (r->in_len - r->in_pos >= FRAME_HEADER_LEN) {
        const uint8_t *h = r->in + r->in_pos;
        size_t frame = FRAME_HEADER_LEN + (((size_t)h[0] << 24) | ((size_t)h[1] << 16) |
                                           ((size_t)h[2] << 8) | (size_t)h[3]);
        size_t have = r->in_len - r->in_pos;
        if (frame > have && frame - have > want)
            want = frame - have;
    }
    if (r->in_cap - r->in_len >= want)
        return 0;
    size_t cap = r->in_cap ? r->in_cap : 2 * IN_CHUNK;
    while (cap - r->in_len < want)
        cap *= 2;
    uint8_t *nb = realloc(r->in, cap);
    if (nb == NULL)
        return -1;
    r->in = nb;
    r->in_cap = cap;
    return 0;
}

/* Arrival time (monotonic) of the data a recvmsg returned, from its
 * SCM_TIMESTAMPNS stamp (wall clock); UINT64_MAX when it carried none. */
static uint64_t rst_arrival_ns(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
            continue;
        struct timespec st, wall;
        memcpy(&st, CMSG_DATA(cm), sizeof(st));
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t mono = rs_now_ns();
        return lg_arrival_mono_ns(
            (uint64_t)st.tv_sec * 1000000000ull + (uint64_t)st.tv_nsec,
            (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec, mono);
    }
    return UINT64_MAX;
}

static void rst_set_eager(lg_engine *e, bool eager)
{
    rs_target *t = e->target_data;
    eager = eager || !t->stamps; /* without stamps, only reading at once is honest */
    if (eager == t->eager)
        return;
    t->eager = eager;
    if (eager)
        event_add(t->ep_ev, NULL);
    else
        event_del(t->ep_ev);
}

/* TLS: decrypt everything OpenSSL can give (bytes it holds raise no
 * event), dating the frames by the clock. */
static void rst_read_conn_tls(lg_conn *c, rs_conn *r)
{
    while (c->state == LG_CONN_READY) {
        if (rst_grow_in(r) != 0) {
            lg_engine_on_conn_error(c, "out of memory");
            return;
        }
        int n =
            SSL_read(r->ssl, r->in + r->in_len, (int)RS_MIN(r->in_cap - r->in_len, 1u << 30));
        if (n <= 0) {
            int e = SSL_get_error(r->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            ERR_clear_error();
            lg_engine_on_conn_error(c, e == SSL_ERROR_ZERO_RETURN ? "closed by peer"
                                                                  : "TLS read failed");
            return;
        }
        r->in_len += (size_t)n;
        rst_take_frames(c, r, UINT64_MAX);
    }
}

/* Read what arrived on c and hand over the whole frames. */
static void rst_read_conn(lg_conn *c)
{
    rs_target *t = rst_tgt(c);
    rs_conn *r = &t->rc[c->idx];
    if (r->ssl != NULL) {
        rst_read_conn_tls(c, r);
        return;
    }
    for (int i = 0; i < READS_MAX && c->state == LG_CONN_READY; i++) {
        if (rst_grow_in(r) != 0) {
            lg_engine_on_conn_error(c, "out of memory");
            return;
        }
        union {
            char buf[CMSG_SPACE(sizeof(struct timespec)) * 2];
            struct cmsghdr align;
        } ctl;
        size_t room = r->in_cap - r->in_len;
        struct iovec iov = {.iov_base = r->in + r->in_len, .iov_len = room};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        ssize_t n = recvmsg(r->fd, &mh, MSG_DONTWAIT);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            lg_engine_on_conn_error(c, n == 0 ? "closed by peer" : strerror(errno));
            return;
        }
        uint64_t at = rst_arrival_ns(&mh);
        if (at == UINT64_MAX && t->stamps) {
            t->stamps = false;
            rst_set_eager(c->eng, true);
        }
        r->in_len += (size_t)n;
        rst_take_frames(c, r, at);
        if ((size_t)n < room)
            break; /* the socket is empty */
    }
}

/* Read every connection the epoll set reports readable. */
static void rst_poll_ready(lg_engine *e)
{
    rs_target *t = e->target_data;
    struct epoll_event evs[EPOLL_BATCH];
    int max = (int)RS_MIN(e->cfg.conns, (uint32_t)EPOLL_BATCH);
    int n = epoll_wait(t->ep, evs, max, 0);
    for (int i = 0; i < n; i++)
        rst_read_conn(&e->conns[evs[i].data.u32]);
}

/* Eager mode: some socket is readable. */
static void rst_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_engine *e = arg;
    rs_target *t = e->target_data;
    t->batching++;
    rst_poll_ready(e);
    t->batching--;
    rst_rs_flush(e);
}

/* Deferred mode, at the engine's tick: read what has arrived. With few
 * connections waiting for answers, reading them straight costs fewer
 * syscalls than asking epoll which are ready. The engine flushes after. */
static void rst_rs_collect(lg_engine *e)
{
    rs_target *t = e->target_data;
    uint32_t busy[DIRECT_MAX], nbusy = 0;
    for (uint32_t i = 0; i < e->cfg.conns && nbusy <= DIRECT_MAX; i++) {
        const lg_conn *c = &e->conns[i];
        if (c->state == LG_CONN_READY && c->nfree < e->cfg.depth) {
            if (nbusy < DIRECT_MAX)
                busy[nbusy] = i;
            nbusy++;
        }
    }
    t->batching++;
    if (nbusy <= DIRECT_MAX) {
        for (uint32_t i = 0; i < nbusy; i++)
            rst_read_conn(&e->conns[busy[i]]);
    } else {
        rst_poll_ready(e);
    }
    t->batching--;
}

/* Connected (and authenticated): into the epoll set, ready for load. */
static void rst_conn_ready(lg_conn *c)
{
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = c->idx};
    if (epoll_ctl(rst_tgt(c)->ep, EPOLL_CTL_ADD, r->fd, &ev) != 0) {
        lg_engine_on_conn_error(c, strerror(errno));
        return;
    }
    r->polled = true;
    lg_engine_on_ready(c);
    rst_rs_flush(c->eng);
}

/* The answer to Auth: OK makes the connection ready; a refusal ends the
 * run (every connection has the same token). */
static void rst_auth_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    lg_conn *c = arg;
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    if (rst_grow_in(r) != 0) {
        lg_engine_on_conn_error(c, "out of memory");
        return;
    }
    ssize_t n;
    if (r->ssl != NULL) {
        n = SSL_read(r->ssl, r->in + r->in_len, (int)RS_MIN(r->in_cap - r->in_len, 1u << 30));
        if (n <= 0) {
            int e = SSL_get_error(r->ssl, (int)n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            ERR_clear_error();
            lg_engine_on_conn_error(c, "TLS read failed during Auth");
            return;
        }
    } else {
        n = recv(fd, r->in + r->in_len, r->in_cap - r->in_len, MSG_DONTWAIT);
    }
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        lg_engine_on_conn_error(c, n == 0 ? "closed by peer during Auth" : strerror(errno));
        return;
    }
    r->in_len += (size_t)n;
    uint32_t len = 0;
    frame_result fr = frame_peek(r->in, r->in_len, FRAME_RESPONSE_MAX_DEFAULT, &len);
    if (fr == FRAME_NEED_MORE)
        return;
    uint64_t id = 0;
    uint32_t code = 0;
    if (fr != FRAME_OK || lg_scan_response(r->in + FRAME_HEADER_LEN, len, &id, &code) != 0 ||
        id != AUTH_ID) {
        lg_engine_on_conn_error(c, "not an answer to Auth");
        return;
    }
    if (code != 0) {
        char why[160];
        snprintf(why, sizeof(why), "the server refused the token (Auth answered %s)",
                 rs_status_name((rs_status)code));
        lg_engine_fail(c->eng, why);
        return;
    }
    r->in_len = r->in_pos = 0; /* nothing else was asked */
    event_free(r->rev);
    r->rev = NULL;
    r->authing = false;
    rst_conn_ready(c);
}

/* Connected: send Auth first, and wait for its answer on its own event. */
static void rst_auth_start(lg_conn *c)
{
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    Readstates__V1__AuthRequest auth = READSTATES__V1__AUTH_REQUEST__INIT;
    auth.token = c->eng->cfg.token;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = AUTH_ID;
    req.call_case = READSTATES__V1__REQUEST__CALL_AUTH;
    req.auth = &auth;
    size_t need = frame_size(&req.base);
    struct evbuffer_iovec v;
    r->rev = event_new(c->eng->base, r->fd, EV_READ | EV_PERSIST, rst_auth_read_cb, c);
    if (r->rev == NULL || evbuffer_reserve_space(r->out, (ev_ssize_t)need, &v, 1) != 1) {
        lg_engine_on_conn_error(c, "out of memory");
        return;
    }
    v.iov_len = frame_encode(&req.base, v.iov_base);
    evbuffer_commit_space(r->out, &v, 1);
    r->authing = true;
    event_add(r->rev, NULL);
    rst_flush_one(c);
}

/* After the TCP connect (and the TLS handshake, if any). */
static void rst_connected(lg_conn *c)
{
    if (c->eng->cfg.token[0] != '\0')
        rst_auth_start(c);
    else
        rst_conn_ready(c);
}

static void rst_handshake_cb(evutil_socket_t fd, short what, void *arg);

/* One step of the TLS handshake; waits on r->rev (readable) or r->wev. */
static void rst_handshake_step(lg_conn *c)
{
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    int rc = SSL_connect(r->ssl);
    if (rc == 1) {
        r->handshaking = false;
        event_free(r->rev);
        r->rev = NULL;
        rst_connected(c);
        return;
    }
    int e = SSL_get_error(r->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        event_add(r->rev, NULL);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        event_add(r->wev, NULL);
        return;
    }
    char why[256];
    long v = SSL_get_verify_result(r->ssl);
    rst_tls_fail(why, sizeof(why),
                 v != X509_V_OK ? X509_verify_cert_error_string(v) : "TLS handshake failed");
    lg_engine_fail(c->eng, why); /* every connection would fail the same way */
}

static void rst_handshake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rst_handshake_step(arg);
}

/* TCP connected: the TLS handshake on its own read event. */
static void rst_handshake_start(lg_conn *c)
{
    rs_target *t = rst_tgt(c);
    rs_conn *r = &t->rc[c->idx];
    r->ssl = SSL_new(t->tls);
    r->rev = event_new(c->eng->base, r->fd, EV_READ, rst_handshake_cb, c);
    if (r->ssl == NULL || r->rev == NULL || SSL_set_fd(r->ssl, r->fd) != 1) {
        lg_engine_on_conn_error(c, "out of memory");
        return;
    }
    const char *host = c->eng->cfg.host;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r->ssl), host);
    } else {
        SSL_set_tlsext_host_name(r->ssl, host);
        SSL_set1_host(r->ssl, host);
    }
    r->handshaking = true;
    rst_handshake_step(c);
}

static void rst_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    lg_conn *c = arg;
    rs_conn *r = &rst_tgt(c)->rc[c->idx];
    if (r->handshaking) {
        rst_handshake_step(c);
        return;
    }
    if (c->state == LG_CONN_CONNECTING && !r->authing) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            lg_engine_on_conn_error(c, strerror(err ? err : errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (rst_tgt(c)->tls != NULL)
            rst_handshake_start(c);
        else
            rst_connected(c);
        return;
    }
    rst_flush_one(c);
}

static void rst_rs_close(lg_conn *c)
{
    rs_target *t = rst_tgt(c);
    rs_conn *r = &t->rc[c->idx];
    if (r->polled)
        epoll_ctl(t->ep, EPOLL_CTL_DEL, r->fd, NULL);
    r->polled = false;
    if (r->rev != NULL)
        event_free(r->rev);
    r->rev = NULL;
    r->authing = false;
    r->handshaking = false;
    if (r->ssl != NULL)
        SSL_free(r->ssl);
    r->ssl = NULL;
    ERR_clear_error();
    if (r->wev != NULL)
        event_free(r->wev);
    if (r->out != NULL)
        evbuffer_free(r->out);
    if (r->fd >= 0)
        close(r->fd);
    r->wev = NULL;
    r->out = NULL;
    r->fd = -1;
    r->in_len = r->in_pos = 0;
}

static int rst_rs_connect(lg_conn *c)
{
    rs_target *t = rst_tgt(c);
    rs_conn *r = &t->rc[c->idx];
    uint32_t node = c->idx % t->naddrs; /* its ring node (lg_engine.h) */
    r->fd = socket(t->addrs[node].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0)
        return -1;
    /* every answer's arrival time, from the kernel (see the top) */
    int one = 1;
    if (setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0) {
        t->stamps = false;
        rst_set_eager(c->eng, true);
    }
    r->out = evbuffer_new();
    r->wev = event_new(c->eng->base, r->fd, EV_WRITE, rst_write_cb, c);
    if (r->out == NULL || r->wev == NULL)
        goto fail;
    if (connect(r->fd, (struct sockaddr *)&t->addrs[node], t->addrlens[node]) != 0 &&
        errno != EINPROGRESS)
        goto fail;
    event_add(r->wev, NULL); /* writable = connected (or failed) */
    return 0;
fail:
    rst_rs_close(c);
    return -1;
}

static void rst_rs_send(lg_conn *c, const lg_op *op, uint32_t slot)
{
    rs_target *t = rst_tgt(c);
    rs_conn *r = &t->rc[c->idx];
    uint64_t id = ((uint64_t)c->slots[slot].gen << 32) | slot;
    if (lg_encode_request(op, id, r->out) != 0) {
        /* the output buffer could not grow: out of memory */
        fprintf(stderr, "readstate-loadgen: out of memory encoding a request\n");
        abort();
    }
    if (!r->dirty) {
        r->dirty = true;
        t->dirty[t->ndirty++] = c->idx;
    }
}

const lg_target_ops lg_target_rs_ops = {
    .scheme = "rs",
    .prepare = rst_rs_prepare,
    .release = rst_rs_release,
    .connect = rst_rs_connect,
    .send = rst_rs_send,
    .flush = rst_rs_flush,
    .close = rst_rs_close,
    .collect = rst_rs_collect,
    .set_eager = rst_set_eager,
};
