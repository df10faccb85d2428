/*
 * store_memory.c: the memory-only store (store_memory.h): what running
 * without --redis means. Nothing is kept: a load finds nothing (no states,
 * version 0), a merge applies at once for every user, and the store is
 * always up. It is not persistent, so the engine never asks it to load or
 * merge (it creates users in memory at once, commits complete at once and
 * eviction may drop any unpinned user); the calls still keep the contract
 * of store.h for any other caller:
 *
 *   load / merge ──> queued (FIFO) ──one event──> fn(arg, OK ...)
 *   free         ──> what is queued completes with RS_STORE_ERROR
 *
 * Completions run from the event loop, never inside the call; a call made
 * from a completion goes to the next run of the event.
 */
#include "store_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"

typedef struct mem_call {
    struct mem_call *next;
    rs_store_load_fn load; /* a load, else a merge */
    rs_store_merge_fn merge;
    void *arg;
    uint32_t n; /* merge: users in the call */
} mem_call;

typedef struct store_memory {
    rs_store store; /* first: the rs_store * the engine holds */
    struct event_base *base;
    struct event *ev; /* made on the first call: an engine never calls */
    mem_call *head, *tail;
    rs_store_outcome *outcomes; /* scratch for merge completions */
    size_t outcomes_cap;
} store_memory;

static void mem_complete(store_memory *m, mem_call *c, rs_store_result result)
{
    if (c->load != NULL) {
        rs_store_loaded r;
        memset(&r, 0, sizeof(r));
        r.result = result;
        c->load(c->arg, &r);
        return;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        m->outcomes[i].result = result;
        m->outcomes[i].what = NULL;
    }
    c->merge(c->arg, m->outcomes, c->n);
}

static void mem_run(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_memory *m = arg;
    mem_call *list = m->head;
    m->head = m->tail = NULL;
    while (list != NULL) {
        mem_call *c = list;
        list = c->next;
        mem_complete(m, c, RS_STORE_OK);
        free(c);
    }
}

static void mem_queue(store_memory *m, mem_call *c)
{
    c->next = NULL;
    if (m->tail != NULL)
        m->tail->next = c;
    else
        m->head = c;
    m->tail = c;
    event_active(m->ev, EV_TIMEOUT, 0);
}

/* The completion event, made on first use; -1 when it cannot be. */
static int mem_ready(store_memory *m)
{
    if (m->ev == NULL)
        m->ev = m->base != NULL ? event_new(m->base, -1, 0, mem_run, m) : NULL;
    return m->ev != NULL ? 0 : -1;
}

static mem_call *mem_call_new(void)
{
    mem_call *c = rs_xcalloc(1, sizeof(*c), "memory store");
    return c;
}

static int mem_load(rs_store *s, uint64_t user_id, rs_store_load_fn fn, void *arg)
{
    (void)user_id;
    if (mem_ready((store_memory *)s) != 0)
        return -1;
    mem_call *c = mem_call_new();
    c->load = fn;
    c->arg = arg;
    mem_queue((store_memory *)s, c);
    return 0;
}

static int mem_merge(rs_store *s, const rs_store_user *users, uint32_t n, rs_store_merge_fn fn,
                     void *arg)
{
    (void)users;
    store_memory *m = (store_memory *)s;
    if (n < 1 || mem_ready(m) != 0)
        return -1;
    if (n > m->outcomes_cap) {
        size_t cap = RS_MAX((size_t)n, m->outcomes_cap * 2);
        rs_store_outcome *o = rs_xrealloc(m->outcomes, cap * sizeof(*o), "memory store");
        m->outcomes = o;
        m->outcomes_cap = cap;
    }
    mem_call *c = mem_call_new();
    c->merge = fn;
    c->arg = arg;
    c->n = n;
    mem_queue(m, c);
    return 0;
}

static bool mem_up(const rs_store *s)
{
    (void)s;
    return true;
}

static void mem_stats(const rs_store *s, rs_store_stats *out)
{
    (void)s;
    memset(out, 0, sizeof(*out));
}

static int mem_key(const rs_store *s, uint64_t user_id, char *buf, size_t size)
{
    (void)s;
    return snprintf(buf, size, "memory:{%llu}", (unsigned long long)user_id);
}

static void mem_free(rs_store *s)
{
    store_memory *m = (store_memory *)s;
    mem_call *list = m->head;
    m->head = m->tail = NULL;
    while (list != NULL) {
        mem_call *c = list;
        list = c->next;
        mem_complete(m, c, RS_STORE_ERROR);
        free(c);
    }
    if (m->ev != NULL)
        event_free(m->ev);
    free(m->outcomes);
    free(m);
}

static const rs_store_ops store_memory_ops = {
    .name = "memory",
    .load = mem_load,
    .merge = mem_merge,
    .up = mem_up,
    .stats = mem_stats,
    .key = mem_key,
    .free = mem_free,
};

rs_store *store_memory_new(struct event_base *base)
{
    store_memory *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->store.ops = &store_memory_ops;
    m->store.persistent = false;
    m->store.merge_units = SIZE_MAX;
    m->base = base;
    return &m->store;
}
