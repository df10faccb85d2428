/*
 * persist_restart.c: readstated with a real redis-server.
 * - States written through every call survive SIGTERM (exit 0) and a
 *   restart with identical values and versions, and Redis holds them in
 *   the contract's format (read with hiredis directly, routed by key when
 *   Redis is a cluster).
 * - A small --max-memory forces evictions; every state reads back right
 *   (load on miss).
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

#define USERS 60

typedef struct snapshot {
    rs_client_states st[USERS + 1];
} snapshot;

static void write_workload(rs_client *c)
{
    rs_client_ack_result res;
    for (uint64_t u = 1; u <= USERS; u++) {
        for (uint64_t ch = 1; ch <= 6; ch++)
            assert_int_equal(rs_client_ack(c, u, ch, 1000 * u + ch, (uint32_t)ch, &res), RS_OK);
        assert_int_equal(rs_client_set(c, u, 2, 5, 9, &res), RS_OK); /* manual, backwards */
        assert_true(res.applied);
        uint64_t user = u;
        uint32_t counts[1];
        assert_int_equal(rs_client_add_mentions(c, 3, 1000 * u + 50, &user, 1, 2, counts),
                         RS_OK);
        uint64_t del = 4;
        uint32_t deleted = 0;
        assert_int_equal(rs_client_delete(c, u, &del, 1, false, &deleted, NULL), RS_OK);
        assert_int_equal(deleted, 1);
    }
}

static void take_snapshot(rs_client *c, snapshot *s)
{
    for (uint64_t u = 1; u <= USERS; u++) {
        assert_int_equal(rs_client_get(c, u, NULL, 0, &s->st[u]), RS_OK);
        assert_int_equal(s->st[u].n, 5);
    }
}

static void snapshot_free(snapshot *s)
{
    for (uint64_t u = 1; u <= USERS; u++)
        rs_client_states_free(&s->st[u]);
}

static void expect_same(const rs_client_states *a, const rs_client_states *b)
{
    assert_int_equal(a->user_version, b->user_version);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->states[i].channel_id, b->states[i].channel_id);
        assert_int_equal(a->states[i].last_message_id, b->states[i].last_message_id);
        assert_int_equal(a->states[i].mention_count, b->states[i].mention_count);
        assert_int_equal(a->states[i].flags, b->states[i].flags);
        assert_int_equal(a->states[i].version, b->states[i].version);
    }
}

static void test_sigterm_restart_identical(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *flags[] = {"--flush-interval-ms", "5000", NULL}; /* flushed only at exit */
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    write_workload(c);
    snapshot before;
    take_snapshot(c, &before);
    rs_client_close(c);

    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);

    /* Redis holds each state as <version>:<last>:<mentions>:<flags>, _v. */
    for (uint64_t u = 1; u <= USERS; u++) {
        rs_client_state *st = NULL;
        uint64_t v = 0;
        long n = pu_redis_user(&redis, u, &st, &v);
        assert_int_equal(n, 5);
        assert_int_equal(v, before.st[u].user_version);
        rs_client_states got = {st, (size_t)n, v, 0};
        expect_same(&got, &before.st[u]);
        free(st);
    }
    redisReply *r = rs_test_redis_command(&redis, "HGET readstates:{1} 2");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "7:5:9:1"); /* version 7, manual */
    freeReplyObject(r);

    /* A new process loads them back with identical versions. */
    assert_int_equal(rs_test_server_restart(&srv), 0);
    c = pu_connect(&srv);
    assert_non_null(c);
    for (uint64_t u = 1; u <= USERS; u++) {
        rs_client_states got;
        assert_int_equal(rs_client_get(c, u, NULL, 0, &got), RS_OK);
        expect_same(&got, &before.st[u]);
        rs_client_states_free(&got);
    }
    /* Versions keep rising from where they were. */
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 1, 1, 999999, 0, &res), RS_OK);
    assert_int_equal(res.user_version, before.st[1].user_version + 1);
    rs_client_close(c);
    snapshot_free(&before);
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

#define EVICT_USERS  4000
#define EVICT_STATES 8

static void test_evictions_load_on_miss(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    /* ~4000 users x 8 states need ~1.4 MiB: a 256 KiB cache must evict. */
    const char *flags[] = {"--max-memory", "256KiB", "--flush-interval-ms", "100", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    rs_client_ack_entry ents[EVICT_STATES];
    rs_client_states out;
    for (uint64_t u = 1; u <= EVICT_USERS; u++) {
        for (uint64_t i = 0; i < EVICT_STATES; i++) {
            ents[i].channel_id = 100 + i;
            ents[i].message_id = u * 1000 + i;
        }
        assert_int_equal(rs_client_bulk_ack(c, u, ents, EVICT_STATES, &out), RS_OK);
        assert_int_equal(out.applied, EVICT_STATES);
        rs_client_states_free(&out);
    }
    /* Read everything back: most users come from Redis now. */
    for (uint64_t u = 1; u <= EVICT_USERS; u++) {
        rs_client_states got;
        rs_status st = rs_client_get(c, u, NULL, 0, &got);
        if (st != RS_OK)
            fail_msg("get user %llu: %s", (unsigned long long)u, rs_client_errmsg(c));
        assert_int_equal(got.n, EVICT_STATES);
        assert_int_equal(got.user_version, EVICT_STATES);
        for (uint64_t i = 0; i < EVICT_STATES; i++) {
            assert_int_equal(got.states[i].channel_id, 100 + i);
            assert_int_equal(got.states[i].last_message_id, u * 1000 + i);
            assert_int_equal(got.states[i].version, i + 1);
        }
        rs_client_states_free(&got);
    }
    double evictions = pu_metric(&srv, "readstates_cache_evictions_total");
    double loads = pu_metric(&srv, "readstates_redis_loads_total");
    printf("# evictions=%.0f loads=%.0f\n", evictions, loads);
    assert_true(evictions > EVICT_USERS / 2);
    assert_true(loads > EVICT_USERS);
    rs_client_close(c);
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_restart_identical),
        cmocka_unit_test(test_evictions_load_on_miss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
