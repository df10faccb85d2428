/*
 * it_secrets.c: the Redis secrets of a real readstated against a real
 * redis-server that requires them.
 *
 *  - --redis-password VALUE on the command line: /proc/PID/cmdline no
 *    longer holds the value once the server listens, a warning names the
 *    flag and the safer ways, and the server still authenticates (an
 *    acknowledged write lands in Redis);
 *  - --redis-password=VALUE and a SIGHUP: the reload (which parses the
 *    scrubbed argv again) reports no change of redis-password, and the
 *    server keeps writing with the real one;
 *  - --redis-password-file: the write lands; an empty file is a start-up
 *    error (exit 2) naming the flag;
 *  - --redis-user with READSTATED_REDIS_PASSWORD: an ACL user
 *    (ACL SETUSER rsuser on >secretpass ~readstates:* +@all) while the
 *    default user's password is another one; the write lands through that
 *    user (CLIENT LIST shows it). With a wrong password the server stays
 *    up, logs the failed AUTH and /readyz answers 503.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rs_client.h"
#include "rs_testsupport.h"

#define TIMEOUT_MS 10000

/* The default user's password while a test runs. */
#define REQUIREPASS "s3cret-requirepass-7c1d"

typedef struct env {
    rs_test_redis redis;
    rs_test_server srv;
    char dir[PATH_MAX];
    char addr[64];
} env;

static int env_setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    if (e == NULL || rs_test_redis_start(&e->redis) != 0 ||
        rs_tmpdir_create("secrets", e->dir, sizeof(e->dir)) != 0)
        return -1;
    rs_test_redis_addr(&e->redis, e->addr, sizeof(e->addr));
    /* every connection from here on must AUTH as the default user */
    redisContext *r = rs_test_redis_connect(&e->redis);
    if (r == NULL)
        return -1;
    redisReply *rep = redisCommand(r, "CONFIG SET requirepass %s", REQUIREPASS);
    bool ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(r);
    *state = e;
    return ok ? 0 : -1;
}

static int env_teardown(void **state)
{
    env *e = *state;
    rs_test_server_cleanup(&e->srv);
    rs_test_redis_cleanup(&e->redis);
    rs_tmpdir_remove(e->dir);
    free(e);
    return 0;
}

/* A test's own readstated is stopped by the test; between tests the
 * server struct is reused. */
static int srv_reset(void **state)
{
    env *e = *state;
    rs_test_server_cleanup(&e->srv);
    memset(&e->srv, 0, sizeof(e->srv));
    return 0;
}

/* An authenticated hiredis connection (as the default user). */
static redisContext *redis_admin(const env *e)
{
    redisContext *r = rs_test_redis_connect(&e->redis);
    assert_non_null(r);
    redisReply *rep = redisCommand(r, "AUTH %s", REQUIREPASS);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    return r;
}

static void redis_cmd(const env *e, const char *cmd)
{
    redisContext *r = redis_admin(e);
    redisReply *rep = redisCommand(r, cmd);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", cmd, rep->str);
    freeReplyObject(rep);
    redisFree(r);
}

typedef struct stored_wait {
    const env *e;
    unsigned long long user, channel, message;
} stored_wait;

static bool stored_is(void *arg)
{
    stored_wait *w = arg;
    redisContext *r = redis_admin(w->e);
    redisReply *rep = redisCommand(r, "HGET readstates:{%llu} %llu", w->user, w->channel);
    bool ok = false;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        unsigned long long v, m;
        ok = sscanf(rep->str, "%llu:%llu", &v, &m) == 2 && m == w->message;
    }
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(r);
    return ok;
}

/* Ack (user, channel, message) through the server and wait until Redis
 * holds it: the server got through AUTH. */
static void write_lands(const env *e, uint64_t user, uint64_t channel, uint64_t message)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", e->srv.port, TIMEOUT_MS, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    assert_int_equal(rs_client_ack(c, user, channel, message, 0, NULL), RS_OK);
    rs_client_close(c);
    stored_wait w = {e, user, channel, message};
    if (!rs_poll_until(stored_is, &w, TIMEOUT_MS)) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("user %llu channel %llu message %llu never reached Redis",
                 (unsigned long long)user, (unsigned long long)channel,
                 (unsigned long long)message);
    }
}

/* Whether needle occurs in the n bytes at buf (NULs included). */
static bool bytes_have(const char *buf, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return true;
    return false;
}

