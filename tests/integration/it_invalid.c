/*
 * it_invalid.c: every invalid argument of the contract gets
 * INVALID_ARGUMENT with a message naming the field, changes nothing, and
 * leaves the connection usable: zero user/channel ids, zero ids inside
 * lists (message_id 0 is valid: "before any message"), lists over 1000 entries, a request with
 * no call, a Watch without users. Lists of exactly 1000 entries are accepted.
 */
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define LIMIT 1000

/* The user whose state every rejected request must leave untouched. */
#define U  3001
#define CH 10

/* Send req and expect INVALID_ARGUMENT whose message contains `field`. */
static void expect_invalid(rs_client *c, Readstates__V1__Request *req, const char *field)
{
    Readstates__V1__Response *resp = NULL;
    it_assert_ok(c, rs_client_call(c, req, &resp));
    assert_int_equal(resp->id, req->id);
    if (rs_client_response_status(resp) != RS_ERR_INVALID)
        fail_msg("expected INVALID_ARGUMENT naming %s, got %s", field,
                 rs_status_name(rs_client_response_status(resp)));
    assert_non_null(resp->status->message);
    if (strstr(resp->status->message, field) == NULL)
        fail_msg("message \"%s\" does not name %s", resp->status->message, field);
    assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT__NOT_SET);
    rs_client_response_free(resp);
    req->id = 0; /* let the next send pick a fresh id */
}

/* U has exactly one state (CH at 100, version 1) and version 1. */
static void assert_unchanged(rs_client *c)
{
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, U, NULL, 0, &s));
    assert_int_equal(s.user_version, 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.states[0].channel_id, CH);
    assert_int_equal(s.states[0].last_message_id, 100);
    assert_int_equal(s.states[0].mention_count, 0);
    rs_client_states_free(&s);
    it_assert_ok(c, rs_client_ping(c, NULL, NULL, 0));
}

static int setup_user(void **state)
{
    it_ctx *ctx = *state;
    char err[RS_CLIENT_ERRLEN];
    rs_client *c =
        rs_client_connect("127.0.0.1", ctx->srv.port, IT_TIMEOUT_MS, err, sizeof(err));
    if (c == NULL)
        return -1;
    rs_client_ack_result r;
    rs_status st = rs_client_ack(c, U, CH, 100, 0, &r);
    rs_client_close(c);
    return st == RS_OK && r.user_version == 1 ? 0 : -1;
}

static int setup(void **state)
{
    if (it_group_setup(state) != 0)
        return -1;
    return setup_user(state);
}

static uint64_t *ids_array(size_t n, uint64_t first)
{
    uint64_t *ids = calloc(n, sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = first + i;
    return ids;
}

static void test_ack_and_set_zero_ids(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req.ack = &ack;
    ack.user_id = 0;
    ack.channel_id = CH;
    ack.message_id = 200;
    expect_invalid(c, &req, "user_id");
    ack.user_id = U;
    ack.channel_id = 0;
    expect_invalid(c, &req, "channel_id");

    Readstates__V1__SetReadStateRequest set = READSTATES__V1__SET_READ_STATE_REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_SET;
    req.set = &set;
    set.user_id = 0;
    set.channel_id = CH;
    set.message_id = 1;
    expect_invalid(c, &req, "user_id");
    set.user_id = U;
    set.channel_id = 0;
    expect_invalid(c, &req, "channel_id");

    /* message_id 0 is valid ("before any message"): an Ack of it answers
     * the current state and applies nothing. */
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, U, CH, 0, 0, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.last_message_id, 100);

    /* Through the blocking API: the message is in rs_client_errmsg. */
    assert_int_equal(rs_client_ack(c, 0, CH, 1, 0, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "INVALID_ARGUMENT"));
    assert_non_null(strstr(rs_client_errmsg(c), "user_id"));
    assert_int_equal(rs_client_err(c), RS_OK); /* not sticky */
    assert_unchanged(c);
    rs_client_close(c);
}

