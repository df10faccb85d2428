/*
 * test_resp_encode.c: the direct Ack/SetReadState encoder (resp_encode.c)
 * against protobuf-c, byte for byte: sizes and bytes for many random
 * Responses (values at every varint length, NULL and empty submessages and
 * strings, both result cases), and the Responses it must leave to
 * protobuf-c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "resp_encode.h"

#define TEST_ROUNDS 200000

/* xorshift64*: a fixed seed, so a failure repeats. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* A value of a random varint length: 0 often, the edges of each length,
 * or random bits below a random power of two. */
static uint64_t rnd_value(uint64_t *s)
{
    switch (rnd(s) % 6) {
    case 0: return 0;
    case 1: return 1;
    case 2: return UINT64_MAX >> (rnd(s) % 64); /* all ones: a varint edge */
    case 3: return (uint64_t)1 << (rnd(s) % 64);
    default: return rnd(s) >> (rnd(s) % 64);
    }
}

/* Encode with both and compare; returns 1 when the fast path took it. */
static int check_same(const Readstates__V1__Response *resp)
{
    size_t want = protobuf_c_message_get_packed_size(&resp->base);
    resp_plan plan;
    if (!resp_encode_plan(resp, &plan))
        return 0;
    assert_int_equal(plan.len, want);
    uint8_t *a = malloc(want + 1);
    uint8_t *b = malloc(want + 1);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(protobuf_c_message_pack(&resp->base, a), want);
    memset(b, 0xA5, want + 1);
    assert_int_equal(resp_encode(resp, &plan, b), want);
    assert_memory_equal(a, b, want);
    assert_int_equal(b[want], 0xA5); /* nothing past the size it gave */
    free(a);
    free(b);
    return 1;
}

static void test_random_responses_match_protobuf_c(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char msg[300];
    int fast = 0;
    for (int i = 0; i < TEST_ROUNDS; i++) {
        Readstates__V1__ReadState st = READSTATES__V1__READ_STATE__INIT;
        Readstates__V1__AckResponse ack = READSTATES__V1__ACK_RESPONSE__INIT;
        Readstates__V1__Status status = READSTATES__V1__STATUS__INIT;
        Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
        st.channel_id = rnd_value(&seed);
        st.last_message_id = rnd_value(&seed);
        st.mention_count = (uint32_t)rnd_value(&seed);
        st.flags = (uint32_t)rnd_value(&seed);
        st.version = rnd_value(&seed);
        ack.state = rnd(&seed) % 8 != 0 ? &st : NULL;
        ack.applied = (protobuf_c_boolean)(rnd(&seed) % 3); /* 0, 1, or 2 (any true) */
        ack.user_version = rnd_value(&seed);
        status.code = (Readstates__V1__Code)(rnd(&seed) % 15);
        switch (rnd(&seed) % 4) {
        case 0: status.message = NULL; break;
        case 1: status.message = (char *)protobuf_c_empty_string; break;
        default: {
            size_t len = 1 + rnd(&seed) % (sizeof(msg) - 1);
            for (size_t k = 0; k < len; k++)
                msg[k] = (char)(1 + rnd(&seed) % 255);
            msg[len] = '\0';
            status.message = msg;
        }
        }
        resp.id = rnd_value(&seed);
        resp.status = rnd(&seed) % 8 != 0 ? &status : NULL;
        if (rnd(&seed) % 2) {
            resp.result_case = READSTATES__V1__RESPONSE__RESULT_ACK;
            resp.ack = &ack;
        } else {
            resp.result_case = READSTATES__V1__RESPONSE__RESULT_SET;
            resp.set = &ack;
        }
        fast += check_same(&resp);
    }
    assert_int_equal(fast, TEST_ROUNDS);
}

static void test_empty_and_extreme(void **state)
{
    (void)state;
    Readstates__V1__ReadState st = READSTATES__V1__READ_STATE__INIT;
    Readstates__V1__AckResponse ack = READSTATES__V1__ACK_RESPONSE__INIT;
    Readstates__V1__Status status = READSTATES__V1__STATUS__INIT;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_ACK;
    resp.ack = &ack;
    assert_int_equal(check_same(&resp), 1); /* an empty ack: tag + 0 */
    resp.status = &status;
    ack.state = &st;
    assert_int_equal(check_same(&resp), 1); /* empty submessages are still written */
    st.channel_id = st.last_message_id = st.version = UINT64_MAX;
    st.mention_count = st.flags = UINT32_MAX;
    ack.user_version = UINT64_MAX;
    ack.applied = 1;
    resp.id = UINT64_MAX;
    status.code = READSTATES__V1__CODE__INTERNAL;
    assert_int_equal(check_same(&resp), 1);
}

/* What the encoder must leave to protobuf-c. */
static void test_declines_the_rest(void **state)
{
    (void)state;
    Readstates__V1__AckResponse ack = READSTATES__V1__ACK_RESPONSE__INIT;
    Readstates__V1__Status status = READSTATES__V1__STATUS__INIT;
    Readstates__V1__PingResponse ping = READSTATES__V1__PING_RESPONSE__INIT;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp_plan plan;
    assert_false(resp_encode_plan(&resp, &plan)); /* no result */
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_PING;
    resp.ping = &ping;
    assert_false(resp_encode_plan(&resp, &plan)); /* another result */
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_ACK;
    resp.ack = NULL;
    assert_false(resp_encode_plan(&resp, &plan)); /* a NULL ack (protobuf-c writes it empty) */
    resp.ack = &ack;
    resp.status = &status;
    status.code = (Readstates__V1__Code)-1;
    assert_false(resp_encode_plan(&resp, &plan)); /* negative enum: 10-byte varint */
    status.code = READSTATES__V1__CODE__OK;
    ProtobufCMessageUnknownField unknown = {99, PROTOBUF_C_WIRE_TYPE_VARINT, 1,
                                            (uint8_t *)"\x01"};
    ack.base.n_unknown_fields = 1;
    ack.base.unknown_fields = &unknown;
    assert_false(resp_encode_plan(&resp, &plan)); /* unknown fields */
    ack.base.n_unknown_fields = 0;
    ack.base.unknown_fields = NULL;
    assert_true(resp_encode_plan(&resp, &plan));
    assert_int_equal(plan.len, protobuf_c_message_get_packed_size(&resp.base));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_responses_match_protobuf_c),
        cmocka_unit_test(test_empty_and_extreme),
        cmocka_unit_test(test_declines_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
