/*
 * store_redis.c: the Redis store of store_redis.h (store.h's table on one
 * Redis connection).
 *
 * hiredis 0.14.1 gives us an async context that frees itself after a
 * disconnect and has no timeouts. Around it:
 *
 *   store_redis ──ac──> redisAsyncContext (NULL while DOWN)
 *       │                  replies list: [req]->[req]->[req]   (FIFO)
 *       │                                 │ each req: fn, arg, timer
 *       └── reconnect timer (backoff)
 *
 * What the engine asks, in Redis's dialect:
 *
 *   load(id)   EVAL <load script> 1 readstates:{id} <max_states + 1>
 *              (HGETALL unless the hash has too many fields) ──> every
 *              field through the strict parser (stored_value.h) into a
 *              reused buffer ──> fn(states, _v) | INVALID (why) | ERROR
 *   merge(users[0..k))
 *              EVALSHA <merge sha> k readstates:{id1}..{idk}
 *                <version> <n> <channel> <value>... per user (merge_lua.h),
 *              formatted straight from each user's state array into one
 *              reused argument buffer (nothing per state is allocated)
 *              ──> one outcome per user: an integer (applied), a
 *              STORED_INVALID or WRONGTYPE error (INVALID), another error
 *              (ERROR); an error or no reply for the call fails all k
 *   NOSCRIPT   the call fails (its users are retried by the engine) and a
 *              SCRIPT LOAD goes out, once at a time
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
 * - Decoded results live in the store's scratch buffers (load_buf,
 *   outcomes), valid during the callback only.
 */
#include "store_redis.h"

#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge_lua.h"
#include "rs_common.h"
#include "stored_value.h"

typedef enum store_req_kind {
    REQ_LOAD,   /* a caller's load (EVAL of the load script) */
    REQ_MERGE,  /* a caller's EVALSHA of the merge script */
    REQ_AUTH,   /* handshake */
    REQ_SELECT, /* handshake */
    REQ_SCRIPT, /* SCRIPT LOAD (handshake or after NOSCRIPT) */
    REQ_KIND_MAX
} store_req_kind;

typedef struct store_redis store_redis;

typedef struct store_req {
    store_redis *s;
    union {
        rs_store_load_fn load;
        rs_store_merge_fn merge;
    } fn;
    void *arg;
    uint64_t user_id; /* REQ_LOAD */
    uint32_t n;       /* REQ_MERGE: users in the call */
    struct event timer;
    store_req_kind kind;
} store_req;

#define STORE_WHAT_MAX 256 /* what is wrong with a stored hash */
#define STORE_ARG_MAX  72  /* one key, decimal field or value, with room to spare */
#define STORE_CALL_UNITS                                                                       \
    4096 /* arguments a merge call stays under (unless it holds 1 user)                        \
          */

struct store_redis {
    rs_store store; /* first: the rs_store * the engine holds */
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
    rs_store_stats stats;
    rs_store_state_fn state_fn;
    void *state_ctx;
    /* scratch, reused: merge call arguments, decoded loads and outcomes */
    const char **argv;
    size_t *argvlen;
    size_t argcap;
    char *arg_buf;
    size_t arg_cap;
    rs_state *load_buf;
    size_t load_cap;
    rs_store_outcome *outcomes;
    size_t outcomes_cap;
    char what[STORE_WHAT_MAX];
};

static const rs_store_ops store_redis_ops;

static void store_connect(store_redis *s);
static store_req *store_send(store_redis *s, store_req_kind kind, int argc, const char **argv,
                             const size_t *argvlen);

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

/* ---- decoding replies ------------------------------------------------------ */

/* The load: HGETALL, unless the hash has more fields than a user may have
 * (ARGV[1] = max_states + 1, for _v): then only its field count, so an
 * oversized hash never crosses the wire nor gets parsed on the loop. A
 * wrong-type key answers its error. One round trip, as a plain HGETALL
 * was; Redis keeps the compiled script (by its SHA1) after the first EVAL. */
static const char load_lua_script[] = "local n = redis.pcall('HLEN', KEYS[1])\n"
                                      "if type(n) ~= 'number' then return n end\n"
                                      "if n > tonumber(ARGV[1]) then return n end\n"
                                      "return redis.pcall('HGETALL', KEYS[1])\n";

/* Refuse a load: the hash failed the check (what: why, in s->what). */
static void load_refused(store_redis *s, rs_store_loaded *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_refused(store_redis *s, rs_store_loaded *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->what, sizeof(s->what), fmt, ap);
    va_end(ap);
    out->result = RS_STORE_INVALID;
    out->what = s->what;
}

/* No usable reply: an error (the caller retries). Not said while closing:
 * every request then completes without a reply. */
