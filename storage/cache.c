/*
 * cache.c: the read-state cache: users in a hash table (cache_hash.c) and an
 * intrusive LRU, each user's states in one sorted array, and the semantics
 * of the protocol's calls on them (DESIGN.md "Semantics").
 *
 *   lru_head                                          lru_tail
 *     |                                                  |
 *     v                                                  v
 *   [user 7] <-> [user 3] <-> ... <-> [user 42 pinned] <-> [user 9]
 *     |                                                  ^ cache_evict
 *     +-> slots: [ch 10 | ch 12 | ch 40 (tombstone) | ch 99 ]    starts here
 *                 sorted by channel_id, cap >= nslots, 24 bytes each
 *                 (rs_slot; 32 in the rare wide form, see cache.h)
 *
 * Invariants (see also cache.h)
 * - Every user is in the table and on the LRU list exactly while it exists.
 * - stats.bytes == sum(sizeof(rs_user) + cap * slot size) + bucket arrays;
 *   stats.users and stats.states count users and live states.
 * - Every applied change bumps u->version once per state (once per call for
 *   deletes) and calls the change hook after the change, with a copy.
 * - A change that would create a live state past max_states_per_user, or
 *   take the user's version past 2^64-1, returns RS_ERR_EXHAUSTED before
 *   touching anything (versions never wrap).
 * - A compact user's slots are all less than 2^30 versions old (cache.h):
 *   version_advance checks at every 2^29-th version, cache_load on arrival.
 * - A tombstone exists only when keep_tombstones is set, and only until the
 *   store acknowledges its version (cache_flushed).
 * - All per-call work is bounded by the user's slot count (the per-user
 *   limit), by the caller's list, or by max_scan; never by the cache size.
 *
 * Memory per state (the capacity benchmark: users x 20 channels, each user
 * filled by one BulkAck):
 * - A slot is 24 bytes: the version's low 30 bits share a word with the
 *   two flags (cache.h). 20 slots are 480 bytes, an exact tcmalloc class.
 * - Growth: one slot at a time up to 32, then by a quarter; a growth of
 *   several slots at once (BulkAck, load) takes exactly what it needs.
 * - rs_user is 80 bytes, a tcmalloc size class of its own: 4 bytes/state.
 * - The table: about 0.6 bytes/state at load factor <= 1.
 * Accounted about 28.6 bytes per state; the rest of RSS is allocator and
 * page overhead (README, "Capacity"). With acks one by one over 10 channels
 * (tests/storage/bench_cache_memory), arrays end at cap 10: 240 bytes.
 * Slot arrays are resized by malloc + copy + free, never realloc (below).
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_hash.h"

#define CACHE_DEFAULT_STATES_PER_USER 10000u

struct rs_cache {
    rs_cache_config cfg; /* defaults filled in */
    const rs_allocator *alloc;
    cache_ht ht;
    rs_user *lru_head; /* most recently used */
    rs_user *lru_tail; /* eviction candidates */
    uint32_t clock;    /* seconds, set by cache_set_clock */
    rs_change_fn hook;
    void *hook_ctx;
    rs_cache_stats stats;
    /* the walk (cache_walk_*) */
    uint8_t epoch;      /* RS_USER_EPOCH of users in the current epoch, or 0 */
    bool walking;       /* a walk is active */
    rs_user *walk_next; /* the next user the walk looks at (towards the head) */
    uint64_t walk_left; /* users still pending */
    uint64_t age_mask;  /* 2^cfg.age_check_bits - 1 (version_advance) */
};

/* ---- memory ------------------------------------------------------------ */

static _Noreturn void cache_oom(size_t n)
{
    char what[64];
    snprintf(what, sizeof(what), "cache, %zu bytes", n);
    rs_oom(what);
}

static void *cache_xmalloc(rs_cache *c, size_t n)
{
    void *p = c->alloc->malloc(n);
    if (p == NULL)
        cache_oom(n);
    return p;
}

size_t cache_user_bytes(const rs_user *u)
{
    return sizeof(rs_user) + (size_t)u->cap * cache_slot_size(u);
}

