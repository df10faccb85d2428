/*
 * rs_client.c: the client's connection: socket, output buffer, frame
 * reader, the queue of responses that arrived before anyone asked for them,
 * pipelining and watch events.
 *
 *            rs_client_send ──encode──> obuf ──write──> socket
 *                                                          │
 *   rs_client_recv / call / next_event <── queue <──decode── frame_reader
 *
 * Every wait is one poll() on the socket, for POLLIN and (while output is
 * pending) POLLOUT, so writing a long pipeline never deadlocks against a
 * server that is busy writing answers back: we read while we write.
 *
 * With TLS (rs_client_connect_tls) the same loop moves bytes through
 * OpenSSL: the handshake is done at connect, reads drain OpenSSL until it
 * would block (decrypted bytes it holds raise no poll event, so a wait
 * first checks SSL_pending: decrypted bytes only, since a partial record
 * read ahead waits for the socket like any other), writes are partial records.
 *
 * Invariants:
 *  - the socket is non-blocking; every wait is bounded by a deadline;
 *  - every decoded Response is in the queue until exactly one caller takes
 *    it (and frees it), or rs_client_close frees it;
 *  - a transport error is sticky (c->err != RS_OK): nothing more is written
 *    or read, but responses already queued can still be taken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "rs_client.h"
#include "rs_client_int.h"

#define READ_CHUNK       (64u * 1024u)
#define READS_PER_WAKEUP 64 /* bounded reads per poll wake-up */
#define OBUF_INITIAL     4096

typedef struct rs_qnode {
    Readstates__V1__Response *resp;
    struct rs_qnode *next;
} rs_qnode;

struct rs_client {
    int fd;
    SSL_CTX *tls_ctx; /* TLS (rs_client_connect_tls), else NULL */
    SSL *ssl;
    int timeout_ms;
    uint64_t next_id;
    rs_status err;                    /* sticky transport error */
    char errmsg[RS_CLIENT_ERRLEN];    /* the last failure */
    char stickymsg[RS_CLIENT_ERRLEN]; /* what the sticky error was */
    uint8_t *obuf;                    /* encoded requests: [opos, olen) not yet written */
    size_t olen, opos, ocap;
    frame_reader in;
    rs_qnode *qhead, *qtail;
};

/* Which queued response a waiter wants. */
typedef bool (*resp_match_fn)(const Readstates__V1__Response *resp, uint64_t id);

/* ---- errors ----------------------------------------------------------- */

void rs_client_note(rs_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
}

/* Set the sticky error (the first one wins) and return it, with its
 * message as the last failure. */
static rs_status fail(rs_client *c, rs_status st, const char *what, int errnum)
{
    if (c->err == RS_OK) {
        c->err = st;
        if (errnum != 0)
            snprintf(c->stickymsg, sizeof(c->stickymsg), "%s: %s: %s", rs_status_name(st), what,
                     strerror(errnum));
        else
            snprintf(c->stickymsg, sizeof(c->stickymsg), "%s: %s", rs_status_name(st), what);
    }
    memcpy(c->errmsg, c->stickymsg, sizeof(c->errmsg));
    return c->err;
}

/* The sticky error, noted as the last failure. */
static rs_status sticky(rs_client *c)
{
    memcpy(c->errmsg, c->stickymsg, sizeof(c->errmsg));
    return c->err;
}

rs_status rs_client_err(const rs_client *c)
{
    return c->err;
}

const char *rs_client_errmsg(const rs_client *c)
{
    return c->errmsg;
}

int rs_client_fd(const rs_client *c)
{
    return c->fd;
}

void rs_client_set_timeout(rs_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : RS_CLIENT_TIMEOUT_DEFAULT_MS;
}

/* ---- connect and close ------------------------------------------------ */

