/*
 * engine.c: the storage door of engine.h — acquire, load on miss, release.
 *
 * Memory-only mode (no --redis): acquire finds or inserts the user at once,
 * commit completes at once, and eviction may drop any unpinned user.
 *
 * Redis mode: a miss inserts the user as RS_USER_LOADING and sends one
 * HGETALL readstates:{id}; acquires of that user meanwhile join the load's
 * waiter list (eng_slot, keyed by user id), so one load serves them all and
 * requests for other users never wait behind it.
 *
 *   acquire(id) ──cached READY──> pin, RS_OK
 *        │ cached LOADING ──────> join slot(id).load waiters, RS_PENDING
 *        │ absent, store UP ────> insert LOADING, HGETALL, slot(id), RS_PENDING
 *        └ absent, store down ──> RS_ERR_UNAVAILABLE (nothing registered)
 *
 *   HGETALL reply ──ok──> cache_load (READY, flushed_version = _v),
 *                         pin once per waiter, call each waiter (RS_OK)
 *                 └─err─> remove the LOADING user, waiters get UNAVAILABLE
 *
 * A load cannot hang: the store times every request out (redis_timeout_ms)
 * and completes it with NULL. Dirty tracking, flushes, write-through
 * commits and shutdown live in engine_flush.c.
 */
#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

void engine_config_defaults(rs_engine_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cache.max_states_per_user = 10000;
    cfg->durability = RS_DURABILITY_WRITE_BEHIND;
    cfg->flush_interval_ms = 1000;
    cfg->flush_batch = 64;
    cfg->flush_call_users = 16;
    cfg->dirty_budget = 64u * 1024 * 1024;
    cfg->redis_timeout_ms = 1000;
    cfg->shutdown_timeout_ms = 25000;
    cfg->redis_port = 6379;
}

static void engine_change(void *ctx, rs_user *u, const rs_state *st, bool deleted)
{
    rs_engine *e = ctx;
    if (e->store != NULL)
        engine_flush_note_change(e, u);
    if (e->server_hook != NULL)
        e->server_hook(e->server_hook_ctx, u, st, deleted);
}

static void engine_store_state(void *ctx, bool up)
{
    rs_engine *e = ctx;
    e->stats.redis_up = up;
    engine_flush_store_state(e, up);
}

static int engine_open_store(rs_engine *e)
{
    if (e->cfg.flush_batch == 0)
        e->cfg.flush_batch = 64;
    if (e->cfg.flush_call_users == 0)
        e->cfg.flush_call_users = 16;
    if (e->cfg.flush_interval_ms == 0)
        e->cfg.flush_interval_ms = 1000;
    if (e->cfg.redis_timeout_ms == 0)
        e->cfg.redis_timeout_ms = 1000;
    if (engine_flush_init(e) != 0)
        return -1;
    store_redis_config sc = {
        .host = e->cfg.redis_host,
        .port = e->cfg.redis_port,
        .password = e->cfg.redis_password,
        .db = e->cfg.redis_db,
        .timeout_ms = e->cfg.redis_timeout_ms,
        .log = e->cfg.log,
    };
    e->stats.redis_configured = true;
    e->store = store_redis_new(e->base, &sc, engine_store_state, e);
    return e->store != NULL ? 0 : -1;
}

rs_engine *engine_new(struct event_base *base, const rs_engine_config *cfg)
{
    rs_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->base = base;
    e->cfg = *cfg;
    bool redis = cfg->redis_host != NULL && cfg->redis_host[0] != '\0';
    /* Deletes must reach Redis: the cache keeps them as tombstones. */
    e->cfg.cache.keep_tombstones = redis;
    e->cache = cache_new(&e->cfg.cache);
    if (e->cache == NULL) {
        free(e);
        return NULL;
    }
    cache_set_change_hook(e->cache, engine_change, e);
    e->stats.redis_configured = false;
    e->stats.redis_up = false;
    if (redis && engine_open_store(e) != 0) {
        engine_free(e);
        return NULL;
    }
    return e;
}

void engine_free(rs_engine *e)
{
    if (e == NULL)
        return;
    /* Pending Redis requests complete (with NULL) inside store_redis_free;
     * `closing` keeps them from calling back into the server. */
    e->closing = true;
    store_redis_free(e->store);
    e->store = NULL;
    engine_flush_fini(e);
    eng_slots_free(&e->slots);
    cache_free(e->cache);
    free(e->load_buf);
    free(e);
}

rs_cache *engine_cache(rs_engine *e)
{
    return e->cache;
}

