/*
 * test_engine_remerge.c: what the engine does when a store says a user's
 * merge must be redone or must not be done. Handed back after a Redis
 * failover (engine_flush_remerge, the cluster store's remerge hook): every
 * state of the user goes to the store again, and a
 * user whose flush is in flight at that moment goes again once that flush
 * is answered (its flush carries only the newest states, and answering it
 * would otherwise hide the lost ones). Write-through waiters answered by
 * that flush are still answered. Fenced (a fleet node whose claim on the
 * user is older than the stored _o): the user leaves the cache, its
 * unflushed states are counted as dropped, and merges carry the
 * generation engine_set_ownership gave the user's slot. Nothing is sent: loads and merges are
 * answered through the engine's test hooks (engine_int.h) with replies read
 * by hiredis's own reader, as fuzz_redis_reply does; the event loop never
 * runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "engine.h"
#include "engine_int.h"
#include "rs_slot.h"
#include "store_redis.h"

typedef struct fixture {
    struct event_base *base;
    rs_engine *e;
} fixture;

static redisReply *resp(const char *bytes)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, bytes, strlen(bytes)), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

static int setup(void **state)
{
    static fixture f;
    rs_engine_config cfg;
    engine_config_defaults(&cfg);
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = 1; /* never served: the loop never runs */
    cfg.flush_call_users = 4;
    f.base = event_base_new();
    assert_non_null(f.base);
    f.e = engine_new(f.base, &cfg);
    assert_non_null(f.e);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    engine_free(f->e);
    event_base_free(f->base);
    return 0;
}

/* user_id loaded empty, then acked on channels 1..n (versions 1..n). */
static rs_user *loaded_with_acks(fixture *f, uint64_t user_id, unsigned n)
{
    rs_store_load_fn fn;
    void *arg;
    assert_true(engine_load_inject_begin(f->e, user_id, &fn, &arg));
    redisReply *empty = resp("*0\r\n");
    store_redis_load_inject(f->e->store, user_id, empty, fn, arg);
    freeReplyObject(empty);
    rs_user *u = cache_peek(engine_cache(f->e), user_id);
    assert_non_null(u);
    assert_int_equal(u->status, RS_USER_READY);
    for (unsigned i = 1; i <= n; i++) {
        rs_state out;
        bool applied = false;
        assert_int_equal(engine_ack(f->e, u, i, 100 + i, 0, &out, &applied), RS_OK);
        assert_true(applied);
    }
    return u;
}

/* One merge call of the queued users, answered OK for each. Returns the
 * users of the call; *states receives the states they carried. */
static uint32_t flush_ok(fixture *f, uint32_t *states, bool answer, rs_store_merge_fn *fn_out,
                         void **arg_out)
{
    rs_store_merge_fn fn;
    void *arg;
    uint32_t n = engine_flush_inject_begin(f->e, &fn, &arg);
    eng_flush *ents = arg;
    *states = 0;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        *states += ents[i].nstates;
    if (!answer) {
        *fn_out = fn;
        *arg_out = arg;
        return n;
    }
    char buf[256];
    int len = snprintf(buf, sizeof(buf), "*%u\r\n", n);
    for (uint32_t i = 0; i < n; i++)
        len += snprintf(buf + len, sizeof(buf) - (size_t)len, ":1\r\n");
    redisReply *r = resp(buf);
    store_redis_merge_inject(f->e->store, n, r, fn, arg);
    freeReplyObject(r);
    return n;
}

/* A clean user handed back: dirty again, queued, and its next merge
 * carries every state. */
