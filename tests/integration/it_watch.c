/*
 * it_watch.c: the Watch stream against a real readstated.
 *
 *  - one event per applied change, in version order, for ack, set, bulk
 *    ack (one per applied entry), mentions and delete (one per removed
 *    state, deleted = true, all with the one new version);
 *  - no event for no-ops: an equal ack, an identical set, a mention in a
 *    message already read, a delete of nothing;
 *  - two watchers of one user both get every event;
 *  - one connection watching many users;
 *  - watch and ordinary requests interleaved on one connection;
 *  - a slow watcher that never reads is disconnected (--max-output) while
 *    a fast watcher of the same user keeps receiving everything.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it_common.h"

#define QUIET_MS 300 /* how long "no event" is watched for */

static void expect_event(rs_client *w, uint64_t watch_id, uint64_t user, uint64_t channel,
                         uint64_t last, uint32_t mentions, bool deleted, uint64_t version)
{
    rs_client_event ev;
    rs_status st = rs_client_next_event(w, &ev, IT_TIMEOUT_MS);
    if (st != RS_OK)
        fail_msg("no event (user %llu channel %llu version %llu): %s", (unsigned long long)user,
                 (unsigned long long)channel, (unsigned long long)version, rs_client_errmsg(w));
    assert_int_equal(ev.watch_id, watch_id);
    assert_int_equal(ev.user_id, user);
    assert_int_equal(ev.state.channel_id, channel);
    assert_int_equal(ev.deleted, deleted);
    assert_int_equal(ev.user_version, version);
    if (!deleted) {
        assert_int_equal(ev.state.last_message_id, last);
        assert_int_equal(ev.state.mention_count, mentions);
        assert_int_equal(ev.state.version, version);
    }
}

static void expect_quiet(rs_client *w)
{
    rs_client_event ev;
    rs_status st = rs_client_next_event(w, &ev, QUIET_MS);
    if (st != RS_ERR_DEADLINE)
        fail_msg("unexpected event: user %llu channel %llu version %llu deleted %d (%s)",
                 (unsigned long long)ev.user_id, (unsigned long long)ev.state.channel_id,
                 (unsigned long long)ev.user_version, ev.deleted, rs_status_name(st));
    assert_int_equal(rs_client_err(w), RS_OK);
}

static void test_event_sequence(void **state)
{
    it_ctx *ctx = *state;
    const uint64_t u = 9001;
    rs_client *w = it_connect(ctx);
    rs_client *c = it_connect(ctx);
    uint64_t wid = 0;
    it_assert_ok(w, rs_client_watch(w, &u, 1, &wid));
    assert_true(wid != 0);
    rs_client_ack_result r;
    rs_client_states s;
    uint32_t counts[1], deleted;

    it_assert_ok(c, rs_client_ack(c, u, 1, 100, 0, &r));
    expect_event(w, wid, u, 1, 100, 0, false, 1);
    it_assert_ok(c, rs_client_ack(c, u, 1, 100, 0, &r)); /* equal: no event */
    it_assert_ok(c, rs_client_ack(c, u, 1, 50, 0, &r));  /* older: no event */
    expect_quiet(w);

    it_assert_ok(c, rs_client_set(c, u, 2, 40, 3, &r));
    expect_event(w, wid, u, 2, 40, 3, false, 2);
    it_assert_ok(c, rs_client_set(c, u, 2, 40, 3, &r)); /* identical: no event */
    expect_quiet(w);

    const rs_client_ack_entry entries[] = {{1, 110}, {1, 105}, {3, 7}, {2, 40}};
    it_assert_ok(c, rs_client_bulk_ack(c, u, entries, 4, &s));
    assert_int_equal(s.applied, 2);
    rs_client_states_free(&s);
    expect_event(w, wid, u, 1, 110, 0, false, 3);
    expect_event(w, wid, u, 3, 7, 0, false, 4);
    expect_quiet(w);

    it_assert_ok(c, rs_client_add_mentions(c, 3, 8, &u, 1, 2, counts));
    expect_event(w, wid, u, 3, 7, 2, false, 5);
    it_assert_ok(c, rs_client_add_mentions(c, 1, 90, &u, 1, 2, counts)); /* read already */
    expect_quiet(w);

    const uint64_t del[] = {1, 3, 999};
    it_assert_ok(c, rs_client_delete(c, u, del, 3, false, &deleted, NULL));
    assert_int_equal(deleted, 2);
    /* Two removals of one delete share its version; their order is free. */
    rs_client_event e1, e2;
    it_assert_ok(w, rs_client_next_event(w, &e1, IT_TIMEOUT_MS));
    it_assert_ok(w, rs_client_next_event(w, &e2, IT_TIMEOUT_MS));
    assert_true(e1.deleted && e2.deleted);
    assert_int_equal(e1.user_id, u);
    assert_int_equal(e2.user_id, u);
    assert_int_equal(e1.user_version, 6);
    assert_int_equal(e2.user_version, 6);
    assert_int_equal(e1.state.channel_id + e2.state.channel_id, 4); /* 1 and 3 */
    assert_true(e1.state.channel_id == 1 || e1.state.channel_id == 3);
    it_assert_ok(c, rs_client_delete(c, u, del, 3, false, &deleted, NULL)); /* nothing */
    assert_int_equal(deleted, 0);
    expect_quiet(w);

    it_assert_ok(c, rs_client_delete(c, u, NULL, 0, true, &deleted, NULL));
    assert_int_equal(deleted, 1);
    expect_event(w, wid, u, 2, 0, 0, true, 7);
    expect_quiet(w);

    /* Other users' changes are not sent. */
    it_assert_ok(c, rs_client_ack(c, u + 1, 1, 1, 0, &r));
    expect_quiet(w);
    rs_client_close(c);
    rs_client_close(w);
}

