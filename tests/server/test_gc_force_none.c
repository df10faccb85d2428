/*
 * test_gc_force_none.c: gc_force.h in the normal build does nothing: no collector,
 * the cache keeps its allocator, no timer is started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gc_force.h"

static void test_nothing_forced(void **state)
{
    (void)state;
    assert_false(rs_gc_force_enabled());
    rs_cache_config cc = {0};
    assert_int_equal(rs_gc_force_configure(&cc, NULL), 0);
    assert_null(cc.alloc);
    cc.alloc = rs_allocator_default();
    assert_int_equal(rs_gc_force_configure(&cc, NULL), 0);
    assert_ptr_equal(cc.alloc, rs_allocator_default());

    struct event_base *base = event_base_new();
    assert_non_null(base);
    rs_gc_force *g = rs_gc_force_start(base, 1, NULL);
    assert_null(g);
    /* Nothing is pending on the base: the loop returns at once. */
    assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
    rs_gc_force_stats st = rs_gc_force_get_stats(g);
    assert_int_equal(st.collections, 0);
    rs_gc_force_stop(g);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_forced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
