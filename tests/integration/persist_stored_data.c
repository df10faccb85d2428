/*
 * persist_stored_data.c: readstated with a real redis-server whose hashes were
 * written by hand or corrupted (README "Stored data that does not parse").
 * Each test holds the server to one rule: every acknowledged write either
 * lands in Redis (checked after SIGTERM, and after a restart) or the server
 * refused it, or says in its log and its exit code that it did not land.
 * On top of that, the behaviour of the fix:
 * - _v "0005" at load: the user is not served (INTERNAL naming the key and
 *   _v), counted in readstates_stored_invalid_total, nothing is written
 *   over it; fixed by hand, it is served without a restart.
 * - _v "0005" written after the load: the merge script refuses the user;
 *   later writes get INTERNAL; SIGTERM exits 1 at once with
 *   unflushed_states=1 (not after the shutdown timeout).
 * - a version of 2^64-1: reads work, a change is refused
 *   (RESOURCE_EXHAUSTED naming 2^64-1), the version never wraps.
 * - a hash of 300,000 fields (limit 10,000): refused from its field count,
 *   without the server parsing it (its CPU time and a Ping on another
 *   connection stay small); the limit applies exactly.
 * - a field "1:abc:0:0": the user is refused (naming the field), nothing is
 *   served partially or written over; fixed by hand, it is served.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "persist_util.h"

#define U64_MAX_STR "18446744073709551615"

/* ---- helpers ------------------------------------------------------------- */

static void redis_ok(const rs_test_redis *redis, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = rs_test_redis_vcommand(redis, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("redis: %s", r->str);
    freeReplyObject(r);
}

/* HGET as a malloc'd string, NULL when absent. */
static char *hget(const rs_test_redis *redis, uint64_t user, const char *field)
{
    redisReply *r = rs_test_redis_command(redis, "HGET readstates:{%llu} %s",
                                          (unsigned long long)user, field);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("HGET readstates:{%llu} %s: %s", (unsigned long long)user, field, r->str);
    char *s = r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    freeReplyObject(r);
    return s;
}

static void expect_hget(const rs_test_redis *redis, uint64_t user, const char *field,
                        const char *want)
{
    char *got = hget(redis, user, field);
    if (want == NULL && got != NULL)
        fail_msg("readstates:{%llu} %s = \"%s\", want it absent", (unsigned long long)user,
                 field, got);
    if (want != NULL && (got == NULL || strcmp(got, want) != 0))
        fail_msg("readstates:{%llu} %s = %s%s%s, want \"%s\"", (unsigned long long)user, field,
                 got ? "\"" : "", got ? got : "absent", got ? "\"" : "", want);
    free(got);
}

/* The server refused a call for user with INTERNAL, and its message names
 * the user's key and each of the NULL-terminated strings. */
static void expect_internal(rs_client *c, rs_status st, uint64_t user, ...)
{
    if (!pu_server_said(c, st, RS_ERR_INTERNAL))
        fail_msg("want INTERNAL, got %s (%s)", rs_status_name(st), rs_client_errmsg(c));
    const char *msg = rs_client_errmsg(c);
    char key[48];
    snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)user);
    if (strstr(msg, key) == NULL)
        fail_msg("message \"%s\" does not name %s", msg, key);
    va_list ap;
    va_start(ap, user);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        if (strstr(msg, want) == NULL)
            fail_msg("message \"%s\" does not name %s", msg, want);
    va_end(ap);
}

/* What the client was told was stored (acknowledged writes). */
typedef struct acked {
    uint64_t version;    /* the highest user_version acknowledged, 0 if none */
    uint64_t channel;    /* the channel of the last acknowledged Ack, 0 if none */
    uint64_t message;    /* its message id */
    uint64_t ch_version; /* and its state's version */
    bool deleted;        /* the last acknowledged call deleted that channel */
} acked;

static void note_ack(acked *a, const rs_client_ack_result *res)
{
    if (!res->applied)
        return;
    a->version = res->user_version;
    a->channel = res->state.channel_id;
    a->message = res->state.last_message_id;
    a->ch_version = res->state.version;
    a->deleted = false;
}

static bool redis_has_version(const rs_test_redis *redis, uint64_t user, uint64_t version)
{
    char *v = hget(redis, user, "_v");
    char want[24];
    snprintf(want, sizeof(want), "%llu", (unsigned long long)version);
    bool ok = v != NULL && strcmp(v, want) == 0;
    if (!ok)
        fprintf(stderr, "readstates:{%llu} _v = %s, the last acknowledged version is %s\n",
                (unsigned long long)user, v ? v : "absent", want);
    free(v);
    return ok;
}

