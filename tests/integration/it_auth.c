/*
 * it_auth.c: tokens (--auth-token-file) on the real readstated, both ports,
 * with the real readstatectl and readstate-loadgen.
 *
 *   TCP    a call before Auth gets UNAUTHENTICATED; a wrong token too; the
 *          third failure closes the connection; Auth then calls pipelined
 *          behind it in one write all answer OK
 *   HTTP   no header -> 401 (Connect and Twirp bodies, WWW-Authenticate),
 *          a wrong token -> 401, the right one -> 200; /healthz, /readyz
 *          and /metrics open; with --auth-admin /metrics and /dashboard
 *          need the token
 *   SIGHUP the token file rewritten: the old token stops working and the
 *          new one works without a restart; a file that does not load
 *          keeps the tokens in use
 *   tools  readstatectl with --token / --token-file / READSTATES_TOKEN, and
 *          without one (a clear message, exit 16); the load generator
 *          with --token-file runs with no errors
 *   start  an empty token file stops the start; without the flag the
 *          server says it accepts unauthenticated calls and answers Auth OK
 */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_test_client.h"
#include "rs_client.h"
#include "rs_testsupport.h"

#ifndef RS_LOADGEN_BIN
#define RS_LOADGEN_BIN "readstate-loadgen"
#endif

#define TOKEN_A "itauth-token-A-5b1f0c7e2d"
#define TOKEN_B "itauth-token-B-9a3e44d1c8"
#define CONNECT "/readstates.v1.ReadStates/"
#define TWIRP   "/twirp/readstates.v1.ReadStates/"
#define WAIT_MS 10000

typedef struct fx {
    char dir[PATH_MAX];
    char tokens[PATH_MAX + 16];
    rs_test_server srv;
} fx;

static int start_with(fx *f, const char *const *extra)
{
    const char *args[16];
    int n = 0;
    args[n++] = "--auth-token-file";
    args[n++] = f->tokens;
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 14; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    rs_test_server_opts o = {.args = args, .http = true};
    return rs_test_server_start_opts(&f->srv, &o);
}

static int setup_common(void **state, const char *const *extra)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL || rs_tmpdir_create("it-auth", f->dir, sizeof(f->dir)) != 0)
        return -1;
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens", f->dir);
    if (rs_write_file(f->tokens, "# test tokens\n" TOKEN_A "\n") != 0 ||
        start_with(f, extra) != 0)
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_common(state, NULL);
}

static int setup_admin(void **state)
{
    static const char *const admin[] = {"--auth-admin", NULL};
    return setup_common(state, admin);
}

static int teardown(void **state)
{
    fx *f = *state;
    int ws = 0;
    rs_test_server_stop(&f->srv, 0, &ws);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        rs_proc_dump_log(&f->srv.proc, "readstated", stderr, 4000);
    rs_test_server_cleanup(&f->srv);
    rs_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static rs_client *connect_(const fx *f)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", f->srv.port, WAIT_MS, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    return c;
}

static char *server_log(const fx *f)
{
    char *log = rs_read_file(f->srv.proc.stderr_path, NULL);
    assert_non_null(log);
    return log;
}

/* ---- raw frames ---------------------------------------------------------- */

static size_t put_request(uint8_t *buf, size_t cap, Readstates__V1__Request *req)
{
    size_t n = readstates__v1__request__get_packed_size(req);
    assert_true(n + 4 <= cap);
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    readstates__v1__request__pack(req, buf + 4);
    return n + 4;
}

static size_t put_auth(uint8_t *buf, size_t cap, uint64_t id, const char *token)
{
    Readstates__V1__AuthRequest a = READSTATES__V1__AUTH_REQUEST__INIT;
    a.token = (char *)token;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.id = id;
    r.call_case = READSTATES__V1__REQUEST__CALL_AUTH;
    r.auth = &a;
    return put_request(buf, cap, &r);
}

static size_t put_ping(uint8_t *buf, size_t cap, uint64_t id)
{
    Readstates__V1__PingRequest p = READSTATES__V1__PING_REQUEST__INIT;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.id = id;
    r.call_case = READSTATES__V1__REQUEST__CALL_PING;
    r.ping = &p;
    return put_request(buf, cap, &r);
}

