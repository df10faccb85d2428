/*
 * it_ctl.c: readstatectl end to end: the real binary against a real
 * readstated, checking its tables, its JSON (parsed back), its exit codes
 * for success, server errors, unreachable servers and usage errors, the
 * READSTATECTL_SERVER default, and a watch that exits after N events.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#define CTL_MS 20000

typedef struct ctl_out {
    int code;
    char *out;
    char *err;
} ctl_out;

static void ctl_out_free(ctl_out *o)
{
    free(o->out);
    free(o->err);
}

/* Run readstatectl --server 127.0.0.1:<port> args... (NULL-terminated). */
static ctl_out ctl(const it_ctx *ctx, const char *const *env, ...)
{
    const char *argv[40];
    char server[64];
    size_t n = 0;
    argv[n++] = rs_test_readstatectl_bin();
    if (ctx != NULL) {
        snprintf(server, sizeof(server), "127.0.0.1:%d", ctx->srv.port);
        argv[n++] = "--server";
        argv[n++] = server;
    }
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ctl_out o = {0};
    o.code = rs_run(argv, env, CTL_MS, &o.out, &o.err);
    assert_non_null(o.out);
    assert_non_null(o.err);
    return o;
}

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL || !json_is_object(j))
        fail_msg("not one JSON object (%s): %s", jerr.text, text);
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static void test_help_and_usage(void **state)
{
    (void)state;
    ctl_out o = ctl(NULL, NULL, "--help", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "usage: readstatectl"));
    assert_non_null(strstr(o.out, "bulk-ack"));
    ctl_out_free(&o);

    o = ctl(NULL, NULL, "frobnicate", NULL);
    assert_int_equal(o.code, 2);
    assert_non_null(strstr(o.err, "unknown command"));
    ctl_out_free(&o);

    o = ctl(NULL, NULL, "ack", "1", "2", NULL); /* too few arguments */
    assert_int_equal(o.code, 2);
    ctl_out_free(&o);

    o = ctl(NULL, NULL, "get", "not-a-number", NULL);
    assert_int_equal(o.code, 2);
    ctl_out_free(&o);

    o = ctl(NULL, NULL, "delete", "5", NULL); /* neither --all nor channels */
    assert_int_equal(o.code, 2);
    ctl_out_free(&o);
}

static void test_unreachable_server(void **state)
{
    (void)state;
    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%d", rs_free_port());
    ctl_out o = ctl(NULL, NULL, "--server", server, "--timeout-ms", "2000", "ping", NULL);
    assert_int_equal(o.code, 14);
    assert_non_null(strstr(o.err, "error: UNAVAILABLE"));
    ctl_out_free(&o);
}

static void test_ping_and_env_default(void **state)
{
    it_ctx *ctx = *state;
    ctl_out o = ctl(ctx, NULL, "ping", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "server_version"));
    assert_non_null(strstr(o.out, RS_VERSION_STRING));
    ctl_out_free(&o);

    char env_server[64];
    snprintf(env_server, sizeof(env_server), "READSTATECTL_SERVER=127.0.0.1:%d", ctx->srv.port);
    const char *env[] = {env_server, NULL};
    o = ctl(NULL, env, "--json", "ping", NULL);
    assert_int_equal(o.code, 0);
    json_t *j = parse_json(o.out);
    assert_string_equal(jstr(j, "serverVersion"), RS_VERSION_STRING);
    json_decref(j);
    ctl_out_free(&o);
}

static void test_ack_set_get_tables(void **state)
{
    it_ctx *ctx = *state;
    ctl_out o = ctl(ctx, NULL, "ack", "8001", "12", "100", "2", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "CHANNEL"));
    assert_non_null(strstr(o.out, "applied: yes"));
    assert_non_null(strstr(o.out, "user_version: 1"));
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "ack", "8001", "12", "90", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "applied: no"));
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "set", "8001", "11", "5", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "manual"));
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "get", "8001", NULL);
    assert_int_equal(o.code, 0);
    /* Sorted: channel 11 before channel 12. */
    const char *c11 = strstr(o.out, "\n11 ");
    const char *c12 = strstr(o.out, "\n12 ");
    assert_non_null(c11);
    assert_non_null(c12);
    assert_true(c11 < c12);
    assert_non_null(strstr(o.out, "user_version: 2  (2 states)"));
    ctl_out_free(&o);
}