static int connect_one(const struct addrinfo *ai, int timeout_ms, int *errnum)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *errnum = errno;
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        if (err == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int pr;
            do {
                pr = poll(&pfd, 1, timeout_ms);
            } while (pr < 0 && errno == EINTR);
            socklen_t el = sizeof(err);
            if (pr == 0)
                err = ETIMEDOUT;
            else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                err = errno;
        }
    }
    if (err != 0) {
        close(fd);
        *errnum = err;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

rs_client *rs_client_connect(const char *host, int port, int timeout_ms, char *err,
                             size_t errlen)
{
    if (timeout_ms <= 0)
        timeout_ms = RS_CLIENT_TIMEOUT_DEFAULT_MS;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        if (err != NULL)
            snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gai));
        return NULL;
    }
    int fd = -1, errnum = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai, timeout_ms, &errnum);
    freeaddrinfo(res);
    if (fd < 0) {
        if (err != NULL)
            snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(errnum));
        return NULL;
    }
    rs_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    c->next_id = 1;
    frame_reader_init(&c->in, FRAME_RESPONSE_MAX_DEFAULT);
    return c;
}

/* ---- TLS ------------------------------------------------------------- */

static void tls_errstr(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    if (err != NULL)
        snprintf(err, errlen, "%s%s%s", what, buf[0] != '\0' ? ": " : "", buf);
}

static int tls_setup(rs_client *c, const char *host, const rs_client_tls *t, char *err,
                     size_t errlen)
{
    c->tls_ctx = SSL_CTX_new(TLS_client_method());
    if (c->tls_ctx == NULL) {
        tls_errstr(err, errlen, "TLS");
        return -1;
    }
    SSL_CTX_set_min_proto_version(c->tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->tls_ctx,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(c->tls_ctx, 1);
    int ok = t->ca_file != NULL ? SSL_CTX_load_verify_locations(c->tls_ctx, t->ca_file, NULL)
                                : SSL_CTX_set_default_verify_paths(c->tls_ctx);
    if (ok != 1) {
        tls_errstr(err, errlen, "TLS CA file");
        return -1;
    }
    SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
    if (t->cert_file != NULL &&
        (SSL_CTX_use_certificate_chain_file(c->tls_ctx, t->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(c->tls_ctx,
                                     t->key_file != NULL ? t->key_file : t->cert_file,
                                     SSL_FILETYPE_PEM) != 1)) {
        tls_errstr(err, errlen, "TLS client certificate");
        return -1;
    }
    c->ssl = SSL_new(c->tls_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_errstr(err, errlen, "TLS");
        return -1;
    }
    const char *name = t->server_name != NULL ? t->server_name : host;
    unsigned char addr[16];
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, name);
    } else {
        SSL_set_tlsext_host_name(c->ssl, name);
        SSL_set1_host(c->ssl, name);
    }
    /* the handshake, bounded by the connect timeout */
    long long end = (long long)(rs_now_ns() / 1000000ull) + c->timeout_ms;
    for (;;) {
        int rc = SSL_connect(c->ssl);
        if (rc == 1)
            return 0;
        int e = SSL_get_error(c->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK && err != NULL) {
                snprintf(err, errlen, "TLS handshake: certificate: %s",
                         X509_verify_cert_error_string(v));
                ERR_clear_error();
            } else {
                tls_errstr(err, errlen, "TLS handshake");
            }
            return -1;
        }
        long long left = end - (long long)(rs_now_ns() / 1000000ull);
        struct pollfd pfd = {.fd = c->fd,
                             .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            if (err != NULL)
                snprintf(err, errlen, "TLS handshake: timed out");
            return -1;
        }
    }
}

rs_client *rs_client_connect_tls(const char *host, int port, const rs_client_tls *tls,
                                 int timeout_ms, char *err, size_t errlen)
{
    rs_client *c = rs_client_connect(host, port, timeout_ms, err, errlen);
    if (c == NULL || tls == NULL)
        return c;
    if (tls_setup(c, host, tls, err, errlen) != 0) {
        rs_client_close(c);
        return NULL;
    }
    return c;
}

