/*
 * cache.h: the in-memory read-state cache. Pure and synchronous: no I/O, no
 * clock of its own, no knowledge of Redis. The persistence engine (engine.h)
 * and the server drive it.
 *
 *   hash table (two tables during an incremental rehash, seeded SipHash)
 *   +--------+          rs_user (one allocation)          slots (one allocation)
 *   | bucket |-> [user_id | hnext | lru links | ...] ---> [rs_slot x cap], sorted
 *   | bucket |        |                                     by channel_id
 *   +--------+        v hnext
 *                   [user] ...
 *
 *   LRU (intrusive, by user):  head (most recent) <-> ... <-> tail (victims)
 *
 * Invariants
 * - A user is in the table and in the LRU list exactly while it exists.
 * - u->slots[0 .. u->nslots) is sorted by channel_id with no duplicates; it
 *   holds live states and, when the cache keeps tombstones (a store is
 *   attached), deleted states waiting to be flushed (RS_STATE_TOMBSTONE).
 *   u->nstates counts the live ones; the per-user limit applies to them.
 * - Every applied change sets state.version = ++u->version, and versions
 *   never wrap: a change that would take u->version past 2^64-1 is refused
 *   with RS_ERR_EXHAUSTED before anything changes. A user is dirty
 *   while u->version > u->flushed_version; a state needs flushing while its
 *   version > u->flushed_version.
 * - The LRU is bumped at most once per clock tick (second) per user
 *   (memcached's rule), so a hit rarely writes to the list.
 * - No operation takes time that grows with the whole cache: lookups and
 *   inserts do one bounded rehash step; eviction scans a bounded number of
 *   tail entries; per-user work is bounded by the per-user state limit.
 * - Eviction never takes a user that is pinned, loading or dirty.
 */
#ifndef RS_CACHE_H
#define RS_CACHE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_alloc.h"
#include "rs_common.h"

#define RS_STATE_MANUAL      0x1u        /* protocol flag bit 0: set by SetReadState */
#define RS_STATE_PROTO_FLAGS 0x1u        /* flags that go on the wire */
#define RS_STATE_TOMBSTONE   0x80000000u /* internal: deleted, delete not yet flushed */

typedef struct rs_state {
    uint64_t channel_id;
    uint64_t last_message_id;
    uint64_t version; /* the user's version at which this state last changed */
    uint32_t mention_count;
    uint32_t flags; /* RS_STATE_* */
} rs_state;

static_assert(sizeof(rs_state) == 32, "rs_state must stay 32 bytes");

/*
 * A state as the cache keeps it: 24 bytes instead of rs_state's 32. The
 * version is kept as its low 30 bits; with the user's version it names the
 * full one while the state is less than 2^30 changes old:
 *
 *   version = u->version - ((u->version - low30) mod 2^30)
 *
 * cache.c keeps that true: at every 2^29-th version of a user (and when a
 * user is loaded) it checks the oldest slot, and a user with a slot 2^29 or
 * more changes behind switches to the wide form for as long as it stays
 * cached: RS_USER_WIDE, each slot followed by its full 64-bit version (32
 * bytes, rs_wide_slot). Between two checks a slot ages by less than 2^29,
 * so no compact slot is ever 2^30 behind. Only cache.c writes slots; read
 * them with cache_slot() or cache_slot_version().
 */
typedef struct rs_slot {
    uint64_t channel_id;
    uint64_t last_message_id;
    uint32_t mention_count;
    uint32_t vword; /* low 30 bits of the version | RS_SLOT_MANUAL | RS_SLOT_TOMBSTONE */
} rs_slot;

typedef struct rs_wide_slot {
    rs_slot s;        /* vword's low bits hold the version's low bits here too */
    uint64_t version; /* the full version */
} rs_wide_slot;

#define RS_SLOT_VBITS     30
#define RS_SLOT_VMASK     ((1u << RS_SLOT_VBITS) - 1u)
#define RS_SLOT_MANUAL    (RS_STATE_MANUAL << 30) /* shifted from the state's flag */
#define RS_SLOT_TOMBSTONE RS_STATE_TOMBSTONE      /* the same bit as the state's flag */

static_assert(RS_STATE_MANUAL == 1u && RS_STATE_TOMBSTONE == 1u << 31,
              "rs_slot's vword maps the state flags with one shift");