/* The rule: after a SIGTERM that exited with status ws, every
 * acknowledged write is in Redis (the hash holds the acknowledged version
 * and state), or the server exited non-zero saying how many states it did
 * not flush. Returns true when the writes are in Redis. */
static bool acked_writes_landed_or_reported(const rs_test_redis *redis,
                                            const rs_test_server *srv, int ws, uint64_t user,
                                            const acked *a)
{
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0) {
        char *log = rs_read_file(srv->proc.stderr_path, NULL);
        assert_non_null(log);
        const char *p = strstr(log, "unflushed_states=");
        if (p == NULL || strtoull(p + strlen("unflushed_states="), NULL, 10) == 0)
            fail_msg("exit %d without saying how many states were not flushed",
                     WEXITSTATUS(ws));
        free(log);
        return false;
    }
    if (a->version == 0)
        return true;
    assert_true(redis_has_version(redis, user, a->version));
    if (a->channel != 0) {
        char field[24], want[64];
        snprintf(field, sizeof(field), "%llu", (unsigned long long)a->channel);
        snprintf(want, sizeof(want), "%llu:%llu:0:0", (unsigned long long)a->ch_version,
                 (unsigned long long)a->message);
        expect_hget(redis, user, field, a->deleted ? NULL : want);
    }
    return true;
}

static bool stored_invalid_counted(void *arg)
{
    return pu_metric(arg, "readstates_stored_invalid_total") >= 1;
}

static bool server_clean(void *arg)
{
    return pu_metric(arg, "readstates_dirty_users") == 0;
}

/* ---- _v "0005" ------------------------------------------------------------- */

/* Written by hand before the server ever loads the user. The old loader
 * read 5; the merge script, comparing strings by length, never raised _v
 * past "0005", so after a delete the version read back went down. */
