/*
 * engine.h: the server's single door to storage.
 *
 * The engine owns the cache and its store (store.h): the Redis store
 * (store_redis.h) when --redis is given, else memory only
 * (store_memory.h). The server never talks to Redis: it acquires a user, runs
 * the semantic operation on the cache, and commits. Every asynchronous step
 * completes exactly once through an rs_waiter embedded in the caller's
 * object (no allocation per wait):
 *
 *   server op ──acquire──> READY user (fast path, synchronous)
 *                 └──────> RS_PENDING: load from Redis (coalesced per user);
 *                          w->fn(w, user, RS_OK | RS_ERR_UNAVAILABLE |
 *                          RS_ERR_INTERNAL) later
 *   server op ──write_allowed──> OK | RESOURCE_EXHAUSTED | UNAVAILABLE | INTERNAL
 *   server op ──commit──> OK (write-behind: dirty, flushed within the interval)
 *                 └────> RS_PENDING (write-through): w->fn once Redis acked
 *   server op ──release──> unpin
 *
 * Stored data that fails the stored-value check (stored_value.h) is never
 * used or written over: the load fails with RS_ERR_INTERNAL (the user is not
 * cached, so the next acquire loads again), a merge refused by the script
 * keeps the user dirty and marks it (RS_USER_STORED_BAD: writes get
 * RS_ERR_INTERNAL until a merge lands), and engine_user_problem says what
 * is wrong for the error message.
 *
 * Without a store (memory only), acquire inserts missing users at once,
 * commits complete at once and eviction drops users (data is not kept).
 *
 * A user handed to a waiter or returned by acquire is pinned (never evicted)
 * until engine_release. Waiter callbacks run from the event loop, never from
 * inside the call that registered them.
 */
#ifndef RS_ENGINE_H
#define RS_ENGINE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "rs_common.h"
#include "rs_log.h"
#include "store.h"

typedef struct rs_engine rs_engine;
typedef struct rs_waiter rs_waiter;

/* u is the pinned user on RS_OK, NULL on an error. */
typedef void (*rs_waiter_fn)(rs_waiter *w, rs_user *u, rs_status st);

struct rs_waiter {
    rs_waiter *next; /* engine-owned list link */
    rs_waiter_fn fn;
    uint64_t user_id;
    uint64_t version; /* commit: the version that must be durable */
    uint64_t deadline_ns;
    void *arg; /* caller's */
};

typedef enum rs_durability {
    RS_DURABILITY_WRITE_BEHIND,
    RS_DURABILITY_WRITE_THROUGH,
    RS_DURABILITY_MAX
} rs_durability;

typedef struct rs_engine_config {
    rs_cache_config cache;
    const char *redis_host;       /* NULL: memory only (unless redis_cluster) */
    const char *redis_cluster;    /* seeds HOST:PORT[,...] of a Redis Cluster; NULL: none */
    uint32_t redis_wait_replicas; /* > 0: WAIT for this many replicas after each merge */
    int redis_port;
    const char *redis_password; /* NULL: no AUTH */
    const char *redis_user; /* NULL: AUTH password (default user); else AUTH user password */
    int redis_db;
    rs_durability durability;
    uint32_t flush_interval_ms;   /* write-behind: every dirty user within this */
    uint32_t flush_batch;         /* users per pipelined flush batch */
    uint32_t flush_call_users;    /* users per merge call (EVALSHA) within a batch */
    size_t dirty_budget;          /* bytes of dirty users; over it writes are refused */
    uint32_t redis_timeout_ms;    /* per Redis request; loads fail within this */
    uint32_t shutdown_timeout_ms; /* engine_shutdown gives up after this */
    const rs_log *log;
} rs_engine_config;

