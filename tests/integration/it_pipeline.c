/*
 * it_pipeline.c: many requests on one connection and many connections at
 * once, against one memory-only readstated.
 *
 *  - 1000 requests of mixed kinds pipelined on one connection before any
 *    answer is read: every id comes back exactly once, with the result kind
 *    of its request, and the final states are what the acks imply;
 *  - 100 connections open at the same time, driven by 4 threads, each
 *    doing rounds of pipelined work on its own user and on one shared
 *    cursor: all answers arrive, forward-only holds under concurrency;
 *  - 5000 requests in flight on one connection, past the server's
 *    per-connection limit: reading pauses, and every request is answered
 *    exactly once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define PIPE_N     1000
#define PIPE_USERS 50
#define PIPE_BASE  4000

typedef struct pipe_req {
    Readstates__V1__Request req;
    Readstates__V1__AckRequest ack;
    Readstates__V1__GetReadStatesRequest get;
    Readstates__V1__PingRequest ping;
    Readstates__V1__Response__ResultCase want;
    int seen;
} pipe_req;

/* Request i: ack / get / ping / ack in turn, ids far above 2^32. */
static void build_request(pipe_req *p, size_t i)
{
    readstates__v1__request__init(&p->req);
    p->req.id = (1ull << 40) + i * 3;
    uint64_t user = PIPE_BASE + i % PIPE_USERS;
    switch (i % 4) {
    case 1:
        readstates__v1__get_read_states_request__init(&p->get);
        p->get.user_id = user;
        p->req.call_case = READSTATES__V1__REQUEST__CALL_GET;
        p->req.get = &p->get;
        p->want = READSTATES__V1__RESPONSE__RESULT_GET;
        break;
    case 2:
        readstates__v1__ping_request__init(&p->ping);
        p->req.call_case = READSTATES__V1__REQUEST__CALL_PING;
        p->req.ping = &p->ping;
        p->want = READSTATES__V1__RESPONSE__RESULT_PING;
        break;
    default:
        readstates__v1__ack_request__init(&p->ack);
        p->ack.user_id = user;
        p->ack.channel_id = 1 + i % 3;
        p->ack.message_id = 1 + i;
        p->req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        p->req.ack = &p->ack;
        p->want = READSTATES__V1__RESPONSE__RESULT_ACK;
        break;
    }
}

static void test_1000_pipelined_requests(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    pipe_req *reqs = calloc(PIPE_N, sizeof(*reqs));
    assert_non_null(reqs);
    for (size_t i = 0; i < PIPE_N; i++) {
        build_request(&reqs[i], i);
        uint64_t id = reqs[i].req.id;
        it_assert_ok(c, rs_client_send(c, &reqs[i].req));
        assert_int_equal(reqs[i].req.id, id); /* a non-zero id is kept */
    }
    assert_true(rs_client_pending_output(c) > 0);
    it_assert_ok(c, rs_client_flush(c));
    assert_int_equal(rs_client_pending_output(c), 0);

    for (size_t n = 0; n < PIPE_N; n++) {
        Readstates__V1__Response *resp = NULL;
        it_assert_ok(c, rs_client_recv(c, &resp, IT_TIMEOUT_MS));
        uint64_t off = resp->id - (1ull << 40);
        if (resp->id < (1ull << 40) || off % 3 != 0 || off / 3 >= PIPE_N)
            fail_msg("response with an unknown id %llu", (unsigned long long)resp->id);
        pipe_req *p = &reqs[off / 3];
        assert_int_equal(p->seen, 0);
        p->seen++;
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        assert_int_equal(resp->result_case, p->want);
        rs_client_response_free(resp);
    }
    /* Nothing more arrives. */
    Readstates__V1__Response *extra = NULL;
    assert_int_equal(rs_client_recv(c, &extra, 200), RS_ERR_DEADLINE);
    assert_int_equal(rs_client_err(c), RS_OK);

    /* Every ack had a higher message id than the ones before it on the same
     * (user, channel), so the last ack of each pair is the state. */
    for (size_t u = 0; u < PIPE_USERS; u++) {
        rs_client_states s;
        it_assert_ok(c, rs_client_get(c, PIPE_BASE + u, NULL, 0, &s));
        for (size_t k = 0; k < s.n; k++) {
            uint64_t last = 0;
            for (size_t i = 0; i < PIPE_N; i++)
                if (reqs[i].want == READSTATES__V1__RESPONSE__RESULT_ACK &&
                    reqs[i].ack.user_id == PIPE_BASE + u &&
                    reqs[i].ack.channel_id == s.states[k].channel_id)
                    last = reqs[i].ack.message_id;
            assert_int_equal(s.states[k].last_message_id, last);
        }
        rs_client_states_free(&s);
    }
    free(reqs);
    rs_client_close(c);
}

/* More requests in flight than the server's per-connection limit (1024):
 * the server pauses reading that connection until answers drain, the
 * client keeps reading while it writes, and every request is answered. */
#define OVER_N 5000

