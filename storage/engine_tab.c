/*
 * engine_tab.c: the engine's two side structures.
 *
 * eng_slots: a chained hash table user_id -> eng_slot, holding only users
 * that someone waits on (a load in flight, write-through commits). Its size
 * follows the waits in flight, never the cache size; it doubles
 * when the load factor passes 1 (the rehash walks only those slots).
 *
 * eng_ring: a FIFO ring of dirty user ids. It grows by doubling (amortised;
 * bounded by the dirty budget), and every operation is O(1).
 *
 *   ring:  [ . . h x x x x x t . . ]   h = head, count entries wrap around
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static size_t slot_hash(uint64_t id, size_t nbuckets)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (nbuckets - 1);
}

eng_slot *eng_slot_find(eng_slots *t, uint64_t user_id)
{
    if (t->nbuckets == 0)
        return NULL;
    for (eng_slot *s = t->buckets[slot_hash(user_id, t->nbuckets)]; s != NULL; s = s->next)
        if (s->user_id == user_id)
            return s;
    return NULL;
}

static void slots_grow(eng_slots *t)
{
    size_t nb = t->nbuckets == 0 ? 64 : t->nbuckets * 2;
    eng_slot **b = rs_xcalloc(nb, sizeof(*b), "engine table");
    for (size_t i = 0; i < t->nbuckets; i++) {
        eng_slot *s = t->buckets[i];
        while (s != NULL) {
            eng_slot *next = s->next;
            size_t h = slot_hash(s->user_id, nb);
            s->next = b[h];
            b[h] = s;
            s = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

eng_slot *eng_slot_get(eng_slots *t, rs_engine *e, uint64_t user_id)
{
    eng_slot *s = eng_slot_find(t, user_id);
    if (s != NULL)
        return s;
    if (t->count >= t->nbuckets)
        slots_grow(t);
    s = rs_xcalloc(1, sizeof(*s), "engine table");
    s->e = e;
    s->user_id = user_id;
    size_t h = slot_hash(user_id, t->nbuckets);
    s->next = t->buckets[h];
    t->buckets[h] = s;
    t->count++;
    return s;
}

void eng_slot_release(eng_slots *t, eng_slot *s)
{
    if (s->loading || s->load_head != NULL || s->commit_head != NULL)
        return;
    eng_slot **pp = &t->buckets[slot_hash(s->user_id, t->nbuckets)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->next;
    if (*pp == s) {
        *pp = s->next;
        t->count--;
    }
    free(s);
}

void eng_slots_each(eng_slots *t, void (*fn)(eng_slot *s, void *arg), void *arg)
{
    for (size_t i = 0; i < t->nbuckets; i++)
        for (eng_slot *s = t->buckets[i]; s != NULL; s = s->next)
            fn(s, arg);
}

void eng_slots_free(eng_slots *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        eng_slot *s = t->buckets[i];
        while (s != NULL) {
            eng_slot *next = s->next;
            free(s);
            s = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

void eng_ring_push(eng_ring *r, const eng_qent *q)
{
    if (r->count == r->cap) {
        size_t cap = r->cap == 0 ? 1024 : r->cap * 2;
        eng_qent *n = rs_xmalloc(cap * sizeof(*n), "engine table");
        for (size_t i = 0; i < r->count; i++)
            n[i] = r->ents[(r->head + i) & (r->cap - 1)];
        free(r->ents);
        r->ents = n;
        r->cap = cap;
        r->head = 0;
    }
    r->ents[(r->head + r->count) & (r->cap - 1)] = *q;
    r->count++;
}

bool eng_ring_peek(const eng_ring *r, eng_qent *out)
{
    if (r->count == 0)
        return false;
    *out = r->ents[r->head];
    return true;
}

bool eng_ring_pop(eng_ring *r, eng_qent *out)
{
    if (r->count == 0)
        return false;
    *out = r->ents[r->head];
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
    return true;
}

const eng_qent *eng_ring_at(const eng_ring *r, size_t i)
{
    return i < r->count ? &r->ents[(r->head + i) & (r->cap - 1)] : NULL;
}

void eng_ring_free(eng_ring *r)
{
    free(r->ents);
    memset(r, 0, sizeof(*r));
}
