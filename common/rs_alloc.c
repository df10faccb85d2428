/* rs_alloc.c: the default allocator table. */
#include "rs_alloc.h"

#include <stdlib.h>

static const rs_allocator default_allocator = {
    .name = "malloc",
    .malloc = malloc,
    .calloc = calloc,
    .realloc = realloc,
    .free = free,
};

const rs_allocator *rs_allocator_default(void)
{
    return &default_allocator;
}
