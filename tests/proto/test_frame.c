/*
 * test_frame.c: the frame codec, the arena and the shared parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "rs_arena.h"
#include "rs_common.h"

static size_t encode_ack(uint8_t *out, uint64_t id, uint64_t user)
{
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    ack.user_id = user;
    ack.channel_id = 2;
    ack.message_id = 3;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = id;
    req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req.ack = &ack;
    size_t n = frame_size(&req.base);
    assert_int_equal(frame_encode(&req.base, out), n);
    return n;
}

static void test_header_limits(void **state)
{
    (void)state;
    uint8_t hdr[4];
    uint32_t len = 0;
    frame_put_header(hdr, 0);
    assert_int_equal(frame_parse_header(hdr, 65536, &len), FRAME_ERR_EMPTY);
    frame_put_header(hdr, 65537);
    assert_int_equal(frame_parse_header(hdr, 65536, &len), FRAME_ERR_TOO_BIG);
    frame_put_header(hdr, 65536);
    assert_int_equal(frame_parse_header(hdr, 65536, &len), FRAME_OK);
    assert_int_equal(len, 65536);
    frame_put_header(hdr, 0x01020304);
    assert_int_equal(hdr[0], 1);
    assert_int_equal(hdr[3], 4);
}

static void test_round_trip_byte_by_byte(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = encode_ack(buf, 42, 7);
    size_t m = encode_ack(buf + n, 43, 8);
    frame_reader r;
    frame_reader_init(&r, FRAME_REQUEST_MAX_DEFAULT);
    int frames = 0;
    uint64_t ids[2] = {0, 0};
    for (size_t i = 0; i < n + m; i++) {
        assert_int_equal(frame_reader_feed(&r, buf + i, 1), 0);
        const uint8_t *p;
        uint32_t len;
        frame_result res = frame_reader_next(&r, &p, &len);
        if (res == FRAME_NEED_MORE)
            continue;
        assert_int_equal(res, FRAME_OK);
        Readstates__V1__Request *req = frame_decode_request(p, len, NULL);
        assert_non_null(req);
        assert_int_equal(req->call_case, READSTATES__V1__REQUEST__CALL_ACK);
        ids[frames++] = req->id;
        readstates__v1__request__free_unpacked(req, NULL);
    }
    assert_int_equal(frames, 2);
    assert_int_equal(ids[0], 42);
    assert_int_equal(ids[1], 43);
    frame_reader_free(&r);
}

static void test_reader_sticky_error(void **state)
{
    (void)state;
    const uint8_t zero[4] = {0, 0, 0, 0};
    frame_reader r;
    frame_reader_init(&r, 1024);
    assert_int_equal(frame_reader_feed(&r, zero, 4), 0);
    const uint8_t *p;
    uint32_t len;
    assert_int_equal(frame_reader_next(&r, &p, &len), FRAME_ERR_EMPTY);
    uint8_t ok[64];
    size_t n = encode_ack(ok, 1, 1);
    assert_int_equal(frame_reader_feed(&r, ok, n), 0);
    /* The error sticks: nothing after a bad frame is trusted. */
    assert_int_equal(frame_reader_next(&r, &p, &len), FRAME_ERR_EMPTY);
    frame_reader_free(&r);

    frame_reader_init(&r, 16);
    uint8_t big[4];
    frame_put_header(big, 17);
    assert_int_equal(frame_reader_feed(&r, big, 4), 0);
    assert_int_equal(frame_reader_next(&r, &p, &len), FRAME_ERR_TOO_BIG);
    frame_reader_free(&r);
}

static void test_reader_never_fed(void **state)
{
    (void)state;
    frame_reader r;
    frame_reader_init(&r, 1024);
    const uint8_t *p = NULL;
    uint32_t len = 0;
    assert_int_equal(frame_reader_next(&r, &p, &len), FRAME_NEED_MORE);
    assert_int_equal(frame_reader_feed(&r, "", 0), 0);
    assert_int_equal(frame_reader_next(&r, &p, &len), FRAME_NEED_MORE);
    frame_reader_free(&r);
}

static void test_not_protobuf(void **state)
{
    (void)state;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    assert_null(frame_decode_request(junk, sizeof(junk), NULL));
}

static void test_arena_decode_and_reset(void **state)
{
    (void)state;
    rs_arena a;
    rs_arena_init(&a, 256);
    uint8_t buf[64];
    size_t n = encode_ack(buf, 9, 5);
    for (int round = 0; round < 100; round++) {
        Readstates__V1__Request *req =
            frame_decode_request(buf + FRAME_HEADER_LEN, n - FRAME_HEADER_LEN, rs_arena_pb(&a));
        assert_non_null(req);
        assert_int_equal(req->ack->user_id, 5);
        /* Larger than a chunk: goes to its own chunk. */
        uint8_t *big = rs_arena_alloc(&a, 1000);
        memset(big, 0xab, 1000);
        assert_true(((uintptr_t)big & 15) == 0);
        rs_arena_reset(&a);
    }
    uint8_t *z = rs_arena_calloc(&a, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    rs_arena_destroy(&a);
}

static void test_parsers(void **state)
{
    (void)state;
    size_t sz;
    assert_int_equal(rs_parse_size("512MiB", &sz), 0);
    assert_int_equal(sz, 512u * 1024 * 1024);
    assert_int_equal(rs_parse_size("1GiB", &sz), 0);
    assert_int_equal(sz, 1024u * 1024 * 1024);
    assert_int_equal(rs_parse_size("64kib", &sz), 0);
    assert_int_equal(sz, 65536);
    assert_int_equal(rs_parse_size("100", &sz), 0);
    assert_int_equal(sz, 100);
    assert_int_equal(rs_parse_size("12XB", &sz), -1);
    assert_int_equal(rs_parse_size("-1", &sz), -1);
    assert_int_equal(rs_parse_size("", &sz), -1);

    uint64_t v;
    assert_int_equal(rs_parse_u64("18446744073709551615", &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(rs_parse_u64("18446744073709551616", &v), -1);
    assert_int_equal(rs_parse_u64("12a", &v), -1);
    assert_int_equal(rs_parse_u64("", &v), -1);

    char host[64];
    int port;
    assert_int_equal(rs_parse_hostport("127.0.0.1:7480", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 7480);
    assert_int_equal(rs_parse_hostport("[::1]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(rs_parse_hostport("localhost", host, sizeof(host), &port), -1);
    assert_int_equal(rs_parse_hostport("h:70000", host, sizeof(host), &port), -1);
    assert_int_equal(rs_parse_hostport(":80", host, sizeof(host), &port), -1);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(rs_status_name(RS_ERR_INVALID), "INVALID_ARGUMENT");
    assert_string_equal(rs_status_rpc_name(RS_ERR_UNAVAILABLE), "unavailable");
    /* Our status numbers are the protocol's codes. */
    assert_int_equal(RS_ERR_EXHAUSTED, READSTATES__V1__CODE__RESOURCE_EXHAUSTED);
    assert_int_equal(RS_ERR_UNAVAILABLE, READSTATES__V1__CODE__UNAVAILABLE);
    assert_int_equal(RS_ERR_INVALID, READSTATES__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(RS_ERR_UNIMPLEMENTED, READSTATES__V1__CODE__UNIMPLEMENTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_round_trip_byte_by_byte),
        cmocka_unit_test(test_reader_sticky_error),
        cmocka_unit_test(test_reader_never_fed),
        cmocka_unit_test(test_not_protobuf),
        cmocka_unit_test(test_arena_decode_and_reset),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