static size_t put_ack(uint8_t *buf, size_t cap, uint64_t id, uint64_t user, uint64_t msg)
{
    Readstates__V1__AckRequest a = READSTATES__V1__ACK_REQUEST__INIT;
    a.user_id = user;
    a.channel_id = 7;
    a.message_id = msg;
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.id = id;
    r.call_case = READSTATES__V1__REQUEST__CALL_ACK;
    r.ack = &a;
    return put_request(buf, cap, &r);
}

/* Read exactly n bytes within WAIT_MS. */
static int read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    long long deadline = rs_mono_ms() + WAIT_MS;
    while (got < n && rs_mono_ms() < deadline) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            return -1;
        else
            return -1; /* SO_RCVTIMEO passed, or an error */
    }
    return got == n ? 0 : -1;
}

static Readstates__V1__Response *recv_response(int fd)
{
    uint8_t h[4];
    if (read_full(fd, h, 4) != 0)
        return NULL;
    size_t n = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    Readstates__V1__Response *resp = NULL;
    if (read_full(fd, p, n) == 0)
        resp = readstates__v1__response__unpack(NULL, n, p);
    free(p);
    return resp;
}

/* A raw connection whose reads give up after WAIT_MS. */
static int raw_connect(const fx *f)
{
    int fd = rs_tcp_connect(f->srv.port, WAIT_MS);
    assert_true(fd >= 0);
    struct timeval tv = {WAIT_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static int resp_code(const Readstates__V1__Response *r)
{
    return r->status != NULL ? (int)r->status->code : 0;
}

/* ---- TCP ------------------------------------------------------------------- */

static void test_tcp_call_before_auth(void **state)
{
    fx *f = *state;
    rs_client *c = connect_(f);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(rs_client_errmsg(c), "UNAUTHENTICATED"));
    assert_non_null(strstr(rs_client_errmsg(c), "Auth"));
    rs_client_ack_result r;
    assert_int_equal(rs_client_ack(c, 1, 2, 3, 0, &r), RS_ERR_UNAUTHENTICATED);
    /* still open (two failures): Auth, then everything works */
    assert_int_equal(rs_client_auth(c, TOKEN_A), RS_OK);
    assert_int_equal(rs_client_ack(c, 1, 2, 3, 0, &r), RS_OK);
    assert_true(r.applied);
    rs_client_close(c);
}

static void test_tcp_wrong_token(void **state)
{
    fx *f = *state;
    rs_client *c = connect_(f);
    assert_int_equal(rs_client_auth(c, TOKEN_B), RS_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(rs_client_errmsg(c), "not valid"));
    assert_int_equal(rs_client_auth(c, ""), RS_ERR_UNAUTHENTICATED);
    assert_int_equal(rs_client_auth(c, TOKEN_A), RS_OK);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_OK);
    /* authenticated: a wrong token now is refused, the connection stays */
    assert_int_equal(rs_client_auth(c, TOKEN_B), RS_ERR_UNAUTHENTICATED);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_OK);
    rs_client_close(c);
}

static void test_tcp_three_failures_close(void **state)
{
    fx *f = *state;
    int fd = raw_connect(f);
    uint8_t buf[512];
    size_t n = put_ping(buf, sizeof(buf), 1);
    n += put_auth(buf + n, sizeof(buf) - n, 2, "wrong-token-0123456789");
    n += put_ping(buf + n, sizeof(buf) - n, 3);
    n += put_auth(buf + n, sizeof(buf) - n, 4, TOKEN_A); /* too late */
    n += put_ping(buf + n, sizeof(buf) - n, 5);
    assert_int_equal(rs_fd_write_all(fd, buf, n, WAIT_MS), 0);
    for (uint64_t id = 1; id <= 3; id++) {
        Readstates__V1__Response *r = recv_response(fd);
        assert_non_null(r);
        assert_int_equal(r->id, id);
        assert_int_equal(resp_code(r), 16);
        if (id == 3)
            assert_non_null(strstr(r->status->message, "closing"));
        readstates__v1__response__free_unpacked(r, NULL);
    }
    /* nothing more is answered: the connection closes */
    assert_null(recv_response(fd));
    assert_true(rs_fd_wait_closed(fd, WAIT_MS));
    close(fd);
    char *log = server_log(f);
    assert_non_null(strstr(log, "event=auth_closed"));
    free(log);
    ht_response m;
    assert_int_equal(ht_get(f->srv.http_port, "/metrics", &m), 0);
    assert_non_null(strstr(m.body, "readstates_auth_closed_total 1"));
    assert_non_null(strstr(m.body, "readstates_auth_failures_total{transport=\"tcp\"}"));
    assert_null(strstr(m.body, "readstates_auth_failures_total{transport=\"tcp\"} 0\n"));
    ht_response_free(&m);
}