static rs_slot *slot_at(rs_user *u, uint32_t i)
{
    return (rs_slot *)(void *)(u->slots + (size_t)i * cache_slot_size(u));
}

/* Write st into slot p of u. A compact slot keeps the version's low bits:
 * st->version must be within 2^30 of u->version (cache.h). */
static void slot_put(const rs_user *u, rs_slot *p, const rs_state *st)
{
    p->channel_id = st->channel_id;
    p->last_message_id = st->last_message_id;
    p->mention_count = st->mention_count;
    p->vword = ((uint32_t)st->version & RS_SLOT_VMASK) | (st->flags & RS_SLOT_TOMBSTONE) |
               ((st->flags & RS_STATE_MANUAL) << 30);
    if (u->bits & RS_USER_WIDE)
        ((rs_wide_slot *)(void *)p)->version = st->version;
}

/* Growth: one slot at a time up to 32 (most users hold a few states, and a
 * copy of at most 31 slots is cheap), then by a quarter so large users
 * still grow geometrically. */
static uint32_t slots_next_cap(uint32_t cap)
{
    if (cap < 32)
        return cap + 1;
    return cap <= UINT32_MAX - cap / 4 ? cap + cap / 4 : UINT32_MAX;
}

/* Resize u's slot array to exactly `cap` entries (>= nslots) of `size`
 * bytes each (the size changes only when a user turns wide). Not through
 * realloc: tcmalloc's realloc pads a small growth to +25% of the old block,
 * which breaks the memory bar. A fresh exact block plus a bounded copy
 * costs the same. */
static void slots_realloc(rs_cache *c, rs_user *u, uint32_t cap, size_t size)
{
    assert(cap >= u->nslots);
    size_t old = cache_slot_size(u);
    unsigned char *fresh = NULL;
    if (cap > 0) {
        fresh = cache_xmalloc(c, (size_t)cap * size);
        if (u->nslots > 0 && size == old)
            memcpy(fresh, u->slots, (size_t)u->nslots * size);
    }
    if (size != old) { /* compact -> wide: each slot gains its full version */
        assert(size == sizeof(rs_wide_slot));
        rs_wide_slot *w = (rs_wide_slot *)(void *)fresh;
        for (uint32_t i = 0; i < u->nslots; i++) {
            const rs_slot *p = cache_slot_at(u, i);
            w[i].s = *p;
            w[i].version = cache_slot_version(u, p);
        }
    }
    if (u->slots != NULL)
        c->alloc->free(u->slots);
    u->slots = fresh;
    c->stats.bytes -= (uint64_t)u->cap * old;
    c->stats.bytes += (uint64_t)cap * size;
    u->cap = cap;
}

static void slots_resize(rs_cache *c, rs_user *u, uint32_t cap)
{
    if (cap != u->cap)
        slots_realloc(c, u, cap, cache_slot_size(u));
}

/* Make room for `need` slots: the next step of the growth, or exactly
 * `need` when that is more (a batch of new channels gets no slack). */
static void slots_reserve(rs_cache *c, rs_user *u, uint32_t need)
{
    if (need <= u->cap)
        return;
    slots_resize(c, u, RS_MAX(need, slots_next_cap(u->cap)));
}

/* Give memory back after removals when less than half the array is used. */
static void slots_maybe_shrink(rs_cache *c, rs_user *u)
{
    if (u->nslots == 0)
        slots_resize(c, u, 0);
    else if (u->cap > 8 && u->nslots < u->cap / 2)
        slots_resize(c, u, u->nslots + u->nslots / 4 + 1);
}

/* Drop tombstones whose version is <= max_version, keeping the order.
 * Returns how many were dropped. */
static uint32_t slots_compact(rs_user *u, uint64_t max_version)
{
    size_t size = cache_slot_size(u);
    uint32_t w = 0;
    for (uint32_t r = 0; r < u->nslots; r++) {
        const rs_slot *p = cache_slot_at(u, r);
        if (!rs_slot_live(p) && cache_slot_version(u, p) <= max_version)
            continue;
        if (w != r)
            memcpy(u->slots + (size_t)w * size, p, size);
        w++;
    }
    uint32_t dropped = u->nslots - w;
    u->nslots = w;
    return dropped;
}