void rs_client_close(rs_client *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL) {
        if (SSL_is_init_finished(c->ssl))
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    SSL_CTX_free(c->tls_ctx);
    ERR_clear_error();
    if (c->fd >= 0)
        close(c->fd);
    for (rs_qnode *n = c->qhead, *next; n != NULL; n = next) {
        next = n->next;
        rs_client_response_free(n->resp);
        free(n);
    }
    frame_reader_free(&c->in);
    free(c->obuf);
    free(c);
}

void rs_client_response_free(Readstates__V1__Response *resp)
{
    if (resp != NULL)
        readstates__v1__response__free_unpacked(resp, NULL);
}

rs_status rs_client_response_status(const Readstates__V1__Response *resp)
{
    return resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
}

/* ---- the queue of received responses ---------------------------------- */

static int queue_push(rs_client *c, Readstates__V1__Response *resp)
{
    rs_qnode *n = malloc(sizeof(*n));
    if (n == NULL)
        return -1;
    n->resp = resp;
    n->next = NULL;
    if (c->qtail != NULL)
        c->qtail->next = n;
    else
        c->qhead = n;
    c->qtail = n;
    return 0;
}

/* Remove and return the first queued response that matches (NULL: any). */
static Readstates__V1__Response *queue_take(rs_client *c, resp_match_fn match, uint64_t id)
{
    rs_qnode *prev = NULL;
    for (rs_qnode *n = c->qhead; n != NULL; prev = n, n = n->next) {
        if (match != NULL && !match(n->resp, id))
            continue;
        if (prev != NULL)
            prev->next = n->next;
        else
            c->qhead = n->next;
        if (c->qtail == n)
            c->qtail = prev;
        Readstates__V1__Response *resp = n->resp;
        free(n);
        return resp;
    }
    return NULL;
}

/* ---- socket I/O --------------------------------------------------------- */

/* Decode every complete frame held by the reader into the queue. */
static rs_status decode_frames(rs_client *c)
{
    while (c->in.len > c->in.pos) {
        const uint8_t *payload;
        uint32_t len;
        frame_result fr = frame_reader_next(&c->in, &payload, &len);
        if (fr == FRAME_NEED_MORE)
            break;
        if (fr != FRAME_OK)
            return fail(c, RS_ERR_INTERNAL, frame_result_name(fr), 0);
        Readstates__V1__Response *resp = frame_decode_response(payload, len, NULL);
        if (resp == NULL)
            return fail(c, RS_ERR_INTERNAL, "the server sent a frame that is not a Response",
                        0);
        if (queue_push(c, resp) != 0) {
            rs_client_response_free(resp);
            return fail(c, RS_ERR_INTERNAL, "out of memory", 0);
        }
    }
    return RS_OK;
}

/* TLS: read until OpenSSL would block (it may hold decrypted bytes no
 * poll would announce, so never stop early). */