typedef struct rs_engine_stats {
    uint64_t dirty_users;
    uint64_t dirty_bytes;
    uint64_t flush_batches;
    uint64_t flushed_states;
    uint64_t flush_users;  /* users sent in merge calls (a user flushed twice counts twice) */
    uint64_t flush_errors; /* users whose merge failed (they stay dirty) */
    uint64_t flush_latency_ns_sum; /* sum over batches */
    uint64_t loads;
    uint64_t loads_in_flight;
    uint64_t load_errors;
    uint64_t redis_errors;
    uint64_t reconnects;
    uint64_t stored_invalid; /* loads and merges refused: the stored hash failed the check */
    uint64_t remerged_users; /* merged again after a Redis failover */
    uint64_t fenced_loads;   /* fleet: loads refused, a newer owner claimed the user */
    uint64_t fenced_users;   /* fleet: users dropped, a newer owner claimed them */
    uint64_t fenced_states;  /* fleet: unflushed states dropped with them */
    uint64_t owner_gen;      /* fleet: the ring generation this node owns its slots under */
    uint64_t ring_dropped;   /* fleet: cached users let go when their slot changed owner */
    uint64_t ring_sweeps_finished_early; /* fleet: a ring change came while the walk after the
                                            last one ran, which then finished at once */
    bool redis_configured;
    bool redis_up;
} rs_engine_stats;

/* Fill defaults (flush 1000 ms, batch 64, 16 users per call, dirty budget 64 MiB, timeouts
 * 1000 ms and 25000 ms, write-behind, memory only). */
void engine_config_defaults(rs_engine_config *cfg);

/* Create an engine on the server's event base. Returns NULL on failure. */
rs_engine *engine_new(struct event_base *base, const rs_engine_config *cfg);

/* A fleet node's ring changed: it owns the slots with owned[slot] true
 * under generation gen. Loads claim users under gen (a user claimed under a
 * higher generation is refused: FENCED, UNAVAILABLE to the caller); a
 * merge carries the generation under which this node last owned the
 * user's slot, so what it still holds of slots it lost is refused once a
 * newer owner claims those users (dropped, counted, logged). gen 0 and
 * owned NULL: not in a fleet (no claims). */
void engine_set_ownership(rs_engine *e, uint64_t gen, const bool *owned);
/* The users a ring change took away are let go by a walk over the cache in
 * steps of ENGINE_SWEEP_STEP users, one per turn of the loop, so that a
 * change never holds the loop for the whole cache; a user the walk has not
 * reached yet is checked when a call acquires it. One step of at most max
 * users; true when the walk is done (or none is active). Tests call it
 * directly; the loop calls it through a timer. */
#define ENGINE_SWEEP_STEP 4096
bool engine_sweep(rs_engine *e, size_t max);

/* Read the fleet's ring from the store (store.h ring_get). Returns 0 when
 * asked (fn runs once, later) or -1 (no store that holds one, or down). */
int engine_ring_get(rs_engine *e, rs_store_ring_fn fn, void *arg);

/* Called when a load or a merge was refused as FENCED (a node with a newer
 * ring generation owns the user): this node's ring is stale, read it now. */
void engine_set_fence_hook(rs_engine *e, void (*fn)(void *ctx), void *ctx);

/* The generation a merge of user_id carries (0: not in a fleet). */
uint64_t engine_owner_gen(const rs_engine *e, uint64_t user_id);

/* The store behind the engine (for reports: store_cluster_of). */
const struct rs_store *engine_store(const rs_engine *e);
void engine_free(rs_engine *e);
/* The cache under the engine: for the engine's own inline operations below
 * and for tests; the server goes through the engine_* functions. */
rs_cache *engine_cache(rs_engine *e);
const rs_engine_stats *engine_stats(rs_engine *e);
const rs_engine_config *engine_config(const rs_engine *e);

/* The server's change hook (Watch); the engine chains it after its own. */
void engine_set_change_hook(rs_engine *e, rs_change_fn fn, void *ctx);

/* Get a user ready for an operation.
 *   RS_OK:       *out is READY and pinned now.
 *   RS_PENDING:  w->fn runs exactly once later (pinned user, or an error:
 *                RS_ERR_UNAVAILABLE when the store cannot load in time,
 *                RS_ERR_INTERNAL when the stored hash is invalid or has
 *                more states than max_states_per_user).
 *   RS_ERR_UNAVAILABLE: the store is down; nothing was registered. */
rs_status engine_acquire(rs_engine *e, uint64_t user_id, rs_waiter *w, rs_user **out);
/* Unpin a user; may evict if the cache is over budget. */
void engine_release(rs_engine *e, rs_user *u);

/* Before applying a change to u: RS_OK, RS_ERR_EXHAUSTED (write-behind and
 * the dirty budget is full), RS_ERR_UNAVAILABLE (write-through, store down)
 * or RS_ERR_INTERNAL (the user's stored hash is invalid: RS_USER_STORED_BAD). */
rs_status engine_write_allowed(rs_engine *e, const rs_user *u);