static void test_v_not_canonical_at_load(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    redis_ok(&redis, "HSET readstates:{5} _v 0005 3 4:100:0:0");
    const char *flags[] = {"--flush-interval-ms", "100", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    acked a = {0};
    rs_client_ack_result res;
    rs_status st = rs_client_ack(c, 5, 3, 200, 0, &res);
    if (st == RS_OK)
        note_ack(&a, &res);
    else
        expect_internal(c, st, 5, "\"_v\"", "\"0005\"", NULL);
    st = rs_client_ack(c, 5, 7, 50, 0, &res);
    if (st == RS_OK)
        note_ack(&a, &res);
    else
        expect_internal(c, st, 5, "\"_v\"", NULL);
    uint32_t deleted = 0;
    uint64_t ver = 0, ch = 7;
    st = rs_client_delete(c, 5, &ch, 1, false, &deleted, &ver);
    if (st == RS_OK && deleted == 1) {
        a.version = ver;
        a.deleted = true;
    } else if (st != RS_OK) {
        expect_internal(c, st, 5, "\"_v\"", NULL);
    }
    rs_client_states got;
    st = rs_client_get(c, 5, NULL, 0, &got);
    if (st == RS_OK)
        rs_client_states_free(&got);
    else
        expect_internal(c, st, 5, "\"_v\"", NULL);
    double counted = pu_metric(&srv, "readstates_stored_invalid_total");
    bool refused_all = a.version == 0;
    if (refused_all) {
        /* Nothing written over, counted (four loads refused). */
        assert_true(counted >= 4);
        expect_hget(&redis, 5, "_v", "0005");
        expect_hget(&redis, 5, "3", "4:100:0:0");
        expect_hget(&redis, 5, "7", NULL);
        /* An operator fixes _v: the next request loads it, no restart. */
        redis_ok(&redis, "HSET readstates:{5} _v 5");
        assert_int_equal(rs_client_ack(c, 5, 3, 200, 0, &res), RS_OK);
        assert_true(res.applied);
        assert_int_equal(res.user_version, 6);
        note_ack(&a, &res);
    }
    rs_client_close(c);

    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    if (acked_writes_landed_or_reported(&redis, &srv, ws, 5, &a)) {
        /* And a new process reads back no lower version. */
        assert_int_equal(rs_test_server_restart(&srv), 0);
        c = pu_connect(&srv);
        assert_non_null(c);
        assert_int_equal(rs_client_get(c, 5, NULL, 0, &got), RS_OK);
        assert_true(got.user_version >= a.version);
        rs_client_states_free(&got);
        rs_client_close(c);
        assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    }
    /* The fix refuses the user until the operator fixed it. */
    assert_true(refused_all);
    expect_hget(&redis, 5, "_v", "6");
    expect_hget(&redis, 5, "3", "6:200:0:0");

    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* Written by hand while the server holds the user: the merge script finds
 * it. The server must not acknowledge more writes it cannot store, and its
 * SIGTERM must say what did not land, at once. */
static void test_v_not_canonical_after_load(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    const char *flags[] = {"--flush-interval-ms", "100", "--shutdown-timeout-ms", "20000",
                           NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    acked a = {0};
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 9, 3, 100, 0, &res), RS_OK);
    note_ack(&a, &res);
    assert_true(rs_poll_until(server_clean, &srv, 5000));
    expect_hget(&redis, 9, "_v", "1");

    redis_ok(&redis, "HSET readstates:{9} _v 0005");
    rs_status st = rs_client_ack(c, 9, 3, 200, 0, &res);
    assert_int_equal(st, RS_OK); /* the server cannot know yet */
    note_ack(&a, &res);
    /* Either it lands, or the merge is refused and counted. */
    assert_true(rs_poll_until(stored_invalid_counted, &srv, 3000) ||
                rs_poll_until(server_clean, &srv, 100));
    st = rs_client_ack(c, 9, 3, 300, 0, &res);
    if (st == RS_OK)
        note_ack(&a, &res);
    else
        expect_internal(c, st, 9, "_v", NULL);
    rs_client_close(c);

    long long t0 = rs_mono_ms();
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    long long took = rs_mono_ms() - t0;
    acked_writes_landed_or_reported(&redis, &srv, ws, 9, &a);

    /* The fix: refused at once, exit 1 naming the one unflushed state, well
     * before the shutdown timeout; the hash is as the operator left it. */
    assert_int_equal(a.version, 2);
    assert_int_equal(WEXITSTATUS(ws), 1);
    assert_true(took < 10000);
    char *log = rs_read_file(srv.proc.stderr_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "unflushed_states=1 "));
    assert_non_null(strstr(log, "stored_invalid_users=1"));
    assert_non_null(strstr(log, "event=redis_stored_invalid"));
    free(log);
    expect_hget(&redis, 9, "_v", "0005");
    expect_hget(&redis, 9, "3", "1:100:0:0");

    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* ---- a version of 2^64-1 ------------------------------------------------------ */

static void test_version_never_wraps(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    redis_ok(&redis,
             "HSET readstates:{6} _v 18446744073709551614 3 18446744073709551614:100:0:0");
    const char *flags[] = {"--flush-interval-ms", "100", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    acked a = {0};
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 6, 3, 200, 0, &res), RS_OK); /* to 2^64-1 */
    assert_true(res.applied);
    assert_true(res.user_version == UINT64_MAX);
    note_ack(&a, &res);
    /* The next change would wrap: refused, never wrapped. */
    rs_status st = rs_client_ack(c, 6, 3, 300, 0, &res);
    if (st == RS_OK) {
        assert_true(res.user_version > a.version); /* versions never go down */
        note_ack(&a, &res);
    } else {
        assert_true(pu_server_said(c, st, RS_ERR_EXHAUSTED));
        assert_non_null(strstr(rs_client_errmsg(c), "2^64-1"));
    }
    assert_int_equal(rs_client_ack(c, 6, 4, 1, 0, &res), RS_ERR_EXHAUSTED);
    assert_int_equal(rs_client_set(c, 6, 3, 5, 0, &res), RS_ERR_EXHAUSTED);
    uint64_t ch = 3, user = 6;
    assert_int_equal(rs_client_delete(c, 6, &ch, 1, false, NULL, NULL), RS_ERR_EXHAUSTED);
    rs_client_ack_entry ents[2] = {{3, 400}, {4, 1}};
    rs_client_states bulk;
    assert_int_equal(rs_client_bulk_ack(c, 6, ents, 2, &bulk), RS_ERR_EXHAUSTED);
    uint32_t counts[1];
    assert_int_not_equal(rs_client_add_mentions(c, 3, 500, &user, 1, 1, counts), RS_OK);
    /* What changes nothing is still answered, and reads work. */
    assert_int_equal(rs_client_ack(c, 6, 3, 150, 0, &res), RS_OK);
    assert_false(res.applied);
    uint64_t absent = 99;
    uint32_t deleted = 1;
    assert_int_equal(rs_client_delete(c, 6, &absent, 1, false, &deleted, NULL), RS_OK);
    assert_int_equal(deleted, 0);
    rs_client_states got;
    assert_int_equal(rs_client_get(c, 6, NULL, 0, &got), RS_OK);
    assert_int_equal(got.n, 1);
    assert_true(got.user_version == UINT64_MAX);
    assert_int_equal(got.states[0].last_message_id, 200);
    rs_client_states_free(&got);
    rs_client_close(c);

    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_true(acked_writes_landed_or_reported(&redis, &srv, ws, 6, &a));
    expect_hget(&redis, 6, "_v", U64_MAX_STR);
    expect_hget(&redis, 6, "3", U64_MAX_STR ":200:0:0");
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* ---- a hash larger than the per-user limit --------------------------------- */

#define BIG_FIELDS  300000
#define BIG_PER_CMD 1000

/* HSET readstates:{user} 1 1:1:0:0 ... n 1:1:0:0 (and _v), pipelined on
 * the node that holds the key. */
static void write_big_hash(const rs_test_redis *redis, uint64_t user, int n)
{
    static char names[BIG_PER_CMD][12];
    const char *argv[2 + 2 * BIG_PER_CMD];
    size_t lens[2 + 2 * BIG_PER_CMD];
    char key[48];
    snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)user);
    redisContext *rc = rs_test_redis_connect_key(redis, key);
    assert_non_null(rc);
    int cmds = 0;
    for (int base = 0; base < n; base += BIG_PER_CMD) {
        int k = 0;
        argv[k] = "HSET";
        lens[k++] = 4;
        argv[k] = key;
        lens[k++] = strlen(key);
        for (int i = 0; i < BIG_PER_CMD && base + i < n; i++) {
            snprintf(names[i], sizeof(names[i]), "%d", base + i + 1);
            argv[k] = names[i];
            lens[k++] = strlen(names[i]);
            argv[k] = "1:1:0:0";
            lens[k++] = 7;
        }
        assert_int_equal(redisAppendCommandArgv(rc, k, argv, lens), REDIS_OK);
        cmds++;
    }
    for (int i = 0; i < cmds; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(rc, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
    redisFree(rc);
    redis_ok(redis, "HSET %s _v 1", key);
}

static rs_client *connect_port(int port)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", port, 5000, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "connect: %s\n", err);
    return c;
}

