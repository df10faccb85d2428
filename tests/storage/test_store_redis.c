/*
 * test_store_redis.c: the Redis store (store_redis.h, behind store.h)
 * driven directly on a libevent base against a real redis-server, without
 * the engine: the load of an absent user, a merge then a load (sets and a
 * delete) round trip, a per-user refusal for an invalid stored hash among
 * valid users of one call (and its load refused too), a NOSCRIPT after
 * SCRIPT FLUSH failing its call once and the script reloaded, and
 * readiness going down when Redis stops and up again after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "rs_testsupport.h"
#include "store_redis.h"
#include "store_tuser.h"

#define MAX_STATES 16

typedef struct fixture {
    rs_test_redis redis;
    redisContext *c;
    struct event_base *base;
    rs_store *s;
    rs_log log;
    int ups, downs; /* state callbacks */
} fixture;

/* What one load delivered (copied out: the result lives during fn only). */
typedef struct loadrec {
    int fired;
    rs_store_result result;
    uint64_t version;
    uint64_t owner;
    size_t nstates;
    rs_state states[MAX_STATES];
    char what[256];
} loadrec;

typedef struct mergerec {
    int fired;
    uint32_t n;
    rs_store_outcome out[8];
    char what[8][256];
} mergerec;

static void state_fn(void *ctx, bool up)
{
    fixture *f = ctx;
    if (up)
        f->ups++;
    else
        f->downs++;
}

static void load_fn(void *arg, const rs_store_loaded *r)
{
    loadrec *l = arg;
    l->fired++;
    l->result = r->result;
    l->version = r->version;
    l->owner = r->owner;
    l->nstates = r->nstates;
    if (r->result == RS_STORE_OK && r->nstates <= MAX_STATES && r->nstates > 0)
        memcpy(l->states, r->states, r->nstates * sizeof(*r->states));
    if (r->what != NULL)
        snprintf(l->what, sizeof(l->what), "%s", r->what);
}

static void merge_fn(void *arg, const rs_store_outcome *out, uint32_t n)
{
    mergerec *m = arg;
    m->fired++;
    m->n = n;
    for (uint32_t i = 0; i < n && i < 8; i++) {
        m->out[i] = out[i];
        m->what[i][0] = '\0';
        if (out[i].what != NULL)
            snprintf(m->what[i], sizeof(m->what[i]), "%s", out[i].what);
        m->out[i].what = NULL;
    }
}

static bool store_is_up(void *arg)
{
    return store_up(((fixture *)arg)->s);
}

static bool store_is_down(void *arg)
{
    return !store_up(((fixture *)arg)->s);
}

static bool load_fired(void *arg)
{
    return ((loadrec *)arg)->fired > 0;
}

static bool merge_fired(void *arg)
{
    return ((mergerec *)arg)->fired > 0;
}

