/*
 * cache_hash.h: the cache's user table (private to storage/cache*.c).
 *
 * A chained hash table of rs_user keyed by user_id, chained through the
 * intrusive u->hnext, with Redis dict-style incremental rehashing: while a
 * resize is in progress there are two tables, entries move from t[0] to
 * t[1] one bucket per step, new entries go to t[1], and lookups look in
 * both. The caller owns the users; the table owns only its bucket arrays,
 * which come from the cache's allocator and are counted in *bytes.
 */
#ifndef RS_CACHE_HASH_H
#define RS_CACHE_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

typedef struct cache_ht_table {
    rs_user **buckets; /* size entries, or NULL when size is 0 */
    size_t size;       /* a power of two, or 0 */
    size_t used;       /* users chained in this table */
} cache_ht_table;

typedef struct cache_ht {
    cache_ht_table t[2];       /* t[1] is in use only while rehashing */
    size_t rehash_idx;         /* next t[0] bucket to move; SIZE_MAX when idle */
    uint64_t seed[2];          /* SipHash key */
    const rs_allocator *alloc; /* bucket arrays */
    uint64_t *bytes;           /* the cache's byte counter */
} cache_ht;

#define CACHE_HT_MIN_SIZE 16u

/* Set up an empty table with CACHE_HT_MIN_SIZE buckets. Returns false on out
 * of memory (nothing to free then). */
bool cache_ht_init(cache_ht *ht, const uint64_t seed[2], const rs_allocator *alloc,
                   uint64_t *bytes);
/* Free the bucket arrays (not the users). */
void cache_ht_destroy(cache_ht *ht);
/* Users in the table. */
size_t cache_ht_count(const cache_ht *ht);
/* Find a user. `step` does one rehash step first (lookups do; peeks not). */
rs_user *cache_ht_find(cache_ht *ht, uint64_t user_id, bool step);
/* Add a user whose id is absent; may start a grow. Aborts on out of memory. */
void cache_ht_add(cache_ht *ht, rs_user *u);
/* Unlink a user that is in the table; may start a shrink. */
void cache_ht_remove(cache_ht *ht, rs_user *u);
/* Move up to `steps` buckets (visiting at most 10 empty buckets per step).
 * Returns true while a rehash is still in progress. */
bool cache_ht_rehash(cache_ht *ht, int steps);
/* True while two tables are in use. */
bool cache_ht_rehashing(const cache_ht *ht);

#endif /* RS_CACHE_HASH_H */
