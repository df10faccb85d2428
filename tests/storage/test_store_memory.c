/*
 * test_store_memory.c: the memory-only store (store_memory.h) on its own:
 * not persistent, always up, a load finds nothing and a merge applies for
 * every user, both completing from the event loop (never inside the call,
 * in call order), and freeing it completes what is still queued with an
 * error. No Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "store_memory.h"

typedef struct rec {
    int fired;
    int order; /* completion order across recs */
    rs_store_result result;
    size_t nstates;
    uint64_t version;
    uint32_t n;
    rs_store_result out[4];
} rec;

static int completions;

static void load_fn(void *arg, const rs_store_loaded *r)
{
    rec *c = arg;
    c->fired++;
    c->order = ++completions;
    c->result = r->result;
    c->nstates = r->nstates;
    c->version = r->version;
}

static void merge_fn(void *arg, const rs_store_outcome *out, uint32_t n)
{
    rec *c = arg;
    c->fired++;
    c->order = ++completions;
    c->n = n;
    for (uint32_t i = 0; i < n && i < 4; i++)
        c->out[i] = out[i].result;
}

static void test_properties(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_non_null(base);
    rs_store *s = store_memory_new(base);
    assert_non_null(s);
    assert_false(store_persistent(s));
    assert_true(store_up(s));
    assert_string_equal(s->ops->name, "memory");
    rs_store_stats st;
    memset(&st, 0xff, sizeof(st));
    store_stats(s, &st);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.reconnects, 0);
    char key[48];
    assert_true(store_key(s, 7, key, sizeof(key)) > 0);
    store_free(s);
    event_base_free(base);
}

static void test_load_and_merge_from_loop(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    rs_store *s = store_memory_new(base);
    assert_non_null(s);
    rs_user u;
    memset(&u, 0, sizeof(u));
    u.user_id = 9;
    u.version = 2;
    rs_store_user users[3] = {{&u, 0}, {&u, 0}, {&u, 0}};
    rec l, m;
    memset(&l, 0, sizeof(l));
    memset(&m, 0, sizeof(m));
    completions = 0;
    assert_int_equal(store_load(s, 9, load_fn, &l), 0);
    assert_int_equal(store_merge(s, users, 3, merge_fn, &m), 0);
    assert_int_equal(store_merge(s, users, 0, merge_fn, &m), -1);
    assert_int_equal(l.fired + m.fired, 0); /* never inside the call */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(l.fired, 1);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 0);
    assert_int_equal(l.version, 0);
    assert_int_equal(m.fired, 1);
    assert_int_equal(m.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(m.out[i], RS_STORE_OK);
    assert_true(l.order < m.order);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(l.fired + m.fired, 2); /* exactly once */
    store_free(s);
    event_base_free(base);
}

static void test_free_completes_queued(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    rs_store *s = store_memory_new(base);
    rs_user u;
    memset(&u, 0, sizeof(u));
    rs_store_user users[2] = {{&u, 0}, {&u, 0}};
    rec l, m;
    memset(&l, 0, sizeof(l));
    memset(&m, 0, sizeof(m));
    assert_int_equal(store_load(s, 1, load_fn, &l), 0);
    assert_int_equal(store_merge(s, users, 2, merge_fn, &m), 0);
    store_free(s);
    assert_int_equal(l.fired, 1);
    assert_int_equal(l.result, RS_STORE_ERROR);
    assert_int_equal(m.fired, 1);
    assert_int_equal(m.out[0], RS_STORE_ERROR);
    assert_int_equal(m.out[1], RS_STORE_ERROR);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_load_and_merge_from_loop),
        cmocka_unit_test(test_free_completes_queued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
