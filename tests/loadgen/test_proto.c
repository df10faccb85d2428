/*
 * test_proto.c: the load generator's wire side and workload ids.
 *
 * Every method's request, encoded into an evbuffer, decodes (with the
 * project's frame codec) to the same fields; the response scanner finds the
 * id and status code of packed Responses, skips result fields, and rejects
 * truncated bytes. Snowflakes rise strictly; hot and cold users never
 * collide; fill covers users x channels exactly once.
 */
#include <event2/buffer.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "lg_proto.h"
#include "lg_work.h"

static Readstates__V1__Request *roundtrip_(const lg_op *op, uint64_t id)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(lg_encode_request(op, id, b), 0);
    size_t n = evbuffer_get_length(b);
    const uint8_t *p = evbuffer_pullup(b, (ev_ssize_t)n);
    uint32_t len;
    assert_int_equal(frame_peek(p, n, FRAME_REQUEST_MAX_DEFAULT, &len), FRAME_OK);
    assert_int_equal(len + FRAME_HEADER_LEN, n);
    Readstates__V1__Request *req = frame_decode_request(p + FRAME_HEADER_LEN, len, NULL);
    assert_non_null(req);
    assert_int_equal(req->id, id);
    evbuffer_free(b);
    return req;
}

static void test_encode_every_method(void **state)
{
    (void)state;
    lg_work_cfg cfg;
    lg_work_cfg_default(&cfg);
    for (int m = 0; m < LG_METHOD_MAX; m++)
        cfg.mix[m] = 100.0 / LG_METHOD_MAX;
    cfg.users = 100;
    cfg.channels = 7;
    cfg.bulk_size = 5;
    cfg.mention_users = 3;
    lg_work w;
    char err[128];
    assert_int_equal(lg_work_init(&w, &cfg, err, sizeof(err)), 0);
    int seen[LG_METHOD_MAX] = {0};
    for (int i = 0; i < 2000; i++) {
        lg_op op;
        lg_work_next(&w, 1700000000000ull + (uint64_t)i, &op);
        seen[op.method]++;
        uint64_t id = ((uint64_t)i << 32) | (uint64_t)(i % 17);
        Readstates__V1__Request *r = roundtrip_(&op, id);
        switch (op.method) {
        case LG_ACK:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_ACK);
            assert_int_equal(r->ack->user_id, op.user_id);
            assert_int_equal(r->ack->channel_id, op.channel_id);
            assert_int_equal(r->ack->message_id, op.message_id);
            break;
        case LG_SET:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_SET);
            assert_int_equal(r->set->message_id, op.message_id);
            break;
        case LG_GET_ONE:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_GET);
            assert_int_equal(r->get->n_channel_ids, 1);
            assert_int_equal(r->get->channel_ids[0], op.channel_id);
            break;
        case LG_GET_ALL:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_GET);
            assert_int_equal(r->get->n_channel_ids, 0);
            break;
        case LG_BULK_ACK:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_BULK_ACK);
            assert_int_equal(r->bulk_ack->n_entries, 5);
            for (size_t k = 0; k < 5; k++)
                assert_int_equal(r->bulk_ack->entries[k]->channel_id, op.list[k]);
            break;
        case LG_MENTIONS:
            assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_ADD_MENTIONS);
            assert_int_equal(r->add_mentions->n_user_ids, op.n);
            assert_int_equal(r->add_mentions->user_ids[0], op.user_id);
            for (size_t a = 0; a < op.n; a++)
                for (size_t b = a + 1; b < op.n; b++)
                    assert_true(op.list[a] != op.list[b]);
            break;
        case LG_PING: assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_PING); break;
        default: fail();
        }
        assert_true(op.user_id != 0 && op.channel_id != 0);
        readstates__v1__request__free_unpacked(r, NULL);
    }
    for (int m = 0; m < LG_METHOD_MAX; m++)
        assert_true(seen[m] > 200);
}

static size_t pack_response_(uint8_t *buf, uint64_t id, int code, bool with_states)
{
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    Readstates__V1__Status st = READSTATES__V1__STATUS__INIT;
    Readstates__V1__GetReadStatesResponse get = READSTATES__V1__GET_READ_STATES_RESPONSE__INIT;
    Readstates__V1__ReadState rs[3];
    Readstates__V1__ReadState *rsp[3];
    resp.id = id;
    if (code != 0) {
        st.code = (Readstates__V1__Code)code;
        st.message = "user_id must be non-zero";
        resp.status = &st;
    }
    if (with_states) {
        for (int i = 0; i < 3; i++) {
            readstates__v1__read_state__init(&rs[i]);
            rs[i].channel_id = 1000 + (uint64_t)i;
            rs[i].last_message_id = UINT64_MAX - (uint64_t)i;
            rs[i].version = 7;
            rsp[i] = &rs[i];
        }
        get.n_states = 3;
        get.states = rsp;
        get.user_version = 9;
        resp.result_case = READSTATES__V1__RESPONSE__RESULT_GET;
        resp.get = &get;
    }
    return readstates__v1__response__pack(&resp, buf);
}

