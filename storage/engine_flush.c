/*
 * engine_flush.c: dirty tracking, pipelined flushes, write-through commits
 * and shutdown of the engine on a persistent store (store.h). Which users
 * go when, in which batches and calls, is decided here; how a merge call
 * is written and answered is the store's (store_redis.c: one EVALSHA of the
 * merge script per call).
 *
 *   change hook ──> user not queued/flushing? push (id, now, bytes) on ring
 *
 *   flush pass (tick every interval/8, or kick):
 *     ring head due? ──> pop up to flush_batch users into one batch, sent
 *       as merge calls (store_merge) of up to flush_call_users users and
 *       the store's merge_units each: per user its version and the states
 *       with version > flushed_version, tombstones as deletes  [FLUSHING]
 *     at most ENG_MAX_INFLIGHT batches in flight; ONE batch per pass: more
 *     due goes on the next turn of the loop (cont_ev, a zero timer, runs
 *     after the poll for I/O). Building a flush costs a few microseconds
 *     per user, so requests never wait behind more than one batch (64 users
 *     by default: ~0.1-0.2 ms) instead of behind every user due at a tick
 *
 *   outcome: one per user of the call
 *     OK ──> cache_flushed(u, version sent), fire write-through
 *             waiters with version <= flushed_version
 *     ERROR ──> counted; the user stays dirty and goes again in
 *             ENG_RETRY_NS (the retry ring: a failure that comes back at
 *             once never spins the loop; a failed call fails all its users;
 *             merges are idempotent)
 *     INVALID (the store refused the stored data) ──> counted,
 *             logged, user marked RS_USER_STORED_BAD (writes refused),
 *             back on the ring with a delay; at shutdown: not retried,
 *             reported as unflushed
 *   still dirty (changed meanwhile) ──> back on the ring
 *
 * Timing: write-behind waits interval/2 after a user became dirty (so
 * bursts to one user coalesce into one write), then the next pass sends it:
 * every dirty user is on its way to the store within the flush interval
 * while the store keeps up. Write-through, shutdown, an over-budget cache
 * or a dirty backlog past half the dirty budget make passes urgent (no
 * delay).
 *
 * Nothing here walks the cache: work per pass is bounded by the batch
 * limits; the timeout scan for write-through waiters walks only the side
 * table of users someone waits on.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "rs_list.h"

#define ENG_MAX_INFLIGHT 16 /* batches in flight on the connection */
/* A user whose merge failed (the store down for its key, a timeout) goes
 * again no sooner than this, whatever the urgency: a failure that comes
 * back at once (a primary known down, one short of the replicas WAIT asks
 * for) must not turn the flush loop into a busy loop. */
#define ENG_RETRY_NS (100ull * 1000000ull)

static void flush_pass(rs_engine *e);
static void shutdown_check(rs_engine *e);
static uint64_t unflushed_states(rs_engine *e, uint64_t user_id);

static uint64_t ms_to_ns(uint32_t ms)
{
    return (uint64_t)ms * 1000000ull;
}

static void flush_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_pass(arg);
}

static void flush_kick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_pass(arg);
}

static void fail_waiters(rs_waiter *list)
{
    while (list != NULL) {
        rs_waiter *w = list;
        list = w->next;
        w->next = NULL;
        w->fn(w, NULL, RS_ERR_UNAVAILABLE);
    }
}

static void fail_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_engine *e = arg;
    rs_waiter *list = e->fail_list;
    e->fail_list = NULL;
    fail_waiters(list);
}

