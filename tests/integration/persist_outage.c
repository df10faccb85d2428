/*
 * persist_outage.c: Redis goes away under readstated and comes back.
 * - write-behind server: cached reads keep working, a cold read gets
 *   UNAVAILABLE fast (< 1.5 s), writes to cached users are accepted until a
 *   small --dirty-budget is full, then RESOURCE_EXHAUSTED; when Redis is
 *   back on the same port and directory, the backlog lands with no restart.
 * - write-through server on the same Redis: writes get UNAVAILABLE.
 * - two servers writing the same user: no flush moves a cursor back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "persist_util.h"

#define WARM_USERS 10
#define MAX_WRITES 20000

static bool server_sees_redis_down(void *arg)
{
    return pu_metric(arg, "readstates_redis_up") == 0;
}

static bool server_sees_redis_up(void *arg)
{
    return pu_metric(arg, "readstates_redis_up") == 1;
}

static bool server_clean(void *arg)
{
    return pu_metric(arg, "readstates_dirty_users") == 0;
}

static void test_redis_outage(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server wb, wt;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *wb_flags[] = {"--dirty-budget",
                              "64KiB",
                              "--flush-interval-ms",
                              "200",
                              "--redis-timeout-ms",
                              "500",
                              NULL};
    const char *wt_flags[] = {"--durability", "write-through", "--redis-timeout-ms", "500",
                              NULL};
    assert_int_equal(pu_server_start(&wb, &redis, wb_flags), 0);
    assert_int_equal(pu_server_start(&wt, &redis, wt_flags), 0);
    rs_client *c = pu_connect(&wb);
    rs_client *t = pu_connect(&wt);
    assert_non_null(c);
    assert_non_null(t);
    rs_client_ack_result res;
    for (uint64_t u = 1; u <= WARM_USERS; u++)
        assert_int_equal(rs_client_ack(c, u, 1, 10, 0, &res), RS_OK);
    assert_int_equal(rs_client_ack(t, 500, 1, 10, 0, &res), RS_OK);

    /* Redis goes away. */
    assert_int_equal(rs_test_redis_stop(&redis), 0);
    assert_true(rs_poll_until(server_sees_redis_down, &wb, 5000));
    assert_true(rs_poll_until(server_sees_redis_down, &wt, 5000));

    /* Cached reads keep working. */
    rs_client_states got;
    assert_int_equal(rs_client_get(c, 1, NULL, 0, &got), RS_OK);
    assert_int_equal(got.n, 1);
    rs_client_states_free(&got);

    /* A cold read fails fast. */
    long long t0 = rs_mono_ms();
    rs_status st = rs_client_get(c, 99999, NULL, 0, &got);
    long long took = rs_mono_ms() - t0;
    printf("# cold read with Redis down: %s in %lld ms\n", rs_status_name(st), took);
    assert_true(pu_server_said(c, st, RS_ERR_UNAVAILABLE));
    assert_true(took < 1500);

    /* Write-through: UNAVAILABLE, also for a cached user. */
    st = rs_client_ack(t, 500, 2, 20, 0, &res);
    assert_true(pu_server_said(t, st, RS_ERR_UNAVAILABLE));

    /* Write-behind: accepted until the dirty budget is full. */
    int accepted = 0, exhausted = 0;
    for (uint64_t i = 0; i < MAX_WRITES && exhausted == 0; i++) {
        uint64_t u = 1 + i % WARM_USERS;
        st = rs_client_ack(c, u, 100 + i, 1000 + i, 0, &res);
        if (st == RS_OK)
            accepted++;
        else if (pu_server_said(c, st, RS_ERR_EXHAUSTED))
            exhausted++;
        else
            fail_msg("write during outage: %s", rs_client_errmsg(c));
    }
    printf("# write-behind during outage: accepted=%d then RESOURCE_EXHAUSTED\n", accepted);
    assert_true(accepted > 0);
    assert_int_equal(exhausted, 1);

    /* Redis returns on the same port and directory: the backlog lands. */
    assert_int_equal(rs_test_redis_restart(&redis), 0);
    assert_true(rs_poll_until(server_sees_redis_up, &wb, 10000));
    assert_true(rs_poll_until(server_clean, &wb, 10000));
    for (uint64_t u = 1; u <= WARM_USERS; u++) {
        rs_client_state *stored = NULL;
        uint64_t v = 0;
        long n = pu_redis_user(&redis, u, &stored, &v);
        rs_client_states mem;
        assert_int_equal(rs_client_get(c, u, NULL, 0, &mem), RS_OK);
        assert_int_equal(n, (long)mem.n);
        assert_int_equal(v, mem.user_version);
        for (long i = 0; i < n; i++) {
            assert_int_equal(stored[i].channel_id, mem.states[i].channel_id);
            assert_int_equal(stored[i].last_message_id, mem.states[i].last_message_id);
            assert_int_equal(stored[i].version, mem.states[i].version);
        }
        rs_client_states_free(&mem);
        free(stored);
    }
    /* And writes are accepted again, in both modes. */
    assert_int_equal(rs_client_ack(c, 1, 99999, 5, 0, &res), RS_OK);
    assert_true(rs_poll_until(server_sees_redis_up, &wt, 10000));
    assert_int_equal(rs_client_ack(t, 500, 2, 20, 0, &res), RS_OK);

    rs_client_close(c);
    rs_client_close(t);
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&wb, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    assert_int_equal(rs_test_server_stop(&wt, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    rs_test_server_cleanup(&wb);
    rs_test_server_cleanup(&wt);
    rs_test_redis_cleanup(&redis);
}

/* SIGTERM while Redis is down: the server waits --shutdown-timeout-ms, then
 * exits non-zero saying how many states were not flushed. */
static void test_sigterm_with_redis_down(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *flags[] = {"--shutdown-timeout-ms", "1000", "--flush-interval-ms", "100", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 3, 1, 10, 0, &res), RS_OK);
    assert_true(rs_poll_until(server_clean, &srv, 5000));
    rs_test_redis_kill9(&redis);
    assert_true(rs_poll_until(server_sees_redis_down, &srv, 5000));
    assert_int_equal(rs_client_ack(c, 3, 2, 20, 0, &res), RS_OK);
    assert_int_equal(rs_client_ack(c, 3, 3, 30, 0, &res), RS_OK);
    rs_client_close(c);
    long long t0 = rs_mono_ms();
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 15000, &ws), 0);
    long long took = rs_mono_ms() - t0;
    assert_true(WIFEXITED(ws));
    assert_int_not_equal(WEXITSTATUS(ws), 0);
    assert_true(took >= 900);
    char *log = rs_read_file(srv.proc.stderr_path, NULL);
    assert_non_null(log);
    if (strstr(log, "unflushed_states=2") == NULL)
        fail_msg("no unflushed count in the log:\n%s", log);
    free(log);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

