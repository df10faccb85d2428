/*
 * alloc_gc.c: the cache on a tracing garbage collector, for the latency-spike
 * comparison (built only with -DREADSTATES_GC=boehm).
 *
 * What it models. Discord's Go read-state service kept its LRU on the Go
 * heap; the runtime forced a collection at least every two minutes and each
 * one had to mark the whole cache. Here every byte the cache allocates
 * (users, state arrays, hash bucket arrays) comes from the Boehm collector
 * as an *uncollectable* object:
 *
 *   cache ──rs_allocator──> GC_malloc_uncollectable ──> collector heap
 *                                                        | every forced
 *   rs_gc_collect ──GC_gcollect──> stop the world, mark: v collection
 *        roots (data, stack) + every uncollectable object, scanned word by
 *        word (users, their links, state arrays, bucket arrays) ──> sweep
 *
 * Uncollectable objects are never reclaimed by the collector, but they are
 * roots that the mark phase traces through at each collection, so a
 * collection costs what marking the cache's whole pointer graph costs, as
 * Go's mark did. The cache still frees entries itself (GC_free), exactly as
 * in the normal build, so both builds run the same cache code.
 *
 * Invariants
 * - One marker (the calling thread), non-incremental: each collection is a
 *   full stop-the-world mark. rs_allocator_gc refuses incremental mode.
 * - Automatic collections are off (GC_disable); rs_gc_collect re-enables
 *   collection only around its own GC_gcollect. So every collection is one
 *   the server forced and timed, as in Discord's case where the cache made
 *   little garbage and only the two-minute forced collection ran.
 * - realloc(NULL, n) gives an uncollectable object (GC_realloc alone would
 *   give a collectable one, which the collector could reclaim while the
 *   cache still points at it from malloc'd memory).
 *
 * The collector's own state is process-wide by nature; this file adds no
 * state of its own.
 */
#include "alloc_gc.h"

/* The markers-count and parallel-marker calls are declared for threaded
 * builds of the collector (Debian's is one). */
#define GC_THREADS 1
#include <gc/gc.h>
#include <stdint.h>
#include <string.h>

#include "rs_common.h"

static void *gc_malloc_(size_t n)
{
    return GC_MALLOC_UNCOLLECTABLE(n);
}

static void *gc_calloc_(size_t nmemb, size_t n)
{
    if (n != 0 && nmemb > SIZE_MAX / n)
        return NULL;
    size_t bytes = nmemb * n;
    void *p = GC_MALLOC_UNCOLLECTABLE(bytes);
    /* The collector clears new objects; do not rely on it. */
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

static void *gc_realloc_(void *p, size_t n)
{
    if (p == NULL)
        return GC_MALLOC_UNCOLLECTABLE(n);
    /* GC_realloc keeps the object's kind: uncollectable stays so. */
    return GC_REALLOC(p, n);
}

static void gc_free_(void *p)
{
    GC_FREE(p);
}

static const rs_allocator gc_allocator = {
    .name = "boehm-gc",
    .malloc = gc_malloc_,
    .calloc = gc_calloc_,
    .realloc = gc_realloc_,
    .free = gc_free_,
};

/* Initialise once; returns 0, or -1 if the collector runs incrementally. */
static int gc_setup_(void)
{
    if (!GC_is_init_called()) {
        /* One marker: the mark runs on the thread that collects, so its cost
         * does not depend on how many idle cores the machine has. */
        GC_set_markers_count(1);
        GC_INIT();
        GC_disable();
    }
    return GC_is_incremental_mode() ? -1 : 0;
}

const rs_allocator *rs_allocator_gc(void)
{
    return gc_setup_() == 0 ? &gc_allocator : NULL;
}

int rs_gc_collect(rs_gc_collection *out)
{
    if (gc_setup_() != 0)
        return -1;
    GC_word before = GC_get_gc_no();
    GC_enable();
    uint64_t t0 = rs_now_ns();
    GC_gcollect();
    uint64_t t1 = rs_now_ns();
    GC_disable();
    GC_word after = GC_get_gc_no();
    if (after == before)
        return -1;
    out->duration_ns = t1 - t0;
    out->gc_no = (uint64_t)after;
    out->heap_bytes = GC_get_heap_size();
    out->free_bytes = GC_get_free_bytes();
    out->markers = GC_get_parallel() + 1;
    return 0;
}