static void test_two_watchers_of_one_user(void **state)
{
    it_ctx *ctx = *state;
    const uint64_t u = 9101;
    rs_client *w1 = it_connect(ctx), *w2 = it_connect(ctx), *c = it_connect(ctx);
    uint64_t id1, id2;
    it_assert_ok(w1, rs_client_watch(w1, &u, 1, &id1));
    it_assert_ok(w2, rs_client_watch(w2, &u, 1, &id2));
    rs_client_ack_result r;
    for (uint64_t i = 1; i <= 20; i++)
        it_assert_ok(c, rs_client_ack(c, u, 1 + i % 2, i, 0, &r));
    for (uint64_t i = 1; i <= 20; i++) {
        expect_event(w1, id1, u, 1 + i % 2, i, 0, false, i);
        expect_event(w2, id2, u, 1 + i % 2, i, 0, false, i);
    }
    expect_quiet(w1);
    expect_quiet(w2);
    /* One watcher leaving does not disturb the other. */
    rs_client_close(w1);
    it_assert_ok(c, rs_client_ack(c, u, 1, 1000, 0, &r));
    expect_event(w2, id2, u, 1, 1000, 0, false, 21);
    rs_client_close(w2);
    rs_client_close(c);
}

static void test_one_connection_many_users(void **state)
{
    it_ctx *ctx = *state;
    enum { N = 50 };
    uint64_t users[N];
    for (size_t i = 0; i < N; i++)
        users[i] = 9200 + i;
    rs_client *w = it_connect(ctx), *c = it_connect(ctx);
    uint64_t wid;
    it_assert_ok(w, rs_client_watch(w, users, N, &wid));
    rs_client_ack_result r;
    for (size_t i = 0; i < N; i++)
        it_assert_ok(c, rs_client_ack(c, users[N - 1 - i], 5, 1 + i, 0, &r));
    int seen[N] = {0};
    for (size_t i = 0; i < N; i++) {
        rs_client_event ev;
        it_assert_ok(w, rs_client_next_event(w, &ev, IT_TIMEOUT_MS));
        assert_int_equal(ev.watch_id, wid);
        assert_true(ev.user_id >= 9200 && ev.user_id < 9200 + N);
        size_t k = ev.user_id - 9200;
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
        assert_int_equal(ev.state.last_message_id, N - k); /* acked in reverse order */
        assert_int_equal(ev.user_version, 1);
    }
    expect_quiet(w);
    rs_client_close(w);
    rs_client_close(c);
}

static void test_watch_and_requests_on_one_connection(void **state)
{
    it_ctx *ctx = *state;
    const uint64_t u = 9301;
    rs_client *w = it_connect(ctx);
    uint64_t wid;
    it_assert_ok(w, rs_client_watch(w, &u, 1, &wid));

    /* Blocking calls on the watching connection: their responses come back
     * while events for them are queued. */
    rs_client_ack_result r;
    it_assert_ok(w, rs_client_ack(w, u, 1, 10, 0, &r));
    assert_true(r.applied);
    it_assert_ok(w, rs_client_set(w, u, 1, 5, 1, &r));
    rs_client_states s;
    it_assert_ok(w, rs_client_get(w, u, NULL, 0, &s));
    assert_int_equal(s.user_version, 2);
    rs_client_states_free(&s);
    expect_event(w, wid, u, 1, 10, 0, false, 1);
    expect_event(w, wid, u, 1, 5, 1, false, 2);

    /* Pipelined: a get and an ack; the raw stream has both responses and
     * one event, every one tagged with its own id. */
    Readstates__V1__GetReadStatesRequest get = READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
    get.user_id = u;
    Readstates__V1__Request greq = READSTATES__V1__REQUEST__INIT;
    greq.call_case = READSTATES__V1__REQUEST__CALL_GET;
    greq.get = &get;
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    ack.user_id = u;
    ack.channel_id = 2;
    ack.message_id = 3;
    Readstates__V1__Request areq = READSTATES__V1__REQUEST__INIT;
    areq.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    areq.ack = &ack;
    it_assert_ok(w, rs_client_send(w, &greq));
    it_assert_ok(w, rs_client_send(w, &areq));
    it_assert_ok(w, rs_client_flush(w));
    int got_get = 0, got_ack = 0, got_event = 0;
    for (int i = 0; i < 3; i++) {
        Readstates__V1__Response *resp = NULL;
        it_assert_ok(w, rs_client_recv(w, &resp, IT_TIMEOUT_MS));
        if (resp->result_case == READSTATES__V1__RESPONSE__RESULT_EVENT) {
            assert_int_equal(resp->id, wid);
            assert_int_equal(resp->event->user_version, 3);
            got_event++;
        } else if (resp->id == greq.id) {
            assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_GET);
            got_get++;
        } else {
            assert_int_equal(resp->id, areq.id);
            assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_ACK);
            got_ack++;
        }
        rs_client_response_free(resp);
    }
    assert_int_equal(got_get, 1);
    assert_int_equal(got_ack, 1);
    assert_int_equal(got_event, 1);
    expect_quiet(w);
    rs_client_close(w);
}