static void test_json_outputs(void **state)
{
    it_ctx *ctx = *state;
    ctl_out o = ctl(ctx, NULL, "--json", "ack", "8002", "3", "18446744073709551615", NULL);
    assert_int_equal(o.code, 0);
    json_t *j = parse_json(o.out);
    assert_true(json_is_true(json_object_get(j, "applied")));
    assert_string_equal(jstr(j, "userVersion"), "1");
    json_t *st = json_object_get(j, "state");
    assert_string_equal(jstr(st, "channelId"), "3");
    assert_string_equal(jstr(st, "lastMessageId"), "18446744073709551615");
    json_decref(j);
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "--json", "bulk-ack", "8002", "4:10", "5:20", "4:5", NULL);
    assert_int_equal(o.code, 0);
    j = parse_json(o.out);
    assert_int_equal(json_integer_value(json_object_get(j, "applied")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "states")), 3);
    assert_string_equal(jstr(j, "userVersion"), "3");
    json_decref(j);
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "--json", "mentions", "4", "15", "--count", "3", "8002", "8003", NULL);
    assert_int_equal(o.code, 0);
    j = parse_json(o.out);
    json_t *counts = json_object_get(j, "mentionCounts");
    assert_int_equal(json_array_size(counts), 2);
    assert_int_equal(json_integer_value(json_array_get(counts, 0)), 3);
    assert_int_equal(json_integer_value(json_array_get(counts, 1)), 3);
    json_decref(j);
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "--json", "get", "8002", "5", "4", NULL);
    assert_int_equal(o.code, 0);
    j = parse_json(o.out);
    json_t *states = json_object_get(j, "states");
    assert_int_equal(json_array_size(states), 2);
    assert_string_equal(jstr(json_array_get(states, 0), "channelId"), "4");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(states, 0), "mentionCount")), 3);
    assert_string_equal(jstr(json_array_get(states, 1), "channelId"), "5");
    json_decref(j);
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "--json", "delete", "8002", "4", "99", NULL);
    assert_int_equal(o.code, 0);
    j = parse_json(o.out);
    assert_int_equal(json_integer_value(json_object_get(j, "deleted")), 1);
    json_decref(j);
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "delete", "8002", "--all", NULL);
    assert_int_equal(o.code, 0);
    assert_non_null(strstr(o.out, "deleted: 2"));
    ctl_out_free(&o);
}

static void test_server_errors(void **state)
{
    it_ctx *ctx = *state;
    ctl_out o = ctl(ctx, NULL, "ack", "0", "1", "1", NULL);
    assert_int_equal(o.code, 3);
    assert_non_null(strstr(o.err, "error: INVALID_ARGUMENT: ack.user_id must be non-zero"));
    ctl_out_free(&o);

    o = ctl(ctx, NULL, "--json", "get", "0", NULL);
    assert_int_equal(o.code, 3);
    json_t *j = parse_json(o.out);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(jstr(e, "code"), "INVALID_ARGUMENT");
    assert_non_null(strstr(jstr(e, "message"), "user_id"));
    json_decref(j);
    ctl_out_free(&o);
}

typedef struct text_wait {
    const char *path;
    const char *needle;
} text_wait;

static bool file_contains(void *arg)
{
    text_wait *w = arg;
    char *text = rs_read_file(w->path, NULL);
    bool found = text != NULL && strstr(text, w->needle) != NULL;
    free(text);
    return found;
}

static void test_watch_events(void **state)
{
    it_ctx *ctx = *state;
    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%d", ctx->srv.port);
    const char *argv[] = {rs_test_readstatectl_bin(),
                          "--server",
                          server,
                          "--json",
                          "watch",
                          "8004",
                          "--events",
                          "2",
                          NULL};
    rs_proc p;
    assert_int_equal(rs_proc_start(argv, NULL, &p), 0);
    text_wait w = {.path = p.stderr_path, .needle = "watching"};
    assert_true(rs_poll_until(file_contains, &w, CTL_MS));

    rs_client *c = it_connect(ctx);
    rs_client_ack_result r;
    it_assert_ok(c, rs_client_ack(c, 8004, 1, 10, 0, &r));
    it_assert_ok(c, rs_client_ack(c, 8004, 1, 5, 0, &r)); /* no-op: no event */
    it_assert_ok(c, rs_client_set(c, 8004, 2, 7, 1, &r));
    rs_client_close(c);

    int st = 0;
    assert_int_equal(rs_proc_wait(&p, CTL_MS, &st), 0);
    assert_int_equal(rs_proc_exit_code(&p), 0);
    char *out = rs_read_file(p.stdout_path, NULL);
    assert_non_null(out);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_t *e1 = parse_json(out);
    json_t *e2 = parse_json(nl + 1);
    assert_string_equal(jstr(e1, "userId"), "8004");
    assert_string_equal(jstr(json_object_get(e1, "state"), "lastMessageId"), "10");
    assert_string_equal(jstr(e1, "userVersion"), "1");
    assert_string_equal(jstr(json_object_get(e2, "state"), "channelId"), "2");
    assert_string_equal(jstr(e2, "userVersion"), "2");
    json_decref(e1);
    json_decref(e2);
    free(out);
    rs_proc_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),       cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_ping_and_env_default), cmocka_unit_test(test_ack_set_get_tables),
        cmocka_unit_test(test_json_outputs),         cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_watch_events),
    };
    return cmocka_run_group_tests(tests, it_group_setup, it_group_teardown);
}