static void test_tcp_pipelined_after_auth(void **state)
{
    fx *f = *state;
    int fd = raw_connect(f);
    uint8_t buf[1024];
    size_t n = put_auth(buf, sizeof(buf), 100, TOKEN_A);
    for (uint64_t i = 1; i <= 8; i++)
        n += put_ack(buf + n, sizeof(buf) - n, 100 + i, 4242, i * 10);
    n += put_ping(buf + n, sizeof(buf) - n, 109);
    assert_int_equal(rs_fd_write_all(fd, buf, n, WAIT_MS), 0); /* one write */
    bool seen[10] = {false};
    for (int k = 0; k < 10; k++) {
        Readstates__V1__Response *r = recv_response(fd);
        assert_non_null(r);
        assert_true(r->id >= 100 && r->id <= 109);
        assert_int_equal(resp_code(r), 0);
        if (r->id == 100)
            assert_int_equal(r->result_case, READSTATES__V1__RESPONSE__RESULT_AUTH);
        else if (r->id < 109)
            assert_true(r->ack->applied);
        seen[r->id - 100] = true;
        readstates__v1__response__free_unpacked(r, NULL);
    }
    for (int k = 0; k < 10; k++)
        assert_true(seen[k]);
    close(fd);
}

/* ---- HTTP ------------------------------------------------------------------ */

static json_t *post(const fx *f, const char *path, const char *headers, int *status, char *www,
                    size_t wwwlen)
{
    static const char body[] = "{\"userId\":\"4242\"}";
    ht_response r;
    assert_int_equal(ht_request(f->srv.http_port, "POST", path, "application/json", body,
                                strlen(body), headers, &r),
                     0);
    *status = r.status;
    if (www != NULL && ht_header(&r, "WWW-Authenticate", www, wwwlen) != 0)
        www[0] = '\0';
    json_error_t jerr;
    json_t *j = json_loads(r.body, 0, &jerr);
    if (j == NULL)
        fail_msg("%s: not JSON: %s", path, r.body);
    ht_response_free(&r);
    return j;
}

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void test_http_rpc(void **state)
{
    fx *f = *state;
    int st;
    char www[256];
    /* no header: Connect */
    json_t *j = post(f, CONNECT "GetReadStates", NULL, &st, www, sizeof(www));
    assert_int_equal(st, 401);
    assert_string_equal(jstr(j, "code"), "unauthenticated");
    assert_non_null(strstr(jstr(j, "message"), "Authorization: Bearer"));
    assert_true(strncmp(www, "Bearer", 6) == 0);
    json_decref(j);
    /* no header: Twirp (its message is "msg") */
    j = post(f, TWIRP "GetReadStates", NULL, &st, www, sizeof(www));
    assert_int_equal(st, 401);
    assert_string_equal(jstr(j, "code"), "unauthenticated");
    assert_true(strlen(jstr(j, "msg")) > 0);
    assert_true(strncmp(www, "Bearer", 6) == 0);
    json_decref(j);
    /* a wrong token, another scheme */
    j = post(f, CONNECT "GetReadStates", "Authorization: Bearer " TOKEN_B "\r\n", &st, www,
             sizeof(www));
    assert_int_equal(st, 401);
    assert_string_equal(jstr(j, "code"), "unauthenticated");
    assert_non_null(strstr(www, "invalid_token"));
    json_decref(j);
    j = post(f, TWIRP "GetReadStates", "Authorization: Basic " TOKEN_A "\r\n", &st, NULL, 0);
    assert_int_equal(st, 401);
    json_decref(j);
    /* unknown methods are not told apart without a token */
    j = post(f, CONNECT "NoSuchMethod", NULL, &st, NULL, 0);
    assert_int_equal(st, 401);
    json_decref(j);
    /* the right token, any case of the scheme */
    j = post(f, CONNECT "GetReadStates", "Authorization: Bearer " TOKEN_A "\r\n", &st, NULL, 0);
    assert_int_equal(st, 200);
    json_decref(j);
    j = post(f, TWIRP "GetReadStates", "Authorization: bearer " TOKEN_A "\r\n", &st, NULL, 0);
    assert_int_equal(st, 200);
    json_decref(j);
    /* operator endpoints stay open by default */
    static const char *const open_paths[] = {"/healthz", "/readyz", "/metrics", "/dashboard",
                                             "/dashboard.json"};
    for (size_t i = 0; i < sizeof(open_paths) / sizeof(open_paths[0]); i++) {
        ht_response r;
        assert_int_equal(ht_get(f->srv.http_port, open_paths[i], &r), 0);
        if (r.status != 200)
            fail_msg("%s: %d", open_paths[i], r.status);
        if (strcmp(open_paths[i], "/metrics") == 0)
            assert_null(
                strstr(r.body, "readstates_auth_failures_total{transport=\"http\"} 0\n"));
        ht_response_free(&r);
    }
    char *log = server_log(f);
    assert_non_null(strstr(log, "event=auth mode=tokens tokens=1 admin_protected=false"));
    free(log);
}

