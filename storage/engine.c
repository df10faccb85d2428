/*
 * engine.c: the storage door of engine.h — acquire, load on miss, release.
 * The engine talks to its store (store.h) only: it never sees a Redis key,
 * command or reply; those live in store_redis.c.
 *
 * Memory-only mode (no --redis: store_memory, not persistent): acquire
 * finds or inserts the user at once, commit completes at once, and
 * eviction may drop any unpinned user.
 *
 * Persistent store (Redis): a miss inserts the user as RS_USER_LOADING and
 * asks the store for one load; acquires of that user meanwhile join the
 * load's waiter list (eng_slot, keyed by user id), so one load serves them
 * all and requests for other users never wait behind it.
 *
 *   acquire(id) ──cached READY──> pin, RS_OK
 *        │ cached LOADING ──────> join slot(id).load waiters, RS_PENDING
 *        │ absent, store UP ────> insert LOADING, store_load, slot(id), RS_PENDING
 *        └ absent, store down ──> RS_ERR_UNAVAILABLE (nothing registered)
 *
 *   load done ──OK──> cache_load (READY, flushed_version = the stored
 *             │       version), pin once per waiter, call each (RS_OK)
 *             ├─INVALID (the store refused the stored data; more channels
 *             │       than max_states_per_user too)─> counted, logged,
 *             │       remembered (engine_user_problem); remove the LOADING
 *             │       user, waiters get INTERNAL (the next acquire loads
 *             │       again: a fixed hash is served without a restart)
 *             └─ERROR─> remove the LOADING user, waiters get UNAVAILABLE
 *
 * A load cannot hang: the store times every request out (redis_timeout_ms)
 * and completes it with an error. Dirty tracking, flushes, write-through
 * commits and shutdown live in engine_flush.c.
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "rs_slot.h"
#include "store_cluster.h"
#include "store_memory.h"
#include "store_redis.h"
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
    if (store_persistent(e->store))
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

static void engine_remerge(void *ctx, uint64_t user_id)
{
    engine_flush_remerge(ctx, user_id);
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
    e->stats.redis_configured = true;
    if (e->cfg.redis_cluster != NULL && e->cfg.redis_cluster[0] != '\0') {
        store_cluster_config cc = {
            .seeds = e->cfg.redis_cluster,
            .password = e->cfg.redis_password,
            .user = e->cfg.redis_user,
            .timeout_ms = e->cfg.redis_timeout_ms,
            .max_states = cache_config(e->cache)->max_states_per_user,
            .wait_replicas = e->cfg.redis_wait_replicas,
            .log = e->cfg.log,
            .remerge = engine_remerge,
            .remerge_ctx = e,
        };
        e->store = store_cluster_new(e->base, &cc, engine_store_state, e);
        return e->store != NULL ? 0 : -1;
    }
    store_redis_config sc = {
        .host = e->cfg.redis_host,
        .port = e->cfg.redis_port,
        .password = e->cfg.redis_password,
        .user = e->cfg.redis_user,
        .db = e->cfg.redis_db,
        .timeout_ms = e->cfg.redis_timeout_ms,
        .max_states = cache_config(e->cache)->max_states_per_user,
        .log = e->cfg.log,
    };
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
    bool redis = (cfg->redis_host != NULL && cfg->redis_host[0] != '\0') ||
                 (cfg->redis_cluster != NULL && cfg->redis_cluster[0] != '\0');
    /* Deletes must reach a persistent store (Redis): the cache keeps them
     * as tombstones. */
    e->cfg.cache.keep_tombstones = redis;
    e->cache = cache_new(&e->cfg.cache);
    if (e->cache == NULL) {
        free(e);
        return NULL;
    }
    cache_set_change_hook(e->cache, engine_change, e);
    e->stats.redis_configured = false;
    e->stats.redis_up = false;
    if (redis ? engine_open_store(e) != 0 : (e->store = store_memory_new(base)) == NULL) {
        engine_free(e);
        return NULL;
    }
    return e;
}

