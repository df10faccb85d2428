/*
 * store_redis.c: the Redis connection of store_redis.h.
 *
 * hiredis 0.14.1 gives us an async context that frees itself after a
 * disconnect and has no timeouts. Around it:
 *
 *   store_redis ──ac──> redisAsyncContext (NULL while DOWN)
 *       │                  replies list: [req]->[req]->[req]   (FIFO)
 *       │                                 │ each req: fn, arg, timer
 *       └── reconnect timer (backoff)
 *
 * Invariants
 * - s->ac is non-NULL only while hiredis has not started freeing it. The
 *   moment we free it (store_drop) or hiredis does (a NULL reply, the
 *   disconnect or failed-connect callback), s->ac becomes NULL, the state
 *   becomes DOWN and one reconnect is scheduled.
 * - Every accepted request owns one store_req, freed in its reply
 *   trampoline, which hiredis calls exactly once (with NULL when the context
 *   goes away). The request timer only drops the connection; it never
 *   completes the request itself, so completion stays exactly once.
 * - UP means: TCP connected, AUTH and SELECT accepted, the merge script
 *   loaded (s->sha valid).
 */
#include "store_redis.h"

#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge_lua.h"
#include "rs_common.h"

typedef enum store_req_kind {
    REQ_USER,   /* a caller's command */
    REQ_MERGE,  /* a caller's EVALSHA of the merge script */
    REQ_AUTH,   /* handshake */
    REQ_SELECT, /* handshake */
    REQ_SCRIPT, /* SCRIPT LOAD (handshake or after NOSCRIPT) */
    REQ_KIND_MAX
} store_req_kind;

typedef struct store_req {
    store_redis *s;
    store_reply_fn fn;
    void *arg;
    struct event timer;
    store_req_kind kind;
} store_req;

struct store_redis {
    struct event_base *base;
    store_redis_config cfg;
    char *host;
    char *password;
    char *user; /* NULL: AUTH password; else AUTH user password */
    redisAsyncContext *ac;
    store_state state;
    uint32_t backoff_ms;
    uint32_t failed_attempts; /* connect attempts since the last UP */
    struct event *reconnect_ev;
    bool closing;
    bool script_loading;
    char sha[64];
    size_t pending;
    store_redis_stats stats;
    store_state_fn state_fn;
    void *state_ctx;
    /* scratch argv for EVALSHA */
    const char **argv;
    size_t *argvlen;
    size_t argcap;
};

static void store_connect(store_redis *s);
static int store_send(store_redis *s, store_req_kind kind, int argc, const char **argv,
                      const size_t *argvlen, store_reply_fn fn, void *arg);

static void store_set_state(store_redis *s, store_state st)
{
    store_state old = s->state;
    s->state = st;
    if (s->state_fn == NULL || s->closing)
        return;
    if (old != STORE_UP && st == STORE_UP)
        s->state_fn(s->state_ctx, true);
    else if (old == STORE_UP && st != STORE_UP)
        s->state_fn(s->state_ctx, false);
}

static void store_schedule_reconnect(store_redis *s)
{
    if (s->closing || evtimer_pending(s->reconnect_ev, NULL))
        return;
    struct timeval tv = {s->backoff_ms / 1000, (s->backoff_ms % 1000) * 1000};
    evtimer_add(s->reconnect_ev, &tv);
    s->backoff_ms = RS_MIN(s->backoff_ms * 2, s->cfg.backoff_max_ms);
}

/* The context is going away (hiredis frees it): forget it. */
static void store_lost(store_redis *s, const char *why, const char *detail)
{
    bool was_up = s->state == STORE_UP;
    s->ac = NULL;
    s->stats.errors++;
    if (was_up)
        RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_down", "addr=%s:%d reason=%s detail=\"%s\"",
               s->host, s->cfg.port, why, detail != NULL ? detail : "");
    store_set_state(s, STORE_DOWN);
    store_schedule_reconnect(s);
}

