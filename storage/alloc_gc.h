/*
 * alloc_gc.h: the cache's allocator and the forced full collection of the
 * garbage-collected comparison build (READSTATES_GC=boehm). Only that build
 * compiles alloc_gc.c; the server reaches it through server/gc_force.h.
 */
#ifndef RS_ALLOC_GC_H
#define RS_ALLOC_GC_H

#include <stddef.h>
#include <stdint.h>

#include "rs_alloc.h"

/*
 * The Boehm collector's allocator table. The first call initialises the
 * collector (GC_INIT, one marker thread, automatic collections off so that
 * only rs_gc_collect collects); make it from the main thread before any
 * other thread starts. Returns the table (static, never freed), or NULL when
 * the collector cannot model a full stop-the-world mark (incremental or
 * generational mode was requested through GC_ENABLE_INCREMENTAL).
 */
const rs_allocator *rs_allocator_gc(void);

typedef struct rs_gc_collection {
    uint64_t duration_ns; /* wall time of the whole collection */
    uint64_t gc_no;       /* the collector's collection counter afterwards */
    size_t heap_bytes;    /* the collector's heap, mapped */
    size_t free_bytes;    /* of which free after the collection */
    int markers;          /* marker threads (1: the caller's thread only) */
} rs_gc_collection;

/* Run one full, stop-the-world collection now (mark every uncollectable
 * object, that is the whole cache) and describe it in *out. Initialises
 * the collector if rs_allocator_gc has not. Returns 0, or -1 if the
 * collector refused to collect (nothing is written to *out then). */
int rs_gc_collect(rs_gc_collection *out);

#endif /* RS_ALLOC_GC_H */