static void test_http_admin(void **state)
{
    fx *f = *state;
    static const char *const closed[] = {"/metrics", "/dashboard", "/dashboard.json"};
    for (size_t i = 0; i < 3; i++) {
        ht_response r;
        assert_int_equal(ht_get(f->srv.http_port, closed[i], &r), 0);
        if (r.status != 401)
            fail_msg("%s without a token: %d", closed[i], r.status);
        char www[128];
        assert_int_equal(ht_header(&r, "WWW-Authenticate", www, sizeof(www)), 0);
        ht_response_free(&r);
        assert_int_equal(ht_request(f->srv.http_port, "GET", closed[i], NULL, NULL, 0,
                                    "Authorization: Bearer " TOKEN_B "\r\n", &r),
                         0);
        assert_int_equal(r.status, 401);
        ht_response_free(&r);
        assert_int_equal(ht_request(f->srv.http_port, "GET", closed[i], NULL, NULL, 0,
                                    "Authorization: Bearer " TOKEN_A "\r\n", &r),
                         0);
        if (r.status != 200)
            fail_msg("%s with the token: %d", closed[i], r.status);
        ht_response_free(&r);
    }
    static const char *const open_paths[] = {"/healthz", "/readyz"};
    for (size_t i = 0; i < 2; i++) {
        ht_response r;
        assert_int_equal(ht_get(f->srv.http_port, open_paths[i], &r), 0);
        assert_int_equal(r.status, 200);
        ht_response_free(&r);
    }
    char *log = server_log(f);
    assert_non_null(strstr(log, "event=auth mode=tokens tokens=1 admin_protected=true"));
    free(log);
}

/* ---- SIGHUP ---------------------------------------------------------------- */

typedef struct log_wait {
    const fx *f;
    const char *what;
    int count;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    char *log = rs_read_file(w->f->srv.proc.stderr_path, NULL);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, w->what)) != NULL; p++)
        n++;
    free(log);
    return n >= w->count;
}

static int http_status_with(const fx *f, const char *token)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", token);
    int st;
    json_t *j = post(f, CONNECT "Ping", hdr, &st, NULL, 0);
    json_decref(j);
    return st;
}

static rs_status tcp_auth(const fx *f, const char *token)
{
    rs_client *c = connect_(f);
    rs_status st = rs_client_auth(c, token);
    if (st == RS_OK)
        st = rs_client_ping(c, NULL, NULL, 0);
    rs_client_close(c);
    return st;
}