static_assert(sizeof(rs_slot) == 24, "rs_slot must stay 24 bytes");
static_assert(sizeof(rs_wide_slot) == 32, "rs_wide_slot must stay 32 bytes");

typedef enum rs_user_status {
    RS_USER_READY,   /* states are valid */
    RS_USER_LOADING, /* a load from the store is in flight; do not touch states */
    RS_USER_STATUS_MAX
} rs_user_status;

/* Bits in rs_user.bits, owned by the engine and the server. */
#define RS_USER_DIRTY_QUEUED 0x1u  /* engine: the user is on the flush queue */
#define RS_USER_FLUSHING     0x2u  /* engine: a flush of this user is in flight */
#define RS_USER_WATCHED      0x4u  /* server: someone may watch this user */
#define RS_USER_STORED_BAD   0x8u  /* engine: its Redis hash failed the stored-value check */
#define RS_USER_REMERGE      0x10u /* engine: send every state again once its flush is done */
#define RS_USER_LEAVING                                                                        \
    0x20u                   /* engine: its slot moved to another fleet node: drop it           \
                               once clean */
#define RS_USER_WIDE  0x40u /* cache: slots are rs_wide_slot (full versions) */
#define RS_USER_EPOCH 0x80u /* cache: the walk epoch the user belongs to (cache_walk_*) */

typedef struct rs_user {
    uint64_t user_id;
    struct rs_user *hnext;    /* hash chain */
    struct rs_user *lru_prev; /* towards the head (more recent) */
    struct rs_user *lru_next; /* towards the tail (older) */
    unsigned char *slots;     /* rs_slot (or rs_wide_slot) x cap, sorted by channel_id */
    uint64_t version;         /* user_version */
    uint64_t flushed_version; /* highest version the store acknowledged */
    uint32_t nslots;          /* entries used in states (live + tombstones) */
    uint32_t nstates;         /* live states */
    uint32_t cap;             /* entries allocated */
    uint32_t lru_clock;       /* cache clock at the last LRU bump */
    uint16_t pins;            /* holders that keep the user from eviction */
    uint8_t status;           /* rs_user_status */
    uint8_t bits;             /* RS_USER_* bits */
    uint32_t dirty_acct;      /* engine: bytes of this user counted as dirty */
} rs_user;

static_assert(sizeof(rs_user) <= 80, "rs_user must stay within 80 bytes");

typedef struct rs_cache rs_cache;

typedef struct rs_cache_config {
    size_t max_memory;            /* budget for users + states + table; 0 = no limit */
    uint32_t max_states_per_user; /* live states per user; 0 means 10000 */
    uint64_t seed[2];             /* SipHash key; callers pass random bytes */
    bool keep_tombstones;         /* a store is attached and must see deletes */
    const rs_allocator *alloc;    /* NULL means rs_allocator_default() */
    uint8_t age_check_bits;       /* tests only: check slot ages every 2^bits versions and
                                     widen past 2^bits (1..29); 0 means 29 */
} rs_cache_config;

typedef struct rs_cache_stats {
    uint64_t users;          /* users held */
    uint64_t states;         /* live states held */
    uint64_t bytes;          /* accounted bytes: users, state arrays, tables */
    uint64_t hits;           /* cache_lookup found the user */
    uint64_t misses;         /* cache_lookup did not */
    uint64_t evictions;      /* users evicted */
    uint64_t evicted_states; /* states dropped with them */
    uint64_t evict_skipped;  /* tail candidates passed over (pinned, loading, dirty) */
    uint64_t widened;        /* users switched to wide slots (a state 2^29 changes old) */
} rs_cache_stats;

/*
 * Change hook: called after every applied change with the changed state
 * (copied; for a delete, the removed state with the new version) and
 * deleted = true for deletes. Not called for no-ops. The engine uses it for
 * dirty tracking and forwards it to the server (Watch).
 */
typedef void (*rs_change_fn)(void *ctx, rs_user *u, const rs_state *st, bool deleted);

/* Create a cache. Returns NULL on out of memory. */
rs_cache *cache_new(const rs_cache_config *cfg);
/* Free every user and the cache. */
void cache_free(rs_cache *c);
void cache_set_change_hook(rs_cache *c, rs_change_fn fn, void *ctx);
/* The coarse clock (seconds) used for LRU bump rate limiting. */
void cache_set_clock(rs_cache *c, uint32_t now_s);
const rs_cache_stats *cache_stats(const rs_cache *c);
const rs_cache_config *cache_config(const rs_cache *c);