/* What is wrong with the user's stored data ("stored data in
 * readstates:{7} is invalid: field ..."), for the message of an
 * RS_ERR_INTERNAL; NULL when nothing is known. Valid until the next call
 * into the engine. */
const char *engine_user_problem(rs_engine *e, uint64_t user_id);

/* After applying changes (u still pinned): RS_OK when the answer may go out
 * now; RS_PENDING when w->fn runs once the store acknowledged u->version
 * (RS_OK) or failed (RS_ERR_UNAVAILABLE; RS_ERR_INTERNAL when the merge
 * script refused the stored hash). */
rs_status engine_commit(rs_engine *e, rs_user *u, rs_waiter *w);

/* Ready for traffic: no store configured, or the store is connected. */
bool engine_ready(const rs_engine *e);

/* ---- the operations on a held user --------------------------------------
 * The server's only way to the states: dispatch applies a call to a user it
 * holds (engine_acquire) through these, then commits. They are the cache's
 * operations (cache.h: semantics, versions, limits), reached through the
 * engine so that no part of the server touches the cache itself; inline,
 * so the hot path pays nothing for the door. */

/* The live state for a channel into *out; false if there is none. */
static inline bool engine_state(const rs_user *u, uint64_t channel_id, rs_state *out)
{
    return cache_state(u, channel_id, out);
}

/* Slot i of u (i < u->nslots, in channel order) into *out; false when it is
 * a deleted state waiting for its flush (a tombstone). */
static inline bool engine_slot(const rs_user *u, uint32_t i, rs_state *out)
{
    cache_slot(u, i, out);
    return rs_state_live(out);
}

/* A change of n more versions would pass 2^64-1 (refused, never wrapped). */
static inline bool engine_version_full(const rs_user *u, uint64_t n)
{
    return cache_version_full(u, n);
}

static inline rs_status engine_ack(rs_engine *e, rs_user *u, uint64_t channel_id,
                                   uint64_t message_id, uint32_t mention_count, rs_state *out,
                                   bool *applied)
{
    return cache_ack(engine_cache(e), u, channel_id, message_id, mention_count, out, applied);
}

static inline rs_status engine_set(rs_engine *e, rs_user *u, uint64_t channel_id,
                                   uint64_t message_id, uint32_t mention_count, rs_state *out,
                                   bool *applied)
{
    return cache_set(engine_cache(e), u, channel_id, message_id, mention_count, out, applied);
}

static inline rs_status engine_bulk_ack(rs_engine *e, rs_user *u, const rs_ack_entry *entries,
                                        size_t n, rs_state *out, uint32_t *applied)
{
    return cache_bulk_ack(engine_cache(e), u, entries, n, out, applied);
}

static inline rs_status engine_add_mentions(rs_engine *e, rs_user *u, uint64_t channel_id,
                                            uint64_t message_id, uint32_t count,
                                            uint32_t *mention_count, bool *applied)
{
    return cache_add_mentions(engine_cache(e), u, channel_id, message_id, count, mention_count,
                              applied);
}

static inline uint32_t engine_delete(rs_engine *e, rs_user *u, const uint64_t *channel_ids,
                                     size_t n, bool all)
{
    return cache_delete(engine_cache(e), u, channel_ids, n, all);
}

/* States one user may hold (--max-states-per-user). */
uint32_t engine_max_states_per_user(rs_engine *e);

/* Whether anyone watches user_id: a cached user that nobody watches lets
 * its changes skip the change hook's lookup. */
void engine_set_watched(rs_engine *e, uint64_t user_id, bool watched);

/* The cache's figures and its memory budget (0: none), for metrics. */
const rs_cache_stats *engine_cache_stats(rs_engine *e);
size_t engine_cache_max_bytes(rs_engine *e);

/* Advance the cache's coarse clock (seconds; the server's 1 s tick). */
void engine_tick(rs_engine *e, uint32_t now_s);

/* Flush everything dirty and stop. done(arg, unflushed_states) runs once,
 * with 0 when all was flushed, from the event loop. Users whose merge the
 * script refuses (invalid stored hash) are not retried during shutdown:
 * their states count as unflushed at once. */
typedef void (*rs_engine_done_fn)(void *arg, uint64_t unflushed_states);
void engine_shutdown(rs_engine *e, rs_engine_done_fn done, void *arg);

#endif /* RS_ENGINE_H */
