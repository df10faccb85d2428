/*
 * it_http_limits.c: the HTTP port's limits against a real readstated, with
 * many real loopback connections:
 *
 *  - slowloris: 2,000 connections each sending one header byte a second
 *    are closed at --http-request-deadline-ms from their first byte (later
 *    bytes do not extend it), while a Connect call and a TCP Ping on other
 *    connections keep being answered;
 *  - the connection cap: past --http-max-connections a new connection gets
 *    503 and is closed, and once others leave new ones are served again;
 *  - a low descriptor limit at start (ulimit -n 256): the caps are lowered
 *    to fit and said so, 300 idle HTTP connections cost little CPU and few
 *    log lines, and the TCP port still answers;
 *  - accept() out of descriptors (the limit lowered under the running
 *    server): the listener pauses instead of spinning, logs once, keeps
 *    serving open connections, and accepts again once descriptors free up.
 *
 * CPU bounds here are loose (a spinning accept loop burns a whole core;
 * these allow a fraction of it), so a shared VM does not fail them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http_test_client.h"
#include "rs_client.h"
#include "rs_testsupport.h"

#define SLOW_CONNS  2000
#define DEADLINE_MS 3000
#define MAX_LATE_MS 2500 /* closed at most this long after the deadline */

static void raise_own_fd_limit(void)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < SLOW_CONNS + 100)
        fail_msg("the test needs %d descriptors; the hard limit is %llu", SLOW_CONNS + 100,
                 (unsigned long long)rl.rlim_cur);
}

/* CPU seconds (user + system) of a process. */
static double cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *st = rs_read_file(path, NULL);
    assert_non_null(st);
    const char *p = strrchr(st, ')');
    assert_non_null(p);
    unsigned long ut = 0, stime = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    int n = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime);
    free(st);
    assert_int_equal(n, 2);
    return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

static size_t count_in_log(const rs_proc *p, const char *needle)
{
    char *log = rs_read_file(p->stderr_path, NULL);
    assert_non_null(log);
    size_t n = 0;
    for (const char *q = strstr(log, needle); q != NULL; q = strstr(q + 1, needle))
        n++;
    free(log);
    return n;
}

/* A TCP Ping on c answered: returns its latency in ms, or -1. */
static long long ping_ms(rs_client *c)
{
    long long t0 = rs_mono_ms();
    uint64_t t = 0;
    char version[64];
    if (rs_client_ping(c, &t, version, sizeof(version)) != RS_OK)
        return -1;
    return rs_mono_ms() - t0;
}

/* A Connect call (Ping, JSON) on a new connection: latency in ms, or -1. */
static long long connect_call_ms(int port)
{
    long long t0 = rs_mono_ms();
    ht_response r;
    if (ht_request(port, "POST", "/readstates.v1.ReadStates/Ping", "application/json", "{}", 2,
                   NULL, &r) != 0)
        return -1;
    int status = r.status;
    ht_response_free(&r);
    return status == 200 ? rs_mono_ms() - t0 : -1;
}

static rs_client *tcp_client(int port)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", port, 10000, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    return c;
}

/* True once the peer closed fd (EOF or reset); reads and drops data. */
static bool peer_closed(int fd)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
}