int engine_flush_init(rs_engine *e)
{
    e->tick_ev = event_new(e->base, -1, EV_PERSIST, flush_tick_cb, e);
    e->kick_ev = event_new(e->base, -1, 0, flush_kick_cb, e);
    e->cont_ev = evtimer_new(e->base, flush_kick_cb, e);
    e->fail_ev = event_new(e->base, -1, 0, fail_cb, e);
    e->call_users = calloc(e->cfg.flush_call_users, sizeof(*e->call_users));
    size_t cap = e->cfg.flush_batch;
    e->batch_users = calloc(cap, sizeof(*e->batch_users));
    e->batch_users_tmp = calloc(cap, sizeof(*e->batch_users_tmp));
    e->batch_tmp = calloc(cap, sizeof(*e->batch_tmp));
    e->batch_keys = calloc(cap, sizeof(*e->batch_keys));
    if (e->tick_ev == NULL || e->kick_ev == NULL || e->cont_ev == NULL || e->fail_ev == NULL ||
        e->call_users == NULL || e->batch_users == NULL || e->batch_users_tmp == NULL ||
        e->batch_tmp == NULL || e->batch_keys == NULL)
        return -1;
    uint32_t ms = RS_MAX(1u, RS_MIN(e->cfg.flush_interval_ms / 8, 100u));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return evtimer_add(e->tick_ev, &tv);
}

void engine_flush_fini(rs_engine *e)
{
    /* The store is gone: every batch has completed (with NULL replies). */
    if (e->tick_ev != NULL)
        event_free(e->tick_ev);
    if (e->kick_ev != NULL)
        event_free(e->kick_ev);
    if (e->cont_ev != NULL)
        event_free(e->cont_ev);
    if (e->fail_ev != NULL)
        event_free(e->fail_ev);
    if (e->shutdown_ev != NULL)
        event_free(e->shutdown_ev);
    eng_ring_free(&e->ring);
    eng_ring_free(&e->retry);
    free(e->call_users);
    free(e->batch_users);
    free(e->batch_users_tmp);
    free(e->batch_tmp);
    free(e->batch_keys);
}

/* urgent: a pass at the end of this turn of the loop, without the
 * write-behind delay (write-through commits, reconnects, shutdown); else a
 * pass on the next turn, after the connections have been served. */
void engine_flush_kick(rs_engine *e, bool urgent)
{
    if (e->closing)
        return;
    if (urgent) {
        e->urgent = true;
        if (e->kick_ev != NULL)
            event_active(e->kick_ev, EV_TIMEOUT, 0);
    } else if (e->cont_ev != NULL && !evtimer_pending(e->cont_ev, NULL)) {
        static const struct timeval zero = {0, 0};
        evtimer_add(e->cont_ev, &zero);
    }
}

static void queue_user(rs_engine *e, rs_user *u, uint64_t since_ns)
{
    eng_qent q = {u->user_id, since_ns};
    eng_ring_push(&e->ring, &q);
    u->bits |= RS_USER_DIRTY_QUEUED;
}

/* Count u's current bytes as dirty. The amount counted lives on the user
 * (rs_user.dirty_acct), so a change costs no side-table lookup; it is
 * clamped to 32 bits and the same clamped value is later taken off again. */
static void account(rs_engine *e, rs_user *u)
{
    size_t now = RS_MIN(cache_user_bytes(u), (size_t)UINT32_MAX);
    if (u->dirty_acct == 0)
        e->stats.dirty_users++;
    e->stats.dirty_bytes = e->stats.dirty_bytes - u->dirty_acct + now;
    u->dirty_acct = (uint32_t)now;
}

/* The user is clean: stop counting it. */
static void unaccount(rs_engine *e, rs_user *u)
{
    if (u == NULL || u->dirty_acct == 0)
        return;
    e->stats.dirty_users--;
    e->stats.dirty_bytes -= u->dirty_acct;
    u->dirty_acct = 0;
}

void engine_flush_note_change(rs_engine *e, rs_user *u)
{
    account(e, u);
    if ((u->bits & (RS_USER_DIRTY_QUEUED | RS_USER_FLUSHING)) == 0)
        queue_user(e, u, rs_now_ns());
}

/* The store lost what it had acknowledged for user_id (a Redis primary
 * failed over before its replica had the merge): send every state of the
 * user again, if it is still in the cache. Merges are idempotent, so a
 * state the new primary already has changes nothing. A deleted channel
 * whose tombstone was already dropped cannot be sent again (the loss the
 * README's failover section states). */
