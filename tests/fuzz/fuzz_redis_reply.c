/*
 * fuzz_redis_reply.c: libFuzzer harness for Redis replies as the Redis
 * store decodes them and the engine takes the outcome.
 *
 * The input after its first byte is fed (in two pieces) to hiredis's reply
 * reader, as hiredis reads a socket; every reply it yields (at most 64) is
 * then handed to the store's own reply decoding and the engine's completion
 * paths, with nothing sent, through the test hooks of engine_int.h and
 * store_redis.h:
 *   even replies: the answer to a user's HGETALL (load_inject: the
 *                 stored-value parsing and cache_load);
 *   odd replies:  the answer to one merge call (EVALSHA) of the users queued
 *                 for flushing (flush_inject: the per-user outcomes).
 * Each loaded user then gets a few changes (first byte: how many, and the
 * users per merge call), so merges have dirty users to report on. The
 * engine is a fresh one per input with a Redis address that is never
 * served (its event loop never runs), so it keeps tombstones and a flush
 * queue as in production.
 *
 * Checked beyond crashes, sanitizer reports and leaks: a loaded user is
 * READY, clean, its states sorted by channel with no duplicates and none
 * newer than the user; a change after a load leaves the user dirty (its
 * version above what Redis has); a merge leaves no user FLUSHING, and the
 * dirty-user count matches the users still dirty.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "engine.h"
#include "engine_int.h"
#include "fuzz_reader.h"
#include "store_redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RR_MAX_REPLIES 64
#define RR_MAX_USERS   (RR_MAX_REPLIES / 2 + 1)

/* user_id's load answered with reply (user_id not cached): the READY user,
 * or NULL. */
static rs_user *load_inject(rs_engine *e, uint64_t user_id, const redisReply *reply)
{
    rs_store_load_fn fn;
    void *arg;
    if (!engine_load_inject_begin(e, user_id, &fn, &arg))
        return NULL;
    store_redis_load_inject(e->store, user_id, reply, fn, arg);
    return cache_peek(engine_cache(e), user_id);
}

/* One merge call of the queued users answered with reply; returns its users. */
static uint32_t flush_inject(rs_engine *e, const redisReply *reply)
{
    rs_store_merge_fn fn;
    void *arg;
    uint32_t n = engine_flush_inject_begin(e, &fn, &arg);
    if (n > 0)
        store_redis_merge_inject(e->store, n, reply, fn, arg);
    return n;
}

static void rr_fail(const char *what, uint64_t user_id)
{
    fprintf(stderr, "fuzz_redis_reply: user %llu: %s\n", (unsigned long long)user_id, what);
    abort();
}

static void rr_check_loaded(const rs_user *u)
{
    if (u->status != RS_USER_READY)
        rr_fail("loaded user not READY", u->user_id);
    if (rs_user_dirty(u))
        rr_fail("loaded user dirty", u->user_id);
    uint32_t live = 0;
    uint64_t prev_channel = 0;
    for (uint32_t i = 0; i < u->nslots; i++) {
        rs_state st;
        cache_slot(u, i, &st);
        if (i > 0 && prev_channel >= st.channel_id)
            rr_fail("states not sorted by channel, or a channel twice", u->user_id);
        prev_channel = st.channel_id;
        if (st.channel_id == 0)
            rr_fail("state for channel 0", u->user_id);
        if (st.version > u->version)
            rr_fail("state newer than its user", u->user_id);
        live += rs_state_live(&st) ? 1 : 0;
    }
    if (live != u->nstates)
        rr_fail("live state count differs from nstates", u->user_id);
}

/* A few changes on a loaded user (so a later merge has work to report). */
static void rr_change(rs_engine *e, rs_user *u, unsigned changes, uint64_t seed)
{
    rs_cache *c = engine_cache(e);
    for (unsigned i = 0; i < changes; i++) {
        uint64_t ch = 1 + (seed + i) % 5;
        rs_state out;
        bool applied = false;
        rs_status st;
        if (i % 3 == 2)
            st = cache_set(c, u, ch, seed + i, i, &out, &applied);
        else
            st = cache_ack(c, u, ch, UINT64_MAX - seed - i, (uint32_t)i, &out, &applied);
        if (st == RS_OK && applied && u->version <= u->flushed_version)
            rr_fail("changed after a load but not dirty (version wrapped?)", u->user_id);
    }
    if (changes > 0 && seed % 4 == 0) {
        uint64_t ch = 1 + seed % 5;
        cache_delete(c, u, &ch, 1, false);
    }
}

static void rr_check_engine(rs_engine *e, const uint64_t *ids, size_t nids)
{
    rs_cache *c = engine_cache(e);
    uint64_t dirty = 0;
    for (size_t i = 0; i < nids; i++) {
        rs_user *u = cache_peek(c, ids[i]);
        if (u == NULL)
            continue;
        if (u->bits & RS_USER_FLUSHING)
            rr_fail("still FLUSHING after the merge reply", u->user_id);
        dirty += u->dirty_acct != 0 ? 1 : 0;
    }
    if (engine_stats(e)->dirty_users != dirty)
        rr_fail("dirty_users differs from the users counted dirty", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned changes = data[0] & 7;
    rs_engine_config cfg;
    engine_config_defaults(&cfg);
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = 1; /* never served: the loop never runs */
    cfg.flush_call_users = 1 + (data[0] >> 3 & 3);
    cfg.cache.max_states_per_user = 16;
    struct event_base *base = event_base_new();
    rs_engine *e = base != NULL ? engine_new(base, &cfg) : NULL;
    if (e == NULL)
        abort();

    redisReader *r = fuzz_reader_new();
    if (r == NULL)
        abort();
    data++;
    size--;
    size_t half = size / 2;
    uint64_t ids[RR_MAX_USERS];
    size_t nids = 0;
    int nreplies = 0;
    for (int piece = 0; piece < 2 && nreplies < RR_MAX_REPLIES; piece++) {
        const char *p = (const char *)data + (piece == 0 ? 0 : half);
        size_t n = piece == 0 ? half : size - half;
        if (n > 0 && redisReaderFeed(r, p, n) != REDIS_OK)
            break;
        while (nreplies < RR_MAX_REPLIES) {
            void *reply = NULL;
            if (redisReaderGetReply(r, &reply) != REDIS_OK || reply == NULL)
                break;
            if (nreplies % 2 == 0) {
                uint64_t id = 1000 + (uint64_t)nreplies;
                rs_user *u = load_inject(e, id, reply);
                ids[nids++] = id;
                if (u != NULL) {
                    rr_check_loaded(u);
                    rr_change(e, u, changes, (uint64_t)nreplies);
                }
            } else {
                flush_inject(e, reply);
                rr_check_engine(e, ids, nids);
            }
            freeReplyObject(reply);
            nreplies++;
        }
        if (r->err != 0)
            break;
    }
    /* Whatever is still queued: a merge that was not known to run. */
    flush_inject(e, NULL);
    rr_check_engine(e, ids, nids);
    redisReaderFree(r);
    engine_free(e);
    event_base_free(base);
    return 0;
}
