/*
 * engine.c: the storage door of engine.h — acquire, load on miss, release.
 *
 * Memory-only mode (no --redis): acquire finds or inserts the user at once,
 * commit completes at once, and eviction may drop any unpinned user.
 *
 * Redis mode: a miss inserts the user as RS_USER_LOADING and sends one
 * load (HGETALL readstates:{id} in a small script that first checks the
 * field count, see load_lua_script); acquires of that user meanwhile join the load's
 * waiter list (eng_slot, keyed by user id), so one load serves them all and
 * requests for other users never wait behind it.
 *
 *   acquire(id) ──cached READY──> pin, RS_OK
 *        │ cached LOADING ──────> join slot(id).load waiters, RS_PENDING
 *        │ absent, store UP ────> insert LOADING, HGETALL, slot(id), RS_PENDING
 *        └ absent, store down ──> RS_ERR_UNAVAILABLE (nothing registered)
 *
 *   load reply ──ok──> every field through the strict parser
 *              │       (stored_value.h), cache_load (READY, flushed_version
 *              │       = _v), pin once per waiter, call each waiter (RS_OK)
 *              ├─invalid hash, too many fields, not a hash─> counted,
 *              │       logged, remembered (engine_user_problem); remove the
 *              │       LOADING user, waiters get INTERNAL (the next acquire
 *              │       loads again: a fixed hash is served without a restart)
 *              └─err─> remove the LOADING user, waiters get UNAVAILABLE
 *
 * A load cannot hang: the store times every request out (redis_timeout_ms)
 * and completes it with NULL. Dirty tracking, flushes, write-through
 * commits and shutdown live in engine_flush.c.
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "stored_value.h"

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
        .user = e->cfg.redis_user,
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

/* ---- stored data that fails the check ------------------------------------ */

static eng_problem *problem_find(rs_engine *e, uint64_t user_id)
{
    if (e->nproblems == 0)
        return NULL;
    for (size_t i = 0; i < ENG_PROBLEMS; i++)
        if (e->problems[i].user_id == user_id)
            return &e->problems[i];
    return NULL;
}

void eng_stored_invalid(rs_engine *e, uint64_t user_id, const char *during, const char *what)
{
    e->stats.stored_invalid++;
    char text[ENG_PROBLEM_TEXT];
    snprintf(text, sizeof(text), "stored data in readstates:{%llu} is invalid: %s",
             (unsigned long long)user_id, what);
    uint64_t now = rs_now_ns();
    bool log = true;
    eng_problem *p = problem_find(e, user_id);
    if (p != NULL) {
        log = strcmp(p->text, text) != 0 || now - p->logged_ns >= ENG_PROBLEM_LOG_NS;
    } else if (e->nproblems < ENG_PROBLEMS) {
        for (size_t i = 0; p == NULL; i++)
            if (e->problems[i].user_id == 0)
                p = &e->problems[i];
        e->nproblems++;
    } else {
        p = &e->problems[e->problem_next];
        e->problem_next = (e->problem_next + 1) % ENG_PROBLEMS;
    }
    p->user_id = user_id;
    memcpy(p->text, text, sizeof(text));
    if (!log)
        return; /* said recently: once per ENG_PROBLEM_LOG_NS, not per request */
    p->logged_ns = now;
    char quoted[ENG_PROBLEM_TEXT * 2];
    RS_LOG(e->cfg.log, RS_LOG_ERROR, "redis_stored_invalid",
           "user_id=%llu key=readstates:{%llu} during=%s problem=%s",
           (unsigned long long)user_id, (unsigned long long)user_id, during,
           sv_quote(what, strlen(what), ENG_PROBLEM_TEXT, quoted, sizeof(quoted)));
}

void eng_stored_valid(rs_engine *e, uint64_t user_id)
{
    eng_problem *p = problem_find(e, user_id);
    if (p == NULL)
        return;
    RS_LOG(e->cfg.log, RS_LOG_INFO, "redis_stored_valid", "user_id=%llu",
           (unsigned long long)user_id);
    memset(p, 0, sizeof(*p));
    e->nproblems--;
}

const char *engine_user_problem(rs_engine *e, uint64_t user_id)
{
    eng_problem *p = problem_find(e, user_id);
    return p != NULL ? p->text : NULL;
}

/* ---- load on miss ---------------------------------------------------------- */

