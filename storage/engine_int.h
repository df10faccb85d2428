/*
 * engine_int.h: the engine's private state, shared by engine.c (acquire,
 * load on miss, release), engine_flush.c (dirty queue, flush, commit,
 * shutdown) and engine_tab.c (the side tables). Not a public interface.
 *
 *   rs_engine
 *   ├── cache            users + states (cache.h)
 *   ├── store            the store (store.h): memory only (store_memory.h) or
 *   │                    one Redis (store_redis.h); never NULL
 *   ├── slots            user_id -> eng_slot: load waiters, write-through
 *   │                    commit waiters; only users someone waits on
 *   ├── ring             flush queue of dirty user ids (each at most once,
 *   │                    RS_USER_DIRTY_QUEUED), oldest first
 *   └── batches          pipelined flushes in flight (RS_USER_FLUSHING)
 *
 * A dirty user is in exactly one of: the ring, an in-flight batch. Its
 * bytes (cache_user_bytes, updated on every change) are kept on the user
 * (rs_user.dirty_acct) and summed in stats.dirty_bytes until a flush leaves
 * it clean; so the slot table holds only the users someone waits on
 * (bounded by the requests in flight).
 */
#ifndef RS_ENGINE_INT_H
#define RS_ENGINE_INT_H

#include "engine.h"
#include "rs_slot.h"
#include "store.h"

typedef struct rs_engine rs_engine;

/* ---- side table of waiting and dirty users -------------------------------- */

typedef struct eng_slot {
    struct eng_slot *next; /* hash chain */
    rs_engine *e;
    uint64_t user_id;
    rs_waiter *load_head; /* acquire waiters of an in-flight load (FIFO) */
    rs_waiter *load_tail;
    rs_waiter *commit_head; /* write-through waiters (any order) */
    bool loading;           /* a load is in flight; the store owns a ref */
} eng_slot;

typedef struct eng_slots {
    eng_slot **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
} eng_slots;

eng_slot *eng_slot_find(eng_slots *t, uint64_t user_id);
/* Find or create (aborts on out of memory). */
eng_slot *eng_slot_get(eng_slots *t, rs_engine *e, uint64_t user_id);
/* Free the slot if nothing refers to it any more. */
void eng_slot_release(eng_slots *t, eng_slot *s);
/* Call fn on every slot (fn must not add or remove slots). */
void eng_slots_each(eng_slots *t, void (*fn)(eng_slot *s, void *arg), void *arg);
void eng_slots_free(eng_slots *t);

/* ---- ring of dirty users ------------------------------------------------ */

typedef struct eng_qent {
    uint64_t user_id;
    uint64_t since_ns; /* dirty since (monotonic) */
} eng_qent;

typedef struct eng_ring {
    eng_qent *ents;
    size_t cap; /* power of two, or 0 */
    size_t head;
    size_t count;
} eng_ring;

void eng_ring_push(eng_ring *r, const eng_qent *q); /* aborts on out of memory */
bool eng_ring_peek(const eng_ring *r, eng_qent *out);
bool eng_ring_pop(eng_ring *r, eng_qent *out);
const eng_qent *eng_ring_at(const eng_ring *r, size_t i);
void eng_ring_free(eng_ring *r);

/* ---- flush batches -------------------------------------------------------- */

typedef struct eng_batch eng_batch;

typedef struct eng_flush {
    eng_batch *batch;
    uint64_t user_id;
    uint64_t version; /* u->version sent */
    uint64_t since_ns;
    uint32_t nstates; /* states (and deletes) sent */
    uint32_t ncall;   /* first entry of a merge call: users in it; else 0 */
} eng_flush;

struct eng_batch {
    rs_engine *e;
    eng_batch *prev, *next; /* in-flight list */
    uint64_t start_ns;
    uint32_t n;       /* entries used */
    uint32_t pending; /* merge calls outstanding */
    eng_flush ents[];
};

/* ---- users whose stored data was refused ------------------------------------- */

/* What is wrong with one user's stored hash, for error messages and for
 * logging it once (not once per request) per ENG_PROBLEM_LOG_NS. A fixed
 * table: when full, the oldest entry goes (its user's errors then carry a
 * generic text). Entries go when a load or a merge of the user succeeds. */
#define ENG_PROBLEMS       64
#define ENG_PROBLEM_TEXT   256
#define ENG_PROBLEM_LOG_NS (10ull * 1000000000ull)

