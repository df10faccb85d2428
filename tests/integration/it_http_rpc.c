/*
 * it_http_rpc.c: the HTTP port of the real readstated (127.0.0.1:0):
 * Connect and Twirp unary calls in JSON and protobuf, the error mapping and
 * limits, the operator endpoints, keep-alive, /readyz across a Redis outage,
 * clients that leave before their reply, and request logs.
 */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "http_test_client.h"
#include "readstates.pb-c.h"
#include "rs_testsupport.h"

#define CONNECT "/readstates.v1.ReadStates/"
#define TWIRP   "/twirp/readstates.v1.ReadStates/"

static int start_http_server(rs_test_server *srv, const char *const *args)
{
    rs_test_server_opts o = {.args = args, .http = true};
    return rs_test_server_start_opts(srv, &o);
}

/* POST a JSON body; returns the parsed JSON reply (json_decref) and the
 * status in *status. */
static json_t *post_json(int port, const char *path, const char *body, int *status)
{
    ht_response r;
    assert_int_equal(
        ht_request(port, "POST", path, "application/json", body, strlen(body), NULL, &r), 0);
    *status = r.status;
    char ct[128];
    assert_int_equal(ht_header(&r, "Content-Type", ct, sizeof(ct)), 0);
    assert_string_equal(ct, "application/json");
    json_error_t err;
    json_t *j = json_loads(r.body, 0, &err);
    if (j == NULL)
        fail_msg("reply to %s is not JSON: %s", path, r.body);
    ht_response_free(&r);
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void test_connect_json(void **state)
{
    (void)state;
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, NULL), 0);
    int port = srv.http_port, st;

    json_t *j = post_json(port, CONNECT "Ack",
                          "{\"userId\":\"5\",\"channelId\":\"7\",\"messageId\":\"100\","
                          "\"mentionCount\":2}",
                          &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "applied")));
    assert_string_equal(jstr(j, "userVersion"), "1");
    json_t *s = json_object_get(j, "state");
    assert_string_equal(jstr(s, "channelId"), "7");
    assert_string_equal(jstr(s, "lastMessageId"), "100");
    assert_int_equal(json_integer_value(json_object_get(s, "mentionCount")), 2);
    json_decref(j);

    /* an older ack changes nothing: applied is false, so omitted */
    j = post_json(port, CONNECT "Ack", "{\"user_id\":5,\"channel_id\":7,\"message_id\":99}",
                  &st);
    assert_int_equal(st, 200);
    assert_null(json_object_get(j, "applied"));
    json_decref(j);

    j = post_json(port, CONNECT "BulkAck",
                  "{\"userId\":\"5\",\"entries\":[{\"channelId\":\"8\",\"messageId\":\"1\"},"
                  "{\"channelId\":\"9\",\"messageId\":\"2\"}]}",
                  &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "applied")), 2);
    json_decref(j);

    j = post_json(port, CONNECT "AddMentions",
                  "{\"channelId\":\"9\",\"messageId\":\"50\",\"userIds\":[\"5\",\"6\"]}", &st);
    assert_int_equal(st, 200);
    json_t *counts = json_object_get(j, "mentionCounts");
    assert_int_equal(json_array_size(counts), 2);
    assert_int_equal(json_integer_value(json_array_get(counts, 0)), 1);
    json_decref(j);

    j = post_json(port, CONNECT "GetReadStates", "{\"userId\":\"5\"}", &st);
    assert_int_equal(st, 200);
    json_t *states = json_object_get(j, "states");
    assert_int_equal(json_array_size(states), 3);
    assert_string_equal(jstr(json_array_get(states, 0), "channelId"), "7");
    assert_string_equal(jstr(json_array_get(states, 2), "channelId"), "9");
    json_decref(j);

    j = post_json(port, CONNECT "DeleteReadStates", "{\"userId\":\"5\",\"channelIds\":[\"8\"]}",
                  &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "deleted")), 1);
    json_decref(j);

    j = post_json(port, CONNECT "SetReadState",
                  "{\"userId\":\"5\",\"channelId\":\"7\",\"messageId\":\"3\"}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "state"), "flags")),
                     1);
    json_decref(j);

    /* 64-bit ids as JSON numbers, past 2^63 too (replies write them as strings) */
    j = post_json(port, CONNECT "Ack",
                  "{\"userId\":18446744073709551615,\"channelId\":9223372036854775808,"
                  "\"messageId\":18446744073709551614}",
                  &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(j, "applied")));
    assert_string_equal(jstr(json_object_get(j, "state"), "channelId"), "9223372036854775808");
    assert_string_equal(jstr(json_object_get(j, "state"), "lastMessageId"),
                        "18446744073709551614");
    json_decref(j);
    j = post_json(port, CONNECT "GetReadStates", "{\"userId\":\"18446744073709551615\"}", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(j, "states")), 1);
    json_decref(j);
    j = post_json(port, CONNECT "Ack", "{\"userId\":18446744073709551616,\"channelId\":1}",
                  &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "code"), "invalid_argument");
    assert_non_null(strstr(jstr(j, "message"), "user_id"));
    json_decref(j);

    j = post_json(port, CONNECT "Ping", "{}", &st);
    assert_int_equal(st, 200);
    assert_true(strlen(jstr(j, "serverVersion")) > 0);
    json_decref(j);
    /* an empty JSON body is the empty message */
    j = post_json(port, CONNECT "Ping", "", &st);
    assert_int_equal(st, 200);
    json_decref(j);
    rs_test_server_cleanup(&srv);
}