static void test_slowloris_closed_at_deadline(void **state)
{
    (void)state;
    raise_own_fd_limit();
    /* Settings by environment (as good as flags) so that the test also runs
     * against a build that predates them. */
    char deadline[64];
    snprintf(deadline, sizeof(deadline), "READSTATED_HTTP_REQUEST_DEADLINE_MS=%d", DEADLINE_MS);
    const char *env[] = {deadline, "READSTATED_HTTP_MAX_CONNECTIONS=3000", NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.env = env, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    rs_client *tcp = tcp_client(srv.port);

    static const char head[] =
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    int *fds = calloc(SLOW_CONNS, sizeof(int));
    long long *first = calloc(SLOW_CONNS, sizeof(long long));
    long long *closed_at = calloc(SLOW_CONNS, sizeof(long long));
    assert_non_null(fds);
    assert_non_null(first);
    assert_non_null(closed_at);
    for (int i = 0; i < SLOW_CONNS; i++) {
        fds[i] = rs_tcp_connect(srv.http_port, 5000);
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], head, 1, MSG_NOSIGNAL), 1);
        first[i] = rs_mono_ms();
    }
    /* One more byte a second on every open connection, and the other
     * clients' calls in between, until all are closed (bounded). */
    long long start = rs_mono_ms(), worst_connect = 0, worst_ping = 0;
    long long end = start + DEADLINE_MS + MAX_LATE_MS + 2000;
    int open = SLOW_CONNS;
    size_t sent = 1;
    while (open > 0 && rs_mono_ms() < end) {
        long long tick = rs_mono_ms();
        for (int i = 0; i < SLOW_CONNS; i++) {
            if (closed_at[i] != 0)
                continue;
            if (peer_closed(fds[i]) ||
                (sent < sizeof(head) - 1 && send(fds[i], head + sent, 1, MSG_NOSIGNAL) != 1)) {
                closed_at[i] = rs_mono_ms();
                open--;
            }
        }
        sent++;
        long long c = connect_call_ms(srv.http_port), p = ping_ms(tcp);
        if (c < 0 || p < 0)
            fail_msg("while %d slow connections were open: connect call %lld ms, ping %lld ms",
                     open, c, p);
        worst_connect = c > worst_connect ? c : worst_connect;
        worst_ping = p > worst_ping ? p : worst_ping;
        /* pace: about a second per round, polling for closes meanwhile */
        while (open > 0 && rs_mono_ms() - tick < 1000) {
            rs_sleep_ms(50);
            for (int i = 0; i < SLOW_CONNS; i++)
                if (closed_at[i] == 0 && peer_closed(fds[i])) {
                    closed_at[i] = rs_mono_ms();
                    open--;
                }
        }
    }
    int early = 0, late = 0;
    for (int i = 0; i < SLOW_CONNS; i++) {
        if (closed_at[i] == 0 || closed_at[i] - first[i] > DEADLINE_MS + MAX_LATE_MS)
            late++;
        else if (closed_at[i] - first[i] < DEADLINE_MS - 100)
            early++;
        close(fds[i]);
    }
    printf("slowloris: %d connections, %d still open, %d early, %d late; worst Connect call "
           "%lld ms, worst TCP Ping %lld ms\n",
           SLOW_CONNS, open, early, late, worst_connect, worst_ping);
    assert_int_equal(open, 0);
    assert_int_equal(early, 0);
    assert_int_equal(late, 0);
    /* a loose bound: answered while the slow connections were open */
    assert_true(worst_connect < 2000);
    assert_true(worst_ping < 2000);
    assert_true(ht_metric(srv.http_port, "readstates_http_deadline_closed_total") >=
                SLOW_CONNS);
    free(fds);
    free(first);
    free(closed_at);
    rs_client_close(tcp);
    int st = 0;
    rs_test_server_stop(&srv, 30000, &st);
    assert_int_equal(rs_proc_exit_code(&srv.proc), 0);
    rs_test_server_cleanup(&srv);
}

