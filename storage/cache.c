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
 *     +-> states: [ch 10 | ch 12 | ch 40 (tombstone) | ch 99 ]   starts here
 *                  sorted by channel_id, cap >= nslots
 *
 * Invariants (see also cache.h)
 * - Every user is in the table and on the LRU list exactly while it exists.
 * - stats.bytes == sum(sizeof(rs_user) + cap * sizeof(rs_state)) + bucket
 *   arrays; stats.users and stats.states count users and live states.
 * - Every applied change bumps u->version once per state (once per call for
 *   deletes) and calls the change hook after the change, with a copy.
 * - A change that would create a live state past max_states_per_user, or
 *   take the user's version past 2^64-1, returns RS_ERR_EXHAUSTED before
 *   touching anything (versions never wrap).
 * - A tombstone exists only when keep_tombstones is set, and only until the
 *   store acknowledges its version (cache_flushed).
 * - All per-call work is bounded by the user's slot count (the per-user
 *   limit), by the caller's list, or by max_scan; never by the cache size.
 *
 * Memory per state (published bar: 48 bytes of RSS per state with 1,000,000
 * states over 100,000 users, 10 per user, created one by one by acks):
 * - rs_user is 80 bytes, a tcmalloc size class of its own: 8 bytes/state.
 * - State arrays grow by one slot up to 8, then by a quarter, so ten acks
 *   leave cap 10 (8 -> 10): 320 bytes, also an exact tcmalloc class:
 *   32 bytes/state.
 * - The table: 100,000 users at load factor <= 1 need 131,072 buckets of 8
 *   bytes (1 MiB): about 1 byte/state.
 * Accounted total: 80 + 320 + ~10.5 = ~410 bytes per user, ~41 bytes per
 * state; the rest of the 48-byte bar is allocator overhead. Measured with
 * tests/storage/bench_cache_memory under tcmalloc: 41.05 accounted, RSS growth
 * 44.9 bytes/state when acks round-robin over users, 42.7 user by user.
 * State arrays are resized by malloc + copy + free, never realloc (below).
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
    return sizeof(rs_user) + (size_t)u->cap * sizeof(rs_state);
}

/* Frugal growth: one slot at a time while small (most users hold a few
 * states), then by a quarter so large users still grow geometrically. */
static uint32_t states_next_cap(uint32_t cap)
{
    if (cap < 8)
        return cap + 1;
    return cap <= UINT32_MAX - cap / 4 ? cap + cap / 4 : UINT32_MAX;
}

/* Resize u's state array to exactly `cap` entries (>= nslots). Not through
 * realloc: tcmalloc's realloc pads a small growth to +25% of the old block
 * (ten acks would end in a 384-byte block instead of 320), which breaks the
 * memory bar. A fresh exact block plus a bounded copy costs the same. */
static void states_resize(rs_cache *c, rs_user *u, uint32_t cap)
{
    assert(cap >= u->nslots);
    if (cap == u->cap)
        return;
    rs_state *fresh = NULL;
    if (cap > 0) {
        fresh = cache_xmalloc(c, (size_t)cap * sizeof(rs_state));
        if (u->nslots > 0)
            memcpy(fresh, u->states, (size_t)u->nslots * sizeof(rs_state));
    }
    if (u->states != NULL)
        c->alloc->free(u->states);
    u->states = fresh;
    c->stats.bytes -= (uint64_t)u->cap * sizeof(rs_state);
    c->stats.bytes += (uint64_t)cap * sizeof(rs_state);
    u->cap = cap;
}

/* Make room for `need` slots. */
static void states_reserve(rs_cache *c, rs_user *u, uint32_t need)
{
    if (need <= u->cap)
        return;
    uint32_t cap = u->cap;
    while (cap < need)
        cap = states_next_cap(cap);
    states_resize(c, u, cap);
}

/* Give memory back after removals when less than half the array is used. */
static void states_maybe_shrink(rs_cache *c, rs_user *u)
{
    if (u->nslots == 0)
        states_resize(c, u, 0);
    else if (u->cap > 8 && u->nslots < u->cap / 2)
        states_resize(c, u, u->nslots + u->nslots / 4 + 1);
}

/* Drop tombstones whose version is <= max_version, keeping the order.
 * Returns how many were dropped. */
