/*
 * test_req_decode.c: the direct Ack Request decoder (req_decode.c) against
 * protobuf-c. Whenever it accepts a payload, protobuf-c must decode the same
 * payload to the same Ack Request; it must accept every Ack Request that
 * protobuf-c packs. Inputs: random Acks packed by protobuf-c, and hand-made
 * payloads with shuffled, repeated, unknown and mistyped fields, padded
 * (non-minimal) and overlong varints, truncations and flipped bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "req_decode.h"

#define TEST_ROUNDS 200000

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_value(uint64_t *s)
{
    switch (rnd(s) % 6) {
    case 0: return 0;
    case 1: return 1;
    case 2: return UINT64_MAX >> (rnd(s) % 64);
    case 3: return (uint64_t)1 << (rnd(s) % 64);
    default: return rnd(s) >> (rnd(s) % 64);
    }
}

typedef struct buf {
    uint8_t b[512];
    size_t n;
} buf;

static void put(buf *b, uint8_t x)
{
    if (b->n < sizeof(b->b))
        b->b[b->n++] = x;
}

/* A varint, padded with `pad` extra bytes (a non-minimal encoding). */
static void put_varint(buf *b, uint64_t v, unsigned pad)
{
    while (v >= 0x80) {
        put(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    if (pad == 0) {
        put(b, (uint8_t)v);
        return;
    }
    put(b, (uint8_t)(v | 0x80));
    for (unsigned i = 1; i < pad; i++)
        put(b, 0x80);
    put(b, 0);
}

/* Mostly minimal varints, sometimes padded. */
static unsigned rnd_pad(uint64_t *s)
{
    return rnd(s) % 8 == 0 ? (unsigned)(rnd(s) % 10) : 0;
}

/* A hand-made AckRequest body: fields in any order, some repeated,
 * unknown or with the wrong wire type. */
static void make_ack_body(uint64_t *s, buf *b)
{
    unsigned nfields = (unsigned)(rnd(s) % 6);
    for (unsigned i = 0; i < nfields; i++) {
        unsigned field = 1 + (unsigned)(rnd(s) % 5); /* 5: unknown */
        unsigned wire = rnd(s) % 10 == 0 ? 2 : 0;
        put(b, (uint8_t)((field << 3) | wire));
        if (wire == 2) {
            put(b, 1);
            put(b, 0);
        } else {
            uint64_t v = rnd_value(s);
            if (field == 4 && rnd(s) % 2)
                v &= UINT32_MAX;
            put_varint(b, v, rnd_pad(s));
        }
    }
}

/* A hand-made Request payload. */
static void make_request(uint64_t *s, buf *b)
{
    unsigned nfields = 1 + (unsigned)(rnd(s) % 3);
    for (unsigned i = 0; i < nfields; i++) {
        switch (rnd(s) % 8) {
        case 0:
        case 1:
            put(b, 0x08); /* id */
            put_varint(b, rnd_value(s), rnd_pad(s));
            break;
        case 2: /* another call (set, same layout) or an unknown field */
            put(b, rnd(s) % 2 ? (uint8_t)((12 << 3) | 2) : (uint8_t)((20 << 3) | 2));
            put(b, 0);
            break;
        default: {
            buf body = {.n = 0};
            make_ack_body(s, &body);
            put(b, (uint8_t)((11 << 3) | 2));
            put_varint(b, body.n, rnd(s) % 16 == 0 ? (unsigned)(rnd(s) % 6) : 0);
            for (size_t k = 0; k < body.n; k++)
                put(b, body.b[k]);
        }
        }
    }
    if (rnd(s) % 8 == 0 && b->n > 0)
        b->n = rnd(s) % b->n; /* truncated */
    if (rnd(s) % 8 == 0 && b->n > 0)
        b->b[rnd(s) % b->n] ^= (uint8_t)(1u << (rnd(s) % 8)); /* a flipped bit */
}

/* Returns 1 when the fast decoder accepted (and agreed with protobuf-c). */
static int check_agrees(const uint8_t *p, size_t n)
{
    Readstates__V1__Request req;
    Readstates__V1__AckRequest ack;
    bool fast = req_decode_ack(p, n, &req, &ack);
    Readstates__V1__Request *ref = readstates__v1__request__unpack(NULL, n, p);
    if (fast) {
        assert_non_null(ref);
        assert_int_equal(ref->call_case, READSTATES__V1__REQUEST__CALL_ACK);
        assert_int_equal(ref->base.n_unknown_fields, 0);
        assert_non_null(ref->ack);
        assert_int_equal(ref->ack->base.n_unknown_fields, 0);
        assert_int_equal(req.call_case, READSTATES__V1__REQUEST__CALL_ACK);
        assert_ptr_equal(req.ack, &ack);
        assert_ptr_equal(req.base.descriptor, ref->base.descriptor);
        assert_ptr_equal(ack.base.descriptor, ref->ack->base.descriptor);
        assert_int_equal(req.base.n_unknown_fields, 0);
        assert_int_equal(req.id, ref->id);
        assert_int_equal(ack.user_id, ref->ack->user_id);
        assert_int_equal(ack.channel_id, ref->ack->channel_id);
        assert_int_equal(ack.message_id, ref->ack->message_id);
        assert_int_equal(ack.mention_count, ref->ack->mention_count);
    }
    if (ref != NULL)
        readstates__v1__request__free_unpacked(ref, NULL);
    return fast ? 1 : 0;
}

static void test_packed_acks_are_taken(void **state)
{
    (void)state;
    uint64_t seed = 0x243f6a8885a308d3ull;
    uint8_t out[128];
    for (int i = 0; i < TEST_ROUNDS; i++) {
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        ack.user_id = rnd_value(&seed);
        ack.channel_id = rnd_value(&seed);
        ack.message_id = rnd_value(&seed);
        ack.mention_count = (uint32_t)rnd_value(&seed);
        req.id = rnd_value(&seed);
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
        size_t n = readstates__v1__request__pack(&req, out);
        assert_int_equal(check_agrees(out, n), 1);
    }
}

static void test_mangled_payloads_agree(void **state)
{
    (void)state;
    uint64_t seed = 0x13198a2e03707344ull;
    int taken = 0;
    for (int i = 0; i < TEST_ROUNDS; i++) {
        buf b = {.n = 0};
        make_request(&seed, &b);
        taken += check_agrees(b.b, b.n);
    }
    /* Plain ones among them are taken (the generator makes plenty). */
    assert_true(taken > TEST_ROUNDS / 20);
    assert_true(taken < TEST_ROUNDS);
}

static void test_declines(void **state)
{
    (void)state;
    Readstates__V1__Request req;
    Readstates__V1__AckRequest ack;
    static const uint8_t empty_ack[] = {0x5a, 0x00};
    static const uint8_t no_call[] = {0x08, 0x01};
    static const uint8_t ack_twice[] = {0x5a, 0x00, 0x5a, 0x00};
    static const uint8_t id_twice[] = {0x08, 0x01, 0x08, 0x02, 0x5a, 0x00};
    static const uint8_t long_len[] = {0x5a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t overlong_id[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0x02, 0x5a, 0x00};
    static const uint8_t big_mentions[] = {0x5a, 0x06, 0x20, 0x80, 0x80, 0x80, 0x80, 0x10};
    assert_true(req_decode_ack(empty_ack, sizeof(empty_ack), &req, &ack));
    assert_int_equal(check_agrees(empty_ack, sizeof(empty_ack)), 1);
    assert_false(req_decode_ack(NULL, 0, &req, &ack)); /* empty: no call */
    assert_false(req_decode_ack(no_call, sizeof(no_call), &req, &ack));
    assert_false(req_decode_ack(ack_twice, sizeof(ack_twice), &req, &ack));
    assert_false(req_decode_ack(id_twice, sizeof(id_twice), &req, &ack));
    assert_false(req_decode_ack(long_len, sizeof(long_len), &req, &ack));
    assert_false(req_decode_ack(overlong_id, sizeof(overlong_id), &req, &ack));
    assert_false(req_decode_ack(big_mentions, sizeof(big_mentions), &req, &ack));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_acks_are_taken),
        cmocka_unit_test(test_mangled_payloads_agree),
        cmocka_unit_test(test_declines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