/* Run the loop until cond holds or timeout_ms passes. */
static bool run_until(fixture *f, bool (*cond)(void *), void *arg, int timeout_ms)
{
    long long end = rs_mono_ms() + timeout_ms;
    while (!cond(arg)) {
        if (rs_mono_ms() > end)
            return false;
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if (!cond(arg))
            rs_sleep_ms(1);
    }
    return true;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    /* No redis-server means failure, never a skip. */
    assert_int_equal(rs_test_redis_start(&f->redis), 0);
    f->c = rs_test_redis_connect(&f->redis);
    assert_non_null(f->c);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->log.min = getenv("RS_TEST_VERBOSE") != NULL ? RS_LOG_DEBUG : RS_LOG_ERROR;
    store_redis_config sc = {
        .host = "127.0.0.1",
        .port = f->redis.port,
        .timeout_ms = 2000,
        .backoff_min_ms = 10,
        .backoff_max_ms = 100,
        .max_states = MAX_STATES,
        .log = &f->log,
    };
    f->s = store_redis_new(f->base, &sc, state_fn, f);
    assert_non_null(f->s);
    assert_true(store_persistent(f->s));
    assert_true(run_until(f, store_is_up, f, 5000));
    assert_int_equal(f->ups, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_free(f->s);
    event_base_free(f->base);
    if (f->c != NULL)
        redisFree(f->c);
    rs_test_redis_cleanup(&f->redis);
    free(f);
    return 0;
}

static void redis_cmd(fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(f->c, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* A stored field of user_id's hash, or "" when absent. */
static void hget(fixture *f, uint64_t user_id, const char *field, char *out, size_t len)
{
    redisReply *r =
        redisCommand(f->c, "HGET readstates:{%llu} %s", (unsigned long long)user_id, field);
    assert_non_null(r);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

static void load(fixture *f, uint64_t user_id, loadrec *l)
{
    memset(l, 0, sizeof(*l));
    assert_int_equal(store_load(f->s, user_id, load_fn, l), 0);
    assert_int_equal(l->fired, 0); /* never inside the call */
    assert_true(run_until(f, load_fired, l, 5000));
    assert_int_equal(l->fired, 1);
}

static void merge(fixture *f, const rs_store_user *users, uint32_t n, mergerec *m)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(store_merge(f->s, users, n, merge_fn, m), 0);
    assert_int_equal(m->fired, 0);
    assert_true(run_until(f, merge_fired, m, 5000));
    assert_int_equal(m->fired, 1);
    assert_int_equal(m->n, n);
}

/* A load asked for while the first connection is still under way (the
 * server's first milliseconds) waits for it instead of failing at once. */
static void test_load_during_first_connect(void **state)
{
    fixture *f = *state;
    store_redis_config sc = {
        .host = "127.0.0.1",
        .port = f->redis.port,
        .timeout_ms = 2000,
        .backoff_min_ms = 10,
        .backoff_max_ms = 100,
        .max_states = MAX_STATES,
        .log = &f->log,
    };
    rs_store *fresh = store_redis_new(f->base, &sc, NULL, NULL);
    assert_non_null(fresh);
    assert_false(store_up(fresh)); /* connecting: nothing answered yet */
    loadrec l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load(fresh, 404, load_fn, &l), 0);
    assert_true(run_until(f, load_fired, &l, 5000));
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 0);
    assert_true(store_up(fresh));
    store_free(fresh);
}

static void test_key(void **state)
{
    fixture *f = *state;
    char key[48];
    assert_int_equal(store_key(f->s, 7, key, sizeof(key)), 14);
    assert_string_equal(key, "readstates:{7}");
    assert_string_equal(f->s->ops->name, "redis");
}

static void test_load_absent(void **state)
{
    fixture *f = *state;
    loadrec l;
    load(f, 404, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 0);
    assert_int_equal(l.version, 0);
}

static void test_merge_then_load(void **state)
{
    fixture *f = *state;
    tuser a;
    tuser_init(&a, 11, 3, 0);
    tuser_state(&a, 100, 1000, 2, 1, 0);
    tuser_state(&a, 200, 2000, 0, 2, RS_STATE_MANUAL);
    tuser_state(&a, 300, 3000, 1, 3, 0);
    rs_store_user su = {&a.u, unflushed(&a)};
    mergerec m;
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);

    char v[64];
    hget(f, 11, "_v", v, sizeof(v));
    assert_string_equal(v, "3");
    hget(f, 11, "200", v, sizeof(v));
    assert_string_equal(v, "2:2000:0:1");

    /* A later change and a delete: only states newer than flushed go. */
    a.u.flushed_version = 3;
    a.u.version = 5;
    tuser_message(&a, 0, 1500);
    tuser_version(&a, 0, 4);
    tuser_version(&a, 2, 5);
    tuser_tombstone(&a, 2);
    su.nstates = unflushed(&a);
    assert_int_equal(su.nstates, 2);
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);

    loadrec l;
    load(f, 11, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.version, 5);
    assert_int_equal(l.nstates, 2);
    bool seen100 = false, seen200 = false;
    for (size_t i = 0; i < l.nstates; i++) {
        const rs_state *st = &l.states[i];
        if (st->channel_id == 100) {
            seen100 = true;
            assert_int_equal(st->last_message_id, 1500);
            assert_int_equal(st->mention_count, 2);
            assert_int_equal(st->version, 4);
        } else if (st->channel_id == 200) {
            seen200 = true;
            assert_int_equal(st->last_message_id, 2000);
            assert_int_equal(st->flags, RS_STATE_MANUAL);
        } else {
            fail_msg("unexpected channel %llu", (unsigned long long)st->channel_id);
        }
    }
    assert_true(seen100 && seen200);
}

