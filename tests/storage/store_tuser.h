/*
 * store_tuser.h: a user as the cache holds it, built by hand for the tests
 * that drive a store directly (test_store_redis.c, test_store_cluster.c):
 * states sorted by channel, those with version > flushed_version unflushed.
 */
#ifndef RS_STORE_TUSER_H
#define RS_STORE_TUSER_H

#include <stdint.h>
#include <string.h>

#include "cache.h"

/* A user as the cache holds it: states sorted by channel, those with
 * version > flushed_version unflushed. */
typedef struct tuser {
    rs_user u;
    rs_state states[4];
} tuser;

static inline void tuser_init(tuser *t, uint64_t user_id, uint64_t version, uint64_t flushed)
{
    memset(t, 0, sizeof(*t));
    t->u.user_id = user_id;
    t->u.version = version;
    t->u.flushed_version = flushed;
    t->u.states = t->states;
    t->u.status = RS_USER_READY;
}

static inline void tuser_state(tuser *t, uint64_t channel, uint64_t message, uint32_t mentions,
                               uint64_t version, uint32_t flags)
{
    rs_state *st = &t->states[t->u.nslots++];
    st->channel_id = channel;
    st->last_message_id = message;
    st->mention_count = mentions;
    st->version = version;
    st->flags = flags;
    t->u.cap = t->u.nslots;
    if (!(flags & RS_STATE_TOMBSTONE))
        t->u.nstates++;
}

static inline uint32_t unflushed(const tuser *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->u.nslots; i++)
        n += t->states[i].version > t->u.flushed_version;
    return n;
}

#endif /* RS_STORE_TUSER_H */