/* The load: HGETALL, unless the hash has more fields than a user may have
 * (ARGV[1] = max_states_per_user + 1, for _v): then only its field count,
 * so an oversized hash never crosses the wire nor gets parsed on the loop.
 * A wrong-type key answers its error. One round trip, as a plain HGETALL
 * was; Redis keeps the compiled script (by its SHA1) after the first EVAL. */
static const char load_lua_script[] = "local n = redis.pcall('HLEN', KEYS[1])\n"
                                      "if type(n) ~= 'number' then return n end\n"
                                      "if n > tonumber(ARGV[1]) then return n end\n"
                                      "return redis.pcall('HGETALL', KEYS[1])\n";

/* Refuse the load of u: the hash failed the check (what: why). */
static rs_status load_refused(rs_engine *e, rs_user *u, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static rs_status load_refused(rs_engine *e, rs_user *u, const char *fmt, ...)
{
    char what[ENG_PROBLEM_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    eng_stored_invalid(e, u->user_id, "load", what);
    return RS_ERR_INTERNAL;
}

/* Fill u from the load's reply. Every field goes through the strict parser
 * (stored_value.h); the first one that fails refuses the whole user, so
 * nothing of an invalid hash is served nor, since the user is not cached,
 * written over. Returns RS_OK, RS_ERR_INTERNAL (refused) or
 * RS_ERR_UNAVAILABLE (no usable reply). */
static rs_status engine_apply_load(rs_engine *e, rs_user *u, const redisReply *r)
{
    uint32_t limit = cache_config(e->cache)->max_states_per_user;
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0)
        return load_refused(e, u, "the key is not a hash (WRONGTYPE)");
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        return load_refused(e, u,
                            "it has %lld fields, more than --max-states-per-user (%u) "
                            "channels and _v",
                            r->integer, limit);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        RS_LOG(e->cfg.log, RS_LOG_WARN, "redis_load_failed",
               "user_id=%llu reason=%s error=\"%s\"", (unsigned long long)u->user_id,
               r == NULL ? "no_reply" : "bad_reply",
               r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "");
        return RS_ERR_UNAVAILABLE;
    }
    size_t need = r->elements / 2;
    if (need > (size_t)limit + 1) /* grew between HLEN and HGETALL: cannot, but checked */
        return load_refused(e, u,
                            "it has %zu fields, more than --max-states-per-user (%u) "
                            "channels and _v",
                            need, limit);
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
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            RS_LOG(e->cfg.log, RS_LOG_WARN, "redis_load_failed",
                   "user_id=%llu reason=bad_reply error=\"\"", (unsigned long long)u->user_id);
            return RS_ERR_UNAVAILABLE;
        }
        sv_field sf;
        switch (sv_parse_field(f->str, f->len, v->str, v->len, &sf)) {
        case SV_VERSION: version = sf.version; break;
        case SV_STATE: e->load_buf[n++] = sf.state; break;
        default: {
            char qf[48], qv[96];
            return load_refused(e, u, "field %s = %s: %s",
                                sv_quote(f->str, f->len, 32, qf, sizeof(qf)),
                                sv_quote(v->str, v->len, 64, qv, sizeof(qv)), sf.why);
        }
        }
    }
    if (n > limit)
        return load_refused(e, u, "it has %zu channels, more than --max-states-per-user (%u)",
                            n, limit);
    rs_status st = cache_load(e->cache, u, e->load_buf, n, version);
    if (st == RS_OK)
        eng_stored_valid(e, u->user_id);
    return st;
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
        w->fn(w, u, st);
    }
}

static rs_status engine_start_load(rs_engine *e, uint64_t user_id, rs_waiter *w)
{
    if (!store_redis_up(e->store))
        return RS_ERR_UNAVAILABLE;
    char key[48], max[24];
    int klen = snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)user_id);
    int mlen = snprintf(max, sizeof(max), "%llu",
                        (unsigned long long)cache_config(e->cache)->max_states_per_user + 1);
    const char *argv[5] = {"EVAL", load_lua_script, "1", key, max};
    size_t lens[5] = {4, sizeof(load_lua_script) - 1, 1, (size_t)klen, (size_t)mlen};
    eng_slot *slot = eng_slot_get(&e->slots, e, user_id);
    if (store_redis_command(e->store, 5, argv, lens, engine_load_reply, slot) != 0) {
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
    if (e->store == NULL)
        return RS_OK;
    if (u->bits & RS_USER_STORED_BAD)
        return RS_ERR_INTERNAL; /* the merge script refuses its hash: nothing would land */
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