static void test_connection_cap(void **state)
{
    (void)state;
    const char *env[] = {"READSTATED_HTTP_MAX_CONNECTIONS=50", NULL};
    rs_test_server srv;
    rs_test_server_opts o = {.env = env, .http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    int fds[50];
    for (int i = 0; i < 50; i++) {
        fds[i] = rs_tcp_connect(srv.http_port, 5000);
        assert_true(fds[i] >= 0);
    }
    /* Over the cap: a 503 and a close, at once. */
    size_t len = 0;
    char *resp =
        ht_raw(srv.http_port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35, 5000, &len);
    assert_non_null(resp);
    assert_non_null(strstr(resp, "HTTP/1.1 503"));
    free(resp);
    /* Room again once one leaves. */
    close(fds[0]);
    ht_response r = {0};
    bool ok = false;
    for (int i = 0; i < 50 && !ok; i++) { /* the server notices the close on its next turn */
        ok = ht_get(srv.http_port, "/healthz", &r) == 0 && r.status == 200;
        ht_response_free(&r);
        if (!ok)
            rs_sleep_ms(20);
    }
    assert_true(ok);
    for (int i = 1; i < 50; i++)
        close(fds[i]);
    assert_true(count_in_log(&srv.proc, "event=http_conn_rejected") >= 1);
    assert_true(ht_metric(srv.http_port, "readstates_http_connections_rejected_total") >= 1);
    rs_test_server_stop(&srv, 30000, NULL);
    rs_test_server_cleanup(&srv);
}

/* readstated under `ulimit -n 256`, started by hand (the support library
 * starts it directly). */
static void start_with_ulimit(rs_proc *p, char *dir, size_t dirlen, int *tcp_port,
                              int *http_port)
{
    assert_int_equal(rs_tmpdir_create("ulimit", dir, dirlen), 0);
    char pf[PATH_MAX + 16], hpf[PATH_MAX + 16];
    snprintf(pf, sizeof(pf), "%s/port", dir);
    snprintf(hpf, sizeof(hpf), "%s/http_port", dir);
    const char *argv[] = {"/bin/sh",
                          "-c",
                          "ulimit -n 256 && exec \"$0\" \"$@\"",
                          rs_test_readstated_bin(),
                          "--listen",
                          "127.0.0.1:0",
                          "--port-file",
                          pf,
                          "--http",
                          "127.0.0.1:0",
                          "--http-port-file",
                          hpf,
                          NULL};
    assert_int_equal(rs_proc_start(argv, NULL, p), 0);
    long long end = rs_mono_ms() + 15000;
    *tcp_port = *http_port = 0;
    while (rs_mono_ms() < end && (*tcp_port == 0 || *http_port == 0)) {
        char *a = rs_read_file(pf, NULL), *b = rs_read_file(hpf, NULL);
        if (a != NULL)
            *tcp_port = atoi(a);
        if (b != NULL)
            *http_port = atoi(b);
        free(a);
        free(b);
        rs_sleep_ms(20);
    }
    assert_true(*tcp_port > 0 && *http_port > 0);
}

static void test_low_fd_limit_at_start(void **state)
{
    (void)state;
    rs_proc p;
    char dir[PATH_MAX];
    int tcp_port, http_port;
    start_with_ulimit(&p, dir, sizeof(dir), &tcp_port, &http_port);
    assert_int_equal(count_in_log(&p, "event=fd_limit_low"), 1);

    int fds[300];
    for (int i = 0; i < 300; i++) {
        fds[i] = rs_tcp_connect(http_port, 5000);
        assert_true(fds[i] >= 0);
    }
    double cpu0 = cpu_s(p.pid);
    rs_sleep_ms(2000); /* pacing: let the server sit with them */
    double cpu = cpu_s(p.pid) - cpu0;
    int refused = 0;
    for (int i = 0; i < 300; i++)
        refused += peer_closed(fds[i]) ? 1 : 0;
    rs_client *c = tcp_client(tcp_port);
    long long ms = ping_ms(c);
    rs_client_close(c);
    size_t lines = count_in_log(&p, "\n");
    printf("ulimit 256: %d of 300 idle HTTP connections refused, server CPU %.3f s in 2 s, "
           "%zu log lines, TCP ping %lld ms\n",
           refused, cpu, lines, ms);
    assert_true(refused > 0); /* the lowered cap refused the rest */
    assert_true(cpu < 0.5);
    assert_true(lines < 20);
    assert_true(ms >= 0);
    for (int i = 0; i < 300; i++)
        close(fds[i]);
    /* A reload sees the settings as given: the lowered caps are not a
     * change that needs a restart. */
    assert_int_equal(kill(p.pid, SIGHUP), 0);
    long long until = rs_mono_ms() + 5000;
    while (count_in_log(&p, "event=reload ") == 0 && rs_mono_ms() < until)
        rs_sleep_ms(20);
    assert_int_equal(count_in_log(&p, "event=reload "), 1);
    assert_int_equal(count_in_log(&p, "reload_needs_restart"), 0);
    int st = 0;
    assert_int_equal(rs_proc_stop(&p, SIGTERM, 30000, &st), 0);
    assert_int_equal(rs_proc_exit_code(&p), 0);
    rs_proc_cleanup(&p);
    rs_tmpdir_remove(dir);
}

static void test_accept_out_of_descriptors(void **state)
{
    (void)state;
    rs_test_server srv;
    rs_test_server_opts o = {.http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    rs_client *tcp = tcp_client(srv.port);
    assert_true(ping_ms(tcp) >= 0);

    /* Lower the running server's limit: its caps no longer fit. */
    struct rlimit old;
    assert_int_equal(prlimit(srv.proc.pid, RLIMIT_NOFILE, NULL, &old), 0);
    struct rlimit low = {40, old.rlim_max}; /* the soft limit only: it can go back up */
    assert_int_equal(prlimit(srv.proc.pid, RLIMIT_NOFILE, &low, NULL), 0);
    int fds[100];
    for (int i = 0; i < 100; i++) {
        fds[i] = rs_tcp_connect(srv.http_port, 5000); /* the kernel's backlog takes them */
        assert_true(fds[i] >= 0);
    }
    rs_sleep_ms(300); /* pacing: the server accepts up to the limit */
    double cpu0 = cpu_s(srv.proc.pid);
    rs_sleep_ms(3000);
    double cpu = cpu_s(srv.proc.pid) - cpu0;
    size_t paused = count_in_log(&srv.proc, "event=accept_paused");
    long long ms = ping_ms(tcp); /* an open connection is still served */
    printf("out of descriptors: server CPU %.3f s in 3 s, %zu accept_paused lines, ping %lld "
           "ms\n",
           cpu, paused, ms);
    assert_true(paused >= 1);
    assert_true(paused <= 2);
    assert_true(cpu < 0.6);
    assert_true(ms >= 0);

    /* Descriptors free again: new connections are served. */
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    assert_int_equal(prlimit(srv.proc.pid, RLIMIT_NOFILE, &old, NULL), 0);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        ht_response r = {0};
        ok = ht_get(srv.http_port, "/healthz", &r) == 0 && r.status == 200;
        ht_response_free(&r);
        if (!ok)
            rs_sleep_ms(50);
    }
    assert_true(ok);
    assert_true(
        ht_metric(srv.http_port, "readstates_accept_failures_total{listener=\"http\"}") >= 1);
    rs_client_close(tcp);
    int st = 0;
    rs_test_server_stop(&srv, 30000, &st);
    assert_int_equal(rs_proc_exit_code(&srv.proc), 0);
    rs_test_server_cleanup(&srv);
}

/* An HTTP/1.0 request (no keep-alive) whose body comes after its head: the
 * body is read and the call answered (it once waited forever: reading
 * stopped as soon as the head said the connection would close). */
static void test_http10_body_after_head(void **state)
{
    (void)state;
    rs_test_server srv;
    rs_test_server_opts o = {.http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    int fd = rs_tcp_connect(srv.http_port, 5000);
    assert_true(fd >= 0);
    static const char head[] = "POST /readstates.v1.ReadStates/Ping HTTP/1.0\r\n"
                               "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n";
    assert_int_equal(rs_fd_write_all(fd, head, sizeof(head) - 1, 5000), 0);
    rs_sleep_ms(200); /* pacing: the head is read on its own */
    assert_int_equal(rs_fd_write_all(fd, "{}", 2, 5000), 0);
    char buf[1024];
    size_t len = 0;
    long long end = rs_mono_ms() + 5000;
    while (len < sizeof(buf) - 1 && rs_mono_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "serverTimeMs"));
    rs_test_server_stop(&srv, 30000, NULL);
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http10_body_after_head),
        cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_low_fd_limit_at_start),
        cmocka_unit_test(test_accept_out_of_descriptors),
        cmocka_unit_test(test_slowloris_closed_at_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