static void test_refusal_among_valid(void **state)
{
    fixture *f = *state;
    redis_cmd(f, "HSET readstates:{22} _v 0005 1 1:1:0:0");
    tuser t[3];
    rs_store_user su[3];
    for (int i = 0; i < 3; i++) {
        tuser_init(&t[i], 21 + (uint64_t)i, 9, 0);
        tuser_state(&t[i], 1, 50, 0, 9, 0);
        su[i].user = &t[i].u;
        su[i].nstates = unflushed(&t[i]);
    }
    mergerec m;
    merge(f, su, 3, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    assert_int_equal(m.out[1].result, RS_STORE_INVALID);
    assert_non_null(strstr(m.what[1], "field _v"));
    assert_int_equal(m.out[2].result, RS_STORE_OK);
    char v[64];
    hget(f, 22, "_v", v, sizeof(v));
    assert_string_equal(v, "0005"); /* never written over */
    hget(f, 23, "1", v, sizeof(v));
    assert_string_equal(v, "9:50:0:0");

    loadrec l;
    load(f, 22, &l);
    assert_int_equal(l.result, RS_STORE_INVALID);
    assert_non_null(strstr(l.what, "_v"));

    /* A key that is not a hash: refused too, by the load and the merge. */
    redis_cmd(f, "SET readstates:{21} plain");
    load(f, 21, &l);
    assert_int_equal(l.result, RS_STORE_INVALID);
    assert_non_null(strstr(l.what, "WRONGTYPE"));
    merge(f, su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_INVALID);
    assert_non_null(strstr(m.what[0], "WRONGTYPE"));

    /* More fields than a user may have (channels, _v and _o): refused
     * without reading them. (Up to max_states + 2 channels come back as
     * states: the engine refuses those.) */
    for (int i = 1; i <= MAX_STATES + 3; i++)
        redis_cmd(f, "HSET readstates:{24} %d 1:1:0:0", i);
    load(f, 24, &l);
    assert_int_equal(l.result, RS_STORE_INVALID);
    assert_non_null(strstr(l.what, "more than --max-states-per-user"));
}

static void test_noscript_reloaded(void **state)
{
    fixture *f = *state;
    tuser a;
    tuser_init(&a, 31, 1, 0);
    tuser_state(&a, 7, 70, 0, 1, 0);
    rs_store_user su = {&a.u, unflushed(&a)};
    redis_cmd(f, "SCRIPT FLUSH");
    mergerec m;
    merge(f, &su, 1, &m);
    /* The call failed as a whole (the caller retries); a reload is on its way. */
    assert_int_equal(m.out[0].result, RS_STORE_ERROR);
    char v[64];
    hget(f, 31, "7", v, sizeof(v));
    assert_string_equal(v, "");
    int tries = 0;
    do {
        merge(f, &su, 1, &m);
        tries++;
    } while (m.out[0].result != RS_STORE_OK && tries < 50);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    assert_true(tries <= 2); /* the reload went out right after the NOSCRIPT */
    hget(f, 31, "7", v, sizeof(v));
    assert_string_equal(v, "1:70:0:0");
    assert_true(store_up(f->s)); /* a NOSCRIPT is not an outage */
}

static void test_readiness(void **state)
{
    fixture *f = *state;
    rs_store_stats st0;
    store_stats(f->s, &st0);
    redisFree(f->c);
    f->c = NULL;
    assert_int_equal(rs_test_redis_stop(&f->redis), 0);
    assert_true(run_until(f, store_is_down, f, 5000));
    assert_int_equal(f->downs, 1);
    loadrec l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load(f->s, 1, load_fn, &l), -1); /* refused while down */
    tuser a;
    tuser_init(&a, 41, 1, 0);
    tuser_state(&a, 1, 1, 0, 1, 0);
    rs_store_user su = {&a.u, 1};
    mergerec m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(store_merge(f->s, &su, 1, merge_fn, &m), -1);

    assert_int_equal(rs_test_redis_restart(&f->redis), 0);
    assert_true(run_until(f, store_is_up, f, 10000));
    assert_int_equal(f->ups, 2);
    rs_store_stats st1;
    store_stats(f->s, &st1);
    assert_true(st1.reconnects >= st0.reconnects + 1);
    assert_true(st1.errors > st0.errors);
    f->c = rs_test_redis_connect(&f->redis);
    assert_non_null(f->c);
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    load(f, 41, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 1);
}

/* Freeing the store completes what is pending with an error, in the call. */
static void test_free_completes_pending(void **state)
{
    fixture *f = *state;
    loadrec l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load(f->s, 51, load_fn, &l), 0);
    assert_int_equal(store_redis_pending(f->s), 1);
    store_free(f->s);
    f->s = NULL;
    assert_int_equal(l.fired, 1);
    assert_int_equal(l.result, RS_STORE_ERROR);
}

/* A fleet node's claims (store.h owner_gen, rs_store_user.owner_gen): a
 * load claims the user under the node's generation (writing _o, even for a
 * user with no states); a node with an older generation is refused
 * (FENCED) at load and at merge, and nothing of it is written. */
static void test_owner_claims(void **state)
{
    fixture *f = *state;
    char v[64];
    loadrec l;
    f->s->owner_gen = 5;
    load(f, 500, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 0);
    hget(f, 500, "_o", v, sizeof(v));
    assert_string_equal(v, "5");

    f->s->owner_gen = 4; /* a stale node */
    load(f, 500, &l);
    assert_int_equal(l.result, RS_STORE_FENCED);
    assert_non_null(strstr(l.what, "generation 5"));
    hget(f, 500, "_o", v, sizeof(v));
    assert_string_equal(v, "5");

    tuser a;
    tuser_init(&a, 500, 1, 0);
    tuser_state(&a, 100, 1000, 0, 1, 0);
    rs_store_user su = {&a.u, unflushed(&a), 4};
    mergerec m;
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_FENCED);
    hget(f, 500, "100", v, sizeof(v));
    assert_string_equal(v, "");
    su.owner_gen = 6; /* the newest owner: lands, raises the claim */
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    hget(f, 500, "100", v, sizeof(v));
    assert_string_equal(v, "1:1000:0:0");
    hget(f, 500, "_o", v, sizeof(v));
    assert_string_equal(v, "6");
    /* and _o is read back as the owner, not as a channel */
    f->s->owner_gen = 6;
    load(f, 500, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.owner, 6);
    assert_int_equal(l.nstates, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_during_first_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_then_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_among_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noscript_reloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readiness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_completes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_claims, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
