/*
 * it_server.c: the server's own behaviour against a real readstated (and a
 * real redis-server), beyond the RPC semantics:
 *
 *  - the idle timeout closes a silent connection but not a watcher;
 *  - requests for users being loaded from a frozen Redis do not hold up the
 *    requests behind them on the same connection (out-of-order answers),
 *    and are answered once Redis is back;
 *  - SIGTERM with write-through requests in flight: they are answered, then
 *    the server flushes and exits 0;
 *  - flags: --help lists every environment variable, a bad value exits 2
 *    naming the flag.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
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

#include "http_test_client.h"
#include "rs_client.h"
#include "rs_testsupport.h"

#define TIMEOUT_MS 10000

static rs_client *connect_to(const rs_test_server *srv)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", srv->port, TIMEOUT_MS, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    return c;
}

static void stop_ok(rs_test_server *srv)
{
    int st = 0;
    assert_int_equal(rs_test_server_stop(srv, 30000, &st), 0);
    if (rs_proc_exit_code(&srv->proc) != 0) {
        rs_proc_dump_log(&srv->proc, "readstated", stderr, 4000);
        fail_msg("readstated exited with %d", rs_proc_exit_code(&srv->proc));
    }
}

static void test_idle_timeout_spares_watchers(void **state)
{
    (void)state;
    rs_test_server srv;
    assert_int_equal(rs_test_server_start(&srv, "--idle-timeout-s", "1", NULL), 0);

    rs_client *w = connect_to(&srv);
    uint64_t user = 77, wid = 0;
    assert_int_equal(rs_client_watch(w, &user, 1, &wid), RS_OK);

    /* A connection that says nothing is closed after about a second. */
    int fd = rs_tcp_connect(srv.port, TIMEOUT_MS);
    assert_true(fd >= 0);
    long long t0 = rs_mono_ms();
    assert_true(rs_fd_wait_closed(fd, 5000));
    assert_true(rs_mono_ms() - t0 >= 500);
    close(fd);

    /* The watcher, silent for longer than that, still hears changes. */
    rs_sleep_ms(1500); /* pacing: let another idle period pass */
    rs_client *a = connect_to(&srv);
    assert_int_equal(rs_client_ack(a, user, 1, 10, 0, NULL), RS_OK);
    rs_client_event ev;
    assert_int_equal(rs_client_next_event(w, &ev, 5000), RS_OK);
    assert_int_equal(ev.watch_id, wid);
    assert_int_equal(ev.user_id, user);
    assert_int_equal(ev.user_version, 1);

    rs_client_close(a);
    rs_client_close(w);
    stop_ok(&srv);
    rs_test_server_cleanup(&srv);
}

static Readstates__V1__Request *get_request(Readstates__V1__GetReadStatesRequest *g,
                                            Readstates__V1__Request *r, uint64_t user)
{
    readstates__v1__get_read_states_request__init(g);
    g->user_id = user;
    readstates__v1__request__init(r);
    r->call_case = READSTATES__V1__REQUEST__CALL_GET;
    r->get = g;
    return r;
}

static Readstates__V1__Request *ping_request(Readstates__V1__PingRequest *p,
                                             Readstates__V1__Request *r)
{
    readstates__v1__ping_request__init(p);
    readstates__v1__request__init(r);
    r->call_case = READSTATES__V1__REQUEST__CALL_PING;
    r->ping = p;
    return r;
}

#define LOAD_USERS 40

/* A Get of a user that is not cached succeeds (the store is connected). */
static bool load_works(void *arg)
{
    rs_client_states st;
    memset(&st, 0, sizeof(st));
    bool ok = rs_client_get(arg, 999, NULL, 0, &st) == RS_OK;
    rs_client_states_free(&st);
    return ok;
}

