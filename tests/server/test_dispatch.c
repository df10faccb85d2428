/*
 * test_dispatch.c: dispatch and Watch on a real rs_server (memory-
 * only engine, no sockets), through capturing sinks: every call's answer,
 * the validation messages, AddMentions' duplicates, Get's ordering, Watch's
 * events, ids and removal, and the in-flight and arena bookkeeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"
#include "frame.h"
#include "server.h"
#include "watch.h"

#define CAP_MAX 64

/* A sink that keeps a decoded copy of everything it is sent. */
typedef struct cap_sink {
    rs_sink sink;
    Readstates__V1__Response *got[CAP_MAX];
    int n;
    bool released;
} cap_sink;

static void cap_reply(rs_sink *sink, const Readstates__V1__Response *resp)
{
    cap_sink *c = (cap_sink *)sink;
    size_t n = protobuf_c_message_get_packed_size(&resp->base);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    protobuf_c_message_pack(&resp->base, buf);
    assert_true(c->n < CAP_MAX);
    c->got[c->n++] = frame_decode_response(buf, n, NULL);
    free(buf);
}

static void cap_release(rs_sink *sink)
{
    ((cap_sink *)sink)->released = true;
}

static const rs_sink_ops cap_stream_ops = {cap_reply, cap_release, true};
static const rs_sink_ops cap_unary_ops = {cap_reply, cap_release, false};

static void cap_init(cap_sink *c, bool streams)
{
    memset(c, 0, sizeof(*c));
    c->sink.ops = streams ? &cap_stream_ops : &cap_unary_ops;
    c->sink.refs = 1;
}

static void cap_clear(cap_sink *c)
{
    for (int i = 0; i < c->n; i++)
        readstates__v1__response__free_unpacked(c->got[i], NULL);
    c->n = 0;
}

typedef struct fixture {
    rs_server s;
    cap_sink a, w;
    uint64_t next_id;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    rs_config cfg;
    config_defaults(&cfg);
    strcpy(cfg.http, "off");
    cfg.log_level = RS_LOG_OFF;
    cfg.max_list = 10;
    cfg.max_watches = 505;
    if (server_init(&f->s, &cfg) != 0)
        return -1;
    cap_init(&f->a, true);
    cap_init(&f->w, true);
    f->next_id = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    watch_remove_sink(&f->s, &f->a.sink);
    watch_remove_sink(&f->s, &f->w.sink);
    cap_clear(&f->a);
    cap_clear(&f->w);
    server_destroy(&f->s);
    free(f);
    return 0;
}

/* Dispatch one request on sink c; return its (only) new answer. */
static Readstates__V1__Response *run(fixture *f, cap_sink *c, Readstates__V1__Request *r)
{
    r->id = f->next_id++;
    int before = c->n;
    dispatch_request(&f->s, &c->sink, r, rs_now_ns());
    assert_int_equal(c->sink.inflight, 0);
    assert_int_equal(f->s.loop.inflight, 0);
    assert_int_equal(f->s.loop.arena_depth, 0);
    /* One answer, after any Watch events the call itself caused. */
    Readstates__V1__Response *resp = NULL;
    for (int i = before; i < c->n; i++) {
        if (c->got[i]->result_case != READSTATES__V1__RESPONSE__RESULT_EVENT) {
            assert_null(resp);
            resp = c->got[i];
        }
    }
    assert_non_null(resp);
    assert_int_equal(resp->id, r->id);
    assert_non_null(resp->status);
    return resp;
}

static Readstates__V1__Response *ack(fixture *f, uint64_t u, uint64_t ch, uint64_t m,
                                     uint32_t mc)
{
    Readstates__V1__AckRequest a = READSTATES__V1__ACK_REQUEST__INIT;
    a.user_id = u;
    a.channel_id = ch;
    a.message_id = m;
    a.mention_count = mc;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    r.ack = &a;
    return run(f, &f->a, &r);
}

static Readstates__V1__Response *get(fixture *f, uint64_t u, uint64_t *ids, size_t n)
{
    Readstates__V1__GetReadStatesRequest g = READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
    g.user_id = u;
    g.channel_ids = ids;
    g.n_channel_ids = n;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_GET;
    r.get = &g;
    return run(f, &f->a, &r);
}