const rs_engine_stats *engine_stats(rs_engine *e)
{
    if (e->store != NULL) {
        const store_redis_stats *ss = store_redis_get_stats(e->store);
        e->stats.reconnects = ss->reconnects;
        e->stats.redis_errors = ss->errors;
        e->stats.redis_up = store_redis_up(e->store);
    }
    return &e->stats;
}

const rs_engine_config *engine_config(const rs_engine *e)
{
    return &e->cfg;
}

void engine_set_change_hook(rs_engine *e, rs_change_fn fn, void *ctx)
{
    e->server_hook = fn;
    e->server_hook_ctx = ctx;
}

/* ---- load on miss ---------------------------------------------------------- */

static int parse_u64(const char **p, const char *end, char stop, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    if (stop != '\0') {
        if (s == end || *s != stop)
            return -1;
        s++;
    } else if (s != end) {
        return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

/* "<version>:<last_message_id>:<mention_count>:<flags>" for field channel. */
static int parse_state(const redisReply *field, const redisReply *val, rs_state *st)
{
    const char *p = field->str;
    uint64_t ch, ver, lm, mc, fl;
    if (parse_u64(&p, field->str + field->len, '\0', &ch) != 0 || ch == 0)
        return -1;
    p = val->str;
    const char *end = val->str + val->len;
    if (parse_u64(&p, end, ':', &ver) != 0 || parse_u64(&p, end, ':', &lm) != 0 ||
        parse_u64(&p, end, ':', &mc) != 0 || parse_u64(&p, end, '\0', &fl) != 0 ||
        mc > UINT32_MAX || fl > UINT32_MAX)
        return -1;
    st->channel_id = ch;
    st->version = ver;
    st->last_message_id = lm;
    st->mention_count = (uint32_t)mc;
    st->flags = (uint32_t)fl & RS_STATE_PROTO_FLAGS;
    return 0;
}

/* Fill u from an HGETALL reply. Returns RS_OK or an error status. */
static rs_status engine_apply_load(rs_engine *e, rs_user *u, const redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        RS_LOG(e->cfg.log, RS_LOG_WARN, "redis_load_failed",
               "user_id=%llu reason=%s error=\"%s\"", (unsigned long long)u->user_id,
               r == NULL ? "no_reply" : "bad_reply",
               r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "");
        return RS_ERR_UNAVAILABLE;
    }
    size_t need = r->elements / 2;
    if (need > e->load_cap) {
        rs_state *n = realloc(e->load_buf, need * sizeof(*n));
        if (n == NULL)
            abort();
        e->load_buf = n;
        e->load_cap = need;
    }
    size_t n = 0;
    uint64_t version = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (f->len == 2 && memcmp(f->str, "_v", 2) == 0) {
            const char *p = v->str;
            if (parse_u64(&p, v->str + v->len, '\0', &version) != 0)
                version = 0;
            continue;
        }
        if (parse_state(f, v, &e->load_buf[n]) == 0)
            n++;
        else
            RS_LOG(e->cfg.log, RS_LOG_WARN, "redis_bad_field", "user_id=%llu field=%.*s",
                   (unsigned long long)u->user_id, (int)RS_MIN(f->len, 32), f->str);
    }
    return cache_load(e->cache, u, e->load_buf, n, version);
}

static void engine_load_reply(void *arg, const redisReply *reply)
{
    eng_slot *slot = arg;
    rs_engine *e = slot->e;
    uint64_t id = slot->user_id;
    slot->loading = false;
    e->stats.loads_in_flight--;
    rs_waiter *list = slot->load_head;
    slot->load_head = slot->load_tail = NULL;
    eng_slot_release(&e->slots, slot); /* slot may be gone from here on */

    rs_user *u = cache_peek(e->cache, id);
    if (u == NULL || u->status != RS_USER_LOADING)
        return; /* cannot happen: only the engine removes LOADING users */
    rs_status st = e->closing ? RS_ERR_UNAVAILABLE : engine_apply_load(e, u, reply);
    if (st != RS_OK) {
        e->stats.load_errors++;
        cache_remove(e->cache, u);
        u = NULL;
    } else {
        for (rs_waiter *w = list; w != NULL; w = w->next)
            u->pins++; /* pin for every waiter before any of them runs */
    }
    if (e->closing)
        return;
    while (list != NULL) {
        rs_waiter *w = list;
        list = w->next;
        w->next = NULL;
        w->fn(w, u, st == RS_OK ? RS_OK : RS_ERR_UNAVAILABLE);
    }
}

