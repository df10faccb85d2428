/*
 * redis_conn.c: one Redis connection (redis_conn.h).
 *
 *   redis_conn ──ac──> redisAsyncContext (NULL while DOWN)
 *       │                 replies: [req]->[req]->[req]   (FIFO, hiredis's)
 *       │                           each req: fn, arg, timer, sent_ns
 *       └── reconnect timer (backoff)
 *
 * Invariants
 * - c->ac is non-NULL only while hiredis has not started freeing it. The
 *   moment we free it (conn_drop) or hiredis does (a NULL reply, the
 *   disconnect or failed-connect callback), c->ac becomes NULL, the state
 *   becomes DOWN and one reconnect is scheduled.
 * - Every accepted request owns one conn_req, freed in its reply
 *   trampoline, which hiredis calls exactly once (with NULL when the context
 *   goes away). The request timer only drops the connection; it never
 *   completes the request itself, so completion stays exactly once.
 * - UP means: TCP connected, AUTH and SELECT accepted, the script loaded
 *   (c->sha valid).
 */
#include "redis_conn.h"

#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"

typedef enum conn_req_kind {
    CREQ_USER,   /* an owner's send */
    CREQ_AUTH,   /* handshake */
    CREQ_SELECT, /* handshake */
    CREQ_SCRIPT, /* SCRIPT LOAD (handshake or after NOSCRIPT) */
} conn_req_kind;

typedef struct conn_req {
    redis_conn *c;
    redis_conn_reply_fn fn;
    void *arg;
    uint64_t sent_ns;
    struct event timer;
    conn_req_kind kind;
} conn_req;

struct redis_conn {
    struct event_base *base;
    redis_conn_config cfg;
    char *host;
    char *password;
    char *user;
    redisAsyncContext *ac;
    store_state state;
    uint32_t backoff_ms;
    uint32_t failed_attempts; /* connect attempts since the last UP */
    struct event *reconnect_ev;
    bool closing;
    bool script_loading;
    char sha[64];
    size_t pending;
    redis_conn_stats stats;
    redis_conn_state_fn state_fn;
    void *state_ctx;
};

static void conn_connect(redis_conn *c);
static conn_req *conn_send(redis_conn *c, conn_req_kind kind, int argc, const char **argv,
                           const size_t *argvlen);

static void conn_set_state(redis_conn *c, store_state st)
{
    store_state old = c->state;
    c->state = st;
    if (c->state_fn == NULL || c->closing)
        return;
    if (old != STORE_UP && st == STORE_UP)
        c->state_fn(c->state_ctx, c, true);
    else if (old == STORE_UP && st != STORE_UP)
        c->state_fn(c->state_ctx, c, false);
}

static void conn_schedule_reconnect(redis_conn *c)
{
    if (c->closing || evtimer_pending(c->reconnect_ev, NULL))
        return;
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->reconnect_ev, &tv);
    c->backoff_ms = RS_MIN(c->backoff_ms * 2, c->cfg.backoff_max_ms);
}

/* The context is going away (hiredis frees it): forget it. */
static void conn_lost(redis_conn *c, const char *why, const char *detail)
{
    bool was_up = c->state == STORE_UP;
    c->ac = NULL;
    c->stats.errors++;
    c->script_loading = false;
    if (was_up)
        RS_LOG(c->cfg.log, RS_LOG_WARN, "redis_down", "addr=%s:%d reason=%s detail=\"%s\"",
               c->host, c->cfg.port, why, detail != NULL ? detail : "");
    conn_set_state(c, STORE_DOWN);
    conn_schedule_reconnect(c);
}

void redis_conn_drop(redis_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL)
        return;
    conn_lost(c, why, ac->errstr);
    redisAsyncFree(ac);
}

static void conn_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_connect(arg);
}

static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_req *r = arg;
    redis_conn *c = r->c;
    c->stats.timeouts++;
    RS_LOG(c->cfg.log, RS_LOG_WARN, "redis_timeout", "addr=%s:%d timeout_ms=%u pending=%zu",
           c->host, c->cfg.port, c->cfg.timeout_ms, c->pending);
    /* r is freed by its trampoline during the drop: do not touch it after. */
    redis_conn_drop(c, "timeout");
}

static bool reply_is_error(const redisReply *reply)
{
    return reply == NULL || reply->type == REDIS_REPLY_ERROR;
}

