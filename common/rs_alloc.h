/*
 * rs_alloc.h: the cache's allocator, chosen once at start-up.
 *
 * The cache takes every byte of its entries through this table, so the
 * garbage-collected comparison build (READSTATES_GC=boehm) can hand the whole
 * cache to a tracing collector without an #ifdef in the cache itself.
 */
#ifndef RS_ALLOC_H
#define RS_ALLOC_H

#include <stddef.h>

typedef struct rs_allocator {
    const char *name;
    void *(*malloc)(size_t n);
    void *(*calloc)(size_t nmemb, size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);
    /* Optional: a large zeroed array whose pages the kernel zeroes as they
     * are first touched (anonymous mmap), so getting it costs no memset of
     * its whole size up front; freed with free_pages(p, bytes). NULL: use
     * calloc/free (the collector's allocator must see every pointer). */
    void *(*calloc_pages)(size_t bytes);
    void (*free_pages)(void *p, size_t bytes);
} rs_allocator;

/* The C library's (or tcmalloc's, when linked) malloc family. */
const rs_allocator *rs_allocator_default(void);

#endif /* RS_ALLOC_H */