static void test_remerge_clean_user(void **state)
{
    fixture *f = *state;
    rs_user *u = loaded_with_acks(f, 7, 3);
    uint32_t states = 0;
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1);
    assert_int_equal(states, 3);
    assert_false(rs_user_dirty(u));
    assert_int_equal(engine_stats(f->e)->dirty_users, 0);

    rs_state out;
    bool applied;
    assert_int_equal(engine_ack(f->e, u, 4, 104, 0, &out, &applied), RS_OK);
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1);
    assert_int_equal(states, 1); /* only the new state: the others are flushed */

    engine_flush_remerge(f->e, 7);
    assert_true(rs_user_dirty(u));
    assert_true(u->bits & RS_USER_DIRTY_QUEUED);
    assert_int_equal(engine_stats(f->e)->dirty_users, 1);
    assert_int_equal(engine_stats(f->e)->remerged_users, 1);
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1);
    assert_int_equal(states, 4); /* all of them again */
    assert_false(rs_user_dirty(u));
    assert_int_equal(engine_stats(f->e)->dirty_users, 0);

    /* a user not in the cache: nothing to send, nothing counted */
    engine_flush_remerge(f->e, 999);
    assert_int_equal(engine_stats(f->e)->remerged_users, 1);
    assert_int_equal(engine_stats(f->e)->dirty_users, 0);
}

/* Handed back while its flush is in flight: that flush's answer does not
 * make it clean; every state goes in the next merge. */
static void test_remerge_while_flushing(void **state)
{
    fixture *f = *state;
    rs_user *u = loaded_with_acks(f, 8, 2);
    uint32_t states = 0;
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1);
    rs_state out;
    bool applied;
    assert_int_equal(engine_ack(f->e, u, 3, 103, 0, &out, &applied), RS_OK);
    rs_store_merge_fn fn;
    void *arg;
    assert_int_equal(flush_ok(f, &states, false, &fn, &arg), 1);
    assert_int_equal(states, 1);
    assert_true(u->bits & RS_USER_FLUSHING);

    engine_flush_remerge(f->e, 8); /* the failover is seen now */
    assert_true(u->bits & RS_USER_REMERGE);

    redisReply *r = resp("*1\r\n:1\r\n");
    store_redis_merge_inject(f->e->store, 1, r, fn, arg);
    freeReplyObject(r);
    assert_false(u->bits & RS_USER_FLUSHING);
    assert_false(u->bits & RS_USER_REMERGE);
    assert_true(rs_user_dirty(u)); /* before the fix: clean, the lost states never sent */
    assert_true(u->bits & RS_USER_DIRTY_QUEUED);
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1);
    assert_int_equal(states, 3);
    assert_false(rs_user_dirty(u));
}

/* A merge refused as FENCED: the user is dropped, counted, and what it had
 * not flushed is counted as lost; merges carry the slot's generation. */
static void test_fenced_merge_drops_user(void **state)
{
    fixture *f = *state;
    static bool owned[RS_SLOTS];
    for (uint32_t i = 0; i < RS_SLOTS; i++)
        owned[i] = true;
    engine_set_ownership(f->e, 7, owned);
    assert_int_equal(engine_owner_gen(f->e, 9), 7);
    assert_int_equal(engine_stats(f->e)->owner_gen, 7);
    rs_user *u = loaded_with_acks(f, 9, 2);
    (void)u;
    /* the ring moves on: slot of user 9 lost at generation 8 */
    owned[rs_user_slot(9)] = false;
    engine_set_ownership(f->e, 8, owned);
    assert_int_equal(engine_owner_gen(f->e, 9), 7); /* still its last owned generation */
    assert_int_equal(engine_owner_gen(f->e, 10), 8);

    rs_store_merge_fn fn;
    void *arg;
    uint32_t states = 0;
    assert_int_equal(flush_ok(f, &states, false, &fn, &arg), 1);
    assert_int_equal(states, 2);
    redisReply *r = resp("*1\r\n-FENCED readstates:{9} _o 8\r\n");
    store_redis_merge_inject(f->e->store, 1, r, fn, arg);
    freeReplyObject(r);
    assert_null(cache_peek(engine_cache(f->e), 9));
    assert_int_equal(engine_stats(f->e)->fenced_users, 1);
    assert_int_equal(engine_stats(f->e)->fenced_states, 2);
    assert_int_equal(engine_stats(f->e)->dirty_users, 0);
    assert_int_equal(engine_stats(f->e)->flush_errors, 0);
    /* nothing left to flush for it */
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 0);
    engine_set_ownership(f->e, 0, NULL);
    assert_int_equal(engine_owner_gen(f->e, 9), 0);
}