/* /proc/PID/cmdline: the arguments NUL-separated; true if needle occurs
 * anywhere in them. */
static bool cmdline_has(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *buf = rs_read_file(path, &len);
    assert_non_null(buf);
    assert_true(len > 0);
    bool found = bytes_have(buf, len, needle);
    /* the flag itself stays readable: ps shows that one was given */
    assert_true(bytes_have(buf, len, "--redis-password"));
    free(buf);
    return found;
}

static char *server_log(const env *e)
{
    char *log = rs_read_file(e->srv.proc.stderr_path, NULL);
    assert_non_null(log);
    return log;
}

typedef struct log_wait {
    const env *e;
    const char *needle;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    char *log = rs_read_file(w->e->srv.proc.stderr_path, NULL);
    bool ok = log != NULL && strstr(log, w->needle) != NULL;
    free(log);
    return ok;
}

static void wait_log(const env *e, const char *needle)
{
    log_wait w = {e, needle};
    if (!rs_poll_until(log_has, &w, TIMEOUT_MS)) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("no log line with '%s'", needle);
    }
}

static void stop_clean(env *e)
{
    int st = 0;
    assert_int_equal(rs_test_server_stop(&e->srv, 30000, &st), 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("readstated did not exit 0 (status 0x%x)", st);
    }
}

static void test_password_flag_scrubbed(void **state)
{
    env *e = *state;
    assert_int_equal(rs_test_server_start(&e->srv, "--redis", e->addr, "--redis-password",
                                          REQUIREPASS, "--flush-interval-ms", "50", NULL),
                     0);
    /* listening means config_load and the scrub are done */
    if (cmdline_has(e->srv.proc.pid, REQUIREPASS))
        fail_msg("/proc/%d/cmdline still shows the password", (int)e->srv.proc.pid);
    char stars[sizeof(REQUIREPASS)];
    memset(stars, '*', sizeof(stars) - 1);
    stars[sizeof(stars) - 1] = '\0';
    assert_true(cmdline_has(e->srv.proc.pid, stars));
    write_lands(e, 701, 11, 1001);
    char *log = server_log(e);
    assert_non_null(strstr(log,
                           "event=secret_in_argv flag=--redis-password "
                           "hint=\"use --redis-password-file or READSTATED_REDIS_PASSWORD\""));
    assert_null(strstr(log, REQUIREPASS));
    free(log);
    stop_clean(e);
}

static void test_reload_after_scrub(void **state)
{
    env *e = *state;
    char conf[PATH_MAX + 16], arg[128];
    snprintf(conf, sizeof(conf), "%s/readstated.conf", e->dir);
    assert_int_equal(rs_write_file(conf, "log-level=info\n"), 0);
    snprintf(arg, sizeof(arg), "--redis-password=%s", REQUIREPASS);
    assert_int_equal(rs_test_server_start(&e->srv, "--redis", e->addr, arg, "--config", conf,
                                          "--flush-interval-ms", "50", NULL),
                     0);
    assert_false(cmdline_has(e->srv.proc.pid, REQUIREPASS));
    write_lands(e, 702, 12, 1002);
    /* nothing changed: a reload says so */
    assert_int_equal(kill(e->srv.proc.pid, SIGHUP), 0);
    wait_log(e, "event=reload changed=0 applied=0 needs_restart=0");
    /* one change: only that one is reported */
    assert_int_equal(rs_write_file(conf, "log-level=debug\n"), 0);
    assert_int_equal(kill(e->srv.proc.pid, SIGHUP), 0);
    wait_log(e, "event=reload changed=1 applied=1 needs_restart=0");
    char *log = server_log(e);
    if (strstr(log, "name=redis-password") != NULL) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("a reload reported redis-password as changed");
    }
    assert_null(strstr(log, "reload_failed"));
    free(log);
    /* still writing with the real password */
    write_lands(e, 702, 12, 1003);
    stop_clean(e);
}