static rs_status do_read_tls(rs_client *c)
{
    uint8_t buf[READ_CHUNK];
    for (;;) {
        int r = SSL_read(c->ssl, buf, (int)sizeof(buf));
        if (r > 0) {
            if (frame_reader_feed(&c->in, buf, (size_t)r) != 0)
                return fail(c, RS_ERR_INTERNAL, "out of memory", 0);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        ERR_clear_error();
        decode_frames(c);
        return fail(
            c, RS_ERR_UNAVAILABLE,
            e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection" : "TLS read", 0);
    }
    return decode_frames(c);
}

static rs_status do_read(rs_client *c)
{
    if (c->ssl != NULL)
        return do_read_tls(c);
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        if (r > 0) {
            if (frame_reader_feed(&c->in, buf, (size_t)r) != 0)
                return fail(c, RS_ERR_INTERNAL, "out of memory", 0);
            if ((size_t)r < sizeof(buf))
                break;
            continue;
        }
        if (r == 0) {
            decode_frames(c);
            return fail(c, RS_ERR_UNAVAILABLE, "the server closed the connection", 0);
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        int e = errno;
        decode_frames(c);
        return fail(c, RS_ERR_UNAVAILABLE, "read", e);
    }
    return decode_frames(c);
}

static rs_status do_write(rs_client *c)
{
    while (c->ssl != NULL && c->opos < c->olen) {
        int w = SSL_write(c->ssl, c->obuf + c->opos, (int)RS_MIN(c->olen - c->opos, 1u << 20));
        if (w > 0) {
            c->opos += (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return RS_OK;
        ERR_clear_error();
        return fail(c, RS_ERR_UNAVAILABLE, "TLS write", 0);
    }
    while (c->opos < c->olen) {
        ssize_t w = send(c->fd, c->obuf + c->opos, c->olen - c->opos, MSG_NOSIGNAL);
        if (w > 0) {
            c->opos += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return RS_OK;
        return fail(c, RS_ERR_UNAVAILABLE, "write", w < 0 ? errno : EPIPE);
    }
    c->opos = c->olen = 0;
    return RS_OK;
}

/*
 * Wait up to timeout_ms for the socket, then write what is pending and read
 * what arrived. Returns RS_OK after I/O, RS_ERR_DEADLINE when the wait
 * timed out with nothing to do (not sticky), or the sticky error.
 */
static rs_status io_once(rs_client *c, int timeout_ms)
{
    if (c->err != RS_OK)
        return c->err;
    if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
        return do_read(c); /* decrypted already: poll would not say so */
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    if (c->olen > c->opos)
        pfd.events |= POLLOUT;
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr < 0)
        return errno == EINTR ? RS_OK : fail(c, RS_ERR_UNAVAILABLE, "poll", errno);
    if (pr == 0)
        return RS_ERR_DEADLINE;
    if ((pfd.revents & POLLOUT) && do_write(c) != RS_OK)
        return c->err;
    if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
        return do_read(c);
    return RS_OK;
}

static long long now_ms(void)
{
    return (long long)(rs_now_ns() / 1000000ull);
}

static int left_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left > 0 ? (int)(left < 1000000 ? left : 1000000) : 0;
}

/*
 * Take the first queued response that matches, doing I/O until one arrives
 * or timeout_ms passes. Returns RS_OK with *out, RS_ERR_DEADLINE, or the
 * sticky error.
 */
static rs_status wait_for(rs_client *c, resp_match_fn match, uint64_t id, int timeout_ms,
                          Readstates__V1__Response **out)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        *out = queue_take(c, match, id);
        if (*out != NULL)
            return RS_OK;
        if (c->err != RS_OK)
            return sticky(c);
        rs_status st = io_once(c, left_ms(deadline));
        if (st == RS_ERR_DEADLINE || (st == RS_OK && left_ms(deadline) == 0)) {
            *out = queue_take(c, match, id);
            return *out != NULL ? RS_OK : RS_ERR_DEADLINE;
        }
    }
}

/* ---- pipelining --------------------------------------------------------- */

rs_status rs_client_send(rs_client *c, Readstates__V1__Request *req)
{
    if (c->err != RS_OK)
        return sticky(c);
    if (req->id == 0)
        req->id = c->next_id++;
    size_t need = frame_size(&req->base);
    if (need - FRAME_HEADER_LEN > UINT32_MAX)
        return fail(c, RS_ERR_INVALID, "request too large", 0);
    if (c->opos > 0 && c->opos == c->olen)
        c->opos = c->olen = 0;
    if (c->ocap - c->olen < need) {
        size_t cap = c->ocap ? c->ocap : OBUF_INITIAL;
        while (cap - c->olen < need)
            cap *= 2;
        uint8_t *nb = realloc(c->obuf, cap);
        if (nb == NULL)
            return fail(c, RS_ERR_INTERNAL, "out of memory", 0);
        c->obuf = nb;
        c->ocap = cap;
    }
    size_t w = frame_encode(&req->base, c->obuf + c->olen);
    if (w != need)
        return fail(c, RS_ERR_INTERNAL, "cannot encode the request", 0);
    c->olen += w;
    return RS_OK;
}

size_t rs_client_pending_output(const rs_client *c)
{
    return c->olen - c->opos;
}

rs_status rs_client_flush(rs_client *c)
{
    long long deadline = now_ms() + c->timeout_ms;
    while (c->err == RS_OK && c->olen > c->opos) {
        if (io_once(c, left_ms(deadline)) == RS_ERR_DEADLINE || left_ms(deadline) == 0) {
            if (c->olen > c->opos)
                return fail(c, RS_ERR_DEADLINE, "timed out writing requests", 0);
        }
    }
    return c->err != RS_OK ? sticky(c) : RS_OK;
}

rs_status rs_client_recv(rs_client *c, Readstates__V1__Response **resp, int timeout_ms)
{
    *resp = NULL;
    rs_status st = wait_for(c, NULL, 0, timeout_ms < 0 ? c->timeout_ms : timeout_ms, resp);
    if (st == RS_ERR_DEADLINE)
        rs_client_note(c, "DEADLINE_EXCEEDED: no response within the timeout");
    return st;
}

/* ---- blocking call ---------------------------------------------------- */

static bool match_reply(const Readstates__V1__Response *resp, uint64_t id)
{
    return resp->id == id && resp->result_case != READSTATES__V1__RESPONSE__RESULT_EVENT;
}

static bool match_event(const Readstates__V1__Response *resp, uint64_t id)
{
    (void)id;
    return resp->result_case == READSTATES__V1__RESPONSE__RESULT_EVENT;
}

rs_status rs_client_call(rs_client *c, Readstates__V1__Request *req,
                         Readstates__V1__Response **resp)
{
    *resp = NULL;
    rs_status st = rs_client_send(c, req);
    if (st != RS_OK)
        return st;
    st = wait_for(c, match_reply, req->id, c->timeout_ms, resp);
    if (st == RS_ERR_DEADLINE)
        return fail(c, RS_ERR_DEADLINE, "no response within the timeout", 0);
    return st;
}

/* ---- watch ------------------------------------------------------------- */

rs_status rs_client_watch(rs_client *c, const uint64_t *user_ids, size_t n, uint64_t *watch_id)
{
    Readstates__V1__WatchRequest w = READSTATES__V1__WATCH_REQUEST__INIT;
    w.n_user_ids = n;
    w.user_ids = (uint64_t *)user_ids;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_WATCH;
    req.watch = &w;
    Readstates__V1__Response *resp = NULL;
    rs_status st = rs_client_call(c, &req, &resp);
    if (st != RS_OK)
        return st;
    st = rs_client_response_status(resp);
    if (st != RS_OK)
        rs_client_note(c, "%s: %s", rs_status_name(st), resp->status->message);
    else if (watch_id != NULL)
        *watch_id = req.id;
    rs_client_response_free(resp);
    return st;
}

rs_status rs_client_next_event(rs_client *c, rs_client_event *ev, int timeout_ms)
{
    Readstates__V1__Response *resp = NULL;
    rs_status st =
        wait_for(c, match_event, 0, timeout_ms < 0 ? c->timeout_ms : timeout_ms, &resp);
    if (st == RS_ERR_DEADLINE)
        rs_client_note(c, "DEADLINE_EXCEEDED: no event within the timeout");
    if (st != RS_OK)
        return st;
    const Readstates__V1__ReadStateEvent *e = resp->event;
    memset(ev, 0, sizeof(*ev));
    ev->watch_id = resp->id;
    if (e != NULL) {
        ev->user_id = e->user_id;
        ev->deleted = e->deleted;
        ev->user_version = e->user_version;
        if (e->state != NULL) {
            ev->state.channel_id = e->state->channel_id;
            ev->state.last_message_id = e->state->last_message_id;
            ev->state.mention_count = e->state->mention_count;
            ev->state.flags = e->state->flags;
            ev->state.version = e->state->version;
        }
    }
    rs_client_response_free(resp);
    return RS_OK;
}