static uint32_t states_compact(rs_user *u, uint64_t max_version)
{
    uint32_t w = 0;
    for (uint32_t r = 0; r < u->nslots; r++) {
        const rs_state *st = &u->states[r];
        if (!rs_state_live(st) && st->version <= max_version)
            continue;
        if (w != r)
            u->states[w] = *st;
        w++;
    }
    uint32_t dropped = u->nslots - w;
    u->nslots = w;
    return dropped;
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
    c->stats.bytes -= cache_user_bytes(u);
    c->stats.users--;
    c->stats.states -= u->nstates;
    if (u->states != NULL)
        c->alloc->free(u->states);
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

bool cache_rehash_step(rs_cache *c, int steps)
{
    return cache_ht_rehash(&c->ht, steps);
}

/* ---- per-user states --------------------------------------------------- */

/* Index of the first slot whose channel_id is >= channel_id. */
static uint32_t states_lower_bound(const rs_user *u, uint64_t channel_id)
{
    uint32_t lo = 0, hi = u->nslots;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (u->states[mid].channel_id < channel_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const rs_state *cache_state(const rs_user *u, uint64_t channel_id)
{
    uint32_t i = states_lower_bound(u, channel_id);
    if (i < u->nslots && u->states[i].channel_id == channel_id && rs_state_live(&u->states[i]))
        return &u->states[i];
    return NULL;
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
    r->idx = states_lower_bound(u, channel_id);
    r->slot = r->idx < u->nslots && u->states[r->idx].channel_id == channel_id;
    r->live = r->slot && rs_state_live(&u->states[r->idx]);
    if (r->live) {
        r->cur = u->states[r->idx];
    } else {
        memset(&r->cur, 0, sizeof(r->cur));
        r->cur.channel_id = channel_id;
    }
}

/* The live slot for r: existing, revived from a tombstone (as a zero state)
 * or inserted. RS_ERR_EXHAUSTED, with nothing changed, if that would create a
 * live state past the per-user limit, or if the change it is made for would
 * take the user's version past 2^64-1. */
static rs_status state_make_live(rs_cache *c, rs_user *u, const state_ref *r, rs_state **out)
{
    if (cache_version_full(u, 1))
        return RS_ERR_EXHAUSTED; /* the change would wrap the version */
    if (r->live) {
        *out = &u->states[r->idx];
        return RS_OK;
    }
    if (u->nstates >= c->cfg.max_states_per_user)
        return RS_ERR_EXHAUSTED;
    if (!r->slot) {
        states_reserve(c, u, u->nslots + 1);
        memmove(&u->states[r->idx + 1], &u->states[r->idx],
                (size_t)(u->nslots - r->idx) * sizeof(rs_state));
        u->nslots++;
    }
    rs_state *st = &u->states[r->idx];
    *st = r->cur; /* zeroed, channel_id set */
    u->nstates++;
    c->stats.states++;
    *out = st;
    return RS_OK;
}

/* Finish an applied change: new version, copy out, tell the hook. */
static void state_commit(rs_cache *c, rs_user *u, rs_state *st, rs_state *out)
{
    st->version = ++u->version;
    rs_state copy = *st;
    if (out != NULL)
        *out = copy;
    if (c->hook != NULL)
        c->hook(c->hook_ctx, u, &copy, false);
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
    rs_state *st;
    rs_status s = state_make_live(c, u, &r, &st);
    if (s != RS_OK)
        return s;
    st->last_message_id = message_id;
    st->mention_count = mention_count;
    st->flags &= ~RS_STATE_MANUAL;
    state_commit(c, u, st, out);
    *applied = true;
    return RS_OK;
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
    rs_state *st;
    rs_status s = state_make_live(c, u, &r, &st);
    if (s != RS_OK)
        return s;
    st->last_message_id = message_id;
    st->mention_count = mention_count;
    st->flags |= RS_STATE_MANUAL;
    state_commit(c, u, st, out);
    *applied = true;
    return RS_OK;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#define BULK_STACK_IDS 64 /* candidate ids kept on the stack */
#define BULK_MERGE_MIN 8  /* from this many new slots, insert them in one merge */

/* Insert zero live states for the sorted, distinct ids that have no slot
 * (tombstones are revived in place later) with one backwards merge: O(slots
 * + ids) instead of one memmove per id. Each of them is then applied by the
 * first entry that names it, since its message id is past 0. */
static void bulk_insert_slots(rs_cache *c, rs_user *u, uint64_t *ids, size_t k)
{
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        uint32_t j = states_lower_bound(u, ids[i]);
        if (j == u->nslots || u->states[j].channel_id != ids[i])
            ids[m++] = ids[i];
    }
    if (m == 0)
        return;
    states_reserve(c, u, u->nslots + (uint32_t)m);
    size_t r = u->nslots, w = u->nslots + m;
    while (m > 0) {
        if (r > 0 && u->states[r - 1].channel_id > ids[m - 1]) {
            u->states[--w] = u->states[--r];
        } else {
            memset(&u->states[--w], 0, sizeof(rs_state));
            u->states[w].channel_id = ids[--m];
            u->nslots++;
            u->nstates++;
            c->stats.states++;
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
        cand += entries[i].message_id > 0 && cache_state(u, entries[i].channel_id) == NULL;
    uint64_t *ids = cand <= BULK_STACK_IDS ? stack_ids : cache_xmalloc(c, cand * sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        if (entries[i].message_id > 0 && cache_state(u, entries[i].channel_id) == NULL)
            ids[k++] = entries[i].channel_id;
    qsort(ids, k, sizeof(*ids), u64_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || ids[i] != ids[i - 1])
            ids[distinct++] = ids[i];

    /* Entries that may apply (each bumps the version once): none may wrap. */
    uint64_t may_apply = 0;
    for (size_t i = 0; i < n; i++) {
        const rs_state *cur = cache_state(u, entries[i].channel_id);
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
    rs_state *st;
    rs_status s = state_make_live(c, u, &r, &st);
    if (s != RS_OK)
        return s;
    st->mention_count =
        count > UINT32_MAX - st->mention_count ? UINT32_MAX : st->mention_count + count;
    state_commit(c, u, st, NULL);
    *mention_count = st->mention_count;
    *applied = true;
    return RS_OK;
}

/* Mark one live slot deleted at version v and keep a copy for the hook. */
static void delete_mark(rs_state *st, uint64_t v, rs_state *removed, uint32_t *nremoved)
{
    rs_state copy = *st;
    copy.version = v;
    removed[(*nremoved)++] = copy;
    st->flags |= RS_STATE_TOMBSTONE;
    st->version = v;
}

uint32_t cache_delete(rs_cache *c, rs_user *u, const uint64_t *channel_ids, size_t n, bool all)
{
    assert(u->status == RS_USER_READY);
    if (u->nstates == 0 || cache_version_full(u, 1))
        return 0;
    size_t room = all ? u->nstates : RS_MIN(n, (size_t)u->nstates);
    if (room == 0)
        return 0;
    rs_state *removed = cache_xmalloc(c, room * sizeof(*removed));
    uint32_t nremoved = 0;
    uint64_t v = u->version + 1;
    if (all) {
        for (uint32_t i = 0; i < u->nslots; i++)
            if (rs_state_live(&u->states[i]))
                delete_mark(&u->states[i], v, removed, &nremoved);
    } else {
        for (size_t i = 0; i < n && nremoved < room; i++) {
            uint32_t j = states_lower_bound(u, channel_ids[i]);
            if (j < u->nslots && u->states[j].channel_id == channel_ids[i] &&
                rs_state_live(&u->states[j]))
                delete_mark(&u->states[j], v, removed, &nremoved);
        }
    }
    if (nremoved > 0) {
        u->version = v;
        u->nstates -= nremoved;
        c->stats.states -= nremoved;
        if (!c->cfg.keep_tombstones) {
            states_compact(u, UINT64_MAX);
            states_maybe_shrink(c, u);
        }
        for (uint32_t i = 0; i < nremoved && c->hook != NULL; i++)
            c->hook(c->hook_ctx, u, &removed[i], true);
    }
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
    /* Duplicates gone: trade the array for an exact one if memory allows
     * (not realloc, which may keep the larger block). */
    uint32_t cap = (uint32_t)n;
    if (w == 0 && arr != NULL) {
        c->alloc->free(arr);
        arr = NULL;
        cap = 0;
    } else if (w < n) {
        rs_state *exact = c->alloc->malloc((size_t)w * sizeof(*arr));
        if (exact != NULL) {
            memcpy(exact, arr, (size_t)w * sizeof(*arr));
            c->alloc->free(arr);
            arr = exact;
            cap = w;
        }
    }
    /* Drop whatever the user held (normally nothing) and adopt arr. */
    c->stats.states -= u->nstates;
    c->stats.bytes -= (uint64_t)u->cap * sizeof(rs_state);
    if (u->states != NULL)
        c->alloc->free(u->states);
    u->states = arr;
    u->cap = cap;
    u->nslots = u->nstates = w;
    c->stats.bytes += (uint64_t)cap * sizeof(rs_state);
    c->stats.states += w;
    u->version = RS_MAX(u->version, version);
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
    if (u->nslots > u->nstates && states_compact(u, u->flushed_version) > 0)
        states_maybe_shrink(c, u);
}