static void test_sighup_rotates_tokens(void **state)
{
    fx *f = *state;
    rs_client *kept = connect_(f);
    assert_int_equal(rs_client_auth(kept, TOKEN_A), RS_OK);
    assert_int_equal(http_status_with(f, TOKEN_A), 200);
    assert_int_equal(http_status_with(f, TOKEN_B), 401);
    pid_t pid = f->srv.proc.pid;

    /* the same path, rewritten in place: B replaces A */
    assert_int_equal(rs_write_file(f->tokens, TOKEN_B "\n"), 0);
    assert_int_equal(kill(pid, SIGHUP), 0);
    log_wait w = {f, "event=reload_auth mode=tokens tokens=1", 1};
    assert_true(rs_poll_until(log_has, &w, WAIT_MS));
    assert_int_equal(http_status_with(f, TOKEN_A), 401);
    assert_int_equal(http_status_with(f, TOKEN_B), 200);
    assert_int_equal(tcp_auth(f, TOKEN_A), RS_ERR_UNAUTHENTICATED);
    assert_int_equal(tcp_auth(f, TOKEN_B), RS_OK);
    /* a connection authenticated before stays so */
    assert_int_equal(rs_client_ping(kept, NULL, NULL, 0), RS_OK);

    /* a file that does not load keeps the tokens in use */
    assert_int_equal(rs_write_file(f->tokens, "# being rewritten\n"), 0);
    assert_int_equal(kill(pid, SIGHUP), 0);
    log_wait wf = {f, "event=reload_failed what=auth-token-file", 1};
    assert_true(rs_poll_until(log_has, &wf, WAIT_MS));
    assert_int_equal(http_status_with(f, TOKEN_B), 200);
    assert_int_equal(tcp_auth(f, TOKEN_B), RS_OK);

    /* two tokens (a rotation's overlap) */
    assert_int_equal(rs_write_file(f->tokens, TOKEN_A "\n" TOKEN_B "\n"), 0);
    assert_int_equal(kill(pid, SIGHUP), 0);
    log_wait w2 = {f, "event=reload_auth mode=tokens tokens=2", 1};
    assert_true(rs_poll_until(log_has, &w2, WAIT_MS));
    assert_int_equal(http_status_with(f, TOKEN_A), 200);
    assert_int_equal(http_status_with(f, TOKEN_B), 200);
    assert_true(rs_proc_alive(&f->srv.proc));
    rs_client_close(kept);
}

/* ---- readstatectl and the load generator ------------------------------- */

static int ctl(const fx *f, const char *const *opts, const char *const *env, char **out,
               char **err)
{
    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%d", f->srv.port);
    const char *argv[16] = {rs_test_readstatectl_bin(), "--server", server};
    int n = 3;
    for (int i = 0; opts != NULL && opts[i] != NULL && n < 12; i++)
        argv[n++] = opts[i];
    argv[n++] = "get";
    argv[n++] = "4242";
    argv[n] = NULL;
    return rs_run(argv, env, WAIT_MS, out, err);
}

static void test_readstatectl(void **state)
{
    fx *f = *state;
    char *out = NULL, *err = NULL;
    static const char *const with_token[] = {"--token", TOKEN_A, NULL};
    assert_int_equal(ctl(f, with_token, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "user_version"));
    free(out);
    free(err);

    static const char *const no_env[] = {"READSTATES_TOKEN=", NULL};
    assert_int_equal(ctl(f, NULL, no_env, &out, &err), 16);
    assert_non_null(strstr(err, "error: UNAUTHENTICATED"));
    assert_non_null(strstr(err, "--token"));
    free(out);
    free(err);

    static const char *const wrong[] = {"--token", TOKEN_B, NULL};
    assert_int_equal(ctl(f, wrong, NULL, &out, &err), 16);
    assert_non_null(strstr(err, "refused the token"));
    free(out);
    free(err);

    char tf[PATH_MAX + 16];
    snprintf(tf, sizeof(tf), "%s/ctl-token", f->dir);
    assert_int_equal(rs_write_file(tf, "# mine\n\n  " TOKEN_A "  \n"), 0);
    const char *const from_file[] = {"--token-file", tf, NULL};
    assert_int_equal(ctl(f, from_file, NULL, &out, &err), 0);
    free(out);
    free(err);

    static const char *const env[] = {"READSTATES_TOKEN=" TOKEN_A, NULL};
    assert_int_equal(ctl(f, NULL, env, &out, &err), 0);
    free(out);
    free(err);
}