/* Find a user; counts a hit or miss and bumps the LRU (rate-limited). */
rs_user *cache_lookup(rs_cache *c, uint64_t user_id);
/* Find a user without stats or LRU changes. */
rs_user *cache_peek(rs_cache *c, uint64_t user_id);
/* Insert a new empty READY user (version 0) at the LRU head. The caller
 * guarantees user_id is absent. Aborts on out of memory. */
rs_user *cache_insert(rs_cache *c, uint64_t user_id);
/* Unlink and free a user (it must not be pinned). */
void cache_remove(rs_cache *c, rs_user *u);
/* The most recently used user (then u->lru_next towards the oldest), for a
 * walk over every user; NULL when empty. */
rs_user *cache_lru_head(rs_cache *c);
/* True while accounted bytes exceed max_memory. */
bool cache_over_budget(const rs_cache *c);
/* Evict clean, unpinned, ready users from the LRU tail while over budget,
 * looking at no more than max_scan tail candidates. Returns users evicted. */
size_t cache_evict(rs_cache *c, size_t max_scan);
/*
 * A walk over every cached user, a few at a time, so that work on all of
 * them never holds the loop. cache_walk_begin starts a new epoch: users
 * inserted from then on belong to it, and every user already cached is
 * pending until the walk has visited it (or it is removed). A step visits
 * up to max pending users from the LRU tail towards the head, calling fn
 * for each; fn may cache_remove the user it is given and nothing else. A
 * visited user joins the epoch. LRU bumps and removals during the walk are
 * safe (the cursor moves with them; a bumped user is still ahead of it).
 * One walk at a time: begin again only once no walk is active (finish one
 * with cache_walk_step(c, SIZE_MAX, ...)).
 */
typedef void (*rs_walk_fn)(void *ctx, rs_user *u);
void cache_walk_begin(rs_cache *c);
/* Visit up to max pending users; true when none is left (the walk ends). */
bool cache_walk_step(rs_cache *c, size_t max, rs_walk_fn fn, void *ctx);
bool cache_walk_active(const rs_cache *c);
/* True while a walk is active and has not visited u yet. */
bool cache_walk_pending(const rs_cache *c, const rs_user *u);
/* Visit u now, out of turn, if it is pending (its user is about to use
 * it): fn as a step would call it, and u joins the epoch. */
void cache_walk_visit(rs_cache *c, rs_user *u, rs_walk_fn fn, void *ctx);

/* Do up to `steps` buckets of incremental rehash work (also done, one step,
 * by every lookup and insert). Returns true while a rehash is in progress. */
bool cache_rehash_step(rs_cache *c, int steps);

/* ---- semantics, on a READY user ------------------------------------ */

/* The live state for a channel into *out; false (and *out untouched) if
 * there is none. */
bool cache_state(const rs_user *u, uint64_t channel_id, rs_state *out);

/* Ack: forward-only (see the contract). *out receives the current state
 * (zeroed with channel_id set if none exists and the ack was a no-op),
 * *applied whether it changed anything. RS_ERR_EXHAUSTED if it would need
 * a version past 2^64-1 or create
 * a state beyond the per-user limit (nothing changed). */
rs_status cache_ack(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                    uint32_t mention_count, rs_state *out, bool *applied);

/* SetReadState: sets last_message_id and mention_count exactly and the
 * MANUAL flag; a no-op when the state already equals the request (including
 * MANUAL). Same outputs and limit rule as cache_ack. */
rs_status cache_set(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                    uint32_t mention_count, rs_state *out, bool *applied);

typedef struct rs_ack_entry {
    uint64_t channel_id;
    uint64_t message_id;
} rs_ack_entry;

/* BulkAck: cache_ack for each entry, in order. All or nothing for the limit:
 * RS_ERR_EXHAUSTED, with nothing changed, if the entries would create more
 * states than the limit allows. out[i] receives entry i's resulting state;
 * *applied counts applied entries. */
rs_status cache_bulk_ack(rs_cache *c, rs_user *u, const rs_ack_entry *entries, size_t n,
                         rs_state *out, uint32_t *applied);

/* AddMentions for one user: if message_id > last_message_id, mention_count
 * += count (saturating at UINT32_MAX) and the version bumps; a missing state
 * is created with last_message_id 0. *mention_count receives the resulting
 * count. RS_ERR_EXHAUSTED under the limit rule. */
