/*
 * store.h: the store behind the engine — a small table of functions (the
 * style of Redis's own type tables), so the engine holds an rs_store * and
 * never knows which store it is nor how it talks:
 *
 *   engine ──load(user)──────────────> store ──> fn(arg, states | INVALID | ERROR)
 *          ──merge(users[0..n))──────>       ──> fn(arg, outcome[0..n))
 *          ──up / stats / key / free─>
 *
 *   store_memory.c  memory only (no --redis): loads find nothing, merges
 *                   succeed, always up; not persistent
 *   store_redis.c   one Redis (hiredis async on the engine's event base):
 *                   key format, the load and merge scripts, RESP decoding,
 *                   NOSCRIPT reloads, reconnects with backoff
 *
 * A Redis Cluster store is one more file behind this header.
 *
 * Contract, for every store:
 * - load and merge return 0 when accepted (fn then runs exactly once, later,
 *   from the event loop, never inside the call) or -1 when refused (the
 *   store is not up; fn never runs). free completes what is pending (with
 *   RS_STORE_ERROR) during the call.
 * - A merge carries, per user, the user's version and its states newer than
 *   user->flushed_version; a tombstone (a deleted channel) travels as a
 *   delete. The store reads the states where they are (no copy) and must be
 *   done with them when merge returns. Merges are idempotent and ordered by
 *   version in the store, so a retried or reordered merge never moves a
 *   cursor back.
 * - RS_STORE_INVALID: the stored data failed the check (stored_value.h);
 *   nothing of it was used or written; `what` says which field and why.
 *   RS_STORE_ERROR: not known to have happened (outage, timeout, an error
 *   reply); the caller retries. Result data is valid only during fn.
 * - A persistent store keeps what it is given: the engine keeps tombstones,
 *   tracks dirty users and never evicts one before it is merged. A store
 *   that is not persistent (memory only) is never asked to load or merge by
 *   the engine: every user is created in memory at once and is clean as
 *   soon as it is committed.
 */
#ifndef RS_STORE_H
#define RS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

typedef struct rs_store rs_store;

typedef enum rs_store_result {
    RS_STORE_OK,      /* load: the stored states (maybe none); merge: applied */
    RS_STORE_INVALID, /* the stored data failed the check: refused, `what` says why */
    RS_STORE_ERROR,   /* not known to have happened: retry */
    RS_STORE_FENCED,  /* a fleet node with a newer ring generation owns the user:
                         nothing was read or written; this node must let it go */
    RS_STORE_RESULT_MAX
} rs_store_result;

/* The answer to a load. */
typedef struct rs_store_loaded {
    rs_store_result result;
    uint64_t version;       /* OK: the user's stored version (0: none) */
    const rs_state *states; /* OK: the stored states, any order */
    size_t nstates;
    const char *what; /* INVALID: what is wrong; FENCED: the owner's generation */
    uint64_t owner;   /* OK: the stored owner generation (_o; 0: none) */
} rs_store_loaded;

typedef void (*rs_store_load_fn)(void *arg, const rs_store_loaded *r);

/* One user of a merge call. */
typedef struct rs_store_user {
    const rs_user *user; /* its version, and its states with version > flushed_version */
    uint32_t nstates;    /* how many states that is (the caller counted them) */
    uint64_t owner_gen;  /* a fleet node: the ring generation it owns the user under
                            (the merge is refused, FENCED, when a newer owner claimed
                            it); 0: not in a fleet */
} rs_store_user;

/* One user's outcome of a merge call. */
typedef struct rs_store_outcome {
    rs_store_result result;
    const char *what; /* INVALID: what is wrong; ERROR: the store's error for this
                         user, or NULL when the whole call failed */
} rs_store_outcome;

/* out[i] is the outcome of users[i] of the call; n as sent. */
typedef void (*rs_store_merge_fn)(void *arg, const rs_store_outcome *out, uint32_t n);