static void test_pipeline_past_inflight_limit(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    unsigned char *seen = calloc(OVER_N + 1, 1);
    assert_non_null(seen);
    uint64_t applied = 0;
    for (uint64_t i = 1; i <= OVER_N; i++) {
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        ack.user_id = 4900;
        ack.channel_id = 1;
        ack.message_id = i;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.id = (1ull << 33) + i;
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
        it_assert_ok(c, rs_client_send(c, &req));
    }
    it_assert_ok(c, rs_client_flush(c));
    for (size_t n = 0; n < OVER_N; n++) {
        Readstates__V1__Response *resp = NULL;
        it_assert_ok(c, rs_client_recv(c, &resp, IT_TIMEOUT_MS));
        uint64_t i = resp->id - (1ull << 33);
        assert_true(resp->id > (1ull << 33) && i <= OVER_N);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        applied += resp->ack->applied ? 1 : 0;
        rs_client_response_free(resp);
    }
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, 4900, 1, OVER_N, 0, &r));
    /* Execution order is the server's business; the outcome is not: the
     * newest ack won and the version counts the acks that applied. */
    assert_false(r.applied);
    assert_int_equal(r.state.last_message_id, OVER_N);
    assert_true(applied >= 1);
    assert_int_equal(r.user_version, applied);
    free(seen);
    rs_client_close(c);
}

/* ---- 100 concurrent connections ------------------------------------------ */

#define CONC_CONNS   100
#define CONC_THREADS 4
#define CONC_ROUNDS  20
#define CONC_BASE    5000
#define CONC_SHARED  4999

typedef struct conc_worker {
    int port;
    int first; /* first connection index */
    int n;
    rs_client *conns[CONC_CONNS];
    int failures;
    char why[RS_CLIENT_ERRLEN];
} conc_worker;

static void conc_fail(conc_worker *w, const char *what, rs_client *c)
{
    if (w->failures++ == 0)
        snprintf(w->why, sizeof(w->why), "%s: %s", what, c != NULL ? rs_client_errmsg(c) : "");
}

static void conc_send_ack(conc_worker *w, rs_client *c, uint64_t user, uint64_t ch,
                          uint64_t msg)
{
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    ack.user_id = user;
    ack.channel_id = ch;
    ack.message_id = msg;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req.ack = &ack;
    if (rs_client_send(c, &req) != RS_OK)
        conc_fail(w, "send", c);
}

/* One round: two pipelined acks per connection, then all answers. */
static void conc_round(conc_worker *w, int round)
{
    for (int k = 0; k < w->n; k++) {
        int conn = w->first + k;
        conc_send_ack(w, w->conns[k], CONC_BASE + (uint64_t)conn, 1 + (uint64_t)round, 1);
        conc_send_ack(w, w->conns[k], CONC_SHARED, 1,
                      (uint64_t)conn * 1000 + (uint64_t)round + 1);
        if (rs_client_flush(w->conns[k]) != RS_OK)
            conc_fail(w, "flush", w->conns[k]);
    }
    for (int k = 0; k < w->n; k++) {
        for (int j = 0; j < 2; j++) {
            Readstates__V1__Response *resp = NULL;
            if (rs_client_recv(w->conns[k], &resp, IT_TIMEOUT_MS) != RS_OK) {
                conc_fail(w, "recv", w->conns[k]);
                continue;
            }
            if (rs_client_response_status(resp) != RS_OK ||
                resp->result_case != READSTATES__V1__RESPONSE__RESULT_ACK)
                conc_fail(w, "bad response", NULL);
            rs_client_response_free(resp);
        }
    }
}

static void *conc_main(void *arg)
{
    conc_worker *w = arg;
    for (int round = 0; round < CONC_ROUNDS && w->failures == 0; round++)
        conc_round(w, round);
    return NULL;
}

static void test_100_concurrent_connections(void **state)
{
    it_ctx *ctx = *state;
    conc_worker workers[CONC_THREADS];
    memset(workers, 0, sizeof(workers));
    /* Open all 100 first: they are all connected while the work runs. */
    for (int t = 0; t < CONC_THREADS; t++) {
        conc_worker *w = &workers[t];
        w->port = ctx->srv.port;
        w->first = t * (CONC_CONNS / CONC_THREADS);
        w->n = CONC_CONNS / CONC_THREADS;
        for (int k = 0; k < w->n; k++) {
            w->conns[k] = it_connect(ctx);
            it_assert_ok(w->conns[k], rs_client_ping(w->conns[k], NULL, NULL, 0));
        }
    }
    pthread_t th[CONC_THREADS];
    for (int t = 0; t < CONC_THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, conc_main, &workers[t]), 0);
    for (int t = 0; t < CONC_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < CONC_THREADS; t++)
        if (workers[t].failures != 0)
            fail_msg("worker %d: %d failures, first: %s", t, workers[t].failures,
                     workers[t].why);

    rs_client *c = workers[0].conns[0];
    for (int conn = 0; conn < CONC_CONNS; conn++) {
        rs_client_states s;
        it_assert_ok(c, rs_client_get(c, CONC_BASE + (uint64_t)conn, NULL, 0, &s));
        assert_int_equal(s.n, CONC_ROUNDS);
        assert_int_equal(s.user_version, CONC_ROUNDS);
        rs_client_states_free(&s);
    }
    /* The shared cursor holds the highest message any connection acked. */
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, CONC_SHARED, NULL, 0, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.states[0].last_message_id, (CONC_CONNS - 1) * 1000 + CONC_ROUNDS);
    rs_client_states_free(&s);
    for (int t = 0; t < CONC_THREADS; t++)
        for (int k = 0; k < workers[t].n; k++)
            rs_client_close(workers[t].conns[k]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1000_pipelined_requests),
        cmocka_unit_test(test_pipeline_past_inflight_limit),
        cmocka_unit_test(test_100_concurrent_connections),
    };
    return cmocka_run_group_tests(tests, it_group_setup, it_group_teardown);
}