static void conn_handshake_reply(redis_conn *c, conn_req_kind kind, const redisReply *reply)
{
    if (reply == NULL)
        return;
    if (reply_is_error(reply)) {
        /* Said once per outage at error level; retries go to debug. */
        c->failed_attempts++;
        RS_LOG(c->cfg.log, c->failed_attempts == 1 ? RS_LOG_ERROR : RS_LOG_DEBUG,
               "redis_handshake_error", "addr=%s:%d step=%s attempt=%u error=\"%s\"", c->host,
               c->cfg.port,
               kind == CREQ_AUTH     ? "auth"
               : kind == CREQ_SELECT ? "select"
                                     : "script_load",
               c->failed_attempts, reply->str != NULL ? reply->str : "");
        redis_conn_drop(c, "handshake");
        return;
    }
    if (kind != CREQ_SCRIPT)
        return;
    if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof(c->sha)) {
        memcpy(c->sha, reply->str, reply->len);
        c->sha[reply->len] = '\0';
    }
    if (c->state == STORE_CONNECTING) {
        c->stats.connects++;
        if (c->stats.connects > 1)
            c->stats.reconnects++;
        c->backoff_ms = c->cfg.backoff_min_ms;
        RS_LOG(c->cfg.log, RS_LOG_INFO, "redis_up",
               "addr=%s:%d db=%d connects=%llu attempts=%u%s%s", c->host, c->cfg.port,
               c->cfg.db, (unsigned long long)c->stats.connects, c->failed_attempts + 1,
               c->user != NULL ? " user=" : "", c->user != NULL ? c->user : "");
        c->failed_attempts = 0;
        conn_set_state(c, STORE_UP);
    }
}

/* hiredis calls this exactly once per accepted request. */
static void conn_trampoline(redisAsyncContext *ac, void *reply_, void *privdata)
{
    conn_req *r = privdata;
    redis_conn *c = r->c;
    const redisReply *reply = reply_;
    evtimer_del(&r->timer);
    c->pending--;
    if (reply == NULL && ac == c->ac) /* hiredis is freeing the context */
        conn_lost(c, "disconnected", ac->errstr);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        c->stats.errors++;
    switch (r->kind) {
    case CREQ_AUTH:
    case CREQ_SELECT: conn_handshake_reply(c, r->kind, reply); break;
    case CREQ_SCRIPT:
        c->script_loading = false;
        conn_handshake_reply(c, r->kind, reply);
        break;
    case CREQ_USER:
        if (reply != NULL) {
            c->stats.replies++;
            c->stats.latency_ns += rs_now_ns() - r->sent_ns;
        }
        r->fn(r->arg, reply);
        break;
    }
    free(r);
}

static void conn_connect_cb(const redisAsyncContext *ac, int status)
{
    redis_conn *c = ac->data;
    if (status == REDIS_OK || ac != c->ac)
        return;
    c->failed_attempts++;
    RS_LOG(c->cfg.log, c->failed_attempts == 1 ? RS_LOG_WARN : RS_LOG_DEBUG,
           "redis_connect_failed", "addr=%s:%d attempt=%u error=\"%s\" retry_ms=%u", c->host,
           c->cfg.port, c->failed_attempts, ac->errstr, c->backoff_ms);
    conn_lost(c, "connect_failed", ac->errstr);
}

static void conn_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_conn *c = ac->data;
    if (ac == c->ac)
        conn_lost(c, "disconnected", ac->errstr);
}

static conn_req *conn_req_new(redis_conn *c, conn_req_kind kind)
{
    conn_req *r = rs_xmalloc(sizeof(*r), "redis request");
    r->c = c;
    r->fn = NULL;
    r->arg = NULL;
    r->kind = kind;
    r->sent_ns = rs_now_ns();
    evtimer_assign(&r->timer, c->base, conn_timeout_cb, r);
    return r;
}

static void conn_req_sent(redis_conn *c, conn_req *r)
{
    struct timeval tv = {c->cfg.timeout_ms / 1000, (c->cfg.timeout_ms % 1000) * 1000};
    evtimer_add(&r->timer, &tv);
    c->pending++;
}

static conn_req *conn_send(redis_conn *c, conn_req_kind kind, int argc, const char **argv,
                           const size_t *argvlen)
{
    if (c->ac == NULL)
        return NULL;
    conn_req *r = conn_req_new(c, kind);
    if (redisAsyncCommandArgv(c->ac, conn_trampoline, r, argc, argv, argvlen) != REDIS_OK) {
        free(r);
        return NULL;
    }
    conn_req_sent(c, r);
    return r;
}

int redis_conn_send(redis_conn *c, int argc, const char **argv, const size_t *argvlen,
                    redis_conn_reply_fn fn, void *arg)
{
    conn_req *r = conn_send(c, CREQ_USER, argc, argv, argvlen);
    if (r == NULL)
        return -1;
    r->fn = fn;
    r->arg = arg;
    return 0;
}

int redis_conn_send_formatted(redis_conn *c, const char *cmd, size_t len,
                              redis_conn_reply_fn fn, void *arg)
{
    if (c->ac == NULL)
        return -1;
    conn_req *r = conn_req_new(c, CREQ_USER);
    r->fn = fn;
    r->arg = arg;
    if (redisAsyncFormattedCommand(c->ac, conn_trampoline, r, cmd, len) != REDIS_OK) {
        free(r);
        return -1;
    }
    conn_req_sent(c, r);
    return 0;
}

static void conn_load_script(redis_conn *c)
{
    const char *argv[3] = {"SCRIPT", "LOAD", c->cfg.script};
    size_t lens[3] = {6, 4, strlen(c->cfg.script)};
    if (conn_send(c, CREQ_SCRIPT, 3, argv, lens) != NULL)
        c->script_loading = true;
}