static void test_password_file(void **state)
{
    env *e = *state;
    char path[PATH_MAX + 16], text[128];
    snprintf(path, sizeof(path), "%s/redis-password", e->dir);
    snprintf(text, sizeof(text), "%s\n", REQUIREPASS);
    assert_int_equal(rs_write_file(path, text), 0);
    assert_int_equal(rs_test_server_start(&e->srv, "--redis", e->addr, "--redis-password-file",
                                          path, "--flush-interval-ms", "50", NULL),
                     0);
    write_lands(e, 703, 13, 1004);
    char *log = server_log(e);
    assert_null(strstr(log, "secret_in_argv"));
    free(log);
    stop_clean(e);

    /* an empty file: exit 2, naming the flag */
    char empty[PATH_MAX + 16];
    snprintf(empty, sizeof(empty), "%s/empty", e->dir);
    assert_int_equal(rs_write_file(empty, ""), 0);
    const char *argv[] = {rs_test_readstated_bin(),
                          "--listen",
                          "127.0.0.1:0",
                          "--http",
                          "off",
                          "--redis",
                          e->addr,
                          "--redis-password-file",
                          empty,
                          NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, TIMEOUT_MS, &out, &err);
    fprintf(stderr, "empty password file: exit %d: %s", code, err != NULL ? err : "");
    assert_int_equal(code, 2);
    assert_non_null(err);
    assert_non_null(strstr(err, "--redis-password-file"));
    assert_non_null(strstr(err, "empty"));
    free(out);
    free(err);
}

/* GET /readyz: the status code, or -1. */
static int readyz(int port)
{
    int fd = rs_tcp_connect(port, 2000);
    if (fd < 0)
        return -1;
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n\r\n";
    int code = -1;
    if (rs_fd_write_all(fd, req, sizeof(req) - 1, 2000) == 0) {
        char buf[256];
        size_t n = 0;
        long long deadline = rs_mono_ms() + 2000;
        while (n < 12 && rs_mono_ms() < deadline) {
            ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
        if (n >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
            code = atoi(buf + 9);
    }
    close(fd);
    return code;
}

typedef struct ready_wait {
    int port, want;
} ready_wait;

static bool readyz_is(void *arg)
{
    ready_wait *w = arg;
    return readyz(w->port) == w->want;
}

/* Redis as a real deployment would have it: the default user's password
 * is not the service's, which has its own ACL user. */
static void test_redis_acl_user(void **state)
{
    env *e = *state;
    redis_cmd(e, "ACL SETUSER rsuser on >secretpass ~readstates:* +@all");
    const char *const args[] = {
        "--redis", e->addr, "--redis-user", "rsuser", "--flush-interval-ms", "50", NULL};
    const char *const good_env[] = {"READSTATED_REDIS_PASSWORD=secretpass", NULL};
    rs_test_server_opts o = {.args = args, .env = good_env, .http = true};
    assert_int_equal(rs_test_server_start_opts(&e->srv, &o), 0);
    write_lands(e, 704, 14, 1005);
    /* the server's connection is rsuser's */
    redisContext *r = redis_admin(e);
    redisReply *rep = redisCommand(r, "CLIENT LIST");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(rep->str, "user=rsuser"));
    freeReplyObject(rep);
    redisFree(r);
    ready_wait up = {e->srv.http_port, 200};
    assert_true(rs_poll_until(readyz_is, &up, TIMEOUT_MS));
    wait_log(e, "user=rsuser");
    stop_clean(e);
    rs_test_server_cleanup(&e->srv);
    memset(&e->srv, 0, sizeof(e->srv));

    /* a wrong password: up and answering, Redis unreachable */
    const char *const bad_env[] = {"READSTATED_REDIS_PASSWORD=wrongpass", NULL};
    o.env = bad_env;
    assert_int_equal(rs_test_server_start_opts(&e->srv, &o), 0);
    wait_log(e, "event=redis_handshake_error");
    wait_log(e, "step=auth");
    ready_wait down = {e->srv.http_port, 503};
    if (!rs_poll_until(readyz_is, &down, TIMEOUT_MS)) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("/readyz is not 503 with a wrong Redis password");
    }
    /* a few reconnect attempts later it is still alive and answering */
    rs_sleep_ms(300);
    assert_true(rs_proc_alive(&e->srv.proc));
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", e->srv.port, TIMEOUT_MS, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_OK);
    rs_client_close(c);
    char *log = server_log(e);
    assert_null(strstr(log, "wrongpass"));
    free(log);
    int st = 0;
    assert_true(rs_test_server_stop(&e->srv, 30000, &st) >= 0);
    assert_true(WIFEXITED(st));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_password_flag_scrubbed, srv_reset),
        cmocka_unit_test_setup(test_reload_after_scrub, srv_reset),
        cmocka_unit_test_setup(test_password_file, srv_reset),
        cmocka_unit_test_setup(test_redis_acl_user, srv_reset),
    };
    return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