rs_status cache_add_mentions(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                             uint32_t count, uint32_t *mention_count, bool *applied);

/* DeleteReadStates: removes the listed channels (or all live states when
 * all is true); the version bumps once if anything was removed. Returns the
 * number removed; removes nothing when the version is at 2^64-1 (callers
 * refuse that case first, see cache_version_full). */
uint32_t cache_delete(rs_cache *c, rs_user *u, const uint64_t *channel_ids, size_t n, bool all);

/* ---- persistence support (used by the engine) ----------------------- */

/* Replace a LOADING user's contents with loaded data: states need not be
 * sorted or unique (a later duplicate wins by version); version is the
 * stored user version (raised to the highest state version if lower).
 * Sets flushed_version = version and status READY. RS_ERR_INTERNAL on
 * out of memory. */
rs_status cache_load(rs_cache *c, rs_user *u, const rs_state *states, size_t n,
                     uint64_t version);

/* The store acknowledged everything up to `version`: raise flushed_version
 * and drop tombstones whose version is <= it. */
void cache_flushed(rs_cache *c, rs_user *u, uint64_t version);

/* Bytes accounted to one user (struct + slot array). */
size_t cache_user_bytes(const rs_user *u);

/* ---- reading slots ---------------------------------------------------- */

static inline size_t cache_slot_size(const rs_user *u)
{
    return (u->bits & RS_USER_WIDE) ? sizeof(rs_wide_slot) : sizeof(rs_slot);
}

/* Slot i (< u->nslots): live or tombstone. */
static inline const rs_slot *cache_slot_at(const rs_user *u, uint32_t i)
{
    return (const rs_slot *)(const void *)(u->slots + (size_t)i * cache_slot_size(u));
}

static inline bool rs_slot_live(const rs_slot *s)
{
    return (s->vword & RS_SLOT_TOMBSTONE) == 0;
}

/* The full version of one of u's slots. */
static inline uint64_t cache_slot_version(const rs_user *u, const rs_slot *s)
{
    if (u->bits & RS_USER_WIDE)
        return ((const rs_wide_slot *)(const void *)s)->version;
    return u->version - (((uint32_t)u->version - s->vword) & RS_SLOT_VMASK);
}

/* Slot s of u as an rs_state (flags RS_STATE_MANUAL, RS_STATE_TOMBSTONE). */
static inline void cache_slot_read(const rs_user *u, const rs_slot *s, rs_state *out)
{
    out->channel_id = s->channel_id;
    out->last_message_id = s->last_message_id;
    out->mention_count = s->mention_count;
    out->flags = (s->vword & RS_SLOT_TOMBSTONE) | ((s->vword >> 30) & RS_STATE_MANUAL);
    out->version = cache_slot_version(u, s);
}

/* True when slot s of u changed after the store's last acknowledgement
 * (its version is above u->flushed_version). For a compact slot that is an
 * age below the user's unflushed span, with no version to rebuild. */
static inline bool cache_slot_unflushed(const rs_user *u, const rs_slot *s)
{
    if (u->bits & RS_USER_WIDE)
        return ((const rs_wide_slot *)(const void *)s)->version > u->flushed_version;
    uint64_t age = ((uint32_t)u->version - s->vword) & RS_SLOT_VMASK;
    return age < u->version - u->flushed_version;
}

/* How many of u's slots changed after the store's last acknowledgement. */
static inline uint32_t cache_unflushed(const rs_user *u)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < u->nslots; i++)
        n += cache_slot_unflushed(u, cache_slot_at(u, i));
    return n;
}

/* Slot i as an rs_state. */
static inline void cache_slot(const rs_user *u, uint32_t i, rs_state *out)
{
    cache_slot_read(u, cache_slot_at(u, i), out);
}

/* True when n more version bumps would take u's version past 2^64-1 (the
 * change is then refused, never wrapped). */
static inline bool cache_version_full(const rs_user *u, uint64_t n)
{
    return u->version > UINT64_MAX - n;
}

static inline bool rs_state_live(const rs_state *st)
{
    return (st->flags & RS_STATE_TOMBSTONE) == 0;
}

static inline bool rs_user_dirty(const rs_user *u)
{
    return u->version > u->flushed_version;
}

#endif /* RS_CACHE_H */
