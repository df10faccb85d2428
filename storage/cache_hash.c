/*
 * cache_hash.c: the cache's user table, a chained hash table with Redis
 * dict-style incremental rehashing.
 *
 *   t[0] (old)                        t[1] (new, 2x or smaller)
 *   [0] -> (moved, empty)             [0] -> u -> u
 *   [1] -> (moved, empty)             [1] -> u
 *   [2] -> u -> u   <- rehash_idx     [2]
 *   [3] -> u                          [3] -> u
 *
 * Invariants
 * - Sizes are powers of two; a user sits in bucket hash & (size - 1).
 * - While rehashing, t[0] buckets below rehash_idx are empty, new users go
 *   to t[1], and a lookup checks t[0] then t[1]. When t[0] is empty the
 *   new table takes its place.
 * - Grow when the users reach the bucket count (load factor 1) to twice
 *   the size; shrink when fewer than 1/16 of the buckets are used, to the
 *   smallest power of two that holds the users at load factor 1/4 (never
 *   below CACHE_HT_MIN_SIZE). Neither starts while a rehash is running; a
 *   shrink is checked again when a rehash ends.
 * - A step moves one non-empty bucket and visits at most 10 empty ones,
 *   so no call does work proportional to the table. The new bucket array
 *   is one allocation; from 1 MiB on it comes from the allocator's lazily
 *   zeroed pages (anonymous mmap), so the doubling at millions of users
 *   does not memset tens of MiB inside one request (a 190 ms stall at 4M
 *   users when it was calloc).
 * - If a resize cannot get memory, the table keeps working with longer
 *   chains and tries again at a later add or remove.
 */
#include "cache_hash.h"

#include "siphash.h"

#define CACHE_HT_EMPTY_VISITS 10

static inline size_t ht_index(const cache_ht *ht, const cache_ht_table *t, uint64_t id)
{
    return (size_t)(siphash24_u64(ht->seed, id) & (t->size - 1));
}

/* Bucket arrays from this size on come from the allocator's lazily zeroed
 * pages (rs_alloc.h) when it has them: no O(size) memset at a doubling. */
#define CACHE_HT_PAGES_BYTES ((size_t)1 << 20)

static bool ht_pages(const cache_ht *ht, size_t size)
{
    return ht->alloc->calloc_pages != NULL && size >= CACHE_HT_PAGES_BYTES / sizeof(rs_user *);
}

static bool ht_table_alloc(cache_ht *ht, cache_ht_table *t, size_t size)
{
    rs_user **b = ht_pages(ht, size) ? ht->alloc->calloc_pages(size * sizeof(*b))
                                     : ht->alloc->calloc(size, sizeof(*b));
    if (b == NULL)
        return false;
    t->buckets = b;
    t->size = size;
    t->used = 0;
    *ht->bytes += size * sizeof(*b);
    return true;
}

static void ht_table_free(cache_ht *ht, cache_ht_table *t)
{
    if (t->buckets != NULL) {
        if (ht_pages(ht, t->size))
            ht->alloc->free_pages(t->buckets, t->size * sizeof(*t->buckets));
        else
            ht->alloc->free(t->buckets);
        *ht->bytes -= t->size * sizeof(*t->buckets);
    }
    t->buckets = NULL;
    t->size = 0;
    t->used = 0;
}

bool cache_ht_init(cache_ht *ht, const uint64_t seed[2], const rs_allocator *alloc,
                   uint64_t *bytes)
{
    ht->t[0] = (cache_ht_table){0};
    ht->t[1] = (cache_ht_table){0};
    ht->rehash_idx = SIZE_MAX;
    ht->seed[0] = seed[0];
    ht->seed[1] = seed[1];
    ht->alloc = alloc;
    ht->bytes = bytes;
    return ht_table_alloc(ht, &ht->t[0], CACHE_HT_MIN_SIZE);
}

void cache_ht_destroy(cache_ht *ht)
{
    ht_table_free(ht, &ht->t[0]);
    ht_table_free(ht, &ht->t[1]);
    ht->rehash_idx = SIZE_MAX;
}

size_t cache_ht_count(const cache_ht *ht)
{
    return ht->t[0].used + ht->t[1].used;
}

