/*
 * it_limits.c: bad input and limits, each test on its own readstated.
 *
 *  - a zero-length frame, an oversized frame (> 64 KiB) and a frame of
 *    bytes that are not protobuf each close only their own connection;
 *    a connection opened before keeps working, and new ones are accepted;
 *  - --max-connections 5: the 6th connection is closed at once while the
 *    first 5 keep working, and a slot freed is usable again;
 *  - a small --max-memory forces evictions: the server keeps answering,
 *    and (memory-only) an evicted user comes back empty with version 0.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "it_common.h"

#define CLOSE_WAIT_MS 5000

static int setup_default(void **state)
{
    return it_group_setup(state);
}

static int setup_max_connections(void **state)
{
    const char *args[] = {"--max-connections", "5", NULL};
    return it_group_setup_args(state, args);
}

static int setup_max_memory(void **state)
{
    const char *args[] = {"--max-memory", "2MiB", NULL};
    return it_group_setup_args(state, args);
}

/* A healthy client pings, a bad raw connection is closed by the server,
 * the healthy one still pings, and a fresh connection works. */
static void check_bad_input_closes_only_its_connection(it_ctx *ctx, const uint8_t *bytes,
                                                       size_t len)
{
    rs_client *healthy = it_connect(ctx);
    it_assert_ok(healthy, rs_client_ping(healthy, NULL, NULL, 0));

    int fd = rs_tcp_connect(ctx->srv.port, IT_TIMEOUT_MS);
    assert_true(fd >= 0);
    /* The connection works before the bad frame. */
    Readstates__V1__Request req;
    Readstates__V1__PingRequest ping;
    it_ping_request(&req, &ping, 77);
    assert_int_equal(it_raw_send_request(fd, &req), 0);
    Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
    assert_non_null(resp);
    assert_int_equal(resp->id, 77);
    rs_client_response_free(resp);

    /* The peer may close while we still write: ignore write errors. */
    (void)rs_fd_write_all(fd, bytes, len, IT_TIMEOUT_MS);
    assert_true(rs_fd_wait_closed(fd, CLOSE_WAIT_MS));
    close(fd);

    it_assert_ok(healthy, rs_client_ping(healthy, NULL, NULL, 0));
    rs_client_ack_result r;
    it_assert_ok(healthy, rs_client_ack(healthy, 6001, 1, 1 + (uint64_t)len, 0, &r));
    rs_client *fresh = it_connect(ctx);
    it_assert_ok(fresh, rs_client_ping(fresh, NULL, NULL, 0));
    rs_client_close(fresh);
    rs_client_close(healthy);
}

static void test_zero_length_frame(void **state)
{
    const uint8_t zero[FRAME_HEADER_LEN] = {0, 0, 0, 0};
    check_bad_input_closes_only_its_connection(*state, zero, sizeof(zero));
}

static void test_oversized_frame(void **state)
{
    /* Header announcing 64 KiB + 1, then the payload: the server must
     * refuse it from the header. */
    size_t n = FRAME_REQUEST_MAX_DEFAULT + 1;
    uint8_t *buf = calloc(1, FRAME_HEADER_LEN + n);
    assert_non_null(buf);
    frame_put_header(buf, (uint32_t)n);
    memset(buf + FRAME_HEADER_LEN, 0x08, n);
    check_bad_input_closes_only_its_connection(*state, buf, FRAME_HEADER_LEN + n);
    free(buf);
}

static void test_not_protobuf(void **state)
{
    /* A well-sized frame whose bytes are no valid Request: field 1 with a
     * varint that never ends, and an invalid wire type. */
    uint8_t buf[FRAME_HEADER_LEN + 16];
    memset(buf + FRAME_HEADER_LEN, 0xff, 16);
    buf[FRAME_HEADER_LEN] = 0x0f; /* field 1, wire type 7: invalid */
    frame_put_header(buf, 16);
    check_bad_input_closes_only_its_connection(*state, buf, sizeof(buf));
}

static void test_max_frame_accepted(void **state)
{
    /* A request frame of exactly 64 KiB is within the limit: a Get with
     * padding in its id list would be over 1000 ids, so use an AddMentions
     * within the list limit and pad with an unknown field, which protobuf
     * skips. */
    it_ctx *ctx = *state;
    int fd = rs_tcp_connect(ctx->srv.port, IT_TIMEOUT_MS);
    assert_true(fd >= 0);
    size_t n = FRAME_REQUEST_MAX_DEFAULT;
    uint8_t *buf = calloc(1, FRAME_HEADER_LEN + n);
    assert_non_null(buf);
    frame_put_header(buf, (uint32_t)n);
    uint8_t *p = buf + FRAME_HEADER_LEN;
    /* id = 9 (field 1, varint) */
    *p++ = 0x08;
    *p++ = 9;
    /* ping = {} (field 10, length-delimited, empty) */
    *p++ = 0x52;
    *p++ = 0;
    /* unknown field 100 (length-delimited) filling the rest: tag is two
     * bytes (0xa2 0x06), the length a 3-byte varint. */
    size_t rest = n - (size_t)(p - (buf + FRAME_HEADER_LEN)) - 5;
    *p++ = 0xa2;
    *p++ = 0x06;
    *p++ = (uint8_t)(0x80 | (rest & 0x7f));
    *p++ = (uint8_t)(0x80 | ((rest >> 7) & 0x7f));
    *p++ = (uint8_t)(rest >> 14);
    memset(p, 'x', rest);
    assert_int_equal(rs_fd_write_all(fd, buf, FRAME_HEADER_LEN + n, IT_TIMEOUT_MS), 0);
    Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
    assert_non_null(resp);
    assert_int_equal(resp->id, 9);
    assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_PING);
    rs_client_response_free(resp);
    free(buf);
    close(fd);
}