/* The period (and the age limit) of the compact form's check: 2^29 unless a
 * test asked for less. */
static uint64_t age_period(const rs_cache *c)
{
    return c->age_mask + 1;
}

/* True when some slot of u would be `period` or more versions old at
 * version `at`. */
static bool slots_too_old(const rs_user *u, uint64_t at, uint64_t period)
{
    for (uint32_t i = 0; i < u->nslots; i++)
        if (at - cache_slot_version(u, cache_slot_at(u, i)) >= period)
            return true;
    return false;
}

static void user_widen(rs_cache *c, rs_user *u)
{
    slots_realloc(c, u, u->cap, sizeof(rs_wide_slot));
    u->bits |= RS_USER_WIDE;
    c->stats.widened++;
}

/* u->version + 1, keeping the compact form's promise: at every period-th
 * version, a user with a slot a period old turns wide (O(slots), once per
 * 2^29 changes of one user at most). The caller checked that the version
 * does not wrap. */
static __attribute__((noinline)) void version_check_ages(rs_cache *c, rs_user *u, uint64_t next)
{
    if (!(u->bits & RS_USER_WIDE) && slots_too_old(u, next, age_period(c)))
        user_widen(c, u);
}

static inline void version_advance(rs_cache *c, rs_user *u)
{
    uint64_t next = u->version + 1;
    if (__builtin_expect((next & c->age_mask) == 0, 0))
        version_check_ages(c, u, next);
    u->version = next;
}

/* ---- LRU --------------------------------------------------------------- */

static void lru_link_head(rs_cache *c, rs_user *u)
{
    u->lru_prev = NULL;
    u->lru_next = c->lru_head;
    if (c->lru_head != NULL)
        c->lru_head->lru_prev = u;
    else
        c->lru_tail = u;
    c->lru_head = u;
}

static void lru_unlink(rs_cache *c, rs_user *u)
{
    /* The walk's cursor moves to the next user towards the head: the list
     * only ever moves users to the head, so every pending user stays ahead. */
    if (c->walk_next == u)
        c->walk_next = u->lru_prev;
    if (u->lru_prev != NULL)
        u->lru_prev->lru_next = u->lru_next;
    else
        c->lru_head = u->lru_next;
    if (u->lru_next != NULL)
        u->lru_next->lru_prev = u->lru_prev;
    else
        c->lru_tail = u->lru_prev;
    u->lru_prev = u->lru_next = NULL;
}

/* ---- the cache --------------------------------------------------------- */

rs_cache *cache_new(const rs_cache_config *cfg)
{
    const rs_allocator *alloc = cfg->alloc != NULL ? cfg->alloc : rs_allocator_default();
    rs_cache *c = alloc->calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    c->cfg.alloc = alloc;
    if (c->cfg.max_states_per_user == 0)
        c->cfg.max_states_per_user = CACHE_DEFAULT_STATES_PER_USER;
    if (c->cfg.age_check_bits == 0 || c->cfg.age_check_bits > RS_SLOT_VBITS - 1)
        c->cfg.age_check_bits = RS_SLOT_VBITS - 1;
    c->age_mask = ((uint64_t)1 << c->cfg.age_check_bits) - 1;
    c->alloc = alloc;
    if (!cache_ht_init(&c->ht, c->cfg.seed, alloc, &c->stats.bytes)) {
        alloc->free(c);
        return NULL;
    }
    return c;
}

/* Free a user's memory and its share of the stats (already unlinked). */
static void user_release(rs_cache *c, rs_user *u)
{
    if (cache_walk_pending(c, u))
        c->walk_left--;
    c->stats.bytes -= cache_user_bytes(u);
    c->stats.users--;
    c->stats.states -= u->nstates;
    if (u->slots != NULL)
        c->alloc->free(u->slots);
    c->alloc->free(u);
}

void cache_free(rs_cache *c)
{
    if (c == NULL)
        return;
    rs_user *u = c->lru_head;
    while (u != NULL) {
        rs_user *next = u->lru_next;
        user_release(c, u);
        u = next;
    }
    cache_ht_destroy(&c->ht);
    c->alloc->free(c);
}