void engine_flush_remerge(rs_engine *e, uint64_t user_id)
{
    rs_user *u = cache_peek(e->cache, user_id);
    if (e->closing || u == NULL || u->status != RS_USER_READY)
        return;
    e->stats.remerged_users++;
    if (u->bits & RS_USER_FLUSHING) {
        /* Its flush in flight carries only the newest states and would
         * raise flushed_version past the lost ones: start over after it. */
        u->bits |= RS_USER_REMERGE;
        return;
    }
    u->flushed_version = 0;
    engine_flush_note_change(e, u);
}

/* ---- write-through waiters -------------------------------------------------- */

/* Detach the waiters of slot whose version is durable (<= durable). */
static rs_waiter *take_durable(rs_engine *e, eng_slot *slot, uint64_t durable)
{
    rs_waiter *done = NULL, **pp = &slot->commit_head;
    while (*pp != NULL) {
        rs_waiter *w = *pp;
        if (w->version <= durable) {
            *pp = w->next;
            w->next = done;
            done = w;
            e->commit_waiters--;
        } else {
            pp = &w->next;
        }
    }
    return done;
}

/* Answer u's write-through waiters whose version is durable (<= durable). */
static void fire_durable(rs_engine *e, rs_user *u, uint64_t durable)
{
    if (e->commit_waiters == 0)
        return; /* write-behind: no side-table lookup per flushed user */
    eng_slot *slot = eng_slot_find(&e->slots, u->user_id);
    if (slot == NULL || slot->commit_head == NULL)
        return;
    rs_waiter *list = take_durable(e, slot, durable);
    eng_slot_release(&e->slots, slot);
    while (list != NULL) {
        rs_waiter *w = list;
        list = w->next;
        w->next = NULL;
        w->fn(w, u, RS_OK);
    }
}

struct collect {
    rs_engine *e;
    rs_waiter *list;
    uint64_t now;
    bool all;
};

static void collect_slot(eng_slot *slot, void *arg)
{
    struct collect *c = arg;
    rs_waiter **pp = &slot->commit_head;
    while (*pp != NULL) {
        rs_waiter *w = *pp;
        if (c->all || w->deadline_ns <= c->now) {
            *pp = w->next;
            w->next = c->list;
            c->list = w;
            c->e->commit_waiters--;
        } else {
            pp = &w->next;
        }
    }
}

/* Fail write-through waiters: all of them, or those past their deadline.
 * Collect first, then call: callbacks may touch the side table. */
static void fail_commit_waiters(rs_engine *e, bool all)
{
    if (e->commit_waiters == 0)
        return;
    struct collect c = {e, NULL, rs_now_ns(), all};
    eng_slots_each(&e->slots, collect_slot, &c);
    for (rs_waiter *w = c.list; w != NULL; w = w->next) {
        eng_slot *slot = eng_slot_find(&e->slots, w->user_id);
        if (slot != NULL)
            eng_slot_release(&e->slots, slot);
    }
    fail_waiters(c.list);
}

rs_status engine_flush_commit(rs_engine *e, rs_user *u, rs_waiter *w)
{
    if (!rs_user_dirty(u) || e->cfg.durability != RS_DURABILITY_WRITE_THROUGH)
        return RS_OK; /* write-behind: queued by the change hook */
    w->user_id = u->user_id;
    w->version = u->version;
    w->next = NULL;
    /* Always ours to set: callers reuse one waiter for acquire and commit. */
    w->deadline_ns = rs_now_ns() + ms_to_ns(e->cfg.redis_timeout_ms);
    if (!store_up(e->store) || !store_user_up(e->store, u->user_id)) {
        w->next = e->fail_list;
        e->fail_list = w;
        event_active(e->fail_ev, EV_TIMEOUT, 0);
        return RS_PENDING;
    }
    eng_slot *slot = eng_slot_get(&e->slots, e, u->user_id);
    w->next = slot->commit_head;
    slot->commit_head = w;
    e->commit_waiters++;
    /* Sent at the end of this loop iteration, with whatever else is ready. */
    engine_flush_kick(e, true);
    return RS_PENDING;
}