/* Drop the connection ourselves: every pending request completes with NULL
 * (now, or right after the hiredis callback we are in). */
static void store_drop(store_redis *s, const char *why)
{
    redisAsyncContext *ac = s->ac;
    if (ac == NULL)
        return;
    store_lost(s, why, ac->errstr);
    redisAsyncFree(ac);
}

static void store_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_connect(arg);
}

static void store_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_req *r = arg;
    store_redis *s = r->s;
    s->stats.timeouts++;
    RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_timeout", "addr=%s:%d timeout_ms=%u pending=%zu",
           s->host, s->cfg.port, s->cfg.timeout_ms, s->pending);
    /* r is freed by its trampoline during the drop: do not touch it after. */
    store_drop(s, "timeout");
}

static bool reply_is_error(const redisReply *reply)
{
    return reply == NULL || reply->type == REDIS_REPLY_ERROR;
}

static void store_handshake_reply(store_redis *s, store_req_kind kind, const redisReply *reply)
{
    if (reply == NULL)
        return;
    if (reply_is_error(reply)) {
        /* Said once per outage at error level; retries go to debug. */
        s->failed_attempts++;
        RS_LOG(s->cfg.log, s->failed_attempts == 1 ? RS_LOG_ERROR : RS_LOG_DEBUG,
               "redis_handshake_error", "addr=%s:%d step=%s attempt=%u error=\"%s\"", s->host,
               s->cfg.port,
               kind == REQ_AUTH     ? "auth"
               : kind == REQ_SELECT ? "select"
                                    : "script_load",
               s->failed_attempts, reply->str != NULL ? reply->str : "");
        store_drop(s, "handshake");
        return;
    }
    if (kind != REQ_SCRIPT)
        return;
    if (reply->type == REDIS_REPLY_STRING && reply->len < sizeof(s->sha)) {
        memcpy(s->sha, reply->str, reply->len);
        s->sha[reply->len] = '\0';
    }
    if (s->state == STORE_CONNECTING) {
        s->stats.connects++;
        if (s->stats.connects > 1)
            s->stats.reconnects++;
        s->backoff_ms = s->cfg.backoff_min_ms;
        RS_LOG(s->cfg.log, RS_LOG_INFO, "redis_up",
               "addr=%s:%d db=%d connects=%llu attempts=%u%s%s", s->host, s->cfg.port,
               s->cfg.db, (unsigned long long)s->stats.connects, s->failed_attempts + 1,
               s->user != NULL ? " user=" : "", s->user != NULL ? s->user : "");
        s->failed_attempts = 0;
        store_set_state(s, STORE_UP);
    }
}

/* hiredis calls this exactly once per accepted request. */
static void store_trampoline(redisAsyncContext *ac, void *reply_, void *privdata)
{
    store_req *r = privdata;
    store_redis *s = r->s;
    const redisReply *reply = reply_;
    evtimer_del(&r->timer);
    s->pending--;
    if (reply == NULL && ac == s->ac) /* hiredis is freeing the context */
        store_lost(s, "disconnected", ac->errstr);
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        s->stats.errors++;
    switch (r->kind) {
    case REQ_AUTH:
    case REQ_SELECT: store_handshake_reply(s, r->kind, reply); break;
    case REQ_SCRIPT:
        s->script_loading = false;
        store_handshake_reply(s, r->kind, reply);
        break;
    case REQ_MERGE:
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
            strncmp(reply->str, "NOSCRIPT", 8) == 0 && !s->script_loading && s->ac != NULL) {
            const char *argv[3] = {"SCRIPT", "LOAD", merge_lua_script};
            size_t lens[3] = {6, 4, strlen(merge_lua_script)};
            RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_noscript", "addr=%s:%d action=script_load",
                   s->host, s->cfg.port);
            if (store_send(s, REQ_SCRIPT, 3, argv, lens, NULL, NULL) == 0)
                s->script_loading = true;
        }
        /* fallthrough */
    case REQ_USER:
    default:
        if (r->fn != NULL)
            r->fn(r->arg, reply);
        break;
    }
    free(r);
}