static void test_bulk_ack_invalid(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    rs_client_ack_entry good_then_bad[] = {{CH, 500}, {0, 600}};
    rs_client_states s;
    assert_int_equal(rs_client_bulk_ack(c, 0, good_then_bad, 1, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_id"));
    /* The valid first entry must not apply either. */
    assert_int_equal(rs_client_bulk_ack(c, U, good_then_bad, 2, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_id"));
    assert_non_null(strstr(rs_client_errmsg(c), "entries"));

    rs_client_ack_entry *many = calloc(LIMIT + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= LIMIT; i++) {
        many[i].channel_id = CH;
        many[i].message_id = 1000 + i;
    }
    assert_int_equal(rs_client_bulk_ack(c, U, many, LIMIT + 1, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "entries"));
    assert_unchanged(c);

    /* Exactly the limit is fine (on another user). */
    it_assert_ok(c, rs_client_bulk_ack(c, U + 1, many, LIMIT, &s));
    assert_int_equal(s.applied, LIMIT);
    assert_int_equal(s.user_version, LIMIT);
    rs_client_states_free(&s);
    free(many);
    rs_client_close(c);
}

static void test_add_mentions_invalid(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    uint32_t counts[2];
    uint64_t users[] = {U, 0};
    assert_int_equal(rs_client_add_mentions(c, 0, 200, users, 1, 1, counts), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_id"));
    assert_int_equal(rs_client_add_mentions(c, CH, 200, users, 2, 1, counts), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));
    assert_int_equal(rs_client_add_mentions(c, CH, 200, NULL, 0, 1, counts), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));

    uint64_t *many = ids_array(LIMIT + 1, U);
    uint32_t *many_counts = calloc(LIMIT + 1, sizeof(*many_counts));
    assert_non_null(many_counts);
    assert_int_equal(rs_client_add_mentions(c, CH, 200, many, LIMIT + 1, 1, many_counts),
                     RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));
    assert_unchanged(c);

    /* Exactly the limit is fine (users other than U). */
    for (size_t i = 0; i < LIMIT; i++)
        many[i] = 500000 + i;
    it_assert_ok(c, rs_client_add_mentions(c, CH, 200, many, LIMIT, 1, many_counts));
    for (size_t i = 0; i < LIMIT; i++)
        assert_int_equal(many_counts[i], 1);
    free(many);
    free(many_counts);
    rs_client_close(c);
}

static void test_get_and_delete_invalid(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    rs_client_states s;
    uint64_t chans[] = {CH, 0};
    assert_int_equal(rs_client_get(c, 0, NULL, 0, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_id"));
    assert_int_equal(rs_client_get(c, U, chans, 2, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_ids"));

    uint32_t deleted = 0;
    assert_int_equal(rs_client_delete(c, 0, NULL, 0, true, &deleted, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_id"));
    /* CH is listed before the zero: it must not be deleted. */
    assert_int_equal(rs_client_delete(c, U, chans, 2, false, &deleted, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_ids"));

    uint64_t *many = ids_array(LIMIT + 1, 1);
    assert_int_equal(rs_client_get(c, U, many, LIMIT + 1, &s), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_ids"));
    assert_int_equal(rs_client_delete(c, U, many, LIMIT + 1, false, &deleted, NULL),
                     RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "channel_ids"));
    assert_unchanged(c);

    /* Exactly the limit is fine; CH (10) is among 1..1000. */
    it_assert_ok(c, rs_client_get(c, U, many, LIMIT, &s));
    assert_int_equal(s.n, 1);
    rs_client_states_free(&s);
    free(many);
    rs_client_close(c);
}

static void test_watch_and_no_call(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    assert_int_equal(rs_client_watch(c, NULL, 0, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));
    uint64_t users[] = {U, 0};
    assert_int_equal(rs_client_watch(c, users, 2, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));
    uint64_t *many = ids_array(LIMIT + 1, 1);
    assert_int_equal(rs_client_watch(c, many, LIMIT + 1, NULL), RS_ERR_INVALID);
    assert_non_null(strstr(rs_client_errmsg(c), "user_ids"));
    free(many);

    /* A Request with no call at all. */
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.id = 424242;
    expect_invalid(c, &req, "call");
    assert_unchanged(c);
    rs_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_and_set_zero_ids),
        cmocka_unit_test(test_bulk_ack_invalid),
        cmocka_unit_test(test_add_mentions_invalid),
        cmocka_unit_test(test_get_and_delete_invalid),
        cmocka_unit_test(test_watch_and_no_call),
    };
    return cmocka_run_group_tests(tests, setup, it_group_teardown);
}