void cache_set_change_hook(rs_cache *c, rs_change_fn fn, void *ctx)
{
    c->hook = fn;
    c->hook_ctx = ctx;
}

void cache_set_clock(rs_cache *c, uint32_t now_s)
{
    c->clock = now_s;
}

const rs_cache_stats *cache_stats(const rs_cache *c)
{
    return &c->stats;
}

const rs_cache_config *cache_config(const rs_cache *c)
{
    return &c->cfg;
}

rs_user *cache_lookup(rs_cache *c, uint64_t user_id)
{
    rs_user *u = cache_ht_find(&c->ht, user_id, true);
    if (u == NULL) {
        c->stats.misses++;
        return NULL;
    }
    c->stats.hits++;
    if (u->lru_clock != c->clock) {
        u->lru_clock = c->clock;
        if (c->lru_head != u) {
            lru_unlink(c, u);
            lru_link_head(c, u);
        }
    }
    return u;
}

rs_user *cache_peek(rs_cache *c, uint64_t user_id)
{
    return cache_ht_find(&c->ht, user_id, false);
}

rs_user *cache_insert(rs_cache *c, uint64_t user_id)
{
    assert(cache_peek(c, user_id) == NULL);
    rs_user *u = cache_xmalloc(c, sizeof(*u));
    memset(u, 0, sizeof(*u));
    u->user_id = user_id;
    u->status = RS_USER_READY;
    u->bits = c->epoch;
    u->lru_clock = c->clock;
    lru_link_head(c, u);
    cache_ht_add(&c->ht, u);
    c->stats.users++;
    c->stats.bytes += sizeof(rs_user);
    return u;
}

void cache_remove(rs_cache *c, rs_user *u)
{
    assert(u->pins == 0);
    cache_ht_remove(&c->ht, u);
    lru_unlink(c, u);
    user_release(c, u);
}

rs_user *cache_lru_head(rs_cache *c)
{
    return c->lru_head;
}

bool cache_over_budget(const rs_cache *c)
{
    return c->cfg.max_memory != 0 && c->stats.bytes > c->cfg.max_memory;
}

/* A user the engine still tracks for flushing (queued or in flight) holds a
 * pointer we must not free, so it counts as dirty even if its versions say
 * otherwise. */
static bool user_evictable(const rs_user *u)
{
    return u->pins == 0 && u->status == RS_USER_READY && !rs_user_dirty(u) &&
           (u->bits & (RS_USER_DIRTY_QUEUED | RS_USER_FLUSHING)) == 0;
}

size_t cache_evict(rs_cache *c, size_t max_scan)
{
    size_t evicted = 0, scanned = 0;
    rs_user *u = c->lru_tail;
    while (u != NULL && scanned < max_scan && cache_over_budget(c)) {
        rs_user *prev = u->lru_prev;
        scanned++;
        if (user_evictable(u)) {
            c->stats.evictions++;
            c->stats.evicted_states += u->nstates;
            cache_remove(c, u);
            evicted++;
        } else {
            c->stats.evict_skipped++;
        }
        u = prev;
    }
    return evicted;
}

bool cache_walk_pending(const rs_cache *c, const rs_user *u)
{
    return c->walking && (u->bits & RS_USER_EPOCH) != c->epoch;
}

bool cache_walk_active(const rs_cache *c)
{
    return c->walking;
}

void cache_walk_begin(rs_cache *c)
{
    assert(!c->walking);
    c->epoch ^= RS_USER_EPOCH;
    c->walking = c->stats.users > 0;
    c->walk_next = c->lru_tail;
    c->walk_left = c->stats.users;
}

static void walk_visit(rs_cache *c, rs_user *u, rs_walk_fn fn, void *ctx)
{
    u->bits = (uint8_t)((u->bits & ~RS_USER_EPOCH) | c->epoch);
    c->walk_left--;
    fn(ctx, u); /* may remove u */
}

void cache_walk_visit(rs_cache *c, rs_user *u, rs_walk_fn fn, void *ctx)
{
    if (cache_walk_pending(c, u))
        walk_visit(c, u, fn, ctx);
    if (c->walking && c->walk_left == 0) {
        c->walking = false;
        c->walk_next = NULL;
    }
}