const rs_store *engine_store(const rs_engine *e)
{
    return e->store;
}

void engine_free(rs_engine *e)
{
    if (e == NULL)
        return;
    /* Pending store requests complete (with an error) inside store_free;
     * `closing` keeps them from calling back into the server. */
    e->closing = true;
    store_free(e->store);
    e->store = NULL;
    engine_flush_fini(e);
    if (e->sweep_ev != NULL)
        event_free(e->sweep_ev);
    eng_slots_free(&e->slots);
    free(e->slot_gen);
    free(e->slot_owned);
    cache_free(e->cache);
    free(e);
}

rs_cache *engine_cache(rs_engine *e)
{
    return e->cache;
}

uint32_t engine_max_states_per_user(rs_engine *e)
{
    return cache_config(e->cache)->max_states_per_user;
}

void engine_set_watched(rs_engine *e, uint64_t user_id, bool watched)
{
    rs_user *u = cache_peek(e->cache, user_id);
    if (u == NULL)
        return;
    if (watched)
        u->bits |= RS_USER_WATCHED;
    else
        u->bits &= (uint8_t)~RS_USER_WATCHED;
}

const rs_cache_stats *engine_cache_stats(rs_engine *e)
{
    return cache_stats(e->cache);
}

size_t engine_cache_max_bytes(rs_engine *e)
{
    return cache_config(e->cache)->max_memory;
}

void engine_tick(rs_engine *e, uint32_t now_s)
{
    cache_set_clock(e->cache, now_s);
}

