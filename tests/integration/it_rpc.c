/*
 * it_rpc.c: every RPC and every semantic rule of the contract, through the
 * client library, against one real memory-only readstated.
 *
 * Each test uses its own user ids, so the tests do not depend on each
 * other's order.
 */
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

static const rs_client_state *find_state(const rs_client_states *s, uint64_t channel)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->states[i].channel_id == channel)
            return &s->states[i];
    return NULL;
}

static uint64_t user_version(rs_client *c, uint64_t user)
{
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, user, NULL, 0, &s));
    uint64_t v = s.user_version;
    rs_client_states_free(&s);
    return v;
}

static void test_ping(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    uint64_t server_ms = 0;
    char version[64] = "";
    it_assert_ok(c, rs_client_ping(c, &server_ms, version, sizeof(version)));
    assert_string_equal(version, RS_VERSION_STRING);
    uint64_t now = rs_wall_ms();
    /* The same machine's clock: within a minute either way. */
    assert_true(server_ms + 60000 > now && server_ms < now + 60000);
    rs_client_close(c);
}

static void test_ack_forward_only(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1001;
    rs_client_ack_result r;

    it_assert_ok(c, rs_client_ack(c, u, 7, 100, 2, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.channel_id, 7);
    assert_int_equal(r.state.last_message_id, 100);
    assert_int_equal(r.state.mention_count, 2);
    assert_int_equal(r.state.flags, 0);
    assert_int_equal(r.state.version, 1);
    assert_int_equal(r.user_version, 1);

    /* Older and equal acks change nothing and answer the current state. */
    for (uint64_t msg = 50; msg <= 100; msg += 50) {
        it_assert_ok(c, rs_client_ack(c, u, 7, msg, 9, &r));
        assert_false(r.applied);
        assert_int_equal(r.state.last_message_id, 100);
        assert_int_equal(r.state.mention_count, 2);
        assert_int_equal(r.state.version, 1);
        assert_int_equal(r.user_version, 1);
    }

    /* A newer ack applies; mention_count is the request's (0 when unset). */
    it_assert_ok(c, rs_client_ack(c, u, 7, 101, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 101);
    assert_int_equal(r.state.mention_count, 0);
    assert_int_equal(r.state.version, 2);
    assert_int_equal(r.user_version, 2);

    /* An ack of message 0 on a missing state is a no-op: no state made. */
    it_assert_ok(c, rs_client_ack(c, u, 8, 0, 0, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.channel_id, 8);
    assert_int_equal(r.state.last_message_id, 0);
    assert_int_equal(r.user_version, 2);

    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.user_version, 2);
    assert_int_equal(s.states[0].channel_id, 7);
    assert_int_equal(s.states[0].last_message_id, 101);
    assert_int_equal(s.states[0].version, 2);
    rs_client_states_free(&s);
    rs_client_close(c);
}

static void test_set_manual(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1002;
    rs_client_ack_result r;

    it_assert_ok(c, rs_client_ack(c, u, 3, 500, 0, &r));
    assert_int_equal(r.user_version, 1);

    /* Mark unread: backwards, exact, MANUAL set, version bumps. */
    it_assert_ok(c, rs_client_set(c, u, 3, 450, 4, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 450);
    assert_int_equal(r.state.mention_count, 4);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    assert_int_equal(r.state.version, 2);
    assert_int_equal(r.user_version, 2);

    /* An identical set is a no-op. */
    it_assert_ok(c, rs_client_set(c, u, 3, 450, 4, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.version, 2);
    assert_int_equal(r.user_version, 2);

    /* Same message, other count: applies. Forward works too. */
    it_assert_ok(c, rs_client_set(c, u, 3, 450, 1, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.mention_count, 1);
    assert_int_equal(r.user_version, 3);
    it_assert_ok(c, rs_client_set(c, u, 3, 600, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 600);
    assert_int_equal(r.user_version, 4);

    /* Set on a missing state creates it. */
    it_assert_ok(c, rs_client_set(c, u, 4, 10, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    assert_int_equal(r.user_version, 5);

    /* An older ack does nothing; a newer ack clears MANUAL. */
    it_assert_ok(c, rs_client_ack(c, u, 3, 599, 0, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    it_assert_ok(c, rs_client_ack(c, u, 3, 601, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.flags, 0);
    assert_int_equal(r.state.version, 6);
    assert_int_equal(r.user_version, 6);
    rs_client_close(c);
}

static void test_bulk_ack_in_order(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1003;
    const rs_client_ack_entry entries[] = {
        {1, 10}, /* applies: v1 */
        {2, 5},  /* applies: v2 */
        {1, 8},  /* older: no-op */
        {1, 12}, /* applies: v3 */
        {3, 0},  /* missing state, message 0: no-op */
        {2, 5},  /* equal: no-op */
    };
    rs_client_states s;
    it_assert_ok(c, rs_client_bulk_ack(c, u, entries, RS_ARRAY_LEN(entries), &s));
    assert_int_equal(s.applied, 3);
    assert_int_equal(s.user_version, 3);
    assert_int_equal(s.n, RS_ARRAY_LEN(entries));
    const uint64_t want_msg[] = {10, 5, 10, 12, 0, 5};
    const uint64_t want_ver[] = {1, 2, 1, 3, 0, 2};
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.states[i].channel_id, entries[i].channel_id);
        assert_int_equal(s.states[i].last_message_id, want_msg[i]);
        assert_int_equal(s.states[i].version, want_ver[i]);
    }
    rs_client_states_free(&s);

    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.n, 2);
    assert_int_equal(s.user_version, 3);
    assert_int_equal(find_state(&s, 1)->last_message_id, 12);
    assert_int_equal(find_state(&s, 2)->last_message_id, 5);
    assert_null(find_state(&s, 3));
    rs_client_states_free(&s);

    /* An empty bulk ack changes nothing. */
    it_assert_ok(c, rs_client_bulk_ack(c, u, NULL, 0, &s));
    assert_int_equal(s.applied, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.user_version, 3);
    rs_client_states_free(&s);
    rs_client_close(c);
}

static void test_mentions_past_cursor_only(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t a = 1004, b = 1005, d = 1006;
    const uint64_t ch = 77;
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, a, ch, 100, 0, &r));

    /* Message 50 is already read by a: nothing for a; b's state is made. */
    uint64_t users[] = {a, b};
    uint32_t counts[3];
    it_assert_ok(c, rs_client_add_mentions(c, ch, 50, users, 2, 0, counts));
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 1); /* count 0 means 1 */
    assert_int_equal(user_version(c, a), 1);
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, b, NULL, 0, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.states[0].channel_id, ch);
    assert_int_equal(s.states[0].last_message_id, 0);
    assert_int_equal(s.states[0].mention_count, 1);
    assert_int_equal(s.states[0].version, 1);
    assert_int_equal(s.user_version, 1);
    rs_client_states_free(&s);

    /* Message 150 is past both cursors: count 3 each. */
    it_assert_ok(c, rs_client_add_mentions(c, ch, 150, users, 2, 3, counts));
    assert_int_equal(counts[0], 3);
    assert_int_equal(counts[1], 4);
    assert_int_equal(user_version(c, a), 2);
    assert_int_equal(user_version(c, b), 2);

    /* Reading past the mention clears it (ack sets the count). */
    it_assert_ok(c, rs_client_ack(c, a, ch, 150, 0, &r));
    assert_int_equal(r.state.mention_count, 0);
    it_assert_ok(c, rs_client_add_mentions(c, ch, 150, users, 1, 5, counts));
    assert_int_equal(counts[0], 0);

    /* Saturation at 2^32-1. */
    it_assert_ok(c, rs_client_set(c, d, ch, 1, UINT32_MAX - 1, &r));
    uint64_t du[] = {d};
    it_assert_ok(c, rs_client_add_mentions(c, ch, 2, du, 1, 5, counts));
    assert_int_equal(counts[0], UINT32_MAX);
    it_assert_ok(c, rs_client_add_mentions(c, ch, 3, du, 1, UINT32_MAX, counts));
    assert_int_equal(counts[0], UINT32_MAX);
    it_assert_ok(c, rs_client_get(c, d, NULL, 0, &s));
    assert_int_equal(s.states[0].mention_count, UINT32_MAX);
    assert_int_equal(s.states[0].last_message_id, 1);
    rs_client_states_free(&s);
    rs_client_close(c);
}

/* AddMentions for the largest list: counts aligned with user ids. */
static void test_mentions_many_users_aligned(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    enum { N = 1000 };
    const uint64_t base = 200000, ch = 5;
    uint64_t *users = calloc(N, sizeof(*users));
    uint32_t *counts = calloc(N, sizeof(*counts));
    assert_non_null(users);
    assert_non_null(counts);
    /* Users in a shuffled order; every third one has read past message 50
     * with a distinct remaining mention count. */
    for (size_t i = 0; i < N; i++)
        users[i] = base + (i * 7919) % N;
    for (size_t i = 0; i < N; i++) {
        uint64_t u = users[i];
        if (u % 3 == 0) {
            Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
            ack.user_id = u;
            ack.channel_id = ch;
            ack.message_id = 60;
            ack.mention_count = (uint32_t)(u % 11);
            Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
            req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
            req.ack = &ack;
            it_assert_ok(c, rs_client_send(c, &req));
        }
    }
    it_assert_ok(c, rs_client_flush(c));
    for (size_t i = 0; i < N; i++) {
        if (users[i] % 3 != 0)
            continue;
        Readstates__V1__Response *resp = NULL;
        it_assert_ok(c, rs_client_recv(c, &resp, IT_TIMEOUT_MS));
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        rs_client_response_free(resp);
    }
    it_assert_ok(c, rs_client_add_mentions(c, ch, 50, users, N, 2, counts));
    for (size_t i = 0; i < N; i++) {
        uint32_t want = users[i] % 3 == 0 ? (uint32_t)(users[i] % 11) : 2;
        if (counts[i] != want)
            fail_msg("user %llu: mention count %u, want %u", (unsigned long long)users[i],
                     counts[i], want);
    }
    free(users);
    free(counts);
    rs_client_close(c);
}

static void test_versions(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1007, other = 1008;
    rs_client_ack_result r;
    assert_int_equal(user_version(c, u), 0);
    for (uint64_t i = 1; i <= 10; i++) {
        it_assert_ok(c, rs_client_ack(c, u, 100 + i % 3, i * 10, 0, &r));
        assert_true(r.applied);
        assert_int_equal(r.state.version, i);
        assert_int_equal(r.user_version, i);
    }
    /* Another user's changes do not touch this user's version. */
    it_assert_ok(c, rs_client_ack(c, other, 100, 1, 0, &r));
    assert_int_equal(r.user_version, 1);
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.user_version, 10);
    assert_int_equal(s.n, 3);
    /* Each state carries the version of its own last change. */
    assert_int_equal(find_state(&s, 100)->version, 9);  /* i = 9 */
    assert_int_equal(find_state(&s, 101)->version, 10); /* i = 10 */
    assert_int_equal(find_state(&s, 102)->version, 8);  /* i = 8 */
    rs_client_states_free(&s);
    rs_client_close(c);
}

static void test_get_sorted_and_filtered(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1009;
    const uint64_t channels[] = {50, 10, 30, 9000000000000000000ull, 20, 40};
    rs_client_ack_result r;
    for (size_t i = 0; i < RS_ARRAY_LEN(channels); i++)
        it_assert_ok(c, rs_client_ack(c, u, channels[i], 1000 + i, 0, &r));

    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.n, RS_ARRAY_LEN(channels));
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.states[i - 1].channel_id < s.states[i].channel_id);
    assert_int_equal(s.states[s.n - 1].channel_id, 9000000000000000000ull);
    assert_int_equal(s.user_version, RS_ARRAY_LEN(channels));
    rs_client_states_free(&s);

    /* Requested channels only, sorted, missing ones left out. */
    const uint64_t want[] = {40, 999, 10, 30};
    it_assert_ok(c, rs_client_get(c, u, want, RS_ARRAY_LEN(want), &s));
    assert_int_equal(s.n, 3);
    assert_int_equal(s.states[0].channel_id, 10);
    assert_int_equal(s.states[1].channel_id, 30);
    assert_int_equal(s.states[2].channel_id, 40);
    assert_int_equal(s.states[0].last_message_id, 1001);
    assert_int_equal(s.user_version, RS_ARRAY_LEN(channels));
    rs_client_states_free(&s);

    /* A user with nothing: empty list, version 0. */
    it_assert_ok(c, rs_client_get(c, 987654321, NULL, 0, &s));
    assert_int_equal(s.n, 0);
    assert_int_equal(s.user_version, 0);
    rs_client_states_free(&s);
    rs_client_close(c);
}

static void test_delete_listed_and_all(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1010;
    rs_client_ack_result r;
    for (uint64_t ch = 1; ch <= 5; ch++)
        it_assert_ok(c, rs_client_ack(c, u, ch, 10, 0, &r));
    assert_int_equal(r.user_version, 5);

    uint32_t deleted = 99;
    uint64_t v = 0;
    const uint64_t some[] = {2, 4, 999};
    it_assert_ok(c, rs_client_delete(c, u, some, RS_ARRAY_LEN(some), false, &deleted, &v));
    assert_int_equal(deleted, 2);
    assert_int_equal(v, 6); /* once, for both */

    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.n, 3);
    assert_int_equal(s.states[0].channel_id, 1);
    assert_int_equal(s.states[1].channel_id, 3);
    assert_int_equal(s.states[2].channel_id, 5);
    assert_int_equal(s.user_version, 6);
    rs_client_states_free(&s);

    /* Deleting what is gone changes nothing. */
    it_assert_ok(c, rs_client_delete(c, u, some, 1, false, &deleted, &v));
    assert_int_equal(deleted, 0);
    assert_int_equal(v, 6);

    it_assert_ok(c, rs_client_delete(c, u, NULL, 0, true, &deleted, &v));
    assert_int_equal(deleted, 3);
    assert_int_equal(v, 7);
    it_assert_ok(c, rs_client_get(c, u, NULL, 0, &s));
    assert_int_equal(s.n, 0);
    assert_int_equal(s.user_version, 7); /* the version deletions left */
    rs_client_states_free(&s);

    it_assert_ok(c, rs_client_delete(c, u, NULL, 0, true, &deleted, &v));
    assert_int_equal(deleted, 0);
    assert_int_equal(v, 7);

    /* The version never goes down: the next change continues from it. */
    it_assert_ok(c, rs_client_ack(c, u, 2, 1, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.version, 8);
    assert_int_equal(r.user_version, 8);
    rs_client_close(c);
}

static void test_users_are_independent(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, 1011, 1, 100, 0, &r));
    it_assert_ok(c, rs_client_ack(c, 1012, 1, 50, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 50);
    uint32_t deleted;
    it_assert_ok(c, rs_client_delete(c, 1012, NULL, 0, true, &deleted, NULL));
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, 1011, NULL, 0, &s));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.states[0].last_message_id, 100);
    rs_client_states_free(&s);
    rs_client_close(c);
}