bool cache_walk_step(rs_cache *c, size_t max, rs_walk_fn fn, void *ctx)
{
    size_t looked = 0;
    while (c->walking && c->walk_left > 0 && c->walk_next != NULL && looked < max) {
        rs_user *u = c->walk_next;
        c->walk_next = u->lru_prev;
        looked++;
        if (cache_walk_pending(c, u))
            walk_visit(c, u, fn, ctx);
    }
    /* Every pending user is at or ahead of the cursor, so the two end
     * together; walk_left is what ends it early. */
    assert(!c->walking || c->walk_left == 0 || c->walk_next != NULL);
    if (c->walking && (c->walk_left == 0 || c->walk_next == NULL)) {
        c->walking = false;
        c->walk_next = NULL;
    }
    return !c->walking;
}

bool cache_rehash_step(rs_cache *c, int steps)
{
    return cache_ht_rehash(&c->ht, steps);
}

/* ---- per-user states --------------------------------------------------- */

/* Index of the first slot whose channel_id is >= channel_id. One loop per
 * form, so the common (compact) one strides by a constant. */
static uint32_t slots_lower_bound(const rs_user *u, uint64_t channel_id)
{
    uint32_t lo = 0, hi = u->nslots;
    if (!(u->bits & RS_USER_WIDE)) {
        const rs_slot *a = (const rs_slot *)(const void *)u->slots;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (a[mid].channel_id < channel_id)
                lo = mid + 1;
            else
                hi = mid;
        }
    } else {
        const rs_wide_slot *a = (const rs_wide_slot *)(const void *)u->slots;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (a[mid].s.channel_id < channel_id)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    return lo;
}

/* The live slot for channel_id, or NULL. */
static const rs_slot *slot_find_live(const rs_user *u, uint64_t channel_id)
{
    uint32_t i = slots_lower_bound(u, channel_id);
    if (i < u->nslots) {
        const rs_slot *p = cache_slot_at(u, i);
        if (p->channel_id == channel_id && rs_slot_live(p))
            return p;
    }
    return NULL;
}

bool cache_state(const rs_user *u, uint64_t channel_id, rs_state *out)
{
    const rs_slot *p = slot_find_live(u, channel_id);
    if (p != NULL)
        cache_slot_read(u, p, out);
    return p != NULL;
}

/* One channel as a change sees it before it applies. */
typedef struct state_ref {
    uint32_t idx; /* the slot, or where it would be inserted */
    bool slot;    /* a slot (live or tombstone) is at idx */
    bool live;    /* ... and it is live */
    rs_state cur; /* the current state; zeroed with channel_id if not live */
} state_ref;

static void state_ref_find(const rs_user *u, uint64_t channel_id, state_ref *r)
{
    r->idx = slots_lower_bound(u, channel_id);
    const rs_slot *p = r->idx < u->nslots ? cache_slot_at(u, r->idx) : NULL;
    r->slot = p != NULL && p->channel_id == channel_id;
    r->live = r->slot && rs_slot_live(p);
    if (r->live) {
        cache_slot_read(u, p, &r->cur);
    } else {
        memset(&r->cur, 0, sizeof(r->cur));
        r->cur.channel_id = channel_id;
    }
}

/* Apply a change to r's channel: *nv is the new state (channel, message,
 * count, MANUAL). RS_ERR_EXHAUSTED, with nothing changed, if it would take
 * the user's version past 2^64-1, or create a live state past the per-user
 * limit. Otherwise: a new version, the slot written (existing, revived from
 * a tombstone or inserted), *out (if not NULL) and the hook get a copy. */