static bool redis_field_version_at_least(const rs_test_redis *redis, uint64_t min,
                                         uint64_t *ver, uint64_t *msg)
{
    redisReply *r = rs_test_redis_command(redis, "HGET readstates:{7} 1");
    assert_non_null(r);
    bool ok = false;
    if (r->type == REDIS_REPLY_STRING) {
        unsigned long long v, m;
        assert_int_equal(sscanf(r->str, "%llu:%llu:", &v, &m), 2);
        *ver = v;
        *msg = m;
        ok = v >= min;
    }
    freeReplyObject(r);
    return ok;
}

static void test_two_servers_never_move_back(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server a, b;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *flags[] = {"--flush-interval-ms", "50", NULL};
    assert_int_equal(pu_server_start(&a, &redis, flags), 0);
    assert_int_equal(pu_server_start(&b, &redis, flags), 0);
    rs_client *ca = pu_connect(&a), *cb = pu_connect(&b);
    assert_non_null(ca);
    assert_non_null(cb);
    rs_client_ack_result res;
    uint64_t ver = 0, msg = 0;

    /* A writes user 7 up to version 100. */
    for (uint64_t m = 1; m <= 100; m++)
        assert_int_equal(rs_client_ack(ca, 7, 1, m, 0, &res), RS_OK);
    long long end = rs_mono_ms() + 5000;
    while (!redis_field_version_at_least(&redis, 100, &ver, &msg) && rs_mono_ms() < end)
        rs_sleep_ms(10);
    assert_int_equal(ver, 100);

    /* B loads it (version 100) and moves it on to version 300. */
    for (uint64_t m = 101; m <= 300; m++)
        assert_int_equal(rs_client_ack(cb, 7, 1, m, 0, &res), RS_OK);
    assert_int_equal(res.user_version, 300);
    end = rs_mono_ms() + 5000;
    while (!redis_field_version_at_least(&redis, 300, &ver, &msg) && rs_mono_ms() < end)
        rs_sleep_ms(10);
    assert_int_equal(ver, 300);

    /* A's stale copy takes more acks (versions 101..150) and flushes them;
     * meanwhile Redis is sampled: its version and cursor never go back. */
    uint64_t last_ver = 300, last_msg = 300;
    for (uint64_t m = 200; m < 250; m++) {
        assert_int_equal(rs_client_ack(ca, 7, 1, m, 0, &res), RS_OK);
        assert_true(redis_field_version_at_least(&redis, last_ver, &ver, &msg));
        assert_true(msg >= last_msg);
        last_ver = ver;
        last_msg = msg;
    }
    /* Wait for A to have flushed (its dirty count drops to zero). */
    assert_true(rs_poll_until(server_clean, &a, 5000));
    assert_true(redis_field_version_at_least(&redis, 300, &ver, &msg));
    assert_int_equal(ver, 300);
    assert_int_equal(msg, 300);
    redisReply *r = rs_test_redis_command(&redis, "HGET readstates:{7} _v");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "300");
    freeReplyObject(r);

    rs_client_close(ca);
    rs_client_close(cb);
    rs_test_server_cleanup(&a);
    rs_test_server_cleanup(&b);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_outage),
        cmocka_unit_test(test_two_servers_never_move_back),
        cmocka_unit_test(test_sigterm_with_redis_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