static void load_failed(store_redis *s, uint64_t user_id, const char *reason, const char *error,
                        rs_store_loaded *out)
{
    out->result = RS_STORE_ERROR;
    if (s->closing)
        return;
    RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_load_failed", "user_id=%llu reason=%s error=\"%s\"",
           (unsigned long long)user_id, reason, error);
}

/* Decode the load's reply. Every field goes through the strict parser
 * (stored_value.h); the first one that fails refuses the whole user, so
 * nothing of an invalid hash is served nor written over. */
static void load_decode(store_redis *s, uint64_t user_id, const redisReply *r,
                        rs_store_loaded *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t limit = s->cfg.max_states;
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        load_refused(s, out, "the key is not a hash (WRONGTYPE)");
        return;
    }
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        load_refused(s, out,
                     "it has %lld fields, more than --max-states-per-user (%u) "
                     "channels and _v",
                     r->integer, limit);
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        load_failed(s, user_id, r == NULL ? "no_reply" : "bad_reply",
                    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "", out);
        return;
    }
    size_t need = r->elements / 2;
    if (need > (size_t)limit + 1) { /* grew between HLEN and HGETALL: cannot, but checked */
        load_refused(s, out,
                     "it has %zu fields, more than --max-states-per-user (%u) "
                     "channels and _v",
                     need, limit);
        return;
    }
    if (need > s->load_cap) {
        rs_state *n = rs_xrealloc(s->load_buf, need * sizeof(*n), "redis store");
        s->load_buf = n;
        s->load_cap = need;
    }
    size_t n = 0;
    uint64_t version = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            load_failed(s, user_id, "bad_reply", "", out);
            return;
        }
        sv_field sf;
        switch (sv_parse_field(f->str, f->len, v->str, v->len, &sf)) {
        case SV_VERSION: version = sf.version; break;
        case SV_STATE: s->load_buf[n++] = sf.state; break;
        default: {
            char qf[48], qv[96];
            load_refused(s, out, "field %s = %s: %s",
                         sv_quote(f->str, f->len, 32, qf, sizeof(qf)),
                         sv_quote(v->str, v->len, 64, qv, sizeof(qv)), sf.why);
            return;
        }
        }
    }
    out->result = RS_STORE_OK;
    out->version = version;
    out->states = s->load_buf;
    out->nstates = n;
}

/* The merge script refused the user's stored hash (or the key is not a
 * hash): what is wrong, or NULL for any other outcome. */
static const char *stored_refusal(const redisReply *r)
{
    static const char prefix[] = "STORED_INVALID ";
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return NULL;
    if (strncmp(r->str, "WRONGTYPE", 9) == 0)
        return "the key is not a hash (WRONGTYPE)";
    if (strncmp(r->str, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    const char *what = strstr(r->str, " field "); /* after the key */
    return what != NULL ? what + 1 : r->str + sizeof(prefix) - 1;
}

static void outcomes_space(store_redis *s, size_t n)
{
    if (n <= s->outcomes_cap)
        return;
    size_t cap = RS_MAX(n, s->outcomes_cap * 2);
    rs_store_outcome *o = rs_xrealloc(s->outcomes, cap * sizeof(*o), "redis store");
    s->outcomes = o;
    s->outcomes_cap = cap;
}

/* Decode the reply to one merge call of n users into s->outcomes: an array
 * with one entry per user, or an error (NOSCRIPT, a script error) or NULL
 * (not known to have run) that fails every user of the call. */
static const rs_store_outcome *merge_decode(store_redis *s, uint32_t n, const redisReply *reply)
{
    outcomes_space(s, n);
    bool whole = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == n;
    if (reply != NULL && !whole)
        RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_flush_failed", "users=%u error=\"%s\"", n,
               reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    for (uint32_t i = 0; i < n; i++) {
        const redisReply *r = whole ? reply->element[i] : NULL;
        rs_store_outcome *o = &s->outcomes[i];
        o->what = NULL;
        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            o->result = RS_STORE_OK;
        } else if ((o->what = stored_refusal(r)) != NULL) {
            o->result = RS_STORE_INVALID;
        } else {
            o->result = RS_STORE_ERROR;
            if (r != NULL)
                o->what = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
        }
    }
    return s->outcomes;
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
            if (store_send(s, REQ_SCRIPT, 3, argv, lens) != NULL)
                s->script_loading = true;
        }
        r->fn.merge(r->arg, merge_decode(s, r->n, reply), r->n);
        break;
    case REQ_LOAD: {
        rs_store_loaded out;
        load_decode(s, r->user_id, reply, &out);
        r->fn.load(r->arg, &out);
        break;
    }
    default: break;
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

/* Send one command; returns its request (the caller sets what its reply
 * goes to) or NULL when not sent. */
static store_req *store_send(store_redis *s, store_req_kind kind, int argc, const char **argv,
                             const size_t *argvlen)
{
    if (s->ac == NULL)
        return NULL;
    store_req *r = rs_xmalloc(sizeof(*r), "redis request");
    memset(&r->fn, 0, sizeof(r->fn));
    r->s = s;
    r->arg = NULL;
    r->user_id = 0;
    r->n = 0;
    r->kind = kind;
    evtimer_assign(&r->timer, s->base, store_timeout_cb, r);
    if (redisAsyncCommandArgv(s->ac, store_trampoline, r, argc, argv, argvlen) != REDIS_OK) {
        free(r);
        return NULL;
    }
    struct timeval tv = {s->cfg.timeout_ms / 1000, (s->cfg.timeout_ms % 1000) * 1000};
    evtimer_add(&r->timer, &tv);
    s->pending++;
    return r;
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
        store_send(s, REQ_AUTH, 3, argv, lens);
    } else if (s->password != NULL) {
        const char *argv[2] = {"AUTH", s->password};
        size_t lens[2] = {4, strlen(s->password)};
        store_send(s, REQ_AUTH, 2, argv, lens);
    }
    if (s->cfg.db != 0) {
        char db[16];
        int n = snprintf(db, sizeof(db), "%d", s->cfg.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, (size_t)n};
        store_send(s, REQ_SELECT, 2, argv, lens);
    }
    const char *argv[3] = {"SCRIPT", "LOAD", merge_lua_script};
    size_t lens[3] = {6, 4, strlen(merge_lua_script)};
    if (store_send(s, REQ_SCRIPT, 3, argv, lens) == NULL)
        store_drop(s, "send_failed");
}