/* message_id 0 means "before any message": an Ack of 0 never applies (it
 * answers the current state), SetReadState to 0 marks the whole channel
 * unread, a BulkAck entry of 0 applies nothing, and a mention in message 0
 * counts nothing. None of them is an invalid argument. */
static void test_message_id_zero(void **state)
{
    it_ctx *ctx = *state;
    rs_client *c = it_connect(ctx);
    const uint64_t u = 1020;
    rs_client_ack_result r;

    it_assert_ok(c, rs_client_ack(c, u, 5, 100, 3, &r));
    assert_int_equal(r.user_version, 1);
    it_assert_ok(c, rs_client_ack(c, u, 5, 0, 7, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.channel_id, 5);
    assert_int_equal(r.state.last_message_id, 100);
    assert_int_equal(r.state.mention_count, 3);
    assert_int_equal(r.state.version, 1);
    assert_int_equal(r.user_version, 1);

    /* SetReadState to 0: the whole channel unread, MANUAL, version bumps. */
    it_assert_ok(c, rs_client_set(c, u, 5, 0, 2, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 0);
    assert_int_equal(r.state.mention_count, 2);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    assert_int_equal(r.state.version, 2);
    assert_int_equal(r.user_version, 2);
    /* an Ack of 0 does not apply even at 0; the first message does */
    it_assert_ok(c, rs_client_ack(c, u, 5, 0, 0, &r));
    assert_false(r.applied);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    assert_int_equal(r.state.mention_count, 2);
    assert_int_equal(r.user_version, 2);
    it_assert_ok(c, rs_client_ack(c, u, 5, 1, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.last_message_id, 1);
    assert_int_equal(r.state.flags, 0);
    assert_int_equal(r.user_version, 3);

    /* SetReadState to 0 on a missing state creates it, unread. */
    it_assert_ok(c, rs_client_set(c, u, 6, 0, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.channel_id, 6);
    assert_int_equal(r.state.last_message_id, 0);
    assert_int_equal(r.state.flags, RS_CLIENT_FLAG_MANUAL);
    assert_int_equal(r.user_version, 4);

    /* BulkAck entries of 0 apply nothing; the others do. */
    rs_client_ack_entry entries[] = {{5, 0}, {7, 0}, {7, 9}};
    rs_client_states s;
    it_assert_ok(c, rs_client_bulk_ack(c, u, entries, RS_ARRAY_LEN(entries), &s));
    assert_int_equal(s.applied, 1);
    assert_int_equal(s.states[0].last_message_id, 1);
    assert_int_equal(s.states[1].last_message_id, 0);
    assert_int_equal(s.states[2].last_message_id, 9);
    assert_int_equal(s.user_version, 5);
    rs_client_states_free(&s);

    /* A mention in message 0 counts nothing, not even on a missing state. */
    uint64_t users[] = {u, 1021};
    uint32_t counts[2] = {99, 99};
    it_assert_ok(c, rs_client_add_mentions(c, 6, 0, users, 2, 4, counts));
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 0);
    assert_int_equal(user_version(c, u), 5);
    assert_int_equal(user_version(c, 1021), 0);
    it_assert_ok(c, rs_client_get(c, 1021, NULL, 0, &s));
    assert_int_equal(s.n, 0);
    rs_client_states_free(&s);
    rs_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_ack_forward_only),
        cmocka_unit_test(test_set_manual),
        cmocka_unit_test(test_bulk_ack_in_order),
        cmocka_unit_test(test_mentions_past_cursor_only),
        cmocka_unit_test(test_mentions_many_users_aligned),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_get_sorted_and_filtered),
        cmocka_unit_test(test_delete_listed_and_all),
        cmocka_unit_test(test_users_are_independent),
        cmocka_unit_test(test_message_id_zero),
    };
    return cmocka_run_group_tests(tests, it_group_setup, it_group_teardown);
}