static rs_status state_apply(rs_cache *c, rs_user *u, const state_ref *r, rs_state *nv,
                             rs_state *out)
{
    if (cache_version_full(u, 1))
        return RS_ERR_EXHAUSTED; /* the change would wrap the version */
    if (!r->live && u->nstates >= c->cfg.max_states_per_user)
        return RS_ERR_EXHAUSTED;
    version_advance(c, u); /* may turn u wide; r->idx stays valid */
    if (!r->live) {
        if (!r->slot) {
            slots_reserve(c, u, u->nslots + 1);
            size_t size = cache_slot_size(u);
            memmove(u->slots + (size_t)(r->idx + 1) * size, u->slots + (size_t)r->idx * size,
                    (size_t)(u->nslots - r->idx) * size);
            u->nslots++;
        }
        u->nstates++;
        c->stats.states++;
    }
    nv->version = u->version;
    nv->flags &= RS_STATE_MANUAL;
    slot_put(u, slot_at(u, r->idx), nv);
    rs_state copy = *nv;
    if (out != NULL)
        *out = copy;
    if (c->hook != NULL)
        c->hook(c->hook_ctx, u, &copy, false);
    return RS_OK;
}

rs_status cache_ack(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                    uint32_t mention_count, rs_state *out, bool *applied)
{
    assert(u->status == RS_USER_READY);
    state_ref r;
    state_ref_find(u, channel_id, &r);
    *out = r.cur;
    *applied = false;
    if (message_id <= r.cur.last_message_id)
        return RS_OK;
    rs_state nv = r.cur;
    nv.last_message_id = message_id;
    nv.mention_count = mention_count;
    nv.flags &= ~RS_STATE_MANUAL;
    rs_status s = state_apply(c, u, &r, &nv, out);
    *applied = s == RS_OK;
    return s;
}

rs_status cache_set(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                    uint32_t mention_count, rs_state *out, bool *applied)
{
    assert(u->status == RS_USER_READY);
    state_ref r;
    state_ref_find(u, channel_id, &r);
    *out = r.cur;
    *applied = false;
    if (r.live && r.cur.last_message_id == message_id && r.cur.mention_count == mention_count &&
        (r.cur.flags & RS_STATE_MANUAL) != 0)
        return RS_OK;
    rs_state nv = r.cur;
    nv.last_message_id = message_id;
    nv.mention_count = mention_count;
    nv.flags |= RS_STATE_MANUAL;
    rs_status s = state_apply(c, u, &r, &nv, out);
    *applied = s == RS_OK;
    return s;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#define BULK_STACK_IDS 64 /* candidate ids kept on the stack */
#define BULK_MERGE_MIN 8  /* from this many new slots, insert them in one merge */

/* Insert slots for the sorted, distinct ids that have none, with one
 * backwards merge: O(slots + ids) instead of one memmove per id. They go in
 * as tombstones at the user's current version, so that until the first
 * entry naming each revives it (its message id is past 0, so it applies)
 * they read as absent, and an age check between sees nothing old in them.
 * Existing tombstones are revived the same way. */
static void bulk_insert_slots(rs_cache *c, rs_user *u, uint64_t *ids, size_t k)
{
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t j = slots_lower_bound(u, ids[i]);
        if (j == u->nslots || cache_slot_at(u, j)->channel_id != ids[i])
            ids[m++] = ids[i];
    }
    if (m == 0)
        return;
    slots_reserve(c, u, u->nslots + (uint32_t)m);
    size_t size = cache_slot_size(u);
    size_t r = u->nslots, w = u->nslots + m;
    while (m > 0) {
        if (r > 0 && cache_slot_at(u, (uint32_t)(r - 1))->channel_id > ids[m - 1]) {
            --w;
            --r;
            memcpy(u->slots + w * size, u->slots + r * size, size);
        } else {
            rs_state hole = {
                .channel_id = ids[--m], .version = u->version, .flags = RS_STATE_TOMBSTONE};
            slot_put(u, slot_at(u, (uint32_t)--w), &hole);
            u->nslots++;
        }
    }
}