static const char *loadgen_bin(void)
{
    const char *b = getenv("READSTATE_LOADGEN_BIN");
    return b != NULL && *b != '\0' ? b : RS_LOADGEN_BIN;
}

static void test_loadgen(void **state)
{
    fx *f = *state;
    char target[64], json_path[PATH_MAX + 16], tf[PATH_MAX + 16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", f->srv.port);
    snprintf(json_path, sizeof(json_path), "%s/lg.json", f->dir);
    snprintf(tf, sizeof(tf), "%s/lg-token", f->dir);
    assert_int_equal(rs_write_file(tf, TOKEN_A "\n"), 0);
    const char *argv[] = {loadgen_bin(), "--target",   target, "--token-file",  tf,  "--rate",
                          "1000",        "--duration", "1",    "--connections", "4", "--json",
                          json_path,     "--quiet",    NULL};
    char *out = NULL, *err = NULL;
    int rc = rs_run(argv, NULL, 60000, &out, &err);
    if (rc != 0)
        fail_msg("loadgen exited %d: %s", rc, err);
    free(out);
    free(err);
    json_error_t jerr;
    json_t *doc = json_load_file(json_path, 0, &jerr);
    assert_non_null(doc);
    json_t *totals = json_object_get(doc, "totals");
    assert_true(json_number_value(json_object_get(totals, "answered")) >= 900);
    assert_true(json_number_value(json_object_get(totals, "errors")) == 0);
    json_decref(doc);

    /* a wrong token stops the run with a clear message */
    const char *bad[] = {loadgen_bin(), "--target",   target, "--token", TOKEN_B, "--rate",
                         "100",         "--duration", "1",    "--quiet", NULL};
    rc = rs_run(bad, NULL, 60000, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "refused the token"));
    free(out);
    free(err);
}

/* ---- start-up -------------------------------------------------------------- */

static void test_start_errors_and_off(void **state)
{
    fx *f = *state;
    char empty[PATH_MAX + 16];
    snprintf(empty, sizeof(empty), "%s/empty", f->dir);
    assert_int_equal(rs_write_file(empty, "# nothing yet\n"), 0);
    const char *argv[] = {rs_test_readstated_bin(), "--listen", "127.0.0.1:0", "--http", "off",
                          "--auth-token-file",      empty,      NULL};
    char *out = NULL, *err = NULL;
    int rc = rs_run(argv, NULL, WAIT_MS, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "what=auth-token-file"));
    free(out);
    free(err);
    const char *argv2[] = {rs_test_readstated_bin(), "--listen", "127.0.0.1:0", "--http", "off",
                           "--auth-admin",           NULL};
    rc = rs_run(argv2, NULL, WAIT_MS, &out, &err);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "--auth-admin needs --auth-token-file"));
    free(out);
    free(err);

    /* without the flag: a warning at start, and Auth answers OK */
    rs_test_server off;
    assert_int_equal(rs_test_server_start(&off, NULL), 0);
    char errbuf[256];
    rs_client *c = rs_client_connect("127.0.0.1", off.port, WAIT_MS, errbuf, sizeof(errbuf));
    assert_non_null(c);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_OK);
    assert_int_equal(rs_client_auth(c, "anything"), RS_OK);
    rs_client_close(c);
    char *log = rs_read_file(off.proc.stderr_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(
        log, "level=warn event=auth mode=off warning=\"accepting unauthenticated calls\""));
    free(log);
    int ws = 0;
    rs_test_server_stop(&off, 0, &ws);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    rs_test_server_cleanup(&off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tcp_call_before_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_three_failures_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_pipelined_after_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_rpc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_admin, setup_admin, teardown),
        cmocka_unit_test_setup_teardown(test_sighup_rotates_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readstatectl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loadgen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_errors_and_off, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