/* ---- connection limit ------------------------------------------------- */

typedef struct slot_probe {
    int port;
} slot_probe;

/* A new connection that answers a ping: a slot is free again. */
static bool new_connection_works(void *arg)
{
    slot_probe *p = arg;
    rs_client *c = rs_client_connect("127.0.0.1", p->port, 1000, NULL, 0);
    if (c == NULL)
        return false;
    rs_client_set_timeout(c, 1000);
    bool ok = rs_client_ping(c, NULL, NULL, 0) == RS_OK;
    rs_client_close(c);
    return ok;
}

static void test_connection_limit(void **state)
{
    it_ctx *ctx = *state;
    rs_client *conns[5];
    for (int i = 0; i < 5; i++) {
        conns[i] = it_connect(ctx);
        it_assert_ok(conns[i], rs_client_ping(conns[i], NULL, NULL, 0));
    }
    /* The 6th is closed at once (the TCP handshake itself completes in the
     * kernel's backlog, so the close is what we observe). */
    int fd = rs_tcp_connect(ctx->srv.port, IT_TIMEOUT_MS);
    if (fd >= 0) {
        assert_true(rs_fd_wait_closed(fd, CLOSE_WAIT_MS));
        close(fd);
    }
    for (int i = 0; i < 5; i++) {
        rs_client_ack_result r;
        it_assert_ok(conns[i], rs_client_ack(conns[i], 6100 + (uint64_t)i, 1, 1, 0, &r));
        assert_true(r.applied);
    }
    /* Free one slot: a new connection works again (bounded poll while the
     * server notices the close). */
    rs_client_close(conns[4]);
    slot_probe probe = {.port = ctx->srv.port};
    assert_true(rs_poll_until(new_connection_works, &probe, CLOSE_WAIT_MS));
    for (int i = 0; i < 4; i++) {
        it_assert_ok(conns[i], rs_client_ping(conns[i], NULL, NULL, 0));
        rs_client_close(conns[i]);
    }
}

/* ---- memory budget and eviction --------------------------------------- */

#define EVICT_USERS  30000
#define EVICT_BASE   7000000
#define EVICT_STATES 4
#define EVICT_BATCH  500

static void send_bulk(rs_client *c, uint64_t user)
{
    Readstates__V1__AckEntry ents[EVICT_STATES];
    Readstates__V1__AckEntry *ptrs[EVICT_STATES];
    for (size_t k = 0; k < EVICT_STATES; k++) {
        readstates__v1__ack_entry__init(&ents[k]);
        ents[k].channel_id = 1 + k;
        ents[k].message_id = 100 + k;
        ptrs[k] = &ents[k];
    }
    Readstates__V1__BulkAckRequest b = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    b.user_id = user;
    b.n_entries = EVICT_STATES;
    b.entries = ptrs;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
    req.bulk_ack = &b;
    it_assert_ok(c, rs_client_send(c, &req));
}

static void test_eviction_under_max_memory(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    /* About 30000 users x (user + 4 states) is several times 2 MiB. */
    for (size_t done = 0; done < EVICT_USERS; done += EVICT_BATCH) {
        for (size_t i = 0; i < EVICT_BATCH; i++)
            send_bulk(c, EVICT_BASE + done + i);
        it_assert_ok(c, rs_client_flush(c));
        for (size_t i = 0; i < EVICT_BATCH; i++) {
            Readstates__V1__Response *resp = NULL;
            it_assert_ok(c, rs_client_recv(c, &resp, IT_TIMEOUT_MS));
            if (rs_client_response_status(resp) != RS_OK)
                fail_msg("bulk ack refused: %s: %s",
                         rs_status_name(rs_client_response_status(resp)),
                         resp->status->message);
            assert_int_equal(resp->bulk_ack->applied, EVICT_STATES);
            rs_client_response_free(resp);
        }
    }
    it_assert_ok(c, rs_client_ping(c, NULL, NULL, 0));

    /* The most recent user is intact. */
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, EVICT_BASE + EVICT_USERS - 1, NULL, 0, &s));
    assert_int_equal(s.n, EVICT_STATES);
    assert_int_equal(s.user_version, EVICT_STATES);
    rs_client_states_free(&s);

    /* The oldest users were evicted: memory-only, so they come back empty
     * with version 0. */
    size_t evicted = 0;
    for (size_t i = 0; i < 10; i++) {
        it_assert_ok(c, rs_client_get(c, EVICT_BASE + i, NULL, 0, &s));
        if (s.user_version == 0) {
            assert_int_equal(s.n, 0);
            evicted++;
        }
        rs_client_states_free(&s);
    }
    assert_int_equal(evicted, 10);

    /* And the server keeps taking writes. */
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, EVICT_BASE, 1, 1000, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.user_version, 1);
    rs_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zero_length_frame, setup_default,
                                        it_group_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_frame, setup_default, it_group_teardown),
        cmocka_unit_test_setup_teardown(test_not_protobuf, setup_default, it_group_teardown),
        cmocka_unit_test_setup_teardown(test_max_frame_accepted, setup_default,
                                        it_group_teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup_max_connections,
                                        it_group_teardown),
        cmocka_unit_test_setup_teardown(test_eviction_under_max_memory, setup_max_memory,
                                        it_group_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