bool cache_ht_rehashing(const cache_ht *ht)
{
    return ht->rehash_idx != SIZE_MAX;
}

/* Start moving everything into a new table of `size` buckets. */
static void ht_start_resize(cache_ht *ht, size_t size)
{
    if (cache_ht_rehashing(ht) || size == ht->t[0].size)
        return;
    if (!ht_table_alloc(ht, &ht->t[1], size))
        return; /* keep the current table; retried at a later add/remove */
    ht->rehash_idx = 0;
}

/* Start a shrink when fewer than 1/16 of the buckets are used. */
static void ht_maybe_shrink(cache_ht *ht)
{
    const cache_ht_table *t0 = &ht->t[0];
    if (cache_ht_rehashing(ht) || t0->size <= CACHE_HT_MIN_SIZE || t0->used >= t0->size / 16)
        return;
    size_t size = CACHE_HT_MIN_SIZE;
    while (size < t0->used * 4)
        size *= 2;
    ht_start_resize(ht, size);
}

bool cache_ht_rehash(cache_ht *ht, int steps)
{
    int empty_visits = steps * CACHE_HT_EMPTY_VISITS;
    cache_ht_table *from = &ht->t[0], *to = &ht->t[1];

    while (steps-- > 0 && cache_ht_rehashing(ht) && from->used > 0) {
        while (from->buckets[ht->rehash_idx] == NULL) {
            ht->rehash_idx++;
            if (--empty_visits == 0)
                return true;
        }
        rs_user *u = from->buckets[ht->rehash_idx];
        while (u != NULL) {
            rs_user *next = u->hnext;
            size_t i = ht_index(ht, to, u->user_id);
            u->hnext = to->buckets[i];
            to->buckets[i] = u;
            from->used--;
            to->used++;
            u = next;
        }
        from->buckets[ht->rehash_idx] = NULL;
        ht->rehash_idx++;
    }
    if (cache_ht_rehashing(ht) && from->used == 0) {
        ht_table_free(ht, from);
        ht->t[0] = *to;
        ht->t[1] = (cache_ht_table){0};
        ht->rehash_idx = SIZE_MAX;
        ht_maybe_shrink(ht); /* removals may have outrun a shrink */
    }
    return cache_ht_rehashing(ht);
}

rs_user *cache_ht_find(cache_ht *ht, uint64_t user_id, bool step)
{
    if (step && cache_ht_rehashing(ht))
        cache_ht_rehash(ht, 1);
    uint64_t h = siphash24_u64(ht->seed, user_id);
    for (int t = 0; t < 2; t++) {
        const cache_ht_table *tab = &ht->t[t];
        if (tab->size == 0)
            continue;
        for (rs_user *u = tab->buckets[h & (tab->size - 1)]; u != NULL; u = u->hnext)
            if (u->user_id == user_id)
                return u;
        if (!cache_ht_rehashing(ht))
            break;
    }
    return NULL;
}

void cache_ht_add(cache_ht *ht, rs_user *u)
{
    if (cache_ht_rehashing(ht))
        cache_ht_rehash(ht, 1);
    else if (ht->t[0].used >= ht->t[0].size)
        ht_start_resize(ht, ht->t[0].size * 2);
    cache_ht_table *tab = cache_ht_rehashing(ht) ? &ht->t[1] : &ht->t[0];
    size_t i = ht_index(ht, tab, u->user_id);
    u->hnext = tab->buckets[i];
    tab->buckets[i] = u;
    tab->used++;
}

/* Unlink u from tab if it is there. Returns true if it was. */
static bool ht_unlink(cache_ht *ht, cache_ht_table *tab, rs_user *u)
{
    if (tab->size == 0)
        return false;
    rs_user **pp = &tab->buckets[ht_index(ht, tab, u->user_id)];
    for (; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == u) {
            *pp = u->hnext;
            u->hnext = NULL;
            tab->used--;
            return true;
        }
    }
    return false;
}

void cache_ht_remove(cache_ht *ht, rs_user *u)
{
    if (cache_ht_rehashing(ht))
        cache_ht_rehash(ht, 1);
    if (!ht_unlink(ht, &ht->t[0], u)) {
        bool found = ht_unlink(ht, &ht->t[1], u);
        assert(found);
        (void)found;
    }
    ht_maybe_shrink(ht);
}