static void store_connect_cb(const redisAsyncContext *ac, int status)
{
    store_redis *s = ac->data;
    if (status == REDIS_OK || ac != s->ac)
        return;
    s->failed_attempts++;
    RS_LOG(s->cfg.log, s->failed_attempts == 1 ? RS_LOG_WARN : RS_LOG_DEBUG,
           "redis_connect_failed", "addr=%s:%d attempt=%u error=\"%s\" retry_ms=%u", s->host,
           s->cfg.port, s->failed_attempts, ac->errstr, s->backoff_ms);
    store_lost(s, "connect_failed", ac->errstr);
}

static void store_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    store_redis *s = ac->data;
    if (ac == s->ac)
        store_lost(s, "disconnected", ac->errstr);
}

static int store_send(store_redis *s, store_req_kind kind, int argc, const char **argv,
                      const size_t *argvlen, store_reply_fn fn, void *arg)
{
    if (s->ac == NULL)
        return -1;
    store_req *r = malloc(sizeof(*r));
    if (r == NULL)
        abort();
    r->s = s;
    r->fn = fn;
    r->arg = arg;
    r->kind = kind;
    evtimer_assign(&r->timer, s->base, store_timeout_cb, r);
    if (redisAsyncCommandArgv(s->ac, store_trampoline, r, argc, argv, argvlen) != REDIS_OK) {
        free(r);
        return -1;
    }
    struct timeval tv = {s->cfg.timeout_ms / 1000, (s->cfg.timeout_ms % 1000) * 1000};
    evtimer_add(&r->timer, &tv);
    s->pending++;
    return 0;
}

static void store_connect(store_redis *s)
{
    if (s->closing || s->ac != NULL)
        return;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->cfg.port);
    if (ac == NULL || ac->err) {
        s->failed_attempts++;
        RS_LOG(s->cfg.log, s->failed_attempts == 1 ? RS_LOG_WARN : RS_LOG_DEBUG,
               "redis_connect_failed", "addr=%s:%d attempt=%u error=\"%s\"", s->host,
               s->cfg.port, s->failed_attempts, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        s->stats.errors++;
        store_schedule_reconnect(s);
        return;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, store_connect_cb);
    redisAsyncSetDisconnectCallback(ac, store_disconnect_cb);
    s->ac = ac;
    store_set_state(s, STORE_CONNECTING);
    /* hiredis buffers these until the socket is connected. */
    if (s->password != NULL && s->user != NULL) { /* a Redis 6 ACL user */
        const char *argv[3] = {"AUTH", s->user, s->password};
        size_t lens[3] = {4, strlen(s->user), strlen(s->password)};
        store_send(s, REQ_AUTH, 3, argv, lens, NULL, NULL);
    } else if (s->password != NULL) {
        const char *argv[2] = {"AUTH", s->password};
        size_t lens[2] = {4, strlen(s->password)};
        store_send(s, REQ_AUTH, 2, argv, lens, NULL, NULL);
    }
    if (s->cfg.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%d", s->cfg.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        store_send(s, REQ_SELECT, 2, argv, lens, NULL, NULL);
    }
    const char *argv[3] = {"SCRIPT", "LOAD", merge_lua_script};
    size_t lens[3] = {6, 4, strlen(merge_lua_script)};
    if (store_send(s, REQ_SCRIPT, 3, argv, lens, NULL, NULL) != 0)
        store_drop(s, "send_failed");
}