static void test_scan_response(void **state)
{
    (void)state;
    uint8_t buf[512];
    uint64_t id;
    uint32_t code;
    size_t n = pack_response_(buf, 0x123456789abcull, 0, true);
    assert_int_equal(lg_scan_response(buf, n, &id, &code), 0);
    assert_int_equal(id, 0x123456789abcull);
    assert_int_equal(code, 0);
    n = pack_response_(buf, 42, 3, false);
    assert_int_equal(lg_scan_response(buf, n, &id, &code), 0);
    assert_int_equal(id, 42);
    assert_int_equal(code, 3);
    n = pack_response_(buf, UINT64_MAX, 14, true);
    assert_int_equal(lg_scan_response(buf, n, &id, &code), 0);
    assert_int_equal(id, UINT64_MAX);
    assert_int_equal(code, 14);
    /* every truncation of a message with a nested field is caught or benign */
    for (size_t cut = 1; cut < n; cut++) {
        int rc = lg_scan_response(buf, cut, &id, &code);
        assert_true(rc == 0 || rc == -1);
    }
    /* a length running past the end, and a bad wire type, are errors */
    const uint8_t bad_len[] = {0x12, 0x10, 0x08};
    assert_int_equal(lg_scan_response(bad_len, sizeof(bad_len), &id, &code), -1);
    const uint8_t bad_wt[] = {0x0f, 0x01};
    assert_int_equal(lg_scan_response(bad_wt, sizeof(bad_wt), &id, &code), -1);
}

static void test_snowflakes_and_users(void **state)
{
    (void)state;
    lg_snowflake sf = {0, 5};
    uint64_t prev = 0;
    for (int i = 0; i < 100000; i++) {
        /* many per millisecond, and a clock that steps back once */
        uint64_t ms = 1700000000000ull + (uint64_t)(i / 1000) - (i == 50000 ? 10 : 0);
        uint64_t id = lg_snowflake_next(&sf, ms);
        assert_true(id > prev);
        prev = id;
    }
    /* the timestamp bits are ms since the Discord epoch */
    lg_snowflake s2 = {0, 0};
    uint64_t id = lg_snowflake_next(&s2, LG_DISCORD_EPOCH_MS + 1234);
    assert_int_equal(id >> 22, 1234);
    /* hot users are distinct; cold users (fresh snowflakes) are newer */
    for (uint64_t r = 1; r < 10000; r++)
        assert_true(lg_user_id(r) < lg_user_id(r + 1));
    lg_snowflake cold = {0, 0x3ff};
    assert_true(lg_snowflake_next(&cold, 1700000000000ull) > lg_user_id(1000000000ull));
    /* a user's channels are distinct */
    for (uint32_t a = 0; a < 200; a++)
        for (uint32_t b = a + 1; b < 200; b++)
            assert_true(lg_channel_id(77, a) != lg_channel_id(77, b));
}

static void test_fill_covers_all(void **state)
{
    (void)state;
    lg_work_cfg cfg;
    lg_work_cfg_default(&cfg);
    lg_work w;
    char err[128];
    assert_int_equal(lg_work_init(&w, &cfg, err, sizeof(err)), 0);
    lg_op op;
    uint64_t states = 0, reqs = 0, last_user = 0;
    while (lg_work_fill_next(&w, 30, 250, 1700000000000ull, &op)) {
        assert_int_equal(op.method, LG_BULK_ACK);
        assert_true(op.n >= 1 && op.n <= LG_LIST_MAX);
        assert_true(op.user_id >= last_user);
        last_user = op.user_id;
        states += op.n;
        reqs++;
        assert_true(reqs < 1000);
    }
    assert_int_equal(states, 30 * 250);
    assert_int_equal(reqs, 30 * 3);
    assert_int_equal(last_user, lg_user_id(30));
}

static void test_bad_mix(void **state)
{
    (void)state;
    lg_work_cfg cfg;
    lg_work_cfg_default(&cfg);
    cfg.mix[LG_ACK] = 50;
    lg_work w;
    char err[128] = "";
    assert_int_equal(lg_work_init(&w, &cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "100"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_every_method),
        cmocka_unit_test(test_scan_response),
        cmocka_unit_test(test_snowflakes_and_users),
        cmocka_unit_test(test_fill_covers_all),
        cmocka_unit_test(test_bad_mix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
