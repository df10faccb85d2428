/*
 * store_redis.c: the Redis store of store_redis.h (store.h's table on one
 * Redis connection).
 *
 *   store_redis ──conn──> redis_conn (redis_conn.c: handshake, timeouts,
 *       │                             reconnects)
 *       └── codec: commands and replies (redis_codec.c)
 *
 *   load(id)    one EVAL of the load script ──> decoded ──> fn
 *   merge(k)    one EVALSHA of the merge script for the k users
 *               ──> one outcome per user ──> fn
 *   NOSCRIPT    the call fails (its users are retried by the engine) and a
 *               SCRIPT LOAD goes out, once at a time
 *
 * WAIT for replicas (--redis-wait-replicas) is the cluster store's
 * (store_cluster.c): it is the primaries' replicas it waits for.
 */
#include "store_redis.h"

#include <stdlib.h>
#include <string.h>

#include "merge_lua.h"
#include "redis_codec.h"
#include "rs_common.h"

#define STORE_CALL_UNITS                                                                       \
    4096 /* arguments a merge call stays under (unless it holds 1 user)                        \
          */

typedef struct store_redis store_redis;

typedef struct store_req {
    store_redis *s;
    union {
        rs_store_load_fn load;
        rs_store_merge_fn merge;
    } fn;
    void *arg;
    uint64_t user_id; /* load */
    uint32_t n;       /* merge: users in the call */
} store_req;

struct store_redis {
    rs_store store; /* first: the rs_store * the engine holds */
    store_redis_config cfg;
    redis_conn *conn;
    redis_codec codec;
    bool closing;
    size_t pending;
    rs_store_state_fn state_fn;
    void *state_ctx;
};

static const rs_store_ops store_redis_ops;

static void store_conn_state(void *ctx, redis_conn *c, bool up)
{
    (void)c;
    store_redis *s = ctx;
    if (s->state_fn != NULL && !s->closing)
        s->state_fn(s->state_ctx, up);
}

static void load_reply(void *arg, const redisReply *reply)
{
    store_req *r = arg;
    store_redis *s = r->s;
    s->pending--;
    rs_store_loaded out;
    redis_codec_load_decode(&s->codec, r->user_id, reply, s->closing, &out);
    r->fn.load(r->arg, &out);
    free(r);
}

static void merge_reply(void *arg, const redisReply *reply)
{
    store_req *r = arg;
    store_redis *s = r->s;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0)
        redis_conn_reload_script(s->conn);
    s->pending--;
    r->fn.merge(r->arg, redis_codec_merge_decode(&s->codec, r->n, reply), r->n);
    free(r);
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
    s->cfg = *cfg;
    s->state_fn = state_fn;
    s->state_ctx = ctx;
    if (s->cfg.timeout_ms == 0)
        s->cfg.timeout_ms = 1000;
    redis_codec_init(&s->codec, cfg->max_states, cfg->log);
    redis_conn_config cc = {
        .host = cfg->host,
        .port = cfg->port,
        .password = cfg->password,
        .user = cfg->user,
        .db = cfg->db,
        .timeout_ms = s->cfg.timeout_ms,
        .backoff_min_ms = cfg->backoff_min_ms,
        .backoff_max_ms = cfg->backoff_max_ms,
        .script = merge_lua_script,
        .log = cfg->log,
    };
    s->conn = redis_conn_new(base, &cc, store_conn_state, s);
    if (s->conn == NULL) {
        redis_codec_fini(&s->codec);
        free(s);
        return NULL;
    }
    return &s->store;
}

/* Drop the connection and free the store. Pending requests complete (with
 * RS_STORE_ERROR) during the call: callers that must not see them mark
 * themselves closing first. */
static void redis_free(rs_store *base)
{
    store_redis *s = (store_redis *)base;
    s->closing = true;
    redis_conn_free(s->conn);
    redis_codec_fini(&s->codec);
    free(s);
}

