/*
 * cache_view.h: the tests' window on a user's states. The cache keeps them
 * as packed slots (cache.h) and hands out copies; these helpers give a test
 * a pointer to a copy (from a small ring, so a few may be alive in one
 * expression), or NULL where cache_state would find nothing.
 */
#ifndef RS_TEST_CACHE_VIEW_H
#define RS_TEST_CACHE_VIEW_H

#include "cache.h"

static rs_state *view_next(void)
{
    static rs_state ring[16];
    static unsigned k;
    return &ring[k++ % 16];
}

/* The live state of a channel, or NULL. */
static inline const rs_state *tstate(const rs_user *u, uint64_t channel_id)
{
    rs_state *st = view_next();
    return cache_state(u, channel_id, st) ? st : NULL;
}

/* Slot i (live or tombstone), decoded. */
static inline const rs_state *tslot(const rs_user *u, uint32_t i)
{
    rs_state *st = view_next();
    cache_slot(u, i, st);
    return st;
}

#endif