void engine_flush_store_state(rs_engine *e, bool up)
{
    if (e->closing)
        return;
    if (up) {
        engine_flush_kick(e, true); /* the backlog goes now */
        return;
    }
    fail_commit_waiters(e, true);
}

/* ---- flushing ------------------------------------------------------------------ */

static void flush_done(void *arg, const rs_store_outcome *out, uint32_t n);

/* States of u a merge must carry: those newer than what the store has. */
static uint32_t unflushed_count(const rs_user *u)
{
    return cache_unflushed(u);
}

/* Send batch entries [first, first + n) (users e->call_users[0..n)) as one
 * merge call. Returns 0 when sent (the users are FLUSHING), -1 if the store
 * refused. */
static int send_call(rs_engine *e, eng_batch *b, uint32_t first, uint32_t n)
{
    b->ents[first].ncall = n;
    if (store_merge(e->store, e->call_users, n, flush_done, &b->ents[first]) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) /* the engine's own users: the store only reads them */
        ((rs_user *)e->call_users[i].user)->bits |= RS_USER_FLUSHING;
    b->pending++;
    e->stats.flush_users += n;
    return 0;
}

static void batch_done(rs_engine *e, eng_batch *b)
{
    RS_DLIST_REMOVE(e->inflight, b, prev, next);
    e->inflight_batches--;
    e->stats.flush_batches++;
    e->stats.flush_latency_ns_sum += rs_now_ns() - b->start_ns;
    free(b);
}

/* Fail u's write-through waiters at once with st (their change is in
 * memory, but the store refused it). */
static void fail_user_commits(rs_engine *e, uint64_t user_id, rs_status st)
{
    if (e->commit_waiters == 0)
        return;
    eng_slot *slot = eng_slot_find(&e->slots, user_id);
    if (slot == NULL || slot->commit_head == NULL)
        return;
    rs_waiter *list = take_durable(e, slot, UINT64_MAX);
    eng_slot_release(&e->slots, slot);
    while (list != NULL) {
        rs_waiter *w = list;
        list = w->next;
        w->next = NULL;
        w->fn(w, NULL, st);
    }
}

/* A newer owner claimed the user (FENCED): this node's copy is no longer
 * the user's. What it had not flushed is dropped (counted and logged: in
 * write-behind those writes were acknowledged here and are lost), its
 * write-through waiters fail, and it leaves the cache (or, held by a
 * request, is marked clean and left to eviction). */
static void user_fenced(rs_engine *e, const eng_flush *f, rs_user *u, const char *what)
{
    uint64_t dropped = unflushed_states(e, f->user_id);
    e->stats.fenced_users++;
    e->stats.fenced_states += dropped;
    RS_LOG(e->cfg.log, RS_LOG_WARN, "fleet_fenced",
           "user_id=%llu dropped_states=%llu generation=%llu error=\"%s\"",
           (unsigned long long)f->user_id, (unsigned long long)dropped,
           (unsigned long long)engine_owner_gen(e, f->user_id), what != NULL ? what : "");
    if (e->fence_hook != NULL && !e->closing)
        e->fence_hook(e->fence_ctx); /* this node's ring is stale: read it now */
    if (u == NULL)
        return;
    u->bits &= (uint8_t) ~(RS_USER_FLUSHING | RS_USER_REMERGE);
    if (e->closing)
        return;
    fail_user_commits(e, u->user_id, RS_ERR_UNAVAILABLE);
    u->flushed_version = u->version;
    unaccount(e, u);
    if (u->pins == 0)
        cache_remove(e->cache, u); /* a queue entry left for it finds no user */
}