static void test_ping_ack_get(void **state)
{
    fixture *f = *state;
    Readstates__V1__PingRequest pr = READSTATES__V1__PING_REQUEST__INIT;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_PING;
    r.ping = &pr;
    Readstates__V1__Response *p = run(f, &f->a, &r);
    assert_int_equal(p->result_case, READSTATES__V1__RESPONSE__RESULT_PING);
    assert_string_equal(p->ping->server_version, RS_VERSION_STRING);
    assert_true(p->ping->server_time_ms > 0);

    p = ack(f, 1, 30, 100, 4);
    assert_int_equal(p->status->code, 0);
    assert_true(p->ack->applied);
    assert_int_equal(p->ack->user_version, 1);
    assert_int_equal(p->ack->state->mention_count, 4);
    p = ack(f, 1, 30, 100, 0); /* equal: no-op */
    assert_false(p->ack->applied);
    assert_int_equal(p->ack->state->mention_count, 4);
    p = ack(f, 1, 10, 5, 0);
    p = ack(f, 1, 20, 5, 0);
    assert_int_equal(p->ack->user_version, 3);

    p = get(f, 1, NULL, 0);
    assert_int_equal(p->get->n_states, 3);
    assert_int_equal(p->get->states[0]->channel_id, 10);
    assert_int_equal(p->get->states[1]->channel_id, 20);
    assert_int_equal(p->get->states[2]->channel_id, 30);
    assert_int_equal(p->get->user_version, 3);
    uint64_t ids[] = {30, 99, 10, 30};
    p = get(f, 1, ids, 4);
    assert_int_equal(p->get->n_states, 2);
    assert_int_equal(p->get->states[0]->channel_id, 10);
    assert_int_equal(p->get->states[1]->channel_id, 30);

    assert_int_equal(f->s.proc.metrics.method[RS_METHOD_ACK].count, 4);
    assert_int_equal(f->s.proc.metrics.method[RS_METHOD_ACK].by_code[0], 4);
    assert_int_equal(f->s.proc.metrics.method[RS_METHOD_GET].count, 2);
}

