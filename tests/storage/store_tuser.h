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
 * version > flushed_version unflushed. Its slots are in the wide form
 * (cache.h), which holds any version as it is. */
typedef struct tuser {
    rs_user u;
    rs_wide_slot slots[4];
} tuser;

static inline void tuser_init(tuser *t, uint64_t user_id, uint64_t version, uint64_t flushed)
{
    memset(t, 0, sizeof(*t));
    t->u.user_id = user_id;
    t->u.version = version;
    t->u.flushed_version = flushed;
    t->u.slots = (unsigned char *)t->slots;
    t->u.bits = RS_USER_WIDE;
    t->u.status = RS_USER_READY;
}

static inline void tuser_state(tuser *t, uint64_t channel, uint64_t message, uint32_t mentions,
                               uint64_t version, uint32_t flags)
{
    rs_wide_slot *st = &t->slots[t->u.nslots++];
    st->s.channel_id = channel;
    st->s.last_message_id = message;
    st->s.mention_count = mentions;
    st->s.vword = ((uint32_t)version & RS_SLOT_VMASK) |
                  ((flags & RS_STATE_MANUAL) ? RS_SLOT_MANUAL : 0u) |
                  ((flags & RS_STATE_TOMBSTONE) ? RS_SLOT_TOMBSTONE : 0u);
    st->version = version;
    t->u.cap = t->u.nslots;
    if (!(flags & RS_STATE_TOMBSTONE))
        t->u.nstates++;
}

/* Change slot i's version, message or liveness in place. */
static inline void tuser_version(tuser *t, uint32_t i, uint64_t version)
{
    t->slots[i].version = version;
    t->slots[i].s.vword =
        (t->slots[i].s.vword & ~RS_SLOT_VMASK) | ((uint32_t)version & RS_SLOT_VMASK);
}

static inline void tuser_message(tuser *t, uint32_t i, uint64_t message)
{
    t->slots[i].s.last_message_id = message;
}

static inline void tuser_tombstone(tuser *t, uint32_t i)
{
    t->slots[i].s.vword = (t->slots[i].s.vword & RS_SLOT_VMASK) | RS_SLOT_TOMBSTONE;
}

static inline uint32_t unflushed(const tuser *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->u.nslots; i++)
        n += t->slots[i].version > t->u.flushed_version;
    return n;
}

#endif /* RS_STORE_TUSER_H */
