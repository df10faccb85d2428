/* test_json_codec.c: the proto3 JSON mapping (server/json_codec.c) on the
 * real readstates.v1 descriptors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec_types.pb-c.h"
#include "json_codec.h"
#include "readstates.pb-c.h"

static char errbuf[256];

static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const char *text)
{
    return json_codec_decode(d, text, strlen(text), errbuf, sizeof(errbuf));
}

static void expect_fail(const ProtobufCMessageDescriptor *d, const char *text,
                        const char *err_part)
{
    ProtobufCMessage *m = decode(d, text);
    if (m != NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        fail_msg("decoding %s should fail", text);
    }
    if (err_part != NULL && strstr(errbuf, err_part) == NULL)
        fail_msg("error for %s is \"%s\", expected it to mention %s", text, errbuf, err_part);
}

static void expect_json(const ProtobufCMessage *m, const char *want)
{
    size_t len = 0;
    char *got = json_codec_encode(m, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    assert_string_equal(got, want);
    free(got);
}

static void test_field_names(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(json_codec_field_name("user_id", out, sizeof(out)), 0);
    assert_string_equal(out, "userId");
    assert_int_equal(json_codec_field_name("last_message_id", out, sizeof(out)), 0);
    assert_string_equal(out, "lastMessageId");
    assert_int_equal(json_codec_field_name("ping", out, sizeof(out)), 0);
    assert_string_equal(out, "ping");
    assert_int_equal(json_codec_field_name("bulk_ack", out, 4), -1);
}

static void test_encode_ack_response(void **state)
{
    (void)state;
    Readstates__V1__ReadState st = READSTATES__V1__READ_STATE__INIT;
    st.channel_id = 5;
    st.last_message_id = UINT64_MAX;
    st.mention_count = 2;
    st.flags = 1;
    st.version = 3;
    Readstates__V1__AckResponse r = READSTATES__V1__ACK_RESPONSE__INIT;
    r.state = &st;
    r.applied = 1;
    r.user_version = 3;
    expect_json(&r.base, "{\"state\":{\"channelId\":\"5\",\"lastMessageId\":"
                         "\"18446744073709551615\",\"mentionCount\":2,\"flags\":1,"
                         "\"version\":\"3\"},\"applied\":true,\"userVersion\":\"3\"}");
}

static void test_encode_defaults_omitted(void **state)
{
    (void)state;
    Readstates__V1__GetReadStatesResponse r = READSTATES__V1__GET_READ_STATES_RESPONSE__INIT;
    expect_json(&r.base, "{}");
    Readstates__V1__AckResponse a = READSTATES__V1__ACK_RESPONSE__INIT;
    expect_json(&a.base, "{}");
    /* A oneof member that is set is written even when empty. */
    Readstates__V1__PingRequest ping = READSTATES__V1__PING_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_PING;
    req.ping = &ping;
    expect_json(&req.base, "{\"ping\":{}}");
}

static void test_encode_enum_and_lists(void **state)
{
    (void)state;
    Readstates__V1__Status st = READSTATES__V1__STATUS__INIT;
    st.code = READSTATES__V1__CODE__NOT_FOUND;
    st.message = "no \"such\" user";
    expect_json(&st.base, "{\"code\":\"NOT_FOUND\",\"message\":\"no \\\"such\\\" user\"}");
    uint32_t counts[] = {1, 0, 4294967295u};
    Readstates__V1__AddMentionsResponse am = READSTATES__V1__ADD_MENTIONS_RESPONSE__INIT;
    am.n_mention_counts = 3;
    am.mention_counts = counts;
    expect_json(&am.base, "{\"mentionCounts\":[1,0,4294967295]}");
}