rs_store *store_redis_new(struct event_base *base, const store_redis_config *cfg,
                          rs_store_state_fn state_fn, void *ctx)
{
    store_redis *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->store.ops = &store_redis_ops;
    s->store.persistent = true;
    s->store.merge_units = STORE_CALL_UNITS;
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
        s->store.ops->free(&s->store);
        return NULL;
    }
    s->cfg.host = s->host;
    s->cfg.password = s->password;
    s->cfg.user = s->user;
    s->state_fn = state_fn;
    s->state_ctx = ctx;
    s->state = STORE_DOWN;
    store_connect(s);
    return &s->store;
}

/* Drop the connection and free the store. Pending requests complete (with
 * RS_STORE_ERROR) during the call: callers that must not see them mark
 * themselves closing first. */
static void redis_free(rs_store *base)
{
    store_redis *s = (store_redis *)base;
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
    free(s->arg_buf);
    free(s->load_buf);
    free(s->outcomes);
    free(s->host);
    free(s->password);
    free(s->user);
    free(s);
}

store_state store_redis_state(const rs_store *base)
{
    return ((const store_redis *)base)->state;
}

static bool redis_up(const rs_store *base)
{
    const store_redis *s = (const store_redis *)base;
    return s->state == STORE_UP && s->ac != NULL;
}

static void redis_stats(const rs_store *base, rs_store_stats *out)
{
    *out = ((const store_redis *)base)->stats;
}

size_t store_redis_pending(const rs_store *base)
{
    return ((const store_redis *)base)->pending;
}

/* The key of a user's hash; the braces make it its own hash slot. */
static int redis_key(const rs_store *base, uint64_t user_id, char *buf, size_t size)
{
    (void)base;
    return snprintf(buf, size, "readstates:{%llu}", (unsigned long long)user_id);
}

/* Redis is not known to be down: up, or its first connection since start
 * still under way (nothing has failed yet). A load then waits behind the
 * handshake (hiredis sends it once connected, after AUTH, SELECT and
 * SCRIPT LOAD), bounded by the request timeout, instead of failing a
 * request that arrives in the server's first milliseconds. */
static bool redis_may_load(const store_redis *s)
{
    if (redis_up(&s->store))
        return true;
    return s->state == STORE_CONNECTING && s->ac != NULL && s->stats.connects == 0 &&
           s->failed_attempts == 0;
}

static int redis_load(rs_store *base, uint64_t user_id, rs_store_load_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    if (!redis_may_load(s))
        return -1;
    char key[48], max[24];
    int klen = redis_key(base, user_id, key, sizeof(key));
    int mlen = snprintf(max, sizeof(max), "%llu", (unsigned long long)s->cfg.max_states + 1);
    const char *argv[5] = {"EVAL", load_lua_script, "1", key, max};
    size_t lens[5] = {4, sizeof(load_lua_script) - 1, 1, (size_t)klen, (size_t)mlen};
    store_req *r = store_send(s, REQ_LOAD, 5, argv, lens);
    if (r == NULL)
        return -1;
    r->fn.load = fn;
    r->arg = arg;
    r->user_id = user_id;
    return 0;
}