static void test_hash_over_the_limit(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    write_big_hash(&redis, 11, BIG_FIELDS);
    assert_int_equal(pu_server_start(&srv, &redis, NULL), 0);
    rs_client *a = pu_connect(&srv);
    rs_client *b = connect_port(srv.port);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(rs_client_ping(b, NULL, NULL, 0), RS_OK);

    double cpu0 = pu_metric(&srv, "process_cpu_seconds_total");
    long long worst_ping = 0;
    for (int round = 0; round < 5; round++) {
        /* A Get of the big user on a, Pings on b until a's answer is in. */
        Readstates__V1__GetReadStatesRequest get =
            READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
        get.user_id = 11;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.call_case = READSTATES__V1__REQUEST__CALL_GET;
        req.get = &get;
        assert_int_equal(rs_client_send(a, &req), RS_OK);
        assert_int_equal(rs_client_flush(a), RS_OK);
        Readstates__V1__Response *resp = NULL;
        long long until = rs_mono_ms() + 10000;
        for (int i = 0; i < 100000 && resp == NULL && rs_mono_ms() < until; i++) {
            long long t0 = rs_mono_ms();
            assert_int_equal(rs_client_ping(b, NULL, NULL, 0), RS_OK);
            long long rtt = rs_mono_ms() - t0;
            worst_ping = rtt > worst_ping ? rtt : worst_ping;
            rs_status st = rs_client_recv(a, &resp, 1);
            assert_true(st == RS_OK || st == RS_ERR_DEADLINE);
        }
        if (resp == NULL)
            fail_msg("no answer to the Get of a %d-field hash within 10 s (%s)", BIG_FIELDS,
                     rs_client_errmsg(a));
        rs_status got = rs_client_response_status(resp);
        const char *msg = resp->status != NULL ? resp->status->message : "";
        if (got != RS_ERR_INTERNAL)
            fail_msg("Get of a %d-field hash: %s (%zu states), want INTERNAL", BIG_FIELDS,
                     rs_status_name(got), resp->get != NULL ? resp->get->n_states : 0);
        assert_non_null(strstr(msg, "readstates:{11}"));
        assert_non_null(strstr(msg, "300001 fields"));
        assert_non_null(strstr(msg, "--max-states-per-user (10000)"));
        rs_client_response_free(resp);
    }
    double cpu1 = pu_metric(&srv, "process_cpu_seconds_total");
    /* The server's own cost: five refused loads, not five parses of
     * 300,000 fields (about 90 ms each before); Pings never stall. */
    fprintf(stderr, "server cpu for 5 refused loads: %.3f s, worst ping %lld ms\n", cpu1 - cpu0,
            worst_ping);
    assert_true(cpu0 >= 0 && cpu1 - cpu0 < 0.1);
    assert_true(worst_ping < 50);
    assert_true(pu_metric(&srv, "readstates_stored_invalid_total") >= 5);
    rs_client_close(a);
    rs_client_close(b);
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);
    rs_test_server_cleanup(&srv);

    /* The limit exactly: with --max-states-per-user 5, five channels, _v
     * and _o (a fleet's owner generation) load; six channels (with or
     * without _v and _o) do not: refused by the engine when the hash has at
     * most 7 fields, by the load script beyond. */
    redis_ok(&redis, "HSET readstates:{12} _v 9 _o 3 1 1:1:0:0 2 2:1:0:0 3 3:1:0:0 4 4:1:0:0 5 "
                     "5:1:0:0");
    redis_ok(&redis, "HSET readstates:{13} 1 1:1:0:0 2 2:1:0:0 3 3:1:0:0 4 4:1:0:0 5 5:1:0:0 6 "
                     "6:1:0:0");
    const char *small[] = {"--max-states-per-user", "5", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, small), 0);
    a = pu_connect(&srv);
    assert_non_null(a);
    rs_client_states got;
    assert_int_equal(rs_client_get(a, 12, NULL, 0, &got), RS_OK);
    assert_int_equal(got.n, 5);
    assert_int_equal(got.user_version, 9);
    rs_client_states_free(&got);
    expect_internal(a, rs_client_get(a, 13, NULL, 0, &got), 13, "6 channels", NULL);
    redis_ok(&redis, "HSET readstates:{13} _v 9");
    expect_internal(a, rs_client_get(a, 13, NULL, 0, &got), 13, "6 channels", NULL);
    redis_ok(&redis, "HSET readstates:{13} _o 2");
    expect_internal(a, rs_client_get(a, 13, NULL, 0, &got), 13, "8 fields", NULL);
    rs_client_close(a);
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_int_equal(WEXITSTATUS(ws), 0);

    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* ---- a field that is no state -------------------------------------------- */