static void test_decode_ack_request(void **state)
{
    (void)state;
    ProtobufCMessage *m = decode(&readstates__v1__ack_request__descriptor,
                                 "{\"userId\":\"1\",\"channelId\":2,"
                                 "\"messageId\":\"18446744073709551615\",\"mentionCount\":3}");
    assert_non_null(m);
    Readstates__V1__AckRequest *a = (Readstates__V1__AckRequest *)m;
    assert_int_equal(a->user_id, 1);
    assert_int_equal(a->channel_id, 2);
    assert_true(a->message_id == UINT64_MAX);
    assert_int_equal(a->mention_count, 3);
    protobuf_c_message_free_unpacked(m, NULL);

    /* Original proto names, exponent notation, null as default, unknown
     * fields ignored. */
    m = decode(&readstates__v1__ack_request__descriptor,
               "{\"user_id\":7,\"channel_id\":1e3,\"message_id\":null,"
               "\"bogus\":{\"x\":[1,2]},\"mentionCount\":\"12\"}");
    assert_non_null(m);
    a = (Readstates__V1__AckRequest *)m;
    assert_int_equal(a->user_id, 7);
    assert_int_equal(a->channel_id, 1000);
    assert_int_equal(a->message_id, 0);
    assert_int_equal(a->mention_count, 12);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &readstates__v1__ack_request__descriptor;
    expect_fail(d, "{\"userId\":true}", "user_id");
    expect_fail(d, "{\"userId\":\"-1\"}", "user_id");
    expect_fail(d, "{\"userId\":-1}", "user_id");
    expect_fail(d, "{\"userId\":1.5}", "user_id");
    expect_fail(d, "{\"userId\":\"12a\"}", "user_id");
    expect_fail(d, "{\"userId\":\"\"}", "user_id");
    expect_fail(d, "{\"userId\":\"18446744073709551616\"}", "user_id");
    expect_fail(d, "{\"mentionCount\":4294967296}", "mention_count");
    expect_fail(d, "{\"mentionCount\":\"4294967296\"}", "mention_count");
    expect_fail(d, "{\"mentionCount\":[1]}", "mention_count");
    expect_fail(d, "{\"userId\":1,\"user_id\":1}", "twice");
    expect_fail(d, "{\"userId\":1,\"userId\":2}", "malformed");
    expect_fail(d, "{\"userId\":1", "malformed");
    expect_fail(d, "[1,2]", "object");
    expect_fail(d, "", "malformed");
}

static void test_decode_lists(void **state)
{
    (void)state;
    ProtobufCMessage *m = decode(&readstates__v1__get_read_states_request__descriptor,
                                 "{\"userId\":\"9\",\"channelIds\":[\"1\",2,\"3\"]}");
    assert_non_null(m);
    Readstates__V1__GetReadStatesRequest *g = (Readstates__V1__GetReadStatesRequest *)m;
    assert_int_equal(g->n_channel_ids, 3);
    assert_int_equal(g->channel_ids[0], 1);
    assert_int_equal(g->channel_ids[2], 3);
    protobuf_c_message_free_unpacked(m, NULL);

    m = decode(&readstates__v1__bulk_ack_request__descriptor,
               "{\"userId\":\"9\",\"entries\":[{\"channelId\":\"1\",\"messageId\":\"10\"},"
               "{\"channel_id\":2,\"message_id\":20}]}");
    assert_non_null(m);
    Readstates__V1__BulkAckRequest *b = (Readstates__V1__BulkAckRequest *)m;
    assert_int_equal(b->n_entries, 2);
    assert_int_equal(b->entries[1]->channel_id, 2);
    assert_int_equal(b->entries[1]->message_id, 20);
    protobuf_c_message_free_unpacked(m, NULL);

    /* Failures part-way through a list must free what was built. */
    expect_fail(&readstates__v1__bulk_ack_request__descriptor,
                "{\"entries\":[{\"channelId\":\"1\"},{\"channelId\":\"x\"}]}", "channel_id");
    expect_fail(&readstates__v1__get_read_states_request__descriptor,
                "{\"channelIds\":[1,null]}", "channel_ids");
    expect_fail(&readstates__v1__get_read_states_request__descriptor, "{\"channelIds\":5}",
                "channel_ids");
    expect_fail(&readstates__v1__bulk_ack_request__descriptor, "{\"entries\":[1]}", "entries");
}