/* One user's outcome of its merge call. Returns true when the merge landed.
 *
 * A merge the store refused because the stored data is invalid (see
 * merge.lua) is not an outage: the user is marked RS_USER_STORED_BAD (its
 * writes are refused until a merge lands), counted and logged, its
 * write-through waiters fail with INTERNAL, and it is retried no sooner
 * than half a flush interval later (it goes to the tail with the current
 * time), so a hash fixed by an operator gets the pending changes. During a
 * shutdown it is not retried: its states count as unflushed at once. */
static bool user_flushed(rs_engine *e, eng_batch *b, const eng_flush *f,
                         const rs_store_outcome *o)
{
    bool ok = o->result == RS_STORE_OK;
    const char *refused = o->result == RS_STORE_INVALID ? o->what : NULL;
    rs_user *u = cache_peek(e->cache, f->user_id);
    if (o->result == RS_STORE_FENCED) {
        user_fenced(e, f, u, o->what);
        return false;
    }
    if (ok) {
        e->stats.flushed_states += f->nstates;
        if (e->nproblems > 0)
            eng_stored_valid(e, f->user_id);
    } else {
        e->stats.flush_errors++;
        if (refused != NULL && !e->closing)
            eng_stored_invalid(e, f->user_id, "merge", refused);
        else if (o->what != NULL)
            RS_LOG(e->cfg.log, RS_LOG_WARN, "redis_flush_failed", "user_id=%llu error=\"%s\"",
                   (unsigned long long)f->user_id, o->what);
    }
    if (u == NULL)
        return ok;
    u->bits &= (uint8_t)~RS_USER_FLUSHING;
    if (ok) {
        cache_flushed(e->cache, u, f->version);
        u->bits &= (uint8_t)~RS_USER_STORED_BAD;
    } else if (refused != NULL) {
        u->bits |= RS_USER_STORED_BAD;
        if (!e->closing)
            fail_user_commits(e, u->user_id, RS_ERR_INTERNAL);
    }
    /* What this merge made durable, for write-through waiters: their own
     * change landed even when older states must go again. */
    uint64_t durable = u->flushed_version;
    if ((u->bits & RS_USER_REMERGE) && !e->closing) {
        u->bits &= (uint8_t)~RS_USER_REMERGE;
        u->flushed_version = 0; /* every state goes again (engine_flush_remerge) */
    }
    if (!rs_user_dirty(u))
        unaccount(e, u);
    else if (!e->closing)
        account(e, u); /* its size may have changed; keeps it counted */
    if ((u->bits & RS_USER_LEAVING) && !rs_user_dirty(u) && u->pins == 0 && !e->closing &&
        (u->bits & RS_USER_DIRTY_QUEUED) == 0) {
        /* Its slot moved to another node (engine_set_ownership): flushed, it goes. */
        if (ok)
            fire_durable(e, u, durable);
        cache_remove(e->cache, u);
        e->stats.ring_dropped++;
        return ok;
    }
    if (rs_user_dirty(u) && (u->bits & RS_USER_DIRTY_QUEUED) == 0 && !e->closing) {
        if (refused != NULL && e->shutting_down) {
            /* Not retried: reported by the shutdown as not flushed. */
            e->shutdown_refused_states += unflushed_states(e, u->user_id);
            e->shutdown_refused_users++;
            return ok;
        }
        /* Changed while in flight (dirty since at most the batch start),
         * failed (again in ENG_RETRY_NS), or refused (waits). */
        if (!ok && refused == NULL) {
            eng_qent q = {u->user_id, rs_now_ns() + ENG_RETRY_NS};
            eng_ring_push(&e->retry, &q);
            u->bits |= RS_USER_DIRTY_QUEUED;
        } else {
            queue_user(e, u, ok ? b->start_ns : rs_now_ns());
        }
        if (e->cfg.durability == RS_DURABILITY_WRITE_THROUGH && ok)
            engine_flush_kick(e, true);
    }
    if (ok && !e->closing)
        fire_durable(e, u, durable);
    return ok;
}