static void test_loads_do_not_block_others(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    rs_test_redis_addr(&redis, addr, sizeof(addr));
    rs_test_server srv;
    assert_int_equal(
        rs_test_server_start(&srv, "--redis", addr, "--redis-timeout-ms", "20000", NULL), 0);
    rs_client *c = connect_to(&srv);
    assert_true(rs_poll_until(load_works, c, TIMEOUT_MS));
    for (uint64_t u = 1; u <= LOAD_USERS; u++)
        assert_int_equal(rs_client_ack(c, 1000 + u, 5, u, 0, NULL), RS_OK);
    rs_client_close(c);
    stop_ok(&srv); /* flushes everything to Redis */
    assert_int_equal(rs_test_server_restart(&srv), 0);
    c = connect_to(&srv);
    /* The port file comes before the Redis handshake: wait until a load
     * works, so the freeze below stalls loads instead of refusing them. */
    assert_true(rs_poll_until(load_works, c, TIMEOUT_MS));

    /* Redis frozen: every Get needs a load and waits; the pings behind them
     * must still be answered. */
    assert_int_equal(kill(redis.proc.pid, SIGSTOP), 0);
    Readstates__V1__GetReadStatesRequest g;
    Readstates__V1__PingRequest p;
    Readstates__V1__Request r;
    for (uint64_t u = 1; u <= LOAD_USERS; u++) {
        get_request(&g, &r, 1000 + u);
        r.id = u;
        assert_int_equal(rs_client_send(c, &r), RS_OK);
        ping_request(&p, &r);
        r.id = 100000 + u;
        assert_int_equal(rs_client_send(c, &r), RS_OK);
    }
    assert_int_equal(rs_client_flush(c), RS_OK);
    for (int i = 0; i < LOAD_USERS; i++) {
        Readstates__V1__Response *resp = NULL;
        rs_status st = rs_client_recv(c, &resp, 5000);
        if (st != RS_OK) {
            kill(redis.proc.pid, SIGCONT);
            fail_msg("ping %d not answered while loads wait: %s", i, rs_status_name(st));
        }
        assert_true(resp->id > 100000);
        assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_PING);
        rs_client_response_free(resp);
    }
    assert_int_equal(kill(redis.proc.pid, SIGCONT), 0);
    for (int i = 0; i < LOAD_USERS; i++) {
        Readstates__V1__Response *resp = NULL;
        assert_int_equal(rs_client_recv(c, &resp, TIMEOUT_MS), RS_OK);
        assert_true(resp->id >= 1 && resp->id <= LOAD_USERS);
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_GET);
        assert_int_equal(resp->get->n_states, 1);
        assert_int_equal(resp->get->states[0]->last_message_id, resp->id);
        assert_int_equal(resp->get->user_version, 1);
        rs_client_response_free(resp);
    }
    rs_client_close(c);
    stop_ok(&srv);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

#define INFLIGHT 20

static void test_sigterm_answers_inflight(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    char addr[64];
    rs_test_redis_addr(&redis, addr, sizeof(addr));
    rs_test_server srv;
    assert_int_equal(rs_test_server_start(&srv, "--redis", addr, "--durability",
                                          "write-through", "--redis-timeout-ms", "20000", NULL),
                     0);
    rs_client *c = connect_to(&srv);
    assert_true(rs_poll_until(load_works, c, TIMEOUT_MS));

    assert_int_equal(kill(redis.proc.pid, SIGSTOP), 0);
    Readstates__V1__AckRequest a;
    Readstates__V1__Request r;
    for (uint64_t i = 1; i <= INFLIGHT; i++) {
        readstates__v1__ack_request__init(&a);
        a.user_id = 500 + i;
        a.channel_id = 1;
        a.message_id = 10;
        readstates__v1__request__init(&r);
        r.id = i;
        r.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        r.ack = &a;
        assert_int_equal(rs_client_send(c, &r), RS_OK);
    }
    /* A ping behind them: its answer proves the server has read them all. */
    Readstates__V1__PingRequest p;
    ping_request(&p, &r);
    r.id = 1000;
    assert_int_equal(rs_client_send(c, &r), RS_OK);
    Readstates__V1__Response *resp = NULL;
    assert_int_equal(rs_client_recv(c, &resp, 5000), RS_OK);
    assert_int_equal(resp->id, 1000);
    rs_client_response_free(resp);

    assert_int_equal(kill(srv.proc.pid, SIGTERM), 0);
    assert_int_equal(kill(redis.proc.pid, SIGCONT), 0);
    for (int i = 0; i < INFLIGHT; i++) {
        assert_int_equal(rs_client_recv(c, &resp, TIMEOUT_MS), RS_OK);
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        assert_true(resp->ack->applied);
        rs_client_response_free(resp);
    }
    int st = 0;
    assert_int_equal(rs_proc_wait(&srv.proc, 30000, &st), 0);
    assert_int_equal(rs_proc_exit_code(&srv.proc), 0);
    rs_client_close(c);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&redis);
}

