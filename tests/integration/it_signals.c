/*
 * it_signals.c: what readstated does with the signals an operator, a shell
 * or the system may send it, against a real readstated and a real
 * redis-server (write-behind with a 30 s flush interval, so an
 * acknowledged write lives only in the server's memory until a flush):
 *
 *  - SIGHUP under load reloads the --config file: the log level changes
 *    (debug lines appear after it, none before), a setting that needs a
 *    restart is reported as such, a file that does not parse changes
 *    nothing, every pipelined Ack in flight across the signals is answered
 *    OK, and at SIGTERM every acknowledged write is in Redis;
 *  - every other catchable signal an operator might send (SIGUSR1, SIGUSR2,
 *    SIGPIPE, SIGALRM, SIGTTIN, every real-time signal, ...) leaves the
 *    server alive and answering, with its acknowledged write intact;
 *  - SIGTERM, SIGINT, SIGQUIT, SIGXCPU and SIGPWR each take the graceful
 *    path: exit 0 with the acknowledged write flushed to Redis.
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

typedef struct sig_env {
    rs_test_redis redis;
    rs_test_server srv;
    char dir[PATH_MAX];
    char conf[PATH_MAX + 32];
} sig_env;

static rs_client *connect_to(const rs_test_server *srv)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", srv->port, TIMEOUT_MS, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    return c;
}

/* Redis, a settings file holding `conf`, and readstated in write-behind
 * with a flush interval far longer than the test. */
static void wait_store_ready(const sig_env *e);

static void env_start(sig_env *e, const char *conf)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(rs_test_redis_start(&e->redis), 0);
    assert_int_equal(rs_tmpdir_create("signals", e->dir, sizeof(e->dir)), 0);
    snprintf(e->conf, sizeof(e->conf), "%s/readstated.conf", e->dir);
    assert_int_equal(rs_write_file(e->conf, conf), 0);
    char addr[64];
    rs_test_redis_addr(&e->redis, addr, sizeof(addr));
    /* A long Redis timeout: a loaded machine (the suite runs tests in
     * parallel) must not turn a slow first load into UNAVAILABLE. */
    assert_int_equal(rs_test_server_start(&e->srv, "--redis", addr, "--flush-interval-ms",
                                          "30000", "--redis-timeout-ms", "15000", "--config",
                                          e->conf, NULL),
                     0);
    wait_store_ready(e);
}

/* A Get of a user nobody wrote succeeds: the server has reached Redis
 * (right after start it may still be connecting, and a load then fails). */
static bool store_ready(void *arg)
{
    rs_client_states st;
    memset(&st, 0, sizeof(st));
    bool ok = rs_client_get(arg, 424242, NULL, 0, &st) == RS_OK;
    rs_client_states_free(&st);
    return ok;
}

static void wait_store_ready(const sig_env *e)
{
    rs_client *c = connect_to(&e->srv);
    bool ok = rs_poll_until(store_ready, c, TIMEOUT_MS);
    rs_client_close(c);
    if (!ok)
        fail_msg("readstated did not reach Redis");
}

static void env_cleanup(sig_env *e)
{
    rs_test_server_cleanup(&e->srv);
    rs_test_redis_cleanup(&e->redis);
    rs_tmpdir_remove(e->dir);
}

/* The captured stderr of the server (caller frees). */
static char *server_log(const sig_env *e)
{
    char *log = rs_read_file(e->srv.proc.stderr_path, NULL);
    assert_non_null(log);
    return log;
}

static size_t count_lines(const char *log, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

typedef struct log_wait {
    const sig_env *e;
    const char *needle;
    size_t at_least;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    char *log = rs_read_file(w->e->srv.proc.stderr_path, NULL);
    bool ok = log != NULL && count_lines(log, w->needle) >= w->at_least;
    free(log);
    return ok;
}

static void wait_log(const sig_env *e, const char *needle, size_t at_least)
{
    log_wait w = {e, needle, at_least};
    if (!rs_poll_until(log_has, &w, TIMEOUT_MS)) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("no %zu log line(s) with '%s'", at_least, needle);
    }
}

