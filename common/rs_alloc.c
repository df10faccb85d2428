/* rs_alloc.c: the default allocator table. */
#include "rs_alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

/* The cache's hash table doubles its bucket array: 64 MiB at 8M users.
 * calloc hands that back zeroed by one memset on the event loop (a stall
 * of tens to hundreds of ms); fresh anonymous pages are zero already and
 * are faulted in as the incremental rehash reaches them. */
static void *pages_calloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pages_free(void *p, size_t bytes)
{
    if (p != NULL)
        munmap(p, bytes);
}

static const rs_allocator default_allocator = {
    .name = "malloc",
    .malloc = malloc,
    .calloc = calloc,
    .realloc = realloc,
    .free = free,
    .calloc_pages = pages_calloc,
    .free_pages = pages_free,
};

const rs_allocator *rs_allocator_default(void)
{
    return &default_allocator;
}