const rs_engine_stats *engine_stats(rs_engine *e)
{
    if (store_persistent(e->store)) {
        rs_store_stats ss;
        store_stats(e->store, &ss);
        e->stats.reconnects = ss.reconnects;
        e->stats.redis_errors = ss.errors;
        e->stats.redis_up = store_up(e->store);
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
    char key[48], text[ENG_PROBLEM_TEXT];
    store_key(e->store, user_id, key, sizeof(key));
    snprintf(text, sizeof(text), "stored data in %s is invalid: %s", key, what);
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
           "user_id=%llu key=%s during=%s problem=%s", (unsigned long long)user_id, key, during,
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

/* Fill u from what the store loaded. Returns RS_OK, RS_ERR_INTERNAL (the
 * stored data was refused: nothing of it is served nor, since the user is
 * not cached, written over) or RS_ERR_UNAVAILABLE (no answer). */
static rs_status engine_apply_load(rs_engine *e, rs_user *u, const rs_store_loaded *r)
{
    if (r->result == RS_STORE_INVALID) {
        eng_stored_invalid(e, u->user_id, "load", r->what);
        return RS_ERR_INTERNAL;
    }
    if (r->result == RS_STORE_FENCED) {
        e->stats.fenced_loads++;
        RS_LOG(e->cfg.log, RS_LOG_WARN, "fleet_fenced_load", "user_id=%llu owner=\"%s\"",
               (unsigned long long)u->user_id, r->what != NULL ? r->what : "");
        if (e->fence_hook != NULL && !e->closing)
            e->fence_hook(e->fence_ctx); /* this node's ring is stale: read it now */
        return RS_ERR_UNAVAILABLE;
    }
    if (r->result != RS_STORE_OK)
        return RS_ERR_UNAVAILABLE;
    uint32_t limit = cache_config(e->cache)->max_states_per_user;
    if (r->nstates > limit) {
        char what[ENG_PROBLEM_TEXT];
        snprintf(what, sizeof(what),
                 "it has %zu channels, more than --max-states-per-user (%u)", r->nstates,
                 limit);
        eng_stored_invalid(e, u->user_id, "load", what);
        return RS_ERR_INTERNAL;
    }
    rs_status st = cache_load(e->cache, u, r->states, r->nstates, r->version);
    if (st == RS_OK)
        eng_stored_valid(e, u->user_id);
    return st;
}

static void engine_load_done(void *arg, const rs_store_loaded *reply)
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

/* Let go of cached users whose slot changed hands: clean ones now, dirty
 * ones once their flush is answered (under the generation they were
 * written in: landed, or FENCED when the new owner claimed them), so a slot
 * owned again later is loaded afresh, never served from a stale copy. */
/* One user of the walk that follows a ring change: a user of a slot that
 * changed hands goes now if nothing holds it, or once its flush is
 * answered (RS_USER_LEAVING, engine_flush.c). A user still loading is
 * left to its load. */
static void engine_drop_moved(void *ctx, rs_user *u)
{
    rs_engine *e = ctx;
    if (!e->slot_moved[rs_user_slot(u->user_id)] || u->status != RS_USER_READY)
        return;
    if (u->pins == 0 && !rs_user_dirty(u) &&
        (u->bits & (RS_USER_DIRTY_QUEUED | RS_USER_FLUSHING)) == 0) {
        cache_remove(e->cache, u);
        e->stats.ring_dropped++;
    } else {
        u->bits |= RS_USER_LEAVING;
    }
}

bool engine_sweep(rs_engine *e, size_t max)
{
    bool done = cache_walk_step(e->cache, max, engine_drop_moved, e);
    e->sweeping = !done;
    return done;
}

/* The next step on the loop's next turn: a zero timer runs after the poll
 * for I/O. (event_active would not do: libevent runs an event activated
 * from inside its own callback in the same turn, so the walk would again
 * hold the loop from start to end.) */
static void engine_sweep_later(rs_engine *e)
{
    static const struct timeval zero = {0, 0};
    evtimer_add(e->sweep_ev, &zero);
}

static void engine_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_engine *e = arg;
    if (!engine_sweep(e, ENGINE_SWEEP_STEP) && !e->closing)
        engine_sweep_later(e);
}

void engine_set_ownership(rs_engine *e, uint64_t gen, const bool *owned)
{
    if (gen == 0 || owned == NULL) {
        free(e->slot_gen);
        free(e->slot_owned);
        e->slot_gen = NULL;
        e->slot_owned = NULL;
        e->stats.owner_gen = 0;
        return;
    }
    bool first = e->slot_gen == NULL;
    if (first) {
        e->slot_gen = rs_xcalloc(RS_SLOTS, sizeof(*e->slot_gen), "engine slots");
        e->slot_owned = rs_xcalloc(RS_SLOTS, sizeof(*e->slot_owned), "engine slots");
    }
    /* Owned now: under gen (a slot owned without a break keeps being owned
     * under the newest generation). Not owned: keeps the generation it was
     * last owned under, for what is still cached of it. A slot that changed
     * hands (lost, or owned again after a break) has users cached here that
     * another node may have changed since: they go (the walk below). A walk
     * still running for an earlier change finishes first, at once: its
     * pending users are checked against that change's slots. */
    bool changed = false;
    for (uint32_t sl = 0; sl < RS_SLOTS && !first && !changed; sl++)
        changed = e->slot_owned[sl] != owned[sl];
    if (changed) {
        if (cache_walk_active(e->cache)) {
            e->stats.ring_sweeps_finished_early++;
            engine_sweep(e, SIZE_MAX);
        }
        for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
            e->slot_moved[sl] = e->slot_owned[sl] != owned[sl];
    }
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++) {
        e->slot_owned[sl] = owned[sl];
        if (owned[sl])
            e->slot_gen[sl] = gen;
    }
    e->stats.owner_gen = gen;
    if (changed) {
        cache_walk_begin(e->cache);
        e->sweeping = cache_walk_active(e->cache);
        if (e->sweep_ev == NULL)
            e->sweep_ev = evtimer_new(e->base, engine_sweep_cb, e);
        if (e->sweep_ev == NULL)
            rs_oom("engine sweep event");
        engine_sweep_later(e);
    }
}

void engine_set_fence_hook(rs_engine *e, void (*fn)(void *ctx), void *ctx)
{
    e->fence_hook = fn;
    e->fence_ctx = ctx;
}