static void expect_invalid(fixture *f, Readstates__V1__Request *r, const char *needle)
{
    Readstates__V1__Response *p = run(f, &f->a, r);
    assert_int_equal(p->status->code, RS_ERR_INVALID);
    if (strstr(p->status->message, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", p->status->message, needle);
}

static void test_validation(void **state)
{
    fixture *f = *state;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    expect_invalid(f, &r, "request has no call set");

    Readstates__V1__AckRequest a = READSTATES__V1__ACK_REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    r.ack = &a;
    expect_invalid(f, &r, "ack.user_id must be non-zero");
    a.user_id = 1;
    expect_invalid(f, &r, "ack.channel_id must be non-zero");

    Readstates__V1__AckEntry e = READSTATES__V1__ACK_ENTRY__INIT;
    Readstates__V1__AckEntry *ents[11];
    for (int i = 0; i < 11; i++)
        ents[i] = &e;
    e.channel_id = 1;
    Readstates__V1__BulkAckRequest b = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    b.user_id = 1;
    b.entries = ents;
    b.n_entries = 11;
    r.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
    r.bulk_ack = &b;
    expect_invalid(f, &r, "bulk_ack.entries has 11 entries (max 10)");

    uint64_t users[] = {1, 2, 0};
    Readstates__V1__AddMentionsRequest am = READSTATES__V1__ADD_MENTIONS_REQUEST__INIT;
    am.channel_id = 5;
    r.call_case = READSTATES__V1__REQUEST__CALL_ADD_MENTIONS;
    r.add_mentions = &am;
    expect_invalid(f, &r, "add_mentions.user_ids must not be empty");
    am.user_ids = users;
    am.n_user_ids = 3;
    expect_invalid(f, &r, "add_mentions.user_ids[2] must be non-zero");

    Readstates__V1__WatchRequest w = READSTATES__V1__WATCH_REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_WATCH;
    r.watch = &w;
    expect_invalid(f, &r, "watch.user_ids must not be empty");

    Readstates__V1__DeleteReadStatesRequest d =
        READSTATES__V1__DELETE_READ_STATES_REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_DELETE;
    r.delete_ = &d;
    expect_invalid(f, &r, "delete.user_id must be non-zero");
    assert_int_equal(f->s.proc.metrics.method[RS_METHOD_INVALID].by_code[RS_ERR_INVALID], 1);

    /* nothing was changed by the rejected requests */
    Readstates__V1__Response *p = get(f, 1, NULL, 0);
    assert_int_equal(p->get->n_states, 0);
    assert_int_equal(p->get->user_version, 0);
}

static void test_set_bulk_delete(void **state)
{
    fixture *f = *state;
    Readstates__V1__SetReadStateRequest sr = READSTATES__V1__SET_READ_STATE_REQUEST__INIT;
    sr.user_id = 2;
    sr.channel_id = 7;
    sr.message_id = 50;
    sr.mention_count = 2;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_SET;
    r.set = &sr;
    Readstates__V1__Response *p = run(f, &f->a, &r);
    assert_int_equal(p->result_case, READSTATES__V1__RESPONSE__RESULT_SET);
    assert_true(p->set->applied);
    assert_int_equal(p->set->state->flags, RS_STATE_MANUAL);

    Readstates__V1__AckEntry e1 = READSTATES__V1__ACK_ENTRY__INIT;
    Readstates__V1__AckEntry e2 = READSTATES__V1__ACK_ENTRY__INIT;
    e1.channel_id = 7;
    e1.message_id = 40; /* older than the manual 50: no-op */
    e2.channel_id = 8;
    e2.message_id = 9;
    Readstates__V1__AckEntry *ents[] = {&e1, &e2};
    Readstates__V1__BulkAckRequest b = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    b.user_id = 2;
    b.entries = ents;
    b.n_entries = 2;
    r.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
    r.bulk_ack = &b;
    p = run(f, &f->a, &r);
    assert_int_equal(p->bulk_ack->applied, 1);
    assert_int_equal(p->bulk_ack->n_states, 2);
    assert_int_equal(p->bulk_ack->states[0]->last_message_id, 50);
    assert_int_equal(p->bulk_ack->states[1]->last_message_id, 9);
    assert_int_equal(p->bulk_ack->user_version, 2);

    Readstates__V1__DeleteReadStatesRequest d =
        READSTATES__V1__DELETE_READ_STATES_REQUEST__INIT;
    d.user_id = 2;
    d.all = true;
    r.call_case = READSTATES__V1__REQUEST__CALL_DELETE;
    r.delete_ = &d;
    p = run(f, &f->a, &r);
    assert_int_equal(p->delete_->deleted, 2);
    assert_int_equal(p->delete_->user_version, 3);
    p = run(f, &f->a, &r); /* nothing left: no bump */
    assert_int_equal(p->delete_->deleted, 0);
    assert_int_equal(p->delete_->user_version, 3);
}

static void test_add_mentions(void **state)
{
    fixture *f = *state;
    Readstates__V1__Response *p = ack(f, 3, 9, 100, 0);
    uint64_t users[] = {3, 4, 3, 5};
    Readstates__V1__AddMentionsRequest am = READSTATES__V1__ADD_MENTIONS_REQUEST__INIT;
    am.channel_id = 9;
    am.message_id = 101;
    am.user_ids = users;
    am.n_user_ids = 4;
    am.count = 2;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_ADD_MENTIONS;
    r.add_mentions = &am;
    p = run(f, &f->a, &r);
    assert_int_equal(p->status->code, 0);
    assert_int_equal(p->add_mentions->n_mention_counts, 4);
    /* user 3 is listed twice but mentioned once */
    assert_int_equal(p->add_mentions->mention_counts[0], 2);
    assert_int_equal(p->add_mentions->mention_counts[1], 2);
    assert_int_equal(p->add_mentions->mention_counts[2], 2);
    assert_int_equal(p->add_mentions->mention_counts[3], 2);
    am.message_id = 100; /* already read by user 3 */
    am.count = 0;        /* means 1 */
    p = run(f, &f->a, &r);
    assert_int_equal(p->add_mentions->mention_counts[0], 2);
    assert_int_equal(p->add_mentions->mention_counts[1], 3);
    p = get(f, 3, NULL, 0);
    assert_int_equal(p->get->user_version, 2);
}

static void test_watch(void **state)
{
    fixture *f = *state;
    uint64_t users[] = {42, 43};
    Readstates__V1__WatchRequest wr = READSTATES__V1__WATCH_REQUEST__INIT;
    wr.user_ids = users;
    wr.n_user_ids = 2;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_WATCH;
    r.watch = &wr;

    /* a transport that cannot stream */
    cap_sink unary;
    cap_init(&unary, false);
    Readstates__V1__Response *p = run(f, &unary, &r);
    assert_int_equal(p->status->code, RS_ERR_UNIMPLEMENTED);
    cap_clear(&unary);

    p = run(f, &f->w, &r);
    uint64_t wid = r.id;
    assert_int_equal(p->status->code, 0);
    assert_int_equal(p->result_case, READSTATES__V1__RESPONSE__RESULT__NOT_SET);
    assert_int_equal(f->s.proc.metrics.watchers, 2);

    ack(f, 42, 1, 10, 0);
    ack(f, 42, 1, 5, 0);  /* no-op: no event */
    ack(f, 44, 1, 10, 0); /* not watched */
    ack(f, 42, 2, 10, 0);
    assert_int_equal(f->w.n, 3);
    assert_int_equal(f->w.got[1]->id, wid);
    assert_int_equal(f->w.got[1]->result_case, READSTATES__V1__RESPONSE__RESULT_EVENT);
    assert_int_equal(f->w.got[1]->event->user_id, 42);
    assert_int_equal(f->w.got[1]->event->user_version, 1);
    assert_int_equal(f->w.got[2]->event->user_version, 2);
    assert_int_equal(f->w.got[2]->event->state->channel_id, 2);
    assert_false(f->w.got[2]->event->deleted);

    /* watching 42 again: same entry, the newer id */
    wr.n_user_ids = 1;
    p = run(f, &f->w, &r);
    uint64_t wid2 = r.id;
    assert_int_equal(f->s.proc.metrics.watchers, 2);
    uint64_t del[] = {1};
    Readstates__V1__DeleteReadStatesRequest d =
        READSTATES__V1__DELETE_READ_STATES_REQUEST__INIT;
    d.user_id = 42;
    d.channel_ids = del;
    d.n_channel_ids = 1;
    Readstates__V1__Request r2 = READSTATES__V1__REQUEST__INIT;
    r2.call_case = READSTATES__V1__REQUEST__CALL_DELETE;
    r2.delete_ = &d;
    run(f, &f->a, &r2);
    assert_int_equal(f->w.n, 5);
    assert_int_equal(f->w.got[4]->id, wid2);
    assert_true(f->w.got[4]->event->deleted);
    assert_int_equal(f->w.got[4]->event->state->channel_id, 1);
    assert_int_equal(f->w.got[4]->event->user_version, 3);

    /* both sinks watch 43: both hear it, in order */
    uint64_t u43[] = {43};
    wr.user_ids = u43;
    run(f, &f->a, &r);
    int a_before = f->a.n, w_before = f->w.n;
    ack(f, 43, 1, 1, 0);
    assert_int_equal(f->w.n, w_before + 1);
    assert_int_equal(f->a.n, a_before + 2); /* the event and the Ack's answer */

    /* the sink goes: its watches go with it */
    watch_remove_sink(&f->s, &f->w.sink);
    assert_null(f->w.sink.watches);
    assert_int_equal(f->s.proc.metrics.watchers, 1);
    w_before = f->w.n;
    ack(f, 42, 1, 99, 0);
    ack(f, 43, 1, 99, 0);
    assert_int_equal(f->w.n, w_before);
    assert_true(watch_has_user(&f->s.loop.watch, 43));
    assert_false(watch_has_user(&f->s.loop.watch, 42));
}

/* Many watched users: the registry grows and still finds each. */
static void test_watch_many(void **state)
{
    fixture *f = *state;
    uint64_t users[10];
    Readstates__V1__WatchRequest wr = READSTATES__V1__WATCH_REQUEST__INIT;
    wr.user_ids = users;
    wr.n_user_ids = 10;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.call_case = READSTATES__V1__REQUEST__CALL_WATCH;
    r.watch = &wr;
    for (uint64_t batch = 0; batch < 50; batch++) {
        for (int i = 0; i < 10; i++)
            users[i] = 1000 + batch * 10 + (uint64_t)i;
        run(f, &f->w, &r);
        cap_clear(&f->w);
    }
    assert_int_equal(f->s.proc.metrics.watchers, 500);
    for (uint64_t u = 1000; u < 1500; u++)
        assert_true(watch_has_user(&f->s.loop.watch, u));
    ack(f, 1234, 1, 1, 0);
    assert_int_equal(f->w.n, 1);
    assert_int_equal(f->w.got[0]->event->user_id, 1234);
    /* past --max-watches (set to 505): refused whole */
    assert_int_equal(f->w.sink.nwatches, 500);
    for (int i = 0; i < 10; i++)
        users[i] = 5000 + (uint64_t)i;
    Readstates__V1__Response *p = run(f, &f->w, &r);
    assert_int_equal(p->status->code, RS_ERR_EXHAUSTED);
    assert_int_equal(f->w.sink.nwatches, 500);
    assert_false(watch_has_user(&f->s.loop.watch, 5000));
    wr.n_user_ids = 5;
    p = run(f, &f->w, &r);
    assert_int_equal(p->status->code, RS_OK);
    assert_int_equal(f->w.sink.nwatches, 505);
    watch_remove_sink(&f->s, &f->w.sink);
    assert_int_equal(f->w.sink.nwatches, 0);
    assert_int_equal(f->s.proc.metrics.watchers, 0);
    assert_int_equal(f->s.loop.watch.nusers, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_ack_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_bulk_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_mentions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_many, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
