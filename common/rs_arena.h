/*
 * rs_arena.h: a bump allocator for per-request memory.
 *
 * The server decodes each Request and builds each Response inside an arena,
 * then resets it: no malloc/free per protobuf field on the hot path. The
 * arena keeps its first chunk across resets; larger requests add chunks that
 * a reset frees.
 *
 *   arena -> [chunk 0 (kept) | used ... free] -> [chunk 1] -> ...
 */
#ifndef RS_ARENA_H
#define RS_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct rs_arena_chunk rs_arena_chunk;

typedef struct rs_arena {
    rs_arena_chunk *head;  /* current chunk (newest) */
    rs_arena_chunk *first; /* chunk kept across resets */
    size_t chunk_size;
    ProtobufCAllocator pb; /* protobuf-c view of this arena */
} rs_arena;

/* Initialise with a first chunk of chunk_size bytes. Aborts on OOM. */
void rs_arena_init(rs_arena *a, size_t chunk_size);
void rs_arena_destroy(rs_arena *a);
/* 16-byte aligned memory valid until the next reset. Aborts on OOM. */
void *rs_arena_alloc(rs_arena *a, size_t n);
/* Zeroed variant. */
void *rs_arena_calloc(rs_arena *a, size_t n);
/* Forget everything allocated; keeps the first chunk. */
void rs_arena_reset(rs_arena *a);
/* A protobuf-c allocator whose free is a no-op; valid while `a` lives. */
static inline ProtobufCAllocator *rs_arena_pb(rs_arena *a)
{
    return &a->pb;
}

#endif /* RS_ARENA_H */