static void test_connect_proto(void **state)
{
    (void)state;
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, NULL), 0);
    Readstates__V1__AckRequest a = READSTATES__V1__ACK_REQUEST__INIT;
    a.user_id = 11;
    a.channel_id = 12;
    a.message_id = UINT64_MAX - 1;
    uint8_t buf[64];
    size_t n = readstates__v1__ack_request__pack(&a, buf);
    for (int proto = 0; proto < 2; proto++) {
        ht_response r;
        const char *ct = proto ? "application/protobuf" : "application/proto";
        assert_int_equal(ht_request(srv.http_port, "POST", proto ? TWIRP "Ack" : CONNECT "Ack",
                                    ct, buf, n, NULL, &r),
                         0);
        assert_int_equal(r.status, 200);
        char got[64];
        assert_int_equal(ht_header(&r, "Content-Type", got, sizeof(got)), 0);
        assert_string_equal(got, ct);
        Readstates__V1__AckResponse *resp =
            readstates__v1__ack_response__unpack(NULL, r.len, (uint8_t *)r.body);
        assert_non_null(resp);
        assert_non_null(resp->state);
        assert_true(resp->state->last_message_id == UINT64_MAX - 1);
        assert_int_equal(resp->applied, proto == 0);
        assert_int_equal(resp->user_version, 1);
        readstates__v1__ack_response__free_unpacked(resp, NULL);
        ht_response_free(&r);
    }
    /* An empty protobuf body is the empty message: Ping answers. */
    ht_response r;
    assert_int_equal(
        ht_request(srv.http_port, "POST", CONNECT "Ping", "application/proto", "", 0, NULL, &r),
        0);
    assert_int_equal(r.status, 200);
    Readstates__V1__PingResponse *p =
        readstates__v1__ping_response__unpack(NULL, r.len, (uint8_t *)r.body);
    assert_non_null(p);
    assert_true(p->server_time_ms > 0);
    readstates__v1__ping_response__free_unpacked(p, NULL);
    ht_response_free(&r);
    rs_test_server_cleanup(&srv);
}