store_redis *store_redis_new(struct event_base *base, const store_redis_config *cfg,
                             store_state_fn state_fn, void *ctx)
{
    store_redis *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base = base;
    s->cfg = *cfg;
    if (s->cfg.backoff_min_ms == 0)
        s->cfg.backoff_min_ms = 50;
    if (s->cfg.backoff_max_ms == 0)
        s->cfg.backoff_max_ms = 2000;
    if (s->cfg.timeout_ms == 0)
        s->cfg.timeout_ms = 1000;
    s->backoff_ms = s->cfg.backoff_min_ms;
    s->host = strdup(cfg->host != NULL ? cfg->host : "127.0.0.1");
    if (cfg->password != NULL && cfg->password[0] != '\0')
        s->password = strdup(cfg->password);
    if (cfg->user != NULL && cfg->user[0] != '\0')
        s->user = strdup(cfg->user);
    s->reconnect_ev = evtimer_new(base, store_reconnect_cb, s);
    if (s->host == NULL || s->reconnect_ev == NULL ||
        (cfg->password != NULL && cfg->password[0] != '\0' && s->password == NULL) ||
        (cfg->user != NULL && cfg->user[0] != '\0' && s->user == NULL)) {
        store_redis_free(s);
        return NULL;
    }
    s->cfg.host = s->host;
    s->cfg.password = s->password;
    s->cfg.user = s->user;
    s->state_fn = state_fn;
    s->state_ctx = ctx;
    s->state = STORE_DOWN;
    store_connect(s);
    return s;
}

void store_redis_free(store_redis *s)
{
    if (s == NULL)
        return;
    s->closing = true;
    if (s->ac != NULL) {
        redisAsyncContext *ac = s->ac;
        s->ac = NULL;
        redisAsyncFree(ac);
    }
    if (s->reconnect_ev != NULL)
        event_free(s->reconnect_ev);
    free(s->argv);
    free(s->argvlen);
    free(s->host);
    free(s->password);
    free(s->user);
    free(s);
}

store_state store_redis_state(const store_redis *s)
{
    return s->state;
}

bool store_redis_up(const store_redis *s)
{
    return s->state == STORE_UP && s->ac != NULL;
}

const store_redis_stats *store_redis_get_stats(const store_redis *s)
{
    return &s->stats;
}

size_t store_redis_pending(const store_redis *s)
{
    return s->pending;
}

int store_redis_command(store_redis *s, int argc, const char **argv, const size_t *argvlen,
                        store_reply_fn fn, void *arg)
{
    if (!store_redis_up(s))
        return -1;
    return store_send(s, REQ_USER, argc, argv, argvlen, fn, arg);
}

int store_redis_merge(store_redis *s, int nkeys, int argc, const char **argv,
                      const size_t *argvlen, store_reply_fn fn, void *arg)
{
    if (!store_redis_up(s) || nkeys < 1 || argc < nkeys)
        return -1;
    size_t need = (size_t)argc + 3;
    if (need > s->argcap) {
        size_t cap = RS_MAX(need, s->argcap * 2);
        const char **nv = realloc(s->argv, cap * sizeof(*nv));
        if (nv == NULL)
            abort();
        s->argv = nv;
        size_t *nl = realloc(s->argvlen, cap * sizeof(*nl));
        if (nl == NULL)
            abort();
        s->argvlen = nl;
        s->argcap = cap;
    }
    char numkeys[16]; /* hiredis formats the command before returning */
    int nk = snprintf(numkeys, sizeof(numkeys), "%d", nkeys);
    s->argv[0] = "EVALSHA";
    s->argvlen[0] = 7;
    s->argv[1] = s->sha;
    s->argvlen[1] = strlen(s->sha);
    s->argv[2] = numkeys;
    s->argvlen[2] = (size_t)nk;
    memcpy(s->argv + 3, argv, (size_t)argc * sizeof(*argv));
    memcpy(s->argvlen + 3, argvlen, (size_t)argc * sizeof(*argvlen));
    return store_send(s, REQ_MERGE, (int)need, s->argv, s->argvlen, fn, arg);
}