/* The stored last_message_id of (user, channel), or 0 when absent. */
static uint64_t stored_message(const sig_env *e, uint64_t user, uint64_t channel)
{
    redisContext *r = rs_test_redis_connect(&e->redis);
    assert_non_null(r);
    redisReply *rep = redisCommand(r, "HGET readstates:{%llu} %llu", (unsigned long long)user,
                                   (unsigned long long)channel);
    assert_non_null(rep);
    uint64_t msg = 0;
    if (rep->type == REDIS_REPLY_STRING) {
        unsigned long long v, m;
        assert_int_equal(sscanf(rep->str, "%llu:%llu", &v, &m), 2);
        msg = m;
    }
    freeReplyObject(rep);
    redisFree(r);
    return msg;
}

/* Fields (states plus _v) stored for a user. */
static long long stored_fields(const sig_env *e, uint64_t user)
{
    redisContext *r = rs_test_redis_connect(&e->redis);
    assert_non_null(r);
    redisReply *rep = redisCommand(r, "HLEN readstates:{%llu}", (unsigned long long)user);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    long long n = rep->integer;
    freeReplyObject(rep);
    redisFree(r);
    return n;
}

static void stop_graceful(sig_env *e, int sig)
{
    int st = 0;
    assert_int_equal(rs_proc_stop(&e->srv.proc, sig, 30000, &st), 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        rs_proc_dump_log(&e->srv.proc, "readstated", stderr, 4000);
        fail_msg("signal %d: readstated did not exit 0 (status 0x%x)", sig, st);
    }
    char *log = server_log(e);
    assert_non_null(strstr(log, "event=shutdown_complete unflushed_states=0"));
    free(log);
}

/* ---- SIGHUP under load --------------------------------------------------- */

#define HUP_USERS     50
#define HUP_ROUNDS    12
#define HUP_PER_ROUND 200

static void send_acks(rs_client *c, int round)
{
    for (int i = 0; i < HUP_PER_ROUND; i++) {
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        ack.user_id = 1 + (uint64_t)(i % HUP_USERS);
        ack.channel_id = 1000 + (uint64_t)round * HUP_PER_ROUND + (uint64_t)i;
        ack.message_id = 5000 + ack.channel_id;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
        assert_int_equal(rs_client_send(c, &req), RS_OK);
    }
    assert_int_equal(rs_client_flush(c), RS_OK);
}

static void recv_acks(rs_client *c)
{
    for (int i = 0; i < HUP_PER_ROUND; i++) {
        Readstates__V1__Response *resp = NULL;
        assert_int_equal(rs_client_recv(c, &resp, TIMEOUT_MS), RS_OK);
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_ACK);
        assert_true(resp->ack->applied);
        rs_client_response_free(resp);
    }
}

static void test_hup_under_load(void **state)
{
    (void)state;
    sig_env e;
    env_start(&e, "# settings\nREADSTATED_LOG_LEVEL=info\nslow-request-ms=100\n");
    rs_client *c = connect_to(&e.srv);

    for (int round = 0; round < HUP_ROUNDS; round++) {
        send_acks(c, round);
        if (round == 4) { /* a reload with answers still to come */
            assert_int_equal(rs_write_file(e.conf, "READSTATED_LOG_LEVEL=debug\n"
                                                   "slow-request-ms=100\n"
                                                   "READSTATED_MAX_MEMORY=2GiB\n"),
                             0);
            assert_int_equal(kill(e.srv.proc.pid, SIGHUP), 0);
        } else if (round == 8) { /* a file that does not parse changes nothing */
            assert_int_equal(rs_write_file(e.conf, "log-level=warn\nno-such-setting=1\n"), 0);
            assert_int_equal(kill(e.srv.proc.pid, SIGHUP), 0);
        }
        recv_acks(c);
        if (round == 4)
            wait_log(&e, "event=reload ", 1);
        if (round == 8)
            wait_log(&e, "event=reload_failed", 1);
    }
    assert_true(rs_proc_alive(&e.srv.proc));

    char *log = server_log(&e);
    assert_non_null(
        strstr(log, "event=reload_applied name=log-level old=\"info\" new=\"debug\""));
    assert_non_null(strstr(log, "event=reload_needs_restart name=max-memory"));
    assert_non_null(strstr(log, "event=reload changed=2 applied=1 needs_restart=1"));
    assert_non_null(strstr(log, "no-such-setting"));
    /* The first connection opened at info: no debug line for it. */
    assert_int_equal(count_lines(log, "event=conn_open"), 0);
    free(log);

    /* Debug now (the failed reload kept it): a new connection is logged. */
    rs_client *c2 = connect_to(&e.srv);
    uint64_t t = 0;
    char version[64];
    assert_int_equal(rs_client_ping(c2, &t, version, sizeof(version)), RS_OK);
    wait_log(&e, "event=conn_open", 1);
    rs_client_close(c2);
    rs_client_close(c);

    /* Every acknowledged write reaches Redis at the graceful exit. */
    stop_graceful(&e, SIGTERM);
    long long fields = 0;
    for (uint64_t u = 1; u <= HUP_USERS; u++)
        fields += stored_fields(&e, u) - 1; /* less _v */
    assert_int_equal(fields, HUP_ROUNDS * HUP_PER_ROUND);
    assert_int_equal(stored_message(&e, 1, 1000), 6000);
    assert_int_equal(stored_message(&e, 1 + (HUP_PER_ROUND - 1) % HUP_USERS,
                                    1000 + HUP_ROUNDS * HUP_PER_ROUND - 1),
                     5000 + 1000 + HUP_ROUNDS * HUP_PER_ROUND - 1);
    env_cleanup(&e);
}

