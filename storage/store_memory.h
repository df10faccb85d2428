/*
 * store_memory.h: the memory-only store of store.h (no --redis): loads find
 * nothing, merges apply at once, always up, not persistent. See
 * store_memory.c.
 */
#ifndef RS_STORE_MEMORY_H
#define RS_STORE_MEMORY_H

#include <event2/event.h>

#include "store.h"

/* Create the store on base (its completions run from that loop; with a NULL
 * base, load and merge are refused). Returns NULL on out of memory. */
rs_store *store_memory_new(struct event_base *base);

#endif /* RS_STORE_MEMORY_H */