/* A slot that changes hands: its clean users leave the cache at once, a
 * dirty one once its flush is answered, so a slot owned again later is
 * loaded afresh instead of served from a copy another node may have
 * changed. */
static void test_moved_slot_users_leave(void **state)
{
    fixture *f = *state;
    static bool owned[RS_SLOTS];
    for (uint32_t i = 0; i < RS_SLOTS; i++)
        owned[i] = true;
    engine_set_ownership(f->e, 1, owned);
    uint64_t a = 21, b = 22;
    while (rs_user_slot(b) == rs_user_slot(a))
        b++;
    loaded_with_acks(f, a, 1);
    uint32_t states = 0;
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 1); /* a is clean */
    rs_user *ub = loaded_with_acks(f, b, 2);                     /* b stays dirty */
    assert_true(rs_user_dirty(ub));
    uint64_t other = 23; /* a user of a slot that does not move */
    while (rs_user_slot(other) == rs_user_slot(a) || rs_user_slot(other) == rs_user_slot(b))
        other++;
    loaded_with_acks(f, other, 1);

    owned[rs_user_slot(a)] = false;
    owned[rs_user_slot(b)] = false;
    engine_set_ownership(f->e, 2, owned);
    /* The users go in a walk over the cache, a step per turn of the loop. */
    assert_non_null(cache_peek(engine_cache(f->e), a));
    size_t steps = 1;
    while (!engine_sweep(f->e, 1))
        steps++;
    assert_int_equal(steps, 3); /* one user per step; the last step ends it */
    assert_null(cache_peek(engine_cache(f->e), a)); /* clean: gone */
    assert_non_null(cache_peek(engine_cache(f->e), b));
    assert_true(ub->bits & RS_USER_LEAVING);
    assert_non_null(cache_peek(engine_cache(f->e), other));
    assert_int_equal(engine_stats(f->e)->ring_dropped, 1);

    /* b's flush (under generation 1, the one it was written in) lands: it goes */
    rs_store_merge_fn fn;
    void *arg;
    assert_int_equal(flush_ok(f, &states, false, &fn, &arg), 2); /* b and other */
    eng_flush *ents = arg;
    uint32_t nb = 0;
    for (uint32_t i = 0; i < 2; i++)
        if (ents[i].user_id == b)
            nb = ents[i].nstates;
    assert_int_equal(nb, 2);
    assert_int_equal(engine_owner_gen(f->e, b), 1);
    redisReply *r = resp("*2\r\n:1\r\n:1\r\n");
    store_redis_merge_inject(f->e->store, 2, r, fn, arg);
    freeReplyObject(r);
    assert_null(cache_peek(engine_cache(f->e), b));
    assert_non_null(cache_peek(engine_cache(f->e), other)); /* its slot stayed */
    assert_int_equal(engine_stats(f->e)->ring_dropped, 2);
    engine_set_ownership(f->e, 0, NULL);
}

/* A call for a user the walk has not reached is not served from the copy
 * of a slot that changed hands: the user is checked as it is acquired. A
 * second change while a walk runs finishes that walk at once. */