void redis_conn_reload_script(redis_conn *c)
{
    if (c->cfg.script == NULL || c->script_loading || c->ac == NULL)
        return;
    RS_LOG(c->cfg.log, RS_LOG_WARN, "redis_noscript", "addr=%s:%d action=script_load", c->host,
           c->cfg.port);
    conn_load_script(c);
}

static void conn_connect(redis_conn *c)
{
    if (c->closing || c->ac != NULL)
        return;
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->cfg.port);
    if (ac == NULL || ac->err) {
        c->failed_attempts++;
        RS_LOG(c->cfg.log, c->failed_attempts == 1 ? RS_LOG_WARN : RS_LOG_DEBUG,
               "redis_connect_failed", "addr=%s:%d attempt=%u error=\"%s\"", c->host,
               c->cfg.port, c->failed_attempts, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        c->stats.errors++;
        conn_schedule_reconnect(c);
        return;
    }
    ac->data = c;
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, conn_connect_cb);
    redisAsyncSetDisconnectCallback(ac, conn_disconnect_cb);
    c->ac = ac;
    conn_set_state(c, STORE_CONNECTING);
    /* hiredis buffers these until the socket is connected. */
    if (c->password != NULL && c->user != NULL) { /* a Redis 6 ACL user */
        const char *argv[3] = {"AUTH", c->user, c->password};
        size_t lens[3] = {4, strlen(c->user), strlen(c->password)};
        conn_send(c, CREQ_AUTH, 3, argv, lens);
    } else if (c->password != NULL) {
        const char *argv[2] = {"AUTH", c->password};
        size_t lens[2] = {4, strlen(c->password)};
        conn_send(c, CREQ_AUTH, 2, argv, lens);
    }
    if (c->cfg.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%d", c->cfg.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        conn_send(c, CREQ_SELECT, 2, argv, lens);
    }
    if (c->cfg.script != NULL) {
        conn_load_script(c);
        if (!c->script_loading)
            redis_conn_drop(c, "send_failed");
    } else {
        /* Nothing to load: up once PING answers. */
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        if (conn_send(c, CREQ_SCRIPT, 1, argv, lens) == NULL)
            redis_conn_drop(c, "send_failed");
    }
}

redis_conn *redis_conn_new(struct event_base *base, const redis_conn_config *cfg,
                           redis_conn_state_fn state_fn, void *ctx)
{
    redis_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base = base;
    c->cfg = *cfg;
    if (c->cfg.backoff_min_ms == 0)
        c->cfg.backoff_min_ms = 50;
    if (c->cfg.backoff_max_ms == 0)
        c->cfg.backoff_max_ms = 2000;
    if (c->cfg.timeout_ms == 0)
        c->cfg.timeout_ms = 1000;
    c->backoff_ms = c->cfg.backoff_min_ms;
    c->host = strdup(cfg->host != NULL ? cfg->host : "127.0.0.1");
    if (cfg->password != NULL && cfg->password[0] != '\0')
        c->password = strdup(cfg->password);
    if (cfg->user != NULL && cfg->user[0] != '\0')
        c->user = strdup(cfg->user);
    c->reconnect_ev = evtimer_new(base, conn_reconnect_cb, c);
    if (c->host == NULL || c->reconnect_ev == NULL ||
        (cfg->password != NULL && cfg->password[0] != '\0' && c->password == NULL) ||
        (cfg->user != NULL && cfg->user[0] != '\0' && c->user == NULL)) {
        redis_conn_free(c);
        return NULL;
    }
    c->cfg.host = c->host;
    c->cfg.password = c->password;
    c->cfg.user = c->user;
    c->state_fn = state_fn;
    c->state_ctx = ctx;
    c->state = STORE_DOWN;
    conn_connect(c);
    return c;
}

void redis_conn_free(redis_conn *c)
{
    if (c == NULL)
        return;
    c->closing = true;
    if (c->ac != NULL) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);
    }
    if (c->reconnect_ev != NULL)
        event_free(c->reconnect_ev);
    free(c->host);
    free(c->password);
    free(c->user);
    free(c);
}

bool redis_conn_up(const redis_conn *c)
{
    return c->state == STORE_UP && c->ac != NULL;
}

bool redis_conn_may_send(const redis_conn *c)
{
    if (redis_conn_up(c))
        return true;
    return c->state == STORE_CONNECTING && c->ac != NULL && c->stats.connects == 0 &&
           c->failed_attempts == 0;
}

store_state redis_conn_state(const redis_conn *c)
{
    return c->state;
}

size_t redis_conn_pending(const redis_conn *c)
{
    return c->pending;
}

const redis_conn_stats *redis_conn_get_stats(const redis_conn *c)
{
    return &c->stats;
}

const char *redis_conn_sha(const redis_conn *c)
{
    return c->sha;
}

const char *redis_conn_host(const redis_conn *c)
{
    return c->host;
}

int redis_conn_port(const redis_conn *c)
{
    return c->cfg.port;
}