/* ---- every other signal ---------------------------------------------------- */

static void test_signals_that_must_not_stop_it(void **state)
{
    (void)state;
    sig_env e;
    env_start(&e, "log-level=info\n");
    rs_client *c = connect_to(&e.srv);
    assert_int_equal(rs_client_ack(c, 7, 70, 700, 1, NULL), RS_OK);

    int sigs[64];
    size_t n = 0;
    const int named[] = {SIGHUP,    SIGUSR1,  SIGUSR2, SIGPIPE, SIGALRM,
                         SIGVTALRM, SIGXFSZ,  SIGTTIN, SIGTTOU, SIGIO,
                         SIGSTKFLT, SIGWINCH, SIGURG,  SIGCHLD, SIGCONT};
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        sigs[n++] = named[i];
    for (int s = SIGRTMIN; s <= SIGRTMAX && n < 64; s++)
        sigs[n++] = s;

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(kill(e.srv.proc.pid, sigs[i]), 0);
        uint64_t t = 0;
        char version[64];
        rs_status st = rs_client_ping(c, &t, version, sizeof(version));
        if (st != RS_OK || !rs_proc_alive(&e.srv.proc)) {
            rs_proc_dump_log(&e.srv.proc, "readstated", stderr, 4000);
            fail_msg("after signal %d (%s): ping %s, alive %d", sigs[i], strsignal(sigs[i]),
                     rs_status_name(st), rs_proc_alive(&e.srv.proc));
        }
    }
    /* The acknowledged write is still served, and a status line was logged. */
    rs_client_states got;
    memset(&got, 0, sizeof(got));
    uint64_t ch = 70;
    assert_int_equal(rs_client_get(c, 7, &ch, 1, &got), RS_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.states[0].last_message_id, 700);
    rs_client_states_free(&got);
    wait_log(&e, "event=status ", 1);
    rs_client_close(c);

    stop_graceful(&e, SIGTERM);
    assert_int_equal(stored_message(&e, 7, 70), 700);
    env_cleanup(&e);
}

static void test_graceful_signals(void **state)
{
    (void)state;
    const int sigs[] = {SIGINT, SIGQUIT, SIGXCPU, SIGPWR};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sig_env e;
        env_start(&e, "log-level=info\n");
        rs_client *c = connect_to(&e.srv);
        assert_int_equal(rs_client_ack(c, 9, 90 + i, 900 + i, 0, NULL), RS_OK);
        rs_client_close(c);
        stop_graceful(&e, sigs[i]);
        char *log = server_log(&e);
        char want[64];
        snprintf(want, sizeof(want), "event=signal name=SIG");
        assert_non_null(strstr(log, want));
        assert_non_null(strstr(log, "action=shutdown"));
        free(log);
        assert_int_equal(stored_message(&e, 9, 90 + i), 900 + i);
        env_cleanup(&e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hup_under_load),
        cmocka_unit_test(test_signals_that_must_not_stop_it),
        cmocka_unit_test(test_graceful_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