static void test_moved_slot_checked_on_acquire(void **state)
{
    fixture *f = *state;
    static bool owned[RS_SLOTS];
    for (uint32_t i = 0; i < RS_SLOTS; i++)
        owned[i] = true;
    engine_set_ownership(f->e, 1, owned);
    uint64_t a = 31, b = 32;
    while (rs_user_slot(b) == rs_user_slot(a))
        b++;
    loaded_with_acks(f, a, 1);
    loaded_with_acks(f, b, 1);
    uint32_t states = 0;
    assert_int_equal(flush_ok(f, &states, true, NULL, NULL), 2); /* both clean */

    owned[rs_user_slot(a)] = false;
    engine_set_ownership(f->e, 2, owned);
    rs_cache *c = engine_cache(f->e);
    assert_true(cache_walk_active(c));
    assert_non_null(cache_peek(c, a));
    rs_waiter w;
    memset(&w, 0, sizeof(w));
    rs_user *u = NULL;
    rs_status st = engine_acquire(f->e, a, &w, &u);
    assert_int_not_equal(st, RS_OK); /* a load from the store, not the old copy */
    assert_true(st == RS_PENDING || st == RS_ERR_UNAVAILABLE);
    assert_int_equal(engine_stats(f->e)->ring_dropped, 1);
    rs_user *ub = NULL;
    assert_int_equal(engine_acquire(f->e, b, &w, &ub), RS_OK); /* its slot stayed */
    assert_int_equal(ub->user_id, b);
    engine_release(f->e, ub);
    assert_false(cache_walk_active(c)); /* both visited: the walk is over */

    /* b's slot moves; before its walk runs, a's slot moves back. */
    owned[rs_user_slot(b)] = false;
    engine_set_ownership(f->e, 3, owned);
    assert_true(cache_walk_active(c));
    owned[rs_user_slot(a)] = true;
    engine_set_ownership(f->e, 4, owned);
    assert_int_equal(engine_stats(f->e)->ring_sweeps_finished_early, 1);
    assert_null(cache_peek(c, b)); /* the first walk finished at once */
    assert_int_equal(engine_stats(f->e)->ring_dropped, 2);
    while (!engine_sweep(f->e, ENGINE_SWEEP_STEP))
        ;
    engine_set_ownership(f->e, 0, NULL);
}

/* On the loop, the walk after a ring change takes one step of
 * ENGINE_SWEEP_STEP users per turn, so I/O gets in between: one turn of
 * the loop must not finish a walk over five steps' worth of users. */
static void test_moved_slot_walk_spans_turns(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    rs_engine_config cfg;
    engine_config_defaults(&cfg); /* memory only: acquire inserts */
    rs_engine *e = engine_new(base, &cfg);
    assert_non_null(e);
    static bool owned[RS_SLOTS];
    for (uint32_t i = 0; i < RS_SLOTS; i++)
        owned[i] = true;
    engine_set_ownership(e, 1, owned);
    const uint64_t users = 5 * ENGINE_SWEEP_STEP;
    for (uint64_t id = 1; id <= users; id++) {
        rs_waiter w;
        memset(&w, 0, sizeof(w));
        rs_user *u = NULL;
        assert_int_equal(engine_acquire(e, id, &w, &u), RS_OK);
        engine_release(e, u);
    }
    for (uint32_t i = 0; i < RS_SLOTS; i += 2)
        owned[i] = false; /* about half the users go */
    engine_set_ownership(e, 2, owned);
    rs_cache *c = engine_cache(e);
    assert_true(cache_walk_active(c));
    int turns = 0;
    while (cache_walk_active(c)) {
        assert_int_equal(event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), 0);
        turns++;
        assert_true(turns <= 100);
    }
    assert_true(turns >= 5); /* one step per turn, not the whole walk in one */
    uint64_t dropped = engine_stats(e)->ring_dropped;
    assert_true(dropped > users / 3 && dropped < 2 * users / 3);
    assert_int_equal(cache_stats(c)->users, users - dropped);
    engine_set_ownership(e, 0, NULL);
    engine_free(e);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_remerge_clean_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remerge_while_flushing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fenced_merge_drops_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_slot_users_leave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_slot_checked_on_acquire, setup, teardown),
        cmocka_unit_test(test_moved_slot_walk_spans_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