static void test_flags(void **state)
{
    (void)state;
    const char *bin = rs_test_readstated_bin();
    char *out = NULL, *err = NULL;
    const char *help[] = {bin, "--help", NULL};
    assert_int_equal(rs_run(help, NULL, TIMEOUT_MS, &out, &err), 0);
    assert_non_null(strstr(out, "--max-memory"));
    assert_non_null(strstr(out, "READSTATED_MAX_MEMORY"));
    assert_non_null(strstr(out, "READSTATED_DURABILITY"));
    free(out);
    free(err);
    const char *bad[] = {bin, "--max-memory", "lots", NULL};
    assert_int_equal(rs_run(bad, NULL, TIMEOUT_MS, &out, &err), 2);
    assert_non_null(strstr(err, "--max-memory"));
    free(out);
    free(err);
    const char *env[] = {"READSTATED_DURABILITY=sometimes", NULL};
    const char *plain[] = {bin, "--http", "off", NULL};
    assert_int_equal(rs_run(plain, env, TIMEOUT_MS, &out, &err), 2);
    assert_non_null(strstr(err, "READSTATED_DURABILITY"));
    free(out);
    free(err);
}

typedef struct open_wait {
    int http_port;
    long long want;
} open_wait;

static bool conns_open_is(void *arg)
{
    open_wait *w = arg;
    return ht_metric(w->http_port, "readstates_connections_open") == (double)w->want;
}

/* A client that pipelines requests and never reads its answers: once the
 * server stops reading it (output over the pause mark), nothing more
 * happens on that connection; the idle timeout must still close it, or
 * every such client pins its buffers for ever. */
static void test_write_stall_closed(void **state)
{
    (void)state;
    const char *args[] = {"--idle-timeout-s", "1", "--max-output", "64KiB", NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* Pings (8 bytes each: a frame header and id 1 + an empty ping) until
     * the server stops taking them, bounded. */
    static const uint8_t ping[8] = {0, 0, 0, 4, 0x08, 0x01, 0x52, 0x00};
    uint8_t batch[8 * 512];
    for (size_t i = 0; i < sizeof(batch); i += 8)
        memcpy(batch + i, ping, 8);
    long long end = rs_mono_ms() + 5000;
    size_t sent = 0;
    while (rs_mono_ms() < end && sent < (64u << 20)) {
        ssize_t n = send(fd, batch, sizeof(batch), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else
            rs_sleep_ms(10); /* pacing: the server stopped reading us */
    }
    long long t0 = rs_mono_ms();
    open_wait w = {srv.http_port, 0};
    bool closed = rs_poll_until(conns_open_is, &w, 8000);
    printf("stalled writer: %zu bytes of requests sent; closed=%d after %lld ms\n", sent,
           closed, rs_mono_ms() - t0);
    close(fd);
    assert_true(sent > 0);
    assert_true(closed);
    rs_test_server_stop(&srv, 30000, NULL);
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_timeout_spares_watchers),
        cmocka_unit_test(test_loads_do_not_block_others),
        cmocka_unit_test(test_sigterm_answers_inflight),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_write_stall_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