/* Room for nargs arguments of at most STORE_ARG_MAX bytes each. */
static char *arg_space(store_redis *s, size_t nargs)
{
    if (nargs > s->argcap) {
        size_t cap = RS_MAX(nargs, s->argcap * 2);
        const char **nv = rs_xrealloc(s->argv, cap * sizeof(*nv), "redis store");
        s->argv = nv;
        size_t *nl = rs_xrealloc(s->argvlen, cap * sizeof(*nl), "redis store");
        s->argvlen = nl;
        s->argcap = cap;
    }
    size_t bytes = nargs * STORE_ARG_MAX;
    if (bytes > s->arg_cap) {
        size_t cap = RS_MAX(bytes, s->arg_cap * 2);
        char *b = rs_xrealloc(s->arg_buf, cap, "redis store");
        s->arg_buf = b;
        s->arg_cap = cap;
    }
    return s->arg_buf;
}

/* Write v in decimal at p; returns the end. (snprintf was a tenth of the
 * flush path's time.) */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* The stored value of a state: <version>:<last_message_id>:<mentions>:<flags>,
 * or -<version> for a delete (the merge script's tombstone). */
static char *put_value(char *p, const rs_state *st)
{
    if (!rs_state_live(st)) {
        *p++ = '-';
        return put_u64(p, st->version);
    }
    p = put_u64(p, st->version);
    *p++ = ':';
    p = put_u64(p, st->last_message_id);
    *p++ = ':';
    p = put_u64(p, st->mention_count);
    *p++ = ':';
    return put_u64(p, st->flags & RS_STATE_PROTO_FLAGS);
}

/* One EVALSHA of the merge script for users[0..n) (merge_lua.h):
 *   EVALSHA <sha> n readstates:{id}... then per user <version> <count>
 *   and <channel_id> <value> per state newer than its flushed_version. */
static int redis_merge(rs_store *base, const rs_store_user *users, uint32_t n,
                       rs_store_merge_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    if (!redis_up(base) || n < 1)
        return -1;
    size_t nargs = 3;
    for (uint32_t i = 0; i < n; i++)
        nargs += store_merge_units(users[i].nstates);
    char *p = arg_space(s, nargs);
    size_t k = 0;
#define STORE_ARG(end_)                                                                        \
    do {                                                                                       \
        s->argv[k] = p;                                                                        \
        s->argvlen[k++] = (size_t)((end_)-p);                                                  \
        p = (end_);                                                                            \
    } while (0)
    s->argv[k] = "EVALSHA";
    s->argvlen[k++] = 7;
    s->argv[k] = s->sha;
    s->argvlen[k++] = strlen(s->sha);
    STORE_ARG(put_u64(p, n));
    static const char prefix[] = "readstates:{";
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, prefix, sizeof(prefix) - 1);
        char *end = put_u64(p + sizeof(prefix) - 1, users[i].user->user_id);
        *end++ = '}';
        STORE_ARG(end);
    }
    for (uint32_t i = 0; i < n; i++) {
        const rs_user *u = users[i].user;
        STORE_ARG(put_u64(p, u->version));
        STORE_ARG(put_u64(p, users[i].nstates));
        for (uint32_t j = 0; j < u->nslots; j++) {
            const rs_state *st = &u->states[j];
            if (st->version <= u->flushed_version)
                continue;
            STORE_ARG(put_u64(p, st->channel_id));
            STORE_ARG(put_value(p, st));
        }
    }
#undef STORE_ARG
    /* Sized now, not while a reply is decoded: a call never holds more
     * users than the largest sent, so s->outcomes stays put while a
     * callback reads it. */
    outcomes_space(s, n);
    store_req *r = store_send(s, REQ_MERGE, (int)k, s->argv, s->argvlen);
    if (r == NULL)
        return -1;
    r->fn.merge = fn;
    r->arg = arg;
    r->n = n;
    return 0;
}

void store_redis_load_inject(rs_store *base, uint64_t user_id, const redisReply *reply,
                             rs_store_load_fn fn, void *arg)
{
    rs_store_loaded out;
    load_decode((store_redis *)base, user_id, reply, &out);
    fn(arg, &out);
}

void store_redis_merge_inject(rs_store *base, uint32_t n, const redisReply *reply,
                              rs_store_merge_fn fn, void *arg)
{
    fn(arg, merge_decode((store_redis *)base, n, reply), n);
}

static const rs_store_ops store_redis_ops = {
    .name = "redis",
    .load = redis_load,
    .merge = redis_merge,
    .up = redis_up,
    .stats = redis_stats,
    .key = redis_key,
    .free = redis_free,
};