static void test_bad_field_value(void **state)
{
    (void)state;
    rs_test_redis redis;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    redis_ok(&redis, "HSET readstates:{8} _v 3 4 1:abc:0:0 5 3:10:0:0");
    const char *flags[] = {"--flush-interval-ms", "100", NULL};
    assert_int_equal(pu_server_start(&srv, &redis, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    /* Not served partially (the old loader skipped the field). */
    rs_client_states got;
    rs_status st = rs_client_get(c, 8, NULL, 0, &got);
    if (st == RS_OK)
        fail_msg("Get served %zu of the 2 stored states", got.n);
    expect_internal(c, st, 8, "\"4\"", "\"1:abc:0:0\"", "last_message_id", NULL);
    acked a = {0};
    rs_client_ack_result res;
    st = rs_client_ack(c, 8, 4, 5, 0, &res);
    if (st == RS_OK)
        note_ack(&a, &res);
    else
        expect_internal(c, st, 8, "\"4\"", NULL);
    /* Every refused load is counted, and the next request loads again. */
    assert_true(pu_metric(&srv, "readstates_stored_invalid_total") >= 2);
    assert_int_equal(a.version, 0);
    expect_hget(&redis, 8, "4", "1:abc:0:0");

    /* Fixed by hand: served at once, no restart. */
    redis_ok(&redis, "HSET readstates:{8} 4 1:20:0:0");
    assert_int_equal(rs_client_get(c, 8, NULL, 0, &got), RS_OK);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.states[0].last_message_id, 20);
    rs_client_states_free(&got);
    assert_int_equal(rs_client_ack(c, 8, 4, 30, 0, &res), RS_OK);
    assert_int_equal(res.user_version, 4);
    note_ack(&a, &res);
    rs_client_close(c);
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    assert_true(acked_writes_landed_or_reported(&redis, &srv, ws, 8, &a));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v_not_canonical_at_load),
        cmocka_unit_test(test_v_not_canonical_after_load),
        cmocka_unit_test(test_version_never_wraps),
        cmocka_unit_test(test_hash_over_the_limit),
        cmocka_unit_test(test_bad_field_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