/* The outcomes of one merge call: one per user (a call that failed as a
 * whole, as NOSCRIPT or an outage do, fails every user of it). */
static void flush_done(void *arg, const rs_store_outcome *out, uint32_t n)
{
    eng_flush *f0 = arg;
    eng_batch *b = f0->batch;
    rs_engine *e = b->e; /* n: the users of the call as sent, f0->ncall */
    bool any_ok = false;
    for (uint32_t i = 0; i < n; i++)
        any_ok |= user_flushed(e, b, &f0[i], &out[i]);
    if (--b->pending == 0)
        batch_done(e, b); /* frees f0 */
    if (e->closing)
        return;
    if (e->ring.count > 0 && any_ok)
        engine_flush_kick(e, false);
    if (e->shutting_down)
        shutdown_check(e);
}

static bool ring_head_due(rs_engine *e, uint64_t now, uint64_t delay)
{
    eng_qent q;
    if (eng_ring_peek(&e->retry, &q) && q.since_ns <= now)
        return true; /* a failed merge's user, due again */
    return eng_ring_peek(&e->ring, &q) && q.since_ns + delay <= now;
}

/* The next due user: a retry first, then the queue. ring_head_due said so. */
static void ring_pop_due(rs_engine *e, uint64_t now, eng_qent *q)
{
    eng_qent r;
    if (eng_ring_peek(&e->retry, &r) && r.since_ns <= now)
        eng_ring_pop(&e->retry, q);
    else
        eng_ring_pop(&e->ring, q);
}

static bool flush_urgent(rs_engine *e)
{
    return e->urgent || e->shutting_down || e->cfg.durability == RS_DURABILITY_WRITE_THROUGH ||
           cache_over_budget(e->cache) ||
           (e->cfg.dirty_budget > 0 && e->stats.dirty_bytes * 2 >= e->cfg.dirty_budget);
}

/* The store refused a call: users [first, b->n) of the batch go back on
 * the ring (at the tail; they keep their age). */
static void requeue_call(rs_engine *e, eng_batch *b, uint32_t first)
{
    for (uint32_t i = first; i < b->n; i++) {
        eng_qent q = {b->ents[i].user_id, b->ents[i].since_ns};
        e->batch_users[i]->bits |= RS_USER_DIRTY_QUEUED;
        eng_ring_push(&e->ring, &q);
    }
    b->n = first;
}

static int group_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Order the batch's users by the store's group (a Redis Cluster's hash
 * slot), keeping their order within a group, so users that share a slot sit
 * next to each other and the store merges them in one command. */
static void group_batch(rs_engine *e, eng_batch *b)
{
    uint64_t *keys = e->batch_keys; /* group << 32 | index */
    for (uint32_t i = 0; i < b->n; i++)
        keys[i] = (uint64_t)store_group(e->store, b->ents[i].user_id) << 32 | i;
    qsort(keys, b->n, sizeof(*keys), group_cmp);
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t from = (uint32_t)keys[i];
        e->batch_tmp[i] = b->ents[from];
        e->batch_users_tmp[i] = e->batch_users[from];
    }
    memcpy(b->ents, e->batch_tmp, b->n * sizeof(*b->ents));
    memcpy(e->batch_users, e->batch_users_tmp, b->n * sizeof(*e->batch_users));
}

/* Fill and send one batch: up to flush_batch due users, ordered by the
 * store's group when it has one, go out in merge calls of at most
 * flush_call_users users and the store's merge_units. Returns false when
 * the store refused a send. */