int engine_ring_get(rs_engine *e, rs_store_ring_fn fn, void *arg)
{
    if (e->closing || e->store->ops->ring_get == NULL)
        return -1;
    return e->store->ops->ring_get(e->store, fn, arg);
}

uint64_t engine_owner_gen(const rs_engine *e, uint64_t user_id)
{
    return e->slot_gen != NULL ? e->slot_gen[rs_user_slot(user_id)] : 0;
}

static rs_status engine_start_load(rs_engine *e, uint64_t user_id, rs_waiter *w)
{
    /* The store says whether it can load now (store_load fails at once
     * when it is known to be down). A fleet node claims the user under the
     * generation it owns the slot under (read by the store during the
     * call). */
    eng_slot *slot = eng_slot_get(&e->slots, e, user_id);
    e->store->owner_gen = engine_owner_gen(e, user_id);
    if (store_load(e->store, user_id, engine_load_done, slot) != 0) {
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

/* Test hook: the slot and LOADING user engine_start_load makes for user_id,
 * nothing sent, no waiters; the store's answer goes to the real completion
 * path (engine_load_done). For tests/fuzz/fuzz_redis_reply.c. */
bool engine_load_inject_begin(rs_engine *e, uint64_t user_id, rs_store_load_fn *fn, void **arg)
{
    if (cache_peek(e->cache, user_id) != NULL || eng_slot_find(&e->slots, user_id) != NULL)
        return false;
    eng_slot *slot = eng_slot_get(&e->slots, e, user_id);
    slot->loading = true;
    rs_user *u = cache_insert(e->cache, user_id);
    u->status = RS_USER_LOADING;
    e->stats.loads++;
    e->stats.loads_in_flight++;
    *fn = engine_load_done;
    *arg = slot;
    return true;
}

rs_status engine_acquire(rs_engine *e, uint64_t user_id, rs_waiter *w, rs_user **out)
{
    rs_user *u = cache_lookup(e->cache, user_id);
    if (e->sweeping && u != NULL && cache_walk_pending(e->cache, u)) {
        /* A ring change's walk has not reached it yet: check it now. */
        cache_walk_visit(e->cache, u, engine_drop_moved, e);
        e->sweeping = cache_walk_active(e->cache);
        u = cache_peek(e->cache, user_id);
    }
    if (!store_persistent(e->store)) {
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
    if (store_persistent(e->store) && cache_over_budget(e->cache))
        engine_flush_kick(e, true);
}

rs_status engine_write_allowed(rs_engine *e, const rs_user *u)
{
    if (!store_persistent(e->store))
        return RS_OK;
    if (u->bits & RS_USER_STORED_BAD)
        return RS_ERR_INTERNAL; /* the merge script refuses its hash: nothing would land */
    if (e->cfg.durability == RS_DURABILITY_WRITE_THROUGH)
        return store_up(e->store) ? RS_OK : RS_ERR_UNAVAILABLE;
    if (e->cfg.dirty_budget > 0 && e->stats.dirty_bytes >= e->cfg.dirty_budget)
        return RS_ERR_EXHAUSTED;
    return RS_OK;
}

rs_status engine_commit(rs_engine *e, rs_user *u, rs_waiter *w)
{
    if (!store_persistent(e->store)) {
        /* Nothing to persist: memory only. */
        cache_flushed(e->cache, u, u->version);
        return RS_OK;
    }
    return engine_flush_commit(e, u, w);
}

bool engine_ready(const rs_engine *e)
{
    return !store_persistent(e->store) || (store_up(e->store) && !e->shutting_down);
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
    if (store_persistent(e->store)) {
        engine_flush_shutdown(e, done, arg);
        return;
    }
    struct shutdown_ctx *sc = rs_xmalloc(sizeof(*sc), "shutdown");
    sc->done = done;
    sc->arg = arg;
    /* Never complete inside the caller: run from the loop. */
    event_base_once(e->base, -1, EV_TIMEOUT, shutdown_cb, sc, NULL);
}