/* The fleet's ring as stored (rs_ring.h's three text fields; NULL when
 * absent), or ok false when it could not be read. Valid during fn only. */
typedef void (*rs_store_ring_fn)(void *arg, bool ok, const char *generation, const char *nodes,
                                 const char *ranges);

/* Called whenever the store becomes up (up = true) or stops being up. */
typedef void (*rs_store_state_fn)(void *ctx, bool up);

typedef struct rs_store_stats {
    uint64_t errors;     /* error replies, dropped connections, timeouts */
    uint64_t reconnects; /* successful connects after the first */
    uint64_t connects;   /* successful connects */
    uint64_t timeouts;   /* requests that timed out */
} rs_store_stats;

typedef struct rs_store_ops {
    const char *name; /* "memory", "redis" */
    int (*load)(rs_store *s, uint64_t user_id, rs_store_load_fn fn, void *arg);
    int (*merge)(rs_store *s, const rs_store_user *users, uint32_t n, rs_store_merge_fn fn,
                 void *arg);
    bool (*up)(const rs_store *s);
    /* Optional: whether user_id's part of the store is up (a Redis Cluster
     * may be up with one primary's slots unreachable); NULL: as up. */
    bool (*user_up)(const rs_store *s, uint64_t user_id);
    /* Optional: users of one group merge in one command (a Redis Cluster:
     * the hash slot); the engine orders a flush batch by it. NULL: one
     * group. */
    uint32_t (*group)(const rs_store *s, uint64_t user_id);
    /* Optional: read the fleet's ring (rs_ring.h, key readstates:ring).
     * Returns 0 when sent (fn runs once, later) or -1. NULL: no ring. */
    int (*ring_get)(rs_store *s, rs_store_ring_fn fn, void *arg);
    void (*stats)(const rs_store *s, rs_store_stats *out);
    /* Where the store keeps user_id, for messages and logs
     * ("readstates:{7}"); returns snprintf's result. */
    int (*key)(const rs_store *s, uint64_t user_id, char *buf, size_t size);
    void (*free)(rs_store *s);
} rs_store_ops;

/* The head of every store (the first member of its own struct). */
struct rs_store {
    const rs_store_ops *ops;
    bool persistent; /* keeps what it is given (see above) */
    /* A merge call holds at most this many units (store_merge_units) unless
     * it holds one user; callers split their users into calls by it. */
    size_t merge_units;
    /* A fleet node: the ring generation loads claim users under (stores
     * of Redis); 0: no claims. Set by the engine. */
    uint64_t owner_gen;
};

/* Units one user with nstates states takes in a merge call. */
static inline size_t store_merge_units(uint32_t nstates)
{
    return 3 + 2 * (size_t)nstates;
}

static inline int store_load(rs_store *s, uint64_t user_id, rs_store_load_fn fn, void *arg)
{
    return s->ops->load(s, user_id, fn, arg);
}

static inline int store_merge(rs_store *s, const rs_store_user *users, uint32_t n,
                              rs_store_merge_fn fn, void *arg)
{
    return s->ops->merge(s, users, n, fn, arg);
}

static inline bool store_up(const rs_store *s)
{
    return s->ops->up(s);
}

static inline bool store_user_up(const rs_store *s, uint64_t user_id)
{
    return s->ops->user_up != NULL ? s->ops->user_up(s, user_id) : s->ops->up(s);
}

static inline uint32_t store_group(const rs_store *s, uint64_t user_id)
{
    return s->ops->group != NULL ? s->ops->group(s, user_id) : 0;
}

static inline bool store_persistent(const rs_store *s)
{
    return s->persistent;
}

static inline void store_stats(const rs_store *s, rs_store_stats *out)
{
    s->ops->stats(s, out);
}

static inline int store_key(const rs_store *s, uint64_t user_id, char *buf, size_t size)
{
    return s->ops->key(s, user_id, buf, size);
}

static inline void store_free(rs_store *s)
{
    if (s != NULL)
        s->ops->free(s);
}

#endif /* RS_STORE_H */