static void test_decode_enum(void **state)
{
    (void)state;
    ProtobufCMessage *m = decode(&readstates__v1__status__descriptor,
                                 "{\"code\":\"UNAVAILABLE\",\"message\":\"x\"}");
    assert_non_null(m);
    assert_int_equal(((Readstates__V1__Status *)m)->code, READSTATES__V1__CODE__UNAVAILABLE);
    assert_string_equal(((Readstates__V1__Status *)m)->message, "x");
    protobuf_c_message_free_unpacked(m, NULL);
    m = decode(&readstates__v1__status__descriptor, "{\"code\":5}");
    assert_non_null(m);
    assert_int_equal(((Readstates__V1__Status *)m)->code, READSTATES__V1__CODE__NOT_FOUND);
    protobuf_c_message_free_unpacked(m, NULL);
    expect_fail(&readstates__v1__status__descriptor, "{\"code\":\"NOPE\"}", "code");
    expect_fail(&readstates__v1__status__descriptor, "{\"message\":7}", "message");
}

static void test_decode_oneof(void **state)
{
    (void)state;
    ProtobufCMessage *m = decode(
        &readstates__v1__request__descriptor,
        "{\"id\":\"42\",\"bulkAck\":{\"userId\":\"3\",\"entries\":[{\"channelId\":1}]}}");
    assert_non_null(m);
    Readstates__V1__Request *r = (Readstates__V1__Request *)m;
    assert_int_equal(r->id, 42);
    assert_int_equal(r->call_case, READSTATES__V1__REQUEST__CALL_BULK_ACK);
    assert_int_equal(r->bulk_ack->user_id, 3);
    protobuf_c_message_free_unpacked(m, NULL);
    expect_fail(&readstates__v1__request__descriptor, "{\"ack\":{},\"set\":{}}", "oneof");
    expect_fail(&readstates__v1__request__descriptor, "{\"ack\":{\"userId\":\"z\"}}",
                "user_id");
    expect_fail(&readstates__v1__request__descriptor, "{\"ack\":3}", "ack");
    /* null for a member means "not set" */
    m = decode(&readstates__v1__request__descriptor, "{\"ack\":null,\"ping\":{}}");
    assert_non_null(m);
    assert_int_equal(((Readstates__V1__Request *)m)->call_case,
                     READSTATES__V1__REQUEST__CALL_PING);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* JSON -> message -> JSON -> message gives the same protobuf bytes. */
static void test_round_trip(void **state)
{
    (void)state;
    const char *in = "{\"id\":\"7\",\"addMentions\":{\"channelId\":\"11\",\"messageId\":\"99\","
                     "\"userIds\":[\"1\",\"2\",\"18446744073709551615\"],\"count\":2}}";
    ProtobufCMessage *a = decode(&readstates__v1__request__descriptor, in);
    assert_non_null(a);
    char *text = json_codec_encode(a, NULL);
    assert_non_null(text);
    assert_string_equal(text, in);
    ProtobufCMessage *b = decode(&readstates__v1__request__descriptor, text);
    assert_non_null(b);
    size_t na = protobuf_c_message_get_packed_size(a);
    size_t nb = protobuf_c_message_get_packed_size(b);
    assert_int_equal(na, nb);
    uint8_t *pa = malloc(na), *pb = malloc(nb);
    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    assert_memory_equal(pa, pb, na);
    /* And the bytes unpack to a message that encodes to the same JSON. */
    ProtobufCMessage *c =
        protobuf_c_message_unpack(&readstates__v1__request__descriptor, NULL, na, pa);
    assert_non_null(c);
    char *text2 = json_codec_encode(c, NULL);
    assert_string_equal(text2, in);
    free(text2);
    protobuf_c_message_free_unpacked(c, NULL);
    free(pa);
    free(pb);
    free(text);
    protobuf_c_message_free_unpacked(a, NULL);
    protobuf_c_message_free_unpacked(b, NULL);
}

/* Every scalar kind, on a test-only message type (codec_types.proto). */
static void test_all_types(void **state)
{
    (void)state;
    const char *in =
        "{\"i32\":-5,\"s32\":\"-6\",\"sf32\":-7,\"u32\":8,\"f32\":9,"
        "\"i64\":\"-9223372036854775808\",\"s64\":-2,\"sf64\":\"3\","
        "\"f64\":\"18446744073709551615\",\"fl\":1.5,\"db\":\"NaN\",\"flag\":true,"
        "\"data\":\"aGVsbG8=\",\"color\":\"GREEN\",\"blobs\":[\"\",\"AAE\"],"
        "\"doubles\":[1.25,\"Infinity\",\"-Infinity\",\"2.5e3\"],\"colors\":[\"RED\",2],"
        "\"names\":[\"a\",\"\xc3\xa9\"],\"inner\":{\"name\":\"x\"},\"item\":{\"name\":\"y\"}}";
    ProtobufCMessage *m = decode(&codectest__all_types__descriptor, in);
    if (m == NULL)
        fail_msg("decode: %s", errbuf);
    Codectest__AllTypes *t = (Codectest__AllTypes *)m;
    assert_int_equal(t->i32, -5);
    assert_int_equal(t->s32, -6);
    assert_int_equal(t->sf32, -7);
    assert_int_equal(t->u32, 8);
    assert_int_equal(t->f32, 9);
    assert_true(t->i64 == INT64_MIN);
    assert_true(t->s64 == -2);
    assert_true(t->sf64 == 3);
    assert_true(t->f64 == UINT64_MAX);
    assert_true(t->fl == 1.5f);
    assert_true(isnan(t->db));
    assert_true(t->flag);
    assert_int_equal(t->data.len, 5);
    assert_memory_equal(t->data.data, "hello", 5);
    assert_int_equal(t->color, CODECTEST__COLOR__GREEN);
    assert_int_equal(t->n_blobs, 2);
    assert_int_equal(t->blobs[0].len, 0);
    assert_int_equal(t->blobs[1].len, 2);
    assert_memory_equal(t->blobs[1].data, "\x00\x01", 2);
    assert_int_equal(t->n_doubles, 4);
    assert_true(t->doubles[1] == INFINITY && t->doubles[2] == -INFINITY);
    assert_true(t->doubles[3] == 2500.0);
    assert_int_equal(t->colors[1], CODECTEST__COLOR__GREEN);
    assert_string_equal(t->names[1], "\xc3\xa9");
    assert_string_equal(t->inner->name, "x");
    assert_int_equal(t->pick_case, CODECTEST__ALL_TYPES__PICK_ITEM);
    assert_string_equal(t->item->name, "y");

    const char *want =
        "{\"i32\":-5,\"s32\":-6,\"sf32\":-7,\"u32\":8,\"f32\":9,"
        "\"i64\":\"-9223372036854775808\",\"s64\":\"-2\",\"sf64\":\"3\","
        "\"f64\":\"18446744073709551615\",\"fl\":1.5,\"db\":\"NaN\",\"flag\":true,"
        "\"data\":\"aGVsbG8=\",\"color\":\"GREEN\",\"blobs\":[\"\",\"AAE=\"],"
        "\"doubles\":[1.25,\"Infinity\",\"-Infinity\",2500.0],\"colors\":[\"RED\",\"GREEN\"],"
        "\"names\":[\"a\",\"\xc3\xa9\"],\"inner\":{\"name\":\"x\"},\"item\":{\"name\":\"y\"}}";
    expect_json(m, want);
    /* protobuf bytes survive JSON both ways */
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n);
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *u =
        protobuf_c_message_unpack(&codectest__all_types__descriptor, NULL, n, buf);
    assert_non_null(u);
    expect_json(u, want);
    protobuf_c_message_free_unpacked(u, NULL);
    free(buf);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_scalar_edges(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &codectest__all_types__descriptor;
    /* URL-safe, unpadded base64 */
    ProtobufCMessage *m = decode(d, "{\"data\":\"-_8\"}");
    assert_non_null(m);
    assert_int_equal(((Codectest__AllTypes *)m)->data.len, 2);
    assert_memory_equal(((Codectest__AllTypes *)m)->data.data, "\xfb\xff", 2);
    expect_json(m, "{\"data\":\"+/8=\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    expect_fail(d, "{\"data\":\"a\"}", "data");
    expect_fail(d, "{\"data\":\"a$==\"}", "data");
    expect_fail(d, "{\"blobs\":[\"AA\",\"*\"]}", "blobs");
    expect_fail(d, "{\"i32\":2147483648}", "i32");
    expect_fail(d, "{\"i32\":-2147483649}", "i32");
    expect_fail(d, "{\"u32\":-1}", "u32");
    expect_fail(d, "{\"i64\":\"9223372036854775808\"}", "i64");
    expect_fail(d, "{\"db\":\"fast\"}", "db");
    expect_fail(d, "{\"fl\":1e39}", "fl");
    expect_fail(d, "{\"fl\":\"-1e39\"}", "fl");
    expect_fail(d, "{\"flag\":1}", "flag");
    expect_fail(d, "{\"color\":\"BLUE\"}", "color");
    expect_fail(d, "{\"colors\":[\"RED\",\"BLUE\"]}", "colors");
    expect_fail(d, "{\"text\":\"a\",\"item\":{}}", "oneof");
    expect_fail(d, "{\"inner\":{\"name\":5}}", "name");
    /* a oneof string member that is set but empty is still written */
    m = decode(d, "{\"text\":\"\",\"fl\":-0.0}");
    assert_non_null(m);
    assert_int_equal(((Codectest__AllTypes *)m)->pick_case, CODECTEST__ALL_TYPES__PICK_TEXT);
    expect_json(m, "{\"fl\":-0.0,\"text\":\"\"}");
    protobuf_c_message_free_unpacked(m, NULL);
    /* numbers at the 64-bit edges, as JSON numbers */
    m = decode(d, "{\"i64\":-9223372036854775808,\"sf64\":9223372036854775807}");
    assert_non_null(m);
    assert_true(((Codectest__AllTypes *)m)->i64 == INT64_MIN);
    assert_true(((Codectest__AllTypes *)m)->sf64 == INT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* uint64 ids take every value as a JSON number, not only as a string:
 * 2^63 and 2^64-1 (past jansson's integers) as numbers and strings, in
 * singular and repeated fields; 2^64, signed fields past int64, fractions
 * and huge literals are refused naming the field; a big number is not a
 * string, and strings that merely look like the codec's own marking stay
 * strings. */
static void test_uint64_numbers(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *d = &readstates__v1__ack_request__descriptor;
    ProtobufCMessage *m = decode(d, "{\"userId\":9223372036854775808,"
                                    "\"channelId\":18446744073709551615,"
                                    "\"messageId\":\"18446744073709551615\"}");
    assert_non_null(m);
    Readstates__V1__AckRequest *a = (Readstates__V1__AckRequest *)m;
    assert_true(a->user_id == (uint64_t)1 << 63);
    assert_true(a->channel_id == UINT64_MAX);
    assert_true(a->message_id == UINT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
    m = decode(d,
               "{\"userId\":\"9223372036854775808\", \"channelId\" : 12345678901234567890 }");
    assert_non_null(m);
    a = (Readstates__V1__AckRequest *)m;
    assert_true(a->user_id == (uint64_t)1 << 63);
    assert_true(a->channel_id == 12345678901234567890u);
    protobuf_c_message_free_unpacked(m, NULL);
    expect_fail(d, "{\"userId\":18446744073709551616}", "user_id");
    expect_fail(d, "{\"userId\":\"18446744073709551616\"}", "user_id");
    expect_fail(d, "{\"messageId\":99999999999999999999999999999999}", "message_id");
    expect_fail(d, "{\"userId\":-9223372036854775809}", "user_id");
    expect_fail(d, "{\"userId\":18446744073709551615.5}", "user_id");
    expect_fail(d, "{\"mentionCount\":18446744073709551615}", "mention_count");
    expect_fail(d, "{\"userId\":018446744073709551615}", "malformed");
    expect_fail(d, "{\"userId\":18446744073709551615", "malformed");

    /* repeated uint64 (GetReadStates channel ids) */
    m = decode(
        &readstates__v1__get_read_states_request__descriptor,
        "{\"userId\":1,\"channelIds\":[18446744073709551615,\"9223372036854775808\",3]}");
    assert_non_null(m);
    Readstates__V1__GetReadStatesRequest *g = (Readstates__V1__GetReadStatesRequest *)m;
    assert_int_equal(g->n_channel_ids, 3);
    assert_true(g->channel_ids[0] == UINT64_MAX);
    assert_true(g->channel_ids[1] == (uint64_t)1 << 63);
    assert_int_equal(g->channel_ids[2], 3);
    protobuf_c_message_free_unpacked(m, NULL);

    /* other field kinds */
    const ProtobufCMessageDescriptor *t = &codectest__all_types__descriptor;
    m = decode(t, "{\"f64\":18446744073709551615,\"db\":100000000000000000000}");
    assert_non_null(m);
    assert_true(((Codectest__AllTypes *)m)->f64 == UINT64_MAX);
    assert_true(((Codectest__AllTypes *)m)->db == 1e20);
    protobuf_c_message_free_unpacked(m, NULL);
    expect_fail(t, "{\"i64\":9223372036854775808}", "i64");
    expect_fail(t, "{\"s64\":-9223372036854775809}", "s64");
    expect_fail(t, "{\"text\":18446744073709551615}", "text");
    expect_fail(t, "{\"names\":[\"a\",18446744073709551615]}", "names");
    expect_fail(t, "{\"data\":18446744073709551615}", "data");
    expect_fail(t, "{\"color\":18446744073709551615}", "color");
    expect_fail(t, "{\"flag\":18446744073709551615}", "flag");
    /* every control-character escape in the document: still decoded right */
    m = decode(t, "{\"text\":\"\\u001f1\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007"
                  "\\u000b\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016"
                  "\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\",\"f64\":1}");
    assert_non_null(m);
    assert_int_equal(((Codectest__AllTypes *)m)->text[0], 0x1f);
    assert_int_equal(((Codectest__AllTypes *)m)->f64, 1);
    protobuf_c_message_free_unpacked(m, NULL);
    m = decode(t, "{\"text\":\"\\u001f18446744073709551615\",\"f64\":18446744073709551615}");
    assert_non_null(m);
    assert_string_equal(((Codectest__AllTypes *)m)->text, "\x1f"
                                                          "18446744073709551615");
    assert_true(((Codectest__AllTypes *)m)->f64 == UINT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
    /* a big number inside a string is text, not a number */
    m = decode(t, "{\"text\":\"x 18446744073709551615 \\\" 18446744073709551616\"}");
    assert_non_null(m);
    assert_string_equal(((Codectest__AllTypes *)m)->text,
                        "x 18446744073709551615 \" 18446744073709551616");
    protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_encode_ack_response),
        cmocka_unit_test(test_encode_defaults_omitted),
        cmocka_unit_test(test_encode_enum_and_lists),
        cmocka_unit_test(test_decode_ack_request),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_decode_lists),
        cmocka_unit_test(test_decode_enum),
        cmocka_unit_test(test_decode_oneof),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_scalar_edges),
        cmocka_unit_test(test_uint64_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