static void expect_error(int port, const char *method, const char *path, const char *ctype,
                         const char *body, int status, const char *code, bool twirp)
{
    ht_response r;
    assert_int_equal(
        ht_request(port, method, path, ctype, body, body ? strlen(body) : 0, NULL, &r), 0);
    if (r.status != status)
        fail_msg("%s %s: status %d, expected %d (%s)", method, path, r.status, status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    if (j == NULL)
        fail_msg("%s %s: error body is not JSON: %s", method, path, r.body);
    assert_string_equal(jstr(j, "code"), code);
    assert_true(strlen(jstr(j, twirp ? "msg" : "message")) > 0);
    assert_null(json_object_get(j, twirp ? "message" : "msg"));
    json_decref(j);
    ht_response_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    const char *args[] = {"--http-max-body", "1024", NULL};
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, args), 0);
    int port = srv.http_port;
    const char *json = "application/json";
    /* semantic errors from dispatch */
    expect_error(port, "POST", CONNECT "Ack", json, "{\"userId\":\"0\",\"channelId\":\"1\"}",
                 400, "invalid_argument", false);
    expect_error(port, "POST", TWIRP "Ack", json, "{\"channelId\":\"1\"}", 400,
                 "invalid_argument", true);
    /* malformed bodies */
    expect_error(port, "POST", CONNECT "Ack", json, "{\"userId\":", 400, "invalid_argument",
                 false);
    expect_error(port, "POST", TWIRP "Ack", json, "{\"userId\":true}", 400, "malformed", true);
    expect_error(port, "POST", CONNECT "Ack", "application/proto", "\xff\xff\xff", 400,
                 "invalid_argument", false);
    /* routing */
    expect_error(port, "POST", CONNECT "Nope", json, "{}", 404, "unimplemented", false);
    expect_error(port, "POST", TWIRP "Watch", json, "{}", 404, "bad_route", true);
    expect_error(port, "GET", CONNECT "Ack", NULL, NULL, 405, "unknown", false);
    expect_error(port, "PUT", TWIRP "Ack", json, "{}", 404, "bad_route", true);
    expect_error(port, "POST", TWIRP "Ack", "text/plain", "{}", 404, "bad_route", true);
    expect_error(port, "POST", CONNECT "Ack", "text/plain", "{}", 415, "unknown", false);
    expect_error(port, "POST", CONNECT "Ack", NULL, "{}", 415, "unknown", false);
    ht_response r;
    assert_int_equal(ht_request(port, "POST", CONNECT "Ping", json, "{}", 2,
                                "Content-Encoding: gzip\r\n", &r),
                     0);
    assert_int_equal(r.status, 501);
    assert_non_null(strstr(r.body, "\"code\":\"unimplemented\""));
    ht_response_free(&r);

    /* over --http-max-body: the connection layer refuses before parsing (413) */
    char big[4096];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    big[sizeof(big) - 2] = '}';
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ht_request(port, "POST", CONNECT "Ping", json, big, strlen(big), NULL, &r),
                     0);
    assert_int_equal(r.status, 413);
    ht_response_free(&r);
    /* the port still works */
    assert_int_equal(ht_get(port, "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    ht_response_free(&r);
    rs_test_server_cleanup(&srv);
}

static uint64_t metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    fail_msg("no series %s in /metrics", series);
    return 0;
}

typedef struct metric_wait {
    int port;
    const char *series;
    uint64_t want;
} metric_wait;

/* True once /metrics shows `series` at exactly `want`. */
static bool metric_is(void *arg)
{
    metric_wait *w = arg;
    ht_response r;
    if (ht_get(w->port, "/metrics", &r) != 0)
        return false;
    bool ok = false;
    size_t n = strlen(w->series);
    for (const char *p = r.body; p != NULL && (p = strstr(p, w->series)) != NULL; p += n)
        if ((p == r.body || p[-1] == '\n') && p[n] == ' ')
            ok = strtoull(p + n + 1, NULL, 10) == w->want;
    ht_response_free(&r);
    return ok;
}

typedef struct dash_wait {
    int port;
    int method_index;
} dash_wait;

/* True once /dashboard.json's history holds a second with Ack requests. */
static bool dashboard_has_acks(void *arg)
{
    dash_wait *w = arg;
    ht_response r;
    if (ht_get(w->port, "/dashboard.json", &r) != 0)
        return false;
    json_t *j = json_loads(r.body, 0, NULL);
    ht_response_free(&r);
    if (j == NULL)
        return false;
    bool found = false;
    json_t *req = json_array_get(json_object_get(json_object_get(j, "history"), "requests"),
                                 (size_t)w->method_index);
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) found = found || json_integer_value(v) > 0;
    json_decref(j);
    return found;
}

