/*
 * it_support.c: the test-support library tested against real programs:
 * child processes (exit codes, stop by signal, SIGKILL after a timeout,
 * captured output, environment), a real redis-server (start, PING, stop,
 * restart on the same port with its data kept), and readstated on port 0
 * when the binary has been built.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rs_testsupport.h"

static void test_run_captures_output_and_exit_code(void **state)
{
    (void)state;
    const char *argv[] = {"printenv", "RS_SUPPORT_PROBE", NULL};
    const char *env[] = {"RS_SUPPORT_PROBE=hello", NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, env, 10000, &out, &err);
    assert_int_equal(code, 0);
    assert_non_null(out);
    assert_string_equal(out, "hello\n");
    free(out);
    free(err);

    const char *fail[] = {"false", NULL};
    assert_int_equal(rs_run(fail, NULL, 10000, NULL, NULL), 1);

    const char *missing[] = {"/nonexistent/rs-no-such-binary", NULL};
    assert_int_equal(rs_run(missing, NULL, 10000, NULL, NULL), -1);
}

static void test_proc_stop_and_kill(void **state)
{
    (void)state;
    rs_proc p;
    const char *argv[] = {"sleep", "60", NULL};
    assert_int_equal(rs_proc_start(argv, NULL, &p), 0);
    assert_true(rs_proc_alive(&p));
    int st = 0;
    assert_int_equal(rs_proc_stop(&p, SIGTERM, 5000, &st), 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    assert_false(rs_proc_alive(&p));
    assert_int_equal(rs_proc_exit_code(&p), 128 + SIGTERM);
    rs_proc_cleanup(&p);

    /* A process that ignores the signal is killed after the timeout. */
    assert_int_equal(rs_proc_start(argv, NULL, &p), 0);
    assert_int_equal(rs_proc_stop(&p, SIGCHLD, 100, &st), 1);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    rs_proc_cleanup(&p);

    assert_int_equal(rs_proc_start(argv, NULL, &p), 0);
    assert_int_equal(rs_proc_kill9(&p), 0);
    assert_false(rs_proc_alive(&p));
    rs_proc_cleanup(&p);
}

static bool file_exists(void *arg)
{
    return access(arg, F_OK) == 0;
}

static void test_tmpdir_and_poll(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    assert_int_equal(rs_tmpdir_create("selftest", dir, sizeof(dir)), 0);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/f", dir);
    assert_false(rs_poll_until(file_exists, path, 20));
    assert_int_equal(rs_write_file(path, "abc"), 0);
    assert_true(rs_poll_until(file_exists, path, 1000));
    size_t len = 0;
    char *text = rs_read_file(path, &len);
    assert_non_null(text);
    assert_int_equal(len, 3);
    assert_string_equal(text, "abc");
    free(text);
    assert_int_equal(rs_tmpdir_remove(dir), 0);
    if (getenv("RS_TEST_KEEP_TMP") == NULL)
        assert_int_equal(access(dir, F_OK), -1);
}

static long long redis_get_int(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

static void test_redis_start_stop_restart(void **state)
{
    (void)state;
    rs_test_redis r;
    assert_int_equal(rs_test_redis_start(&r), 0);
    assert_true(r.port > 0);
    assert_true(rs_test_redis_ping(&r));

    redisContext *c = rs_test_redis_connect(&r);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "SET probe 42");
    assert_non_null(reply);
    freeReplyObject(reply);
    redisFree(c);

    int port = r.port;
    assert_int_equal(rs_test_redis_stop(&r), 0);
    assert_false(rs_test_redis_ping(&r));
    assert_int_equal(rs_test_redis_restart(&r), 0);
    assert_int_equal(r.port, port);
    c = rs_test_redis_connect(&r);
    assert_non_null(c);
    assert_int_equal(redis_get_int(c, "probe"), 42); /* AOF replayed on restart */
    redisFree(c);

    rs_test_redis_kill9(&r);
    assert_false(rs_test_redis_ping(&r));
    assert_int_equal(rs_test_redis_restart(&r), 0);
    assert_true(rs_test_redis_ping(&r));
    rs_test_redis_cleanup(&r);
}

static void test_server_start_on_port_zero(void **state)
{
    (void)state;
    if (access(rs_test_readstated_bin(), X_OK) != 0) {
        fprintf(stderr, "readstated not built (%s): skipped\n", rs_test_readstated_bin());
        skip();
    }
    rs_test_server srv;
    assert_int_equal(rs_test_server_start(&srv, NULL), 0);
    assert_true(srv.port > 0);
    int fd = rs_tcp_connect(srv.port, 2000);
    assert_true(fd >= 0);
    close(fd);
    int first = srv.port;
    assert_int_equal(rs_test_server_restart(&srv), 0);
    assert_true(srv.port > 0);
    (void)first;
    int st = 0;
    assert_int_equal(rs_test_server_stop(&srv, 10000, &st), 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_captures_output_and_exit_code),
        cmocka_unit_test(test_proc_stop_and_kill),
        cmocka_unit_test(test_tmpdir_and_poll),
        cmocka_unit_test(test_redis_start_stop_restart),
        cmocka_unit_test(test_server_start_on_port_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