typedef struct eng_problem {
    uint64_t user_id; /* 0: free */
    uint64_t logged_ns;
    char text[ENG_PROBLEM_TEXT];
} eng_problem;

struct rs_engine {
    struct event_base *base;
    rs_engine_config cfg;
    rs_cache *cache;
    rs_engine_stats stats;
    rs_change_fn server_hook;
    void *server_hook_ctx;

    rs_store *store;               /* memory only (not persistent) or Redis; never NULL */
    uint64_t *slot_gen;            /* fleet: per slot, the generation this node last owned it
                                      under (0: never); NULL: not in a fleet */
    bool *slot_owned;              /* fleet: per slot, owned in the ring in use */
    bool slot_moved[RS_SLOTS];     /* fleet: changed hands in the last ring change */
    struct event *sweep_ev;        /* fleet: the next step of the walk over the cache that
                                      drops users of moved slots (engine_sweep) */
    bool sweeping;                 /* that walk is active (saves a call per acquire) */
    void (*fence_hook)(void *ctx); /* fleet: a FENCED answer (engine_set_fence_hook) */
    void *fence_ctx;
    bool closing; /* engine_free: complete nothing to callers */
    eng_slots slots;
    uint64_t commit_waiters; /* write-through waiters registered */

    eng_ring ring;
    eng_ring retry;      /* users whose merge failed: {user, due at}, ENG_RETRY_NS apart */
    eng_batch *inflight; /* list of batches in flight */
    uint32_t inflight_batches;
    struct event *tick_ev; /* periodic flush pass */
    struct event *kick_ev; /* an immediate flush pass */
    struct event *cont_ev; /* the next pass, after the next poll for I/O */
    struct event *fail_ev; /* completes fail_list */
    rs_waiter *fail_list;  /* commit waiters to fail with UNAVAILABLE */
    bool urgent;           /* next pass ignores the coalescing delay */

    eng_problem problems[ENG_PROBLEMS];
    uint32_t nproblems;    /* entries in use */
    uint32_t problem_next; /* the entry replaced when the table is full */

    bool shutting_down;
    bool shutdown_reported;
    uint64_t shutdown_refused_states; /* not flushed: the script refused the hash */
    uint64_t shutdown_refused_users;
    struct event *shutdown_ev;
    rs_engine_done_fn shutdown_done;
    void *shutdown_arg;

    rs_store_user *call_users; /* the users of the merge call being built (reused) */
    rs_user **batch_users;     /* the batch being built: its users, by entry (reused) */
    rs_user **batch_users_tmp; /* scratch for ordering a batch by group */
    eng_flush *batch_tmp;
    uint64_t *batch_keys;
};

/* engine.c: the user's stored hash failed the check (during "load" or
 * "merge"; what: which field and why): count, remember and log it. */
void eng_stored_invalid(rs_engine *e, uint64_t user_id, const char *during, const char *what);
/* A load or merge of the user succeeded: forget its problem, if any. */
void eng_stored_valid(rs_engine *e, uint64_t user_id);

/* engine_flush.c */
int engine_flush_init(rs_engine *e);
void engine_flush_fini(rs_engine *e);
void engine_flush_note_change(rs_engine *e, rs_user *u);
void engine_flush_kick(rs_engine *e, bool urgent);
void engine_flush_store_state(rs_engine *e, bool up);
rs_status engine_flush_commit(rs_engine *e, rs_user *u, rs_waiter *w);
void engine_flush_shutdown(rs_engine *e, rs_engine_done_fn done, void *arg);

/* Test hooks (tests/fuzz/fuzz_redis_reply.c), with nothing sent: put the
 * engine where a load of user_id (not cached, not loading) or one merge call
 * of the queued users (up to flush_call_users) would be in flight, and say
 * where the store's answer goes (*fn, *arg): the real completion paths.
 * engine_load_inject_begin returns false when the user is cached or
 * loading; engine_flush_inject_begin returns the users of the call (0: none,
 * nothing to answer). */
bool engine_load_inject_begin(rs_engine *e, uint64_t user_id, rs_store_load_fn *fn, void **arg);
void engine_flush_remerge(rs_engine *e, uint64_t user_id);
uint32_t engine_flush_inject_begin(rs_engine *e, rs_store_merge_fn *fn, void **arg);

#endif /* RS_ENGINE_INT_H */