store_state store_redis_state(const rs_store *base)
{
    return redis_conn_state(((const store_redis *)base)->conn);
}

static bool redis_up(const rs_store *base)
{
    return redis_conn_up(((const store_redis *)base)->conn);
}

static void redis_stats(const rs_store *base, rs_store_stats *out)
{
    const redis_conn_stats *cs = redis_conn_get_stats(((const store_redis *)base)->conn);
    out->errors = cs->errors;
    out->reconnects = cs->reconnects;
    out->connects = cs->connects;
    out->timeouts = cs->timeouts;
}

size_t store_redis_pending(const rs_store *base)
{
    return ((const store_redis *)base)->pending;
}

/* The key of a user's hash; the braces make it its own hash slot. */
static int redis_key(const rs_store *base, uint64_t user_id, char *buf, size_t size)
{
    (void)base;
    return redis_codec_key(user_id, buf, size);
}

typedef struct ring_req {
    rs_store_ring_fn fn;
    void *arg;
} ring_req;

static void ring_reply(void *arg, const redisReply *reply)
{
    ring_req *r = arg;
    const char *g = NULL, *n = NULL, *rg = NULL;
    bool ok = redis_codec_ring_decode(reply, &g, &n, &rg);
    r->fn(r->arg, ok, g, n, rg);
    free(r);
}

static int redis_ring_get(rs_store *base, rs_store_ring_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    if (!redis_conn_may_send(s->conn))
        return -1;
    ring_req *r = rs_xmalloc(sizeof(*r), "redis request");
    r->fn = fn;
    r->arg = arg;
    if (redis_conn_send(s->conn, 5, (const char **)redis_codec_ring_argv,
                        redis_codec_ring_argvlen, ring_reply, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

static int redis_load(rs_store *base, uint64_t user_id, rs_store_load_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    if (!redis_conn_may_send(s->conn))
        return -1;
    int argc = redis_codec_load_args(&s->codec, user_id, s->store.owner_gen);
    store_req *r = rs_xcalloc(1, sizeof(*r), "redis request");
    r->s = s;
    r->fn.load = fn;
    r->arg = arg;
    r->user_id = user_id;
    if (redis_conn_send(s->conn, argc, s->codec.argv, s->codec.argvlen, load_reply, r) != 0) {
        free(r);
        return -1;
    }
    s->pending++;
    return 0;
}

static int redis_merge(rs_store *base, const rs_store_user *users, uint32_t n,
                       rs_store_merge_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    if (!redis_up(base) || n < 1)
        return -1;
    int argc = redis_codec_merge_args(&s->codec, redis_conn_sha(s->conn), users, n);
    store_req *r = rs_xcalloc(1, sizeof(*r), "redis request");
    r->s = s;
    r->fn.merge = fn;
    r->arg = arg;
    r->n = n;
    if (redis_conn_send(s->conn, argc, s->codec.argv, s->codec.argvlen, merge_reply, r) != 0) {
        free(r);
        return -1;
    }
    s->pending++;
    return 0;
}

void store_redis_load_inject(rs_store *base, uint64_t user_id, const redisReply *reply,
                             rs_store_load_fn fn, void *arg)
{
    rs_store_loaded out;
    redis_codec_load_decode(&((store_redis *)base)->codec, user_id, reply, false, &out);
    fn(arg, &out);
}

void store_redis_merge_inject(rs_store *base, uint32_t n, const redisReply *reply,
                              rs_store_merge_fn fn, void *arg)
{
    store_redis *s = (store_redis *)base;
    fn(arg, redis_codec_merge_decode(&s->codec, n, reply), n);
}

static const rs_store_ops store_redis_ops = {
    .name = "redis",
    .load = redis_load,
    .merge = redis_merge,
    .up = redis_up,
    .stats = redis_stats,
    .key = redis_key,
    .free = redis_free,
    .ring_get = redis_ring_get,
};
