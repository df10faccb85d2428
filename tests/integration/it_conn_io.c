/*
 * it_conn_io.c: the connection's own I/O (server/conn.c) against one
 * memory-only readstated, with raw sockets.
 *
 *  - 300 pipelined requests (Acks, pings, one Ack with an unknown field
 *    that the direct decoder leaves to protobuf-c) sent in pieces of 1 to
 *    9 bytes with short pauses, so headers and frames are split across
 *    reads: every request is answered, in order, with the right result;
 *  - 10000 Gets answered while the client does not read: the answers back
 *    up past the socket buffers (the server waits for the socket to take
 *    more), then the client reads them all, in order.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"
#include "it_common.h"

#define SPLIT_N    300
#define SPLIT_USER 9100
#define BACKLOG_N  10000

static int setup(void **state)
{
    return it_group_setup(state);
}

/* Append one framed request to buf at *off (buf has room). */
static void put_request(uint8_t *buf, size_t *off, const Readstates__V1__Request *req)
{
    size_t n = frame_encode(&req->base, buf + *off);
    assert_true(n > 0);
    *off += n;
}

static void test_frames_split_across_reads(void **state)
{
    it_ctx *ctx = *state;
    uint8_t *buf = malloc(SPLIT_N * 64 + 64);
    assert_non_null(buf);
    size_t len = 0;
    for (size_t i = 0; i < SPLIT_N; i++) {
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        Readstates__V1__PingRequest ping = READSTATES__V1__PING_REQUEST__INIT;
        req.id = (1ull << 50) + i;
        if (i % 3 == 2) {
            req.call_case = READSTATES__V1__REQUEST__CALL_PING;
            req.ping = &ping;
        } else {
            ack.user_id = SPLIT_USER;
            ack.channel_id = 1 + i % 2;
            ack.message_id = (1ull << 60) + i; /* 9-byte varints */
            req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
            req.ack = &ack;
        }
        put_request(buf, &len, &req);
    }
    /* An Ack carrying an unknown field (99, varint 1): protobuf-c's path. */
    static const uint8_t odd[] = {0x08, 0x05, 0x5a, 0x0a, 0x08, 0xcc, 0x47,
                                  0x10, 0x03, 0x18, 0x07, 0x98, 0x06, 0x01};
    frame_put_header(buf + len, sizeof(odd));
    memcpy(buf + len + FRAME_HEADER_LEN, odd, sizeof(odd));
    len += FRAME_HEADER_LEN + sizeof(odd);

    int fd = rs_tcp_connect(ctx->srv.port, IT_TIMEOUT_MS);
    assert_true(fd >= 0);
    uint64_t seed = 12345;
    for (size_t off = 0; off < len;) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t piece = 1 + (size_t)((seed >> 33) % 9);
        if (piece > len - off)
            piece = len - off;
        assert_int_equal(rs_fd_write_all(fd, buf + off, piece, IT_TIMEOUT_MS), 0);
        off += piece;
        usleep(100); /* let the server read this piece on its own */
    }
    for (size_t i = 0; i < SPLIT_N; i++) {
        Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
        assert_non_null(resp);
        assert_int_equal(resp->id, (1ull << 50) + i);
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        if (i % 3 == 2) {
            assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_PING);
        } else {
            assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_ACK);
            assert_true(resp->ack->applied); /* each one is newer than the last */
            assert_int_equal(resp->ack->state->last_message_id, (1ull << 60) + i);
        }
        rs_client_response_free(resp);
    }
    Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
    assert_non_null(resp);
    assert_int_equal(resp->id, 5);
    assert_int_equal(rs_client_response_status(resp), RS_OK);
    assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_ACK);
    assert_int_equal(resp->ack->state->channel_id, 3);
    assert_int_equal(resp->ack->state->last_message_id, 7);
    rs_client_response_free(resp);
    close(fd);
    free(buf);
}

static void test_answers_wait_for_a_full_socket(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    /* One user with 100 channels: each Get answer is a few KiB. */
    for (uint64_t ch = 1; ch <= 100; ch++) {
        rs_client_ack_result r;
        it_assert_ok(c, rs_client_ack(c, SPLIT_USER + 1, ch, 1000 + ch, 0, &r));
    }
    rs_client_close(c);

    int fd = rs_tcp_connect(ctx->srv.port, IT_TIMEOUT_MS);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(BACKLOG_N * 32);
    assert_non_null(buf);
    size_t len = 0;
    for (size_t i = 0; i < BACKLOG_N; i++) {
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        Readstates__V1__GetReadStatesRequest get =
            READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
        req.id = 1 + i;
        get.user_id = SPLIT_USER + 1;
        req.call_case = READSTATES__V1__REQUEST__CALL_GET;
        req.get = &get;
        put_request(buf, &len, &req);
    }
    assert_int_equal(rs_fd_write_all(fd, buf, len, IT_TIMEOUT_MS), 0);
    usleep(200 * 1000); /* the server answers into full socket buffers meanwhile */
    for (size_t i = 0; i < BACKLOG_N; i++) {
        Readstates__V1__Response *resp = it_raw_recv_response(fd, IT_TIMEOUT_MS);
        assert_non_null(resp);
        assert_int_equal(resp->id, 1 + i);
        assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_GET);
        assert_int_equal(resp->get->n_states, 100);
        rs_client_response_free(resp);
    }
    close(fd);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_split_across_reads),
        cmocka_unit_test(test_answers_wait_for_a_full_socket),
    };
    return cmocka_run_group_tests(tests, setup, it_group_teardown);
}
