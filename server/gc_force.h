/*
 * gc_force.h: the forced collection of the garbage-collected comparison
 * build, and nothing in the normal build.
 *
 * Go forces a collection at least every two minutes; with the read-state
 * cache on its heap, each one marked the whole cache and the service's tail
 * latency spiked. The GC build (READSTATES_GC=boehm) replays that: the cache
 * allocates from the Boehm collector and a timer on the server's event loop
 * runs a full stop-the-world collection every --gc-force-interval seconds,
 * times it and logs one line per collection on the server's logger:
 *
 *   ... level=info event=gc_forced start_unix_ms=1795316400123
 *       duration_ms=84.213 duration_ns=84213077 heap_bytes=... free_bytes=...
 *       gc_no=7 markers=1
 *
 * (loadgen/spike-replay.sh reads these lines to mark the collections on its
 * report.) CMake picks the variant: gc_force_boehm.c in the GC build,
 * gc_force_none.c otherwise, where every function below does nothing.
 */
#ifndef RS_GC_FORCE_H
#define RS_GC_FORCE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "rs_log.h"

typedef struct rs_gc_force rs_gc_force;

typedef struct rs_gc_force_stats {
    uint64_t collections; /* forced collections done */
    uint64_t last_ns;     /* duration of the last one */
    uint64_t max_ns;      /* longest one */
    uint64_t total_ns;    /* sum of all */
} rs_gc_force_stats;

/* True in the garbage-collected build. */
bool rs_gc_force_enabled(void);

/* Give the cache the collector's allocator (GC build; call before
 * engine_new, from the main thread, before other threads start). Leaves
 * cc->alloc untouched in the normal build. Returns 0, or -1 (logged) when
 * the collector cannot be set up for a full stop-the-world mark. */
int rs_gc_force_configure(rs_cache_config *cc, const rs_log *log);

/* Start forcing a full collection every interval_s seconds on base.
 * Returns the handle to pass to rs_gc_force_stop (the caller owns it), or
 * NULL when there is nothing to force: the normal build, or interval_s 0.
 * Aborts on out of memory. */
rs_gc_force *rs_gc_force_start(struct event_base *base, uint32_t interval_s, const rs_log *log);

/* Stop the timer and free the handle; NULL is fine. */
void rs_gc_force_stop(rs_gc_force *g);

/* Counters so far; all zero for NULL. */
rs_gc_force_stats rs_gc_force_get_stats(const rs_gc_force *g);

#endif /* RS_GC_FORCE_H */