/* ---- a slow watcher ------------------------------------------------------ */

#define SLOW_USER    9401
#define SLOW_ROUNDS  250 /* x 1000 events of ~35 bytes: far past any buffer */
#define SLOW_ENTRIES 1000

static int setup_small_output(void **state)
{
    const char *args[] = {"--max-output", "64KiB", NULL};
    return it_group_setup_args(state, args);
}

/* A raw watcher that never reads, with a small receive buffer. */
static int slow_watcher(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    uint64_t u = SLOW_USER;
    Readstates__V1__WatchRequest wr = READSTATES__V1__WATCH_REQUEST__INIT;
    wr.n_user_ids = 1;
    wr.user_ids = &u;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = 1;
    req.call_case = READSTATES__V1__REQUEST__CALL_WATCH;
    req.watch = &wr;
    assert_int_equal(it_raw_send_request(fd, &req), 0);
    Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
    assert_non_null(resp);
    assert_int_equal(rs_client_response_status(resp), RS_OK);
    rs_client_response_free(resp);
    return fd;
}

static void test_slow_watcher_disconnected(void **state)
{
    it_ctx *ctx = *state;
    const uint64_t u = SLOW_USER;
    int slow = slow_watcher(ctx->srv.port);
    rs_client *fast = it_connect(ctx), *c = it_connect(ctx);
    uint64_t fid;
    it_assert_ok(fast, rs_client_watch(fast, &u, 1, &fid));

    rs_client_ack_entry *ents = calloc(SLOW_ENTRIES, sizeof(*ents));
    assert_non_null(ents);
    uint64_t version = 0;
    for (int round = 0; round < SLOW_ROUNDS; round++) {
        for (size_t i = 0; i < SLOW_ENTRIES; i++) {
            ents[i].channel_id = 1 + i % 4;
            ents[i].message_id = 1 + (uint64_t)round * SLOW_ENTRIES + i;
        }
        rs_client_states s;
        it_assert_ok(c, rs_client_bulk_ack(c, u, ents, SLOW_ENTRIES, &s));
        assert_int_equal(s.applied, SLOW_ENTRIES);
        rs_client_states_free(&s);
        /* The fast watcher drains every round: it never falls behind. */
        for (size_t i = 0; i < SLOW_ENTRIES; i++) {
            rs_client_event ev;
            it_assert_ok(fast, rs_client_next_event(fast, &ev, IT_TIMEOUT_MS));
            assert_int_equal(ev.user_version, ++version);
        }
    }
    free(ents);
    /* The slow watcher was cut off: reading what it was sent ends in EOF
     * (or a reset) well before everything it would have received. */
    assert_true(rs_fd_wait_closed(slow, IT_TIMEOUT_MS));
    close(slow);
    /* The fast one still works. */
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, u, 9, 1, 0, &r));
    expect_event(fast, fid, u, 9, 1, 0, false, version + 1);
    rs_client_close(fast);
    rs_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_event_sequence, it_group_setup, it_group_teardown),
        cmocka_unit_test_setup_teardown(test_two_watchers_of_one_user, it_group_setup,
                                        it_group_teardown),
        cmocka_unit_test_setup_teardown(test_one_connection_many_users, it_group_setup,
                                        it_group_teardown),
        cmocka_unit_test_setup_teardown(test_watch_and_requests_on_one_connection,
                                        it_group_setup, it_group_teardown),
        cmocka_unit_test_setup_teardown(test_slow_watcher_disconnected, setup_small_output,
                                        it_group_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