rs_status cache_bulk_ack(rs_cache *c, rs_user *u, const rs_ack_entry *entries, size_t n,
                         rs_state *out, uint32_t *applied)
{
    assert(u->status == RS_USER_READY);
    *applied = 0;
    /* The distinct channels this batch would create: acked past 0 and
     * without a live state. Duplicates create once. */
    uint64_t stack_ids[BULK_STACK_IDS];
    size_t cand = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        cand += entries[i].message_id > 0 && slot_find_live(u, entries[i].channel_id) == NULL;
    uint64_t *ids = cand <= BULK_STACK_IDS ? stack_ids : cache_xmalloc(c, cand * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        if (entries[i].message_id > 0 && slot_find_live(u, entries[i].channel_id) == NULL)
            ids[k++] = entries[i].channel_id;
    qsort(ids, k, sizeof(*ids), u64_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[distinct++] = ids[i];

    /* Entries that may apply (each bumps the version once): none may wrap. */
    uint64_t may_apply = 0;
    for (size_t i = 0; i < n; i++) {
        const rs_slot *cur = slot_find_live(u, entries[i].channel_id);
        may_apply += entries[i].message_id > (cur != NULL ? cur->last_message_id : 0);
    }
    rs_status st = RS_OK;
    if ((uint64_t)u->nstates + distinct > c->cfg.max_states_per_user ||
        cache_version_full(u, may_apply)) {
        for (size_t i = 0; i < n; i++) {
            state_ref r;
            state_ref_find(u, entries[i].channel_id, &r);
            out[i] = r.cur;
        }
        st = RS_ERR_EXHAUSTED;
    } else {
        if (distinct >= BULK_MERGE_MIN)
            bulk_insert_slots(c, u, ids, distinct);
        for (size_t i = 0; i < n; i++) {
            bool ap;
            rs_status s =
                cache_ack(c, u, entries[i].channel_id, entries[i].message_id, 0, &out[i], &ap);
            assert(s == RS_OK); /* the limit was checked for the whole batch */
            (void)s;
            *applied += ap;
        }
    }
    if (ids != stack_ids)
        c->alloc->free(ids);
    return st;
}

rs_status cache_add_mentions(rs_cache *c, rs_user *u, uint64_t channel_id, uint64_t message_id,
                             uint32_t count, uint32_t *mention_count, bool *applied)
{
    assert(u->status == RS_USER_READY);
    state_ref r;
    state_ref_find(u, channel_id, &r);
    *mention_count = r.cur.mention_count;
    *applied = false;
    if (message_id <= r.cur.last_message_id)
        return RS_OK;
    rs_state nv = r.cur;
    nv.mention_count =
        count > UINT32_MAX - nv.mention_count ? UINT32_MAX : nv.mention_count + count;
    rs_status s = state_apply(c, u, &r, &nv, NULL);
    if (s != RS_OK)
        return s;
    *mention_count = nv.mention_count;
    *applied = true;
    return RS_OK;
}

/* Mark slot i of u deleted (its version is set once the version has
 * advanced) and remember it. A marked slot is no longer live, so a channel
 * listed twice is removed once. */
static void delete_mark(rs_user *u, uint32_t i, uint32_t *idx, uint32_t *nremoved)
{
    slot_at(u, i)->vword |= RS_SLOT_TOMBSTONE;
    idx[(*nremoved)++] = i;
}

uint32_t cache_delete(rs_cache *c, rs_user *u, const uint64_t *channel_ids, size_t n, bool all)
{
    assert(u->status == RS_USER_READY);
    if (u->nstates == 0 || cache_version_full(u, 1))
        return 0;
    size_t room = all ? u->nstates : RS_MIN(n, (size_t)u->nstates);
    if (room == 0)
        return 0;
    uint32_t *idx = cache_xmalloc(c, room * sizeof(*idx));
    uint32_t nremoved = 0;
    if (all) {
        for (uint32_t i = 0; i < u->nslots; i++)
            if (rs_slot_live(cache_slot_at(u, i)))
                delete_mark(u, i, idx, &nremoved);
    } else {
        for (size_t i = 0; i < n && nremoved < room; i++) {
            uint32_t j = slots_lower_bound(u, channel_ids[i]);
            if (j < u->nslots && cache_slot_at(u, j)->channel_id == channel_ids[i] &&
                rs_slot_live(cache_slot_at(u, j)))
                delete_mark(u, j, idx, &nremoved);
        }
    }
    rs_state *removed = NULL;
    if (nremoved > 0) {
        version_advance(c, u); /* the marked slots keep their old versions until here */
        removed = cache_xmalloc(c, nremoved * sizeof(*removed));
        for (uint32_t i = 0; i < nremoved; i++) {
            rs_slot *p = slot_at(u, idx[i]);
            cache_slot(u, idx[i], &removed[i]);
            removed[i].version = u->version;
            removed[i].flags &= RS_STATE_PROTO_FLAGS; /* the state as it was */
            rs_state tomb = removed[i];
            tomb.flags |= RS_STATE_TOMBSTONE;
            slot_put(u, p, &tomb);
        }
        u->nstates -= nremoved;
        c->stats.states -= nremoved;
        if (!c->cfg.keep_tombstones) {
            slots_compact(u, UINT64_MAX);
            slots_maybe_shrink(c, u);
        }
        for (uint32_t i = 0; i < nremoved && c->hook != NULL; i++)
            c->hook(c->hook_ctx, u, &removed[i], true);
    }
    c->alloc->free(idx);
    if (removed != NULL)
        c->alloc->free(removed);
    return nremoved;
}

/* ---- persistence support ----------------------------------------------- */

/* Channel ascending, then version ascending: the last of a run wins. */
static int load_cmp(const void *a, const void *b)
{
    const rs_state *x = a, *y = b;
    if (x->channel_id != y->channel_id)
        return (x->channel_id > y->channel_id) - (x->channel_id < y->channel_id);
    return (x->version > y->version) - (x->version < y->version);
}

rs_status cache_load(rs_cache *c, rs_user *u, const rs_state *states, size_t n,
                     uint64_t version)
{
    assert(u->status == RS_USER_LOADING);
    if (n > UINT32_MAX)
        return RS_ERR_INTERNAL;
    rs_state *arr = NULL;
    if (n > 0) {
        arr = c->alloc->malloc(n * sizeof(*arr));
        if (arr == NULL)
            return RS_ERR_INTERNAL;
        memcpy(arr, states, n * sizeof(*arr));
        qsort(arr, n, sizeof(*arr), load_cmp);
    }
    uint32_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (r + 1 < n && arr[r + 1].channel_id == arr[r].channel_id)
            continue; /* a later duplicate has a higher (or equal) version */
        arr[w] = arr[r];
        arr[w].flags &= ~RS_STATE_TOMBSTONE;
        version = RS_MAX(version, arr[w].version);
        w++;
    }
    version = RS_MAX(u->version, version);
    /* Compact unless a state is already a period old (cache.h): from here
     * to the next check every slot then stays under 2^30 versions old. */
    uint64_t period = age_period(c);
    bool wide = false;
    for (uint32_t i = 0; i < w && !wide; i++)
        wide = version - arr[i].version >= period;
    size_t size = wide ? sizeof(rs_wide_slot) : sizeof(rs_slot);
    unsigned char *slots = NULL;
    if (w > 0) {
        slots = c->alloc->malloc((size_t)w * size);
        if (slots == NULL) {
            c->alloc->free(arr);
            return RS_ERR_INTERNAL;
        }
    }
    /* Drop whatever the user held (normally nothing) and adopt slots. */
    c->stats.states -= u->nstates;
    c->stats.bytes -= (uint64_t)u->cap * cache_slot_size(u);
    if (u->slots != NULL)
        c->alloc->free(u->slots);
    u->slots = slots;
    u->cap = u->nslots = u->nstates = w;
    u->version = version;
    if (wide) {
        u->bits |= RS_USER_WIDE;
        c->stats.widened++;
    } else {
        u->bits &= (uint8_t)~RS_USER_WIDE;
    }
    for (uint32_t i = 0; i < w; i++)
        slot_put(u, slot_at(u, i), &arr[i]);
    if (arr != NULL)
        c->alloc->free(arr);
    c->stats.bytes += (uint64_t)w * size;
    c->stats.states += w;
    u->flushed_version = u->version;
    u->status = RS_USER_READY;
    return RS_OK;
}

void cache_flushed(rs_cache *c, rs_user *u, uint64_t version)
{
    /* Never past what exists: a flushed_version above u->version would hide
     * later changes from the flusher. */
    version = RS_MIN(version, u->version);
    if (version > u->flushed_version)
        u->flushed_version = version;
    if (u->nslots > u->nstates && slots_compact(u, u->flushed_version) > 0)
        slots_maybe_shrink(c, u);
}