static rs_status engine_start_load(rs_engine *e, uint64_t user_id, rs_waiter *w)
{
    if (!store_redis_up(e->store))
        return RS_ERR_UNAVAILABLE;
    char key[48];
    int klen = snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)user_id);
    const char *argv[2] = {"HGETALL", key};
    size_t lens[2] = {7, (size_t)klen};
    eng_slot *slot = eng_slot_get(&e->slots, e, user_id);
    if (store_redis_command(e->store, 2, argv, lens, engine_load_reply, slot) != 0) {
        eng_slot_release(&e->slots, slot);
        return RS_ERR_UNAVAILABLE;
    }
    slot->loading = true;
    w->next = NULL;
    w->user_id = user_id;
    slot->load_head = slot->load_tail = w;
    rs_user *u = cache_insert(e->cache, user_id);
    u->status = RS_USER_LOADING;
    e->stats.loads++;
    e->stats.loads_in_flight++;
    if (cache_over_budget(e->cache))
        cache_evict(e->cache, 32);
    return RS_PENDING;
}

/* Test hook: user_id's load answered with reply, nothing sent: the slot and
 * LOADING user engine_start_load makes, then the real reply path
 * (engine_load_reply), no waiters. For tests/fuzz/fuzz_redis_reply.c. */
rs_user *engine_load_inject(rs_engine *e, uint64_t user_id, const redisReply *reply)
{
    if (cache_peek(e->cache, user_id) != NULL || eng_slot_find(&e->slots, user_id) != NULL)
        return NULL;
    eng_slot *slot = eng_slot_get(&e->slots, e, user_id);
    slot->loading = true;
    rs_user *u = cache_insert(e->cache, user_id);
    u->status = RS_USER_LOADING;
    e->stats.loads++;
    e->stats.loads_in_flight++;
    engine_load_reply(slot, reply);
    return cache_peek(e->cache, user_id);
}

rs_status engine_acquire(rs_engine *e, uint64_t user_id, rs_waiter *w, rs_user **out)
{
    rs_user *u = cache_lookup(e->cache, user_id);
    if (e->store == NULL) {
        if (u == NULL)
            u = cache_insert(e->cache, user_id);
        u->pins++;
        *out = u;
        return RS_OK;
    }
    if (u == NULL)
        return engine_start_load(e, user_id, w);
    if (u->status == RS_USER_READY) {
        u->pins++;
        *out = u;
        return RS_OK;
    }
    /* LOADING: join the load in flight. */
    eng_slot *slot = eng_slot_find(&e->slots, user_id);
    if (slot == NULL || !slot->loading)
        return RS_ERR_UNAVAILABLE;
    w->next = NULL;
    w->user_id = user_id;
    if (slot->load_tail != NULL)
        slot->load_tail->next = w;
    else
        slot->load_head = w;
    slot->load_tail = w;
    return RS_PENDING;
}

void engine_release(rs_engine *e, rs_user *u)
{
    if (u->pins > 0)
        u->pins--;
    if (!cache_over_budget(e->cache))
        return;
    cache_evict(e->cache, 32);
    /* Still over budget: the tail is dirty. Flush now so it can go. */
    if (e->store != NULL && cache_over_budget(e->cache))
        engine_flush_kick(e, true);
}

rs_status engine_write_allowed(rs_engine *e, const rs_user *u)
{
    (void)u;
    if (e->store == NULL)
        return RS_OK;
    if (e->cfg.durability == RS_DURABILITY_WRITE_THROUGH)
        return store_redis_up(e->store) ? RS_OK : RS_ERR_UNAVAILABLE;
    if (e->cfg.dirty_budget > 0 && e->stats.dirty_bytes >= e->cfg.dirty_budget)
        return RS_ERR_EXHAUSTED;
    return RS_OK;
}

rs_status engine_commit(rs_engine *e, rs_user *u, rs_waiter *w)
{
    if (e->store == NULL) {
        /* Nothing to persist: memory only. */
        cache_flushed(e->cache, u, u->version);
        return RS_OK;
    }
    return engine_flush_commit(e, u, w);
}

bool engine_ready(const rs_engine *e)
{
    return e->store == NULL || (store_redis_up(e->store) && !e->shutting_down);
}

struct shutdown_ctx {
    rs_engine_done_fn done;
    void *arg;
};

static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct shutdown_ctx sc = *(struct shutdown_ctx *)arg;
    free(arg);
    sc.done(sc.arg, 0);
}

void engine_shutdown(rs_engine *e, rs_engine_done_fn done, void *arg)
{
    if (e->store != NULL) {
        engine_flush_shutdown(e, done, arg);
        return;
    }
    struct shutdown_ctx *sc = malloc(sizeof(*sc));
    if (sc == NULL)
        abort();
    sc->done = done;
    sc->arg = arg;
    /* Never complete inside the caller: run from the loop. */
    event_base_once(e->base, -1, EV_TIMEOUT, shutdown_cb, sc, NULL);
}