static void test_operator_endpoints(void **state)
{
    (void)state;
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, NULL), 0);
    int port = srv.http_port, st;
    for (int i = 1; i <= 5; i++) {
        char body[128];
        snprintf(body, sizeof(body),
                 "{\"userId\":\"1\",\"channelId\":\"2\",\"messageId\":\"%d\"}", i);
        json_decref(post_json(port, CONNECT "Ack", body, &st));
        assert_int_equal(st, 200);
    }
    json_decref(post_json(port, CONNECT "Ack", "{}", &st));
    assert_int_equal(st, 400);

    ht_response r;
    char ct[128];
    assert_int_equal(ht_get(port, "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    ht_response_free(&r);
    assert_int_equal(ht_get(port, "/readyz", &r), 0);
    assert_int_equal(r.status, 200);
    ht_response_free(&r);

    assert_int_equal(ht_get(port, "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(ht_header(&r, "Content-Type", ct, sizeof(ct)), 0);
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(
        metric_value(r.body, "readstates_requests_total{method=\"Ack\",code=\"ok\"}"), 5);
    assert_int_equal(
        metric_value(r.body,
                     "readstates_requests_total{method=\"Ack\",code=\"invalid_argument\"}"),
        1);
    assert_int_equal(
        metric_value(r.body, "readstates_request_duration_seconds_count{method=\"Ack\"}"), 6);
    assert_int_equal(metric_value(r.body, "readstates_cache_users"), 1);
    assert_int_equal(
        metric_value(r.body,
                     "readstates_http_requests_total{handler=\"connect\",code=\"2xx\"}"),
        5);
    assert_int_equal(
        metric_value(r.body,
                     "readstates_http_requests_total{handler=\"connect\",code=\"4xx\"}"),
        1);
    assert_int_equal(
        metric_value(r.body,
                     "readstates_http_requests_total{handler=\"healthz\",code=\"2xx\"}"),
        1);
    assert_true(metric_value(r.body, "process_resident_memory_bytes") > 0);
    assert_non_null(strstr(r.body, "\nprocess_cpu_seconds_total "));
    ht_response_free(&r);

    assert_int_equal(ht_get(port, "/dashboard", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(ht_header(&r, "Content-Type", ct, sizeof(ct)), 0);
    assert_string_equal(ct, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "dashboard.json"));
    assert_null(strstr(r.body, "<script src")); /* self-contained */
    assert_null(strstr(r.body, "<link"));
    ht_response_free(&r);

    dash_wait w = {port, 1 /* RS_METHOD_ACK */};
    assert_true(rs_poll_until(dashboard_has_acks, &w, 5000));

    assert_int_equal(ht_get(port, "/", &r), 0);
    assert_int_equal(r.status, 302);
    ht_response_free(&r);
    assert_int_equal(ht_get(port, "/favicon.ico", &r), 0);
    assert_int_equal(r.status, 204);
    ht_response_free(&r);
    assert_int_equal(ht_get(port, "/nope", &r), 0);
    assert_int_equal(r.status, 404);
    ht_response_free(&r);
    assert_int_equal(ht_request(port, "POST", "/metrics", NULL, "x", 1, NULL, &r), 0);
    assert_int_equal(r.status, 405);
    ht_response_free(&r);

    int code = -1;
    assert_int_equal(rs_test_server_stop(&srv, 20000, &code), 0);
    assert_int_equal(rs_proc_exit_code(&srv.proc), 0);
    rs_test_server_cleanup(&srv);
}

/* Two requests pipelined on one kept-alive connection both get answers. */
static void test_keepalive(void **state)
{
    (void)state;
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, NULL), 0);
    const char *body = "{\"userId\":\"3\",\"channelId\":\"4\",\"messageId\":\"5\"}";
    char req[1024];
    int n =
        snprintf(req, sizeof(req),
                 "POST " CONNECT "Ack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s"
                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                 strlen(body), body);
    char *out = ht_raw(srv.http_port, req, (size_t)n, 10000, NULL);
    assert_non_null(out);
    int replies = 0;
    for (const char *p = out; (p = strstr(p, "HTTP/1.1 200")) != NULL; p++)
        replies++;
    assert_int_equal(replies, 2);
    assert_non_null(strstr(out, "\"applied\":true"));
    free(out);
    rs_test_server_cleanup(&srv);
}

typedef struct ready_wait {
    int port;
    int status;
} ready_wait;

static bool readyz_is(void *arg)
{
    ready_wait *w = arg;
    ht_response r;
    if (ht_get(w->port, "/readyz", &r) != 0)
        return false;
    bool ok = r.status == w->status &&
              (w->status == 200 || strstr(r.body, "redis unreachable") != NULL);
    ht_response_free(&r);
    return ok;
}

static void test_readyz_follows_redis(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    const char *args[] = {"--redis", rs_test_redis_addr(&redis, addr, sizeof(addr)), NULL};
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, args), 0);
    ready_wait w = {srv.http_port, 200};
    assert_true(rs_poll_until(readyz_is, &w, 10000));

    rs_test_redis_kill9(&redis);
    w.status = 503;
    assert_true(rs_poll_until(readyz_is, &w, 15000));
    ht_response r;
    assert_int_equal(ht_get(srv.http_port, "/metrics", &r), 0);
    assert_int_equal(metric_value(r.body, "readstates_redis_up"), 0);
    assert_int_equal(metric_value(r.body, "readstates_ready"), 0);
    ht_response_free(&r);
    /* liveness is not readiness */
    assert_int_equal(ht_get(srv.http_port, "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    ht_response_free(&r);

    assert_int_equal(rs_test_redis_restart(&redis), 0);
    w.status = 200;
    assert_true(rs_poll_until(readyz_is, &w, 20000));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

static bool healthz_ok(void *arg)
{
    ht_response r;
    if (ht_get(*(int *)arg, "/healthz", &r) != 0)
        return false;
    bool ok = r.status == 200;
    ht_response_free(&r);
    return ok;
}

typedef struct log_wait {
    const char *path;
    const char *needle;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    char *text = rs_read_file(w->path, NULL);
    bool ok = text != NULL && strstr(text, w->needle) != NULL;
    free(text);
    return ok;
}

/* Write a Connect JSON Ack for (user, channel, msg) on fd; 0 or -1. */
static int send_ack(int fd, int user, int channel, int msg)
{
    char body[128], req[512];
    snprintf(body, sizeof(body),
             "{\"userId\":\"%d\",\"channelId\":\"%d\",\"messageId\":\"%d\"}", user, channel,
             msg);
    int n = snprintf(req, sizeof(req),
                     "POST " CONNECT "Ack HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    return rs_fd_write_all(fd, req, (size_t)n, 5000);
}

/*
 * Clients that leave while their call waits on storage: Redis is frozen
 * (SIGSTOP) under write-through, so every Ack waits; the clients hang up;
 * the replies come later and go to dead sockets (a connection is not read
 * while its request is served, so the hang-up shows when the reply is
 * written and the connection layer closes it). Run under the
 * sanitizers, a use of a freed request fails here.
 */
static void test_client_leaves_before_reply(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    const char *args[] = {"--redis",
                          rs_test_redis_addr(&redis, addr, sizeof(addr)),
                          "--durability",
                          "write-through",
                          "--redis-timeout-ms",
                          "1500",
                          "--log-level",
                          "debug",
                          NULL};
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, args), 0);
    int port = srv.http_port, st;
    json_decref(post_json(port, CONNECT "Ack",
                          "{\"userId\":\"1\",\"channelId\":\"1\",\"messageId\":\"1\"}", &st));
    assert_int_equal(st, 200);

    assert_int_equal(kill(redis.proc.pid, SIGSTOP), 0);
    int fds[12];
    for (int i = 0; i < 12; i++) {
        fds[i] = rs_tcp_connect(port, 5000);
        assert_true(fds[i] >= 0);
        assert_int_equal(send_ack(fds[i], 1 + i % 3, 1, 10 + i), 0);
    }
    /* every call is read and waits on the frozen Redis */
    metric_wait waiting = {port, "readstates_requests_in_flight", 12};
    assert_true(rs_poll_until(metric_is, &waiting, 10000));
    for (int i = 0; i < 12; i++) {
        if (i % 2)
            shutdown(fds[i], SHUT_RDWR); /* half of them loudly */
        close(fds[i]);
    }
    assert_int_equal(kill(redis.proc.pid, SIGCONT), 0);
    /* the answers arrive (or time out) and are dropped; the port lives on */
    /* every reply fires (to a closed socket) */
    metric_wait done = {port, "readstates_requests_in_flight", 0};
    assert_true(rs_poll_until(metric_is, &done, 15000));
    assert_true(rs_proc_alive(&srv.proc));
    assert_true(rs_poll_until(healthz_ok, &port, 10000));
    json_decref(post_json(port, CONNECT "Ack",
                          "{\"userId\":\"9\",\"channelId\":\"1\",\"messageId\":\"1\"}", &st));
    assert_true(st == 200 || st == 503);

    int code = -1;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &code), 0);
    if (rs_proc_exit_code(&srv.proc) != 0) {
        rs_proc_dump_log(&srv.proc, "readstated", stderr, 4000);
        fail_msg("readstated exited with %d", rs_proc_exit_code(&srv.proc));
    }
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/*
 * Shutdown with HTTP calls still waiting: Redis is frozen, the drain and
 * the final flush give up (short --shutdown-timeout-ms, long Redis
 * timeout), so http_stop closes connections whose calls have no answer
 * yet. Their gone callbacks must drop the requests, and the calls must be
 * freed when dispatch lets go: no crash, no leak (the
 * sanitizer build aborts on either), exit code 1 for the unflushed states.
 */
static void test_stop_with_calls_pending(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    const char *args[] = {"--redis",
                          rs_test_redis_addr(&redis, addr, sizeof(addr)),
                          "--durability",
                          "write-through",
                          "--redis-timeout-ms",
                          "20000",
                          "--shutdown-timeout-ms",
                          "500",
                          "--log-level",
                          "debug",
                          NULL};
    const char *env[] = {"ASAN_OPTIONS=detect_leaks=1:abort_on_error=1", NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.args = args, .env = env, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    int port = srv.http_port, st;
    json_decref(post_json(port, CONNECT "Ack",
                          "{\"userId\":\"1\",\"channelId\":\"1\",\"messageId\":\"1\"}", &st));
    assert_int_equal(st, 200);

    assert_int_equal(kill(redis.proc.pid, SIGSTOP), 0);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = rs_tcp_connect(port, 5000);
        assert_true(fds[i] >= 0);
        assert_int_equal(send_ack(fds[i], 1 + i, 2, 20 + i), 0);
    }
    metric_wait waiting = {port, "readstates_requests_in_flight", 4};
    assert_true(rs_poll_until(metric_is, &waiting, 10000));
    int ws = 0;
    rs_test_server_stop(&srv, 30000, &ws);
    for (int i = 0; i < 4; i++) {
        /* the server closed them without an answer */
        assert_true(rs_fd_wait_closed(fds[i], 5000));
        close(fds[i]);
    }
    kill(redis.proc.pid, SIGCONT);
    int code = rs_proc_exit_code(&srv.proc);
    if (code != 0 && code != 1) {
        rs_proc_dump_log(&srv.proc, "readstated", stderr, 6000);
        fail_msg("readstated ended with %d", code);
    }
    log_wait w = {srv.proc.stderr_path, "event=http_client_gone method=Ack"};
    assert_true(log_has(&w));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

/* Read one HTTP response (headers and a Content-Length body) from fd into
 * buf; returns its length, or -1 on timeout, error or EOF before the end. */
static ssize_t read_response(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    long long end = rs_mono_ms() + timeout_ms;
    for (;;) {
        buf[len] = '\0';
        const char *hdr_end = strstr(buf, "\r\n\r\n");
        if (hdr_end != NULL) {
            const char *cl = strstr(buf, "Content-Length: ");
            size_t body = cl != NULL && cl < hdr_end ? strtoul(cl + 16, NULL, 10) : 0;
            if (len >= (size_t)(hdr_end + 4 - buf) + body)
                return (ssize_t)len;
        }
        long long left = end - rs_mono_ms();
        if (left <= 0 || len + 1 >= cap)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
}

static bool http_port_refuses(void *arg)
{
    int fd = rs_tcp_connect(*(int *)arg, 1000);
    if (fd < 0)
        return true;
    close(fd);
    return false;
}

/*
 * Graceful shutdown on the HTTP port: SIGTERM while a write-through Ack
 * waits for a frozen Redis. The port stops accepting; a new RPC on an open
 * keep-alive connection gets 503 unavailable; the waiting Ack is answered
 * 200 once Redis is back, and the server exits 0 with everything flushed.
 */
static void test_shutdown_drains_http(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    const char *args[] = {"--redis",
                          rs_test_redis_addr(&redis, addr, sizeof(addr)),
                          "--durability",
                          "write-through",
                          "--redis-timeout-ms",
                          "20000",
                          NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    int port = srv.http_port;
    char buf[4096];
    int idle = rs_tcp_connect(port, 5000); /* keep-alive, used after SIGTERM */
    assert_true(idle >= 0);
    assert_int_equal(send_ack(idle, 1, 2, 1), 0);
    assert_true(read_response(idle, buf, sizeof(buf), 5000) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));

    assert_int_equal(kill(redis.proc.pid, SIGSTOP), 0);
    int waiting = rs_tcp_connect(port, 5000);
    assert_true(waiting >= 0);
    assert_int_equal(send_ack(waiting, 2, 2, 7), 0);
    metric_wait inflight = {port, "readstates_requests_in_flight", 1};
    assert_true(rs_poll_until(metric_is, &inflight, 10000));

    assert_int_equal(kill(srv.proc.pid, SIGTERM), 0);
    assert_true(rs_poll_until(http_port_refuses, &port, 10000));
    assert_int_equal(send_ack(idle, 3, 2, 9), 0);
    assert_true(read_response(idle, buf, sizeof(buf), 5000) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 503"));
    assert_non_null(strstr(buf, "\"unavailable\""));

    assert_int_equal(kill(redis.proc.pid, SIGCONT), 0);
    if (read_response(waiting, buf, sizeof(buf), 10000) <= 0) {
        rs_proc_dump_log(&srv.proc, "readstated", stderr, 6000);
        fail_msg("the waiting call got no answer");
    }
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "\"applied\":true"));
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&srv, 30000, &ws), 0);
    if (rs_proc_exit_code(&srv.proc) != 0) {
        rs_proc_dump_log(&srv.proc, "readstated", stderr, 4000);
        fail_msg("readstated exited with %d", rs_proc_exit_code(&srv.proc));
    }
    close(idle);
    close(waiting);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

static void test_request_log(void **state)
{
    (void)state;
    const char *args[] = {"--log-requests", NULL};
    rs_test_server srv;
    assert_int_equal(start_http_server(&srv, args), 0);
    ht_response r;
    assert_int_equal(ht_get(srv.http_port, "/healthz", &r), 0);
    ht_response_free(&r);
    expect_error(srv.http_port, "POST", CONNECT "Nope", "application/json", "{}", 404,
                 "unimplemented", false);
    log_wait w = {srv.proc.stderr_path,
                  "level=info event=request transport=http path=/healthz result=OK "
                  "http_status=200"};
    assert_true(rs_poll_until(log_has, &w, 5000));
    w.needle = "path=" CONNECT "Nope result=unimplemented http_status=404";
    assert_true(rs_poll_until(log_has, &w, 5000));
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_json),
        cmocka_unit_test(test_connect_proto),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_operator_endpoints),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_readyz_follows_redis),
        cmocka_unit_test(test_client_leaves_before_reply),
        cmocka_unit_test(test_stop_with_calls_pending),
        cmocka_unit_test(test_request_log),
        cmocka_unit_test(test_shutdown_drains_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