static bool flush_one_batch(rs_engine *e, uint64_t now, uint64_t delay)
{
    size_t cap = e->cfg.flush_batch;
    eng_batch *b = rs_xmalloc(sizeof(*b) + cap * sizeof(eng_flush), "flush batch");
    memset(b, 0, sizeof(*b));
    b->e = e;
    b->start_ns = now;
    eng_qent q;
    while (b->n < cap && ring_head_due(e, now, delay)) {
        ring_pop_due(e, now, &q);
        rs_user *u = cache_peek(e->cache, q.user_id);
        if (u != NULL)
            u->bits &= (uint8_t)~RS_USER_DIRTY_QUEUED;
        if (u == NULL || u->status != RS_USER_READY || !rs_user_dirty(u)) {
            unaccount(e, u);
            continue;
        }
        eng_flush *f = &b->ents[b->n];
        f->batch = b;
        f->user_id = u->user_id;
        f->version = u->version;
        f->since_ns = q.since_ns;
        f->nstates = unflushed_count(u);
        f->ncall = 0;
        e->batch_users[b->n++] = u;
    }
    if (b->n == 0) {
        free(b);
        return true;
    }
    if (b->n > 1 && e->store->ops->group != NULL)
        group_batch(e, b);
    bool sent_all = true;
    uint32_t first = 0; /* the open call: entries [first, i) */
    size_t units = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        uint32_t ns = b->ents[i].nstates, open = i - first;
        if (open > 0 && (open == e->cfg.flush_call_users ||
                         units + store_merge_units(ns) > e->store->merge_units)) {
            if (send_call(e, b, first, open) != 0) {
                requeue_call(e, b, first);
                sent_all = false;
                break;
            }
            first = i;
            units = 0;
        }
        e->call_users[i - first].user = e->batch_users[i];
        e->call_users[i - first].nstates = ns;
        e->call_users[i - first].owner_gen = engine_owner_gen(e, b->ents[i].user_id);
        units += store_merge_units(ns);
    }
    if (sent_all && b->n > first && send_call(e, b, first, b->n - first) != 0) {
        requeue_call(e, b, first);
        sent_all = false;
    }
    if (b->n == 0) {
        free(b);
        return sent_all;
    }
    RS_DLIST_PUSH(e->inflight, b, prev, next);
    e->inflight_batches++;
    return sent_all;
}

/* Test hook: one merge call, nothing sent: the queued users (up to
 * flush_call_users) go into a batch as flush_one_batch puts them (FLUSHING,
 * in flight); the store's answer goes to the real completion path
 * (flush_done). Returns the users of the call. For
 * tests/fuzz/fuzz_redis_reply.c. */
uint32_t engine_flush_inject_begin(rs_engine *e, rs_store_merge_fn *fn, void **arg)
{
    uint32_t cap = RS_MAX(e->cfg.flush_call_users, 1u);
    eng_batch *b = rs_xcalloc(1, sizeof(*b) + cap * sizeof(eng_flush), "flush batch");
    b->e = e;
    b->start_ns = rs_now_ns();
    eng_qent q;
    while (b->n < cap && eng_ring_pop(&e->ring, &q)) {
        rs_user *u = cache_peek(e->cache, q.user_id);
        if (u != NULL)
            u->bits &= (uint8_t)~RS_USER_DIRTY_QUEUED;
        if (u == NULL || u->status != RS_USER_READY || !rs_user_dirty(u)) {
            unaccount(e, u);
            continue;
        }
        eng_flush *f = &b->ents[b->n++];
        f->batch = b;
        f->user_id = u->user_id;
        f->version = u->version;
        f->since_ns = q.since_ns;
        f->nstates = unflushed_count(u);
        u->bits |= RS_USER_FLUSHING;
    }
    uint32_t n = b->n;
    if (n == 0) {
        free(b);
        return 0;
    }
    b->ents[0].ncall = n;
    b->pending = 1;
    e->stats.flush_users += n;
    RS_DLIST_PUSH(e->inflight, b, prev, next);
    e->inflight_batches++;
    *fn = flush_done;
    *arg = &b->ents[0];
    return n;
}

