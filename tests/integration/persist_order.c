/*
 * persist_order.c: responses come back out of order when a user must be loaded.
 *
 * The contract: a request for a user who must first be loaded from Redis
 * must not hold up requests for cached users behind it on the same
 * connection. Redis is paused (SIGSTOP) so the cold user's load hangs; the
 * cached user's requests pipelined after it must be answered first, and the
 * cold request must complete once Redis resumes.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "persist_util.h"

typedef struct fixture {
    rs_test_redis redis;
    rs_test_server srv;
    bool paused;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(rs_test_redis_start(&f->redis), 0);
    const char *extra[] = {"--redis-timeout-ms", "5000", "--flush-interval-ms", "50", NULL};
    assert_int_equal(pu_server_start(&f->srv, &f->redis, extra), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->paused)
        rs_test_redis_signal(&f->redis, SIGCONT);
    int ws = 0;
    rs_test_server_stop(&f->srv, 10000, &ws);
    rs_test_server_cleanup(&f->srv);
    rs_test_redis_stop(&f->redis);
    rs_test_redis_cleanup(&f->redis);
    free(f);
    return 0;
}

static void send_get(rs_client *c, uint64_t id, uint64_t user)
{
    Readstates__V1__GetReadStatesRequest get = READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
    get.user_id = user;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = id;
    req.call_case = READSTATES__V1__REQUEST__CALL_GET;
    req.get = &get;
    assert_int_equal(rs_client_send(c, &req), RS_OK);
}

static void send_ack(rs_client *c, uint64_t id, uint64_t user, uint64_t msg)
{
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    ack.user_id = user;
    ack.channel_id = 7;
    ack.message_id = msg;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = id;
    req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req.ack = &ack;
    assert_int_equal(rs_client_send(c, &req), RS_OK);
}

static uint64_t recv_id(rs_client *c, int timeout_ms, rs_status *st)
{
    Readstates__V1__Response *resp = NULL;
    if (rs_client_recv(c, &resp, timeout_ms) != RS_OK || resp == NULL)
        return 0;
    uint64_t id = resp->id;
    *st = rs_client_response_status(resp);
    rs_client_response_free(resp);
    return id;
}

static void test_cold_load_does_not_block_cached_user(void **state)
{
    fixture *f = *state;
    rs_client *c = pu_connect(&f->srv);
    assert_non_null(c);

    /* User 1 becomes cached and clean; user 2 exists only in Redis. */
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 1, 7, 100, 0, &res), RS_OK);
    assert_int_equal(rs_client_ack(c, 2, 7, 200, 0, &res), RS_OK);
    /* Restart (SIGTERM flushes both): now neither user is cached. */
    rs_client_close(c);
    assert_int_equal(rs_test_server_restart(&f->srv), 0);
    c = pu_connect(&f->srv);
    assert_non_null(c);
    /* Load user 1 only. */
    rs_client_states st;
    assert_int_equal(rs_client_get(c, 1, NULL, 0, &st), RS_OK);
    assert_int_equal(st.n, 1);
    rs_client_states_free(&st);

    /* Pause Redis (every node of a cluster): user 2's load now hangs. */
    assert_int_equal(rs_test_redis_signal(&f->redis, SIGSTOP), 0);
    f->paused = true;
    send_get(c, 100, 2);      /* cold: waits on the load */
    send_ack(c, 101, 1, 150); /* cached */
    send_get(c, 102, 1);      /* cached */
    assert_int_equal(rs_client_flush(c), RS_OK);

    rs_status s1 = RS_ERR_INTERNAL, s2 = RS_ERR_INTERNAL;
    uint64_t first = recv_id(c, 2000, &s1);
    uint64_t second = recv_id(c, 2000, &s2);
    assert_true(first == 101 || first == 102);
    assert_true(second == 101 || second == 102);
    assert_true(first != second);
    assert_int_equal(s1, RS_OK);
    assert_int_equal(s2, RS_OK);

    /* The cold request is still pending while Redis is paused. */
    rs_status s3 = RS_OK;
    assert_int_equal(recv_id(c, 200, &s3), 0);

    assert_int_equal(rs_test_redis_signal(&f->redis, SIGCONT), 0);
    f->paused = false;
    uint64_t third = recv_id(c, 4000, &s3);
    assert_int_equal(third, 100);
    assert_int_equal(s3, RS_OK);

    /* And it loaded user 2's stored state. */
    assert_int_equal(rs_client_get(c, 2, NULL, 0, &st), RS_OK);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.states[0].last_message_id, 200);
    rs_client_states_free(&st);
    rs_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cold_load_does_not_block_cached_user, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
