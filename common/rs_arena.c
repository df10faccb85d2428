/* rs_arena.c: bump allocator, see rs_arena.h. */
#include "rs_arena.h"

#include "rs_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rs_arena_chunk {
    rs_arena_chunk *next; /* older chunk */
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

static rs_arena_chunk *chunk_new(size_t size)
{
    rs_arena_chunk *c = rs_xmalloc(sizeof(*c) + size, "arena");
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void *pb_alloc(void *ud, size_t n)
{
    return rs_arena_alloc(ud, n);
}
static void pb_free(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

void rs_arena_init(rs_arena *a, size_t chunk_size)
{
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->first = a->head = chunk_new(a->chunk_size);
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
}

void *rs_arena_alloc(rs_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need == 0)
        need = 16;
    rs_arena_chunk *c = a->head;
    if (c->size - c->used < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;
        rs_arena_chunk *nc = chunk_new(size);
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *rs_arena_calloc(rs_arena *a, size_t n)
{
    void *p = rs_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void rs_arena_reset(rs_arena *a)
{
    rs_arena_chunk *c = a->head;
    while (c != a->first) {
        rs_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = a->first;
    a->first->used = 0;
}

void rs_arena_destroy(rs_arena *a)
{
    rs_arena_reset(a);
    free(a->first);
    a->first = a->head = NULL;
}
