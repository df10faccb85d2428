/*
 * engine.c: the storage door of engine.h.
 *
 * Memory-only mode (no store): acquire finds or inserts the user at once,
 * commit completes at once, and eviction may drop any unpinned user. The
 * Redis store (store_redis.c) plugs in behind the same calls.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

struct rs_engine {
    struct event_base *base;
    rs_engine_config cfg;
    rs_cache *cache;
    rs_engine_stats stats;
    rs_change_fn server_hook;
    void *server_hook_ctx;
};

void engine_config_defaults(rs_engine_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cache.max_states_per_user = 10000;
    cfg->durability = RS_DURABILITY_WRITE_BEHIND;
    cfg->flush_interval_ms = 1000;
    cfg->flush_batch = 256;
    cfg->dirty_budget = 64u * 1024 * 1024;
    cfg->redis_timeout_ms = 1000;
    cfg->shutdown_timeout_ms = 25000;
    cfg->redis_port = 6379;
}

static void engine_change(void *ctx, rs_user *u, const rs_state *st, bool deleted)
{
    rs_engine *e = ctx;
    if (e->server_hook != NULL)
        e->server_hook(e->server_hook_ctx, u, st, deleted);
}

rs_engine *engine_new(struct event_base *base, const rs_engine_config *cfg)
{
    rs_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->base = base;
    e->cfg = *cfg;
    e->cache = cache_new(&cfg->cache);
    if (e->cache == NULL) {
        free(e);
        return NULL;
    }
    cache_set_change_hook(e->cache, engine_change, e);
    e->stats.redis_configured = false;
    e->stats.redis_up = false;
    return e;
}

void engine_free(rs_engine *e)
{
    if (e == NULL)
        return;
    cache_free(e->cache);
    free(e);
}

rs_cache *engine_cache(rs_engine *e)
{
    return e->cache;
}
const rs_engine_stats *engine_stats(rs_engine *e)
{
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

rs_status engine_acquire(rs_engine *e, uint64_t user_id, rs_waiter *w, rs_user **out)
{
    (void)w;
    rs_user *u = cache_lookup(e->cache, user_id);
    if (u == NULL)
        u = cache_insert(e->cache, user_id);
    u->pins++;
    *out = u;
    return RS_OK;
}

void engine_release(rs_engine *e, rs_user *u)
{
    if (u->pins > 0)
        u->pins--;
    if (cache_over_budget(e->cache))
        cache_evict(e->cache, 32);
}

rs_status engine_write_allowed(rs_engine *e, const rs_user *u)
{
    (void)e;
    (void)u;
    return RS_OK;
}

rs_status engine_commit(rs_engine *e, rs_user *u, rs_waiter *w)
{
    (void)w;
    /* Nothing to persist: memory only. */
    cache_flushed(e->cache, u, u->version);
    return RS_OK;
}

bool engine_ready(const rs_engine *e)
{
    (void)e;
    return true;
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
    struct shutdown_ctx *sc = malloc(sizeof(*sc));
    if (sc == NULL)
        abort();
    sc->done = done;
    sc->arg = arg;
    /* Never complete inside the caller: run from the loop. */
    event_base_once(e->base, -1, EV_TIMEOUT, shutdown_cb, sc, NULL);
}