static void flush_pass(rs_engine *e)
{
    if (e->closing)
        return;
    fail_commit_waiters(e, false); /* write-through waiters past their deadline */
    if (!store_persistent(e->store) || !store_up(e->store)) {
        if (e->shutting_down)
            shutdown_check(e);
        return;
    }
    uint64_t now = rs_now_ns();
    uint64_t delay = flush_urgent(e) ? 0 : ms_to_ns(e->cfg.flush_interval_ms) / 2;
    e->urgent = false;
    if (e->inflight_batches < ENG_MAX_INFLIGHT && ring_head_due(e, now, delay) &&
        flush_one_batch(e, now, delay) && e->inflight_batches < ENG_MAX_INFLIGHT &&
        ring_head_due(e, now, delay)) {
        /* More is due: the next batch on the next turn (as urgent as this). */
        engine_flush_kick(e, false);
        if (delay == 0)
            e->urgent = true;
    }
    if (e->shutting_down)
        shutdown_check(e);
}

/* ---- shutdown -------------------------------------------------------------------- */

static uint64_t unflushed_states(rs_engine *e, uint64_t user_id)
{
    rs_user *u = cache_peek(e->cache, user_id);
    if (u == NULL || !rs_user_dirty(u))
        return 0;
    uint64_t n = cache_unflushed(u);
    return n > 0 ? n : 1;
}

static void shutdown_report(rs_engine *e, uint64_t unflushed)
{
    if (e->shutdown_reported)
        return;
    e->shutdown_reported = true;
    if (e->shutdown_ev != NULL)
        event_del(e->shutdown_ev);
    /* A fleet node's writes dropped because a newer owner claimed their
     * users did not land either: in write-behind they were acknowledged, so
     * they count (and were logged one by one); in write-through none was
     * (their callers got UNAVAILABLE): logged, not counted as lost. */
    uint64_t lost = unflushed;
    if (e->cfg.durability != RS_DURABILITY_WRITE_THROUGH)
        lost += e->stats.fenced_states;
    RS_LOG(e->cfg.log, lost == 0 ? RS_LOG_INFO : RS_LOG_ERROR, "engine_shutdown",
           "unflushed_states=%llu flushed_states=%llu stored_invalid_users=%llu "
           "fenced_states=%llu",
           (unsigned long long)unflushed, (unsigned long long)e->stats.flushed_states,
           (unsigned long long)e->shutdown_refused_users,
           (unsigned long long)e->stats.fenced_states);
    e->shutdown_done(e->shutdown_arg, lost);
}

static void shutdown_check(rs_engine *e)
{
    /* Nothing left to send: what the script refused is all that is missing. */
    if (!e->shutdown_reported && e->ring.count == 0 && e->retry.count == 0 &&
        e->inflight_batches == 0)
        shutdown_report(e, e->shutdown_refused_states);
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_engine *e = arg;
    uint64_t n = e->shutdown_refused_states;
    for (size_t i = 0; i < e->ring.count; i++)
        n += unflushed_states(e, eng_ring_at(&e->ring, i)->user_id);
    for (size_t i = 0; i < e->retry.count; i++)
        n += unflushed_states(e, eng_ring_at(&e->retry, i)->user_id);
    for (eng_batch *b = e->inflight; b != NULL; b = b->next)
        for (uint32_t i = 0; i < b->n; i++)
            n += unflushed_states(e, b->ents[i].user_id);
    shutdown_report(e, n);
}

void engine_flush_shutdown(rs_engine *e, rs_engine_done_fn done, void *arg)
{
    if (e->shutting_down)
        return;
    e->shutting_down = true;
    e->shutdown_done = done;
    e->shutdown_arg = arg;
    e->shutdown_ev = rs_xcheck(evtimer_new(e->base, shutdown_timeout_cb, e), "event");
    uint32_t ms = e->cfg.shutdown_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(e->shutdown_ev, &tv);
    RS_LOG(e->cfg.log, RS_LOG_INFO, "engine_flushing", "dirty_users=%llu dirty_bytes=%llu",
           (unsigned long long)e->stats.dirty_users, (unsigned long long)e->stats.dirty_bytes);
    engine_flush_kick(e, true); /* the pass reports when nothing is left */
}
