/*
 * it_client.c: the client library's error handling, against a hand-made
 * peer (a loopback listener in this process) for what the real server
 * never does: never answering, closing at once, sending bytes that are not
 * a Response, announcing a frame over 16 MiB; plus a large valid response
 * (a few MiB) that must be accepted. Errors must be sticky, with messages.
 *
 *   test ── listen 127.0.0.1:0 ──┐
 *   rs_client_connect ───────────┴─> accept (kernel backlog) ─> peer fd
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "it_common.h"

typedef struct peer {
    int listen_fd;
    int port;
    int fd; /* the accepted connection */
} peer;

static void peer_listen(peer *p)
{
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(p->listen_fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(p->listen_fd, 4), 0);
    assert_int_equal(getsockname(p->listen_fd, (struct sockaddr *)&sa, &len), 0);
    p->port = ntohs(sa.sin_port);
    p->fd = -1;
}

/* Connect a client (the handshake completes in the backlog), then accept. */
static rs_client *peer_connect(peer *p, int timeout_ms)
{
    char err[RS_CLIENT_ERRLEN];
    rs_client *c = rs_client_connect("127.0.0.1", p->port, timeout_ms, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    p->fd = accept(p->listen_fd, NULL, NULL);
    assert_true(p->fd >= 0);
    return c;
}

static void peer_close(peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    close(p->listen_fd);
}

/* Write a Response as a frame from the peer. */
static void peer_send_response(peer *p, const Readstates__V1__Response *resp)
{
    size_t n = frame_size(&resp->base);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    assert_int_equal(frame_encode(&resp->base, buf), n);
    assert_int_equal(rs_fd_write_all(p->fd, buf, n, IT_TIMEOUT_MS), 0);
    free(buf);
}

static void test_connect_refused(void **state)
{
    (void)state;
    char err[RS_CLIENT_ERRLEN] = "";
    rs_client *c = rs_client_connect("127.0.0.1", rs_free_port(), 1000, err, sizeof(err));
    assert_null(c);
    assert_non_null(strstr(err, "cannot connect"));
    c = rs_client_connect("no-such-host.invalid", 1, 1000, err, sizeof(err));
    assert_null(c);
    assert_non_null(strstr(err, "cannot resolve"));
}

/* A ping answer from the peer for request id `id`. */
static void peer_send_pong(peer *p, uint64_t id)
{
    Readstates__V1__PingResponse ping = READSTATES__V1__PING_RESPONSE__INIT;
    ping.server_version = "peer";
    Readstates__V1__Response out = READSTATES__V1__RESPONSE__INIT;
    out.id = id;
    out.result_case = READSTATES__V1__RESPONSE__RESULT_PING;
    out.ping = &ping;
    peer_send_response(p, &out);
}

static void test_timeout_is_sticky(void **state)
{
    (void)state;
    peer p;
    peer_listen(&p);
    rs_client *c = peer_connect(&p, 200);
    long long t0 = rs_mono_ms();
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_DEADLINE);
    assert_true(rs_mono_ms() - t0 >= 150); /* it did wait */
    assert_non_null(strstr(rs_client_errmsg(c), "DEADLINE_EXCEEDED"));
    assert_int_equal(rs_client_err(c), RS_ERR_DEADLINE);
    /* Sticky: even with answers for both requests waiting, the connection
     * stays failed (its state is unknown after a timeout). */
    peer_send_pong(&p, 1);
    peer_send_pong(&p, 2);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_DEADLINE);
    assert_non_null(strstr(rs_client_errmsg(c), "DEADLINE_EXCEEDED"));
    rs_client_close(c);
    peer_close(&p);
}

static void test_recv_timeout_is_not_sticky(void **state)
{
    (void)state;
    peer p;
    peer_listen(&p);
    rs_client *c = peer_connect(&p, 1000);
    Readstates__V1__Response *resp = NULL;
    assert_int_equal(rs_client_recv(c, &resp, 50), RS_ERR_DEADLINE);
    assert_null(resp);
    rs_client_event ev;
    assert_int_equal(rs_client_next_event(c, &ev, 0), RS_ERR_DEADLINE);
    assert_int_equal(rs_client_err(c), RS_OK);

    /* An answer that arrives later is still delivered (id 1: the client's
     * first id). */
    peer_send_pong(&p, 1);
    char version[16];
    it_assert_ok(c, rs_client_ping(c, NULL, version, sizeof(version)));
    assert_string_equal(version, "peer");
    rs_client_close(c);
    peer_close(&p);
}

static void test_peer_close_is_sticky(void **state)
{
    (void)state;
    peer p;
    peer_listen(&p);
    rs_client *c = peer_connect(&p, 2000);
    close(p.fd);
    p.fd = -1;
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_UNAVAILABLE);
    assert_non_null(strstr(rs_client_errmsg(c), "UNAVAILABLE"));
    assert_int_equal(rs_client_get(c, 1, NULL, 0, NULL), RS_ERR_UNAVAILABLE);
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    assert_int_equal(rs_client_send(c, &req), RS_ERR_UNAVAILABLE);
    rs_client_close(c);
    peer_close(&p);
}

static void test_garbage_and_oversized_frames(void **state)
{
    (void)state;
    peer p;
    peer_listen(&p);
    rs_client *c = peer_connect(&p, 2000);
    uint8_t junk[FRAME_HEADER_LEN + 8];
    frame_put_header(junk, 8);
    memset(junk + FRAME_HEADER_LEN, 0xff, 8);
    junk[FRAME_HEADER_LEN] = 0x0f; /* invalid wire type */
    assert_int_equal(rs_fd_write_all(p.fd, junk, sizeof(junk), IT_TIMEOUT_MS), 0);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_INTERNAL);
    assert_non_null(strstr(rs_client_errmsg(c), "not a Response"));
    rs_client_close(c);
    close(p.fd);

    c = peer_connect(&p, 2000);
    uint8_t hdr[FRAME_HEADER_LEN];
    frame_put_header(hdr, FRAME_RESPONSE_MAX_DEFAULT + 1);
    assert_int_equal(rs_fd_write_all(p.fd, hdr, sizeof(hdr), IT_TIMEOUT_MS), 0);
    assert_int_equal(rs_client_ping(c, NULL, NULL, 0), RS_ERR_INTERNAL);
    assert_int_equal(rs_client_err(c), RS_ERR_INTERNAL);
    rs_client_close(c);
    peer_close(&p);
}

static void test_large_response_accepted(void **state)
{
    (void)state;
    enum { N = 400000 }; /* about 8 MB of states */
    peer p;
    peer_listen(&p);
    rs_client *c = peer_connect(&p, IT_TIMEOUT_MS);
    Readstates__V1__ReadState *states = calloc(N, sizeof(*states));
    Readstates__V1__ReadState **ptrs = calloc(N, sizeof(*ptrs));
    assert_non_null(states);
    assert_non_null(ptrs);
    for (size_t i = 0; i < N; i++) {
        readstates__v1__read_state__init(&states[i]);
        states[i].channel_id = 1000000000000ull + i;
        states[i].last_message_id = 2000000000000ull + i;
        states[i].version = i + 1;
        ptrs[i] = &states[i];
    }
    Readstates__V1__GetReadStatesResponse get = READSTATES__V1__GET_READ_STATES_RESPONSE__INIT;
    get.n_states = N;
    get.states = ptrs;
    get.user_version = N;
    Readstates__V1__Response out = READSTATES__V1__RESPONSE__INIT;
    out.id = 1;
    out.result_case = READSTATES__V1__RESPONSE__RESULT_GET;
    out.get = &get;
    assert_true(frame_size(&out.base) > 6u * 1024u * 1024u);
    assert_true(frame_size(&out.base) < FRAME_RESPONSE_MAX_DEFAULT);
    /* The peer's write would block on a full socket buffer before the
     * client reads: fill from a child process instead. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t n = frame_size(&out.base);
        uint8_t *buf = malloc(n);
        int ok = buf != NULL && frame_encode(&out.base, buf) == n &&
                 rs_fd_write_all(p.fd, buf, n, IT_TIMEOUT_MS) == 0;
        _exit(ok ? 0 : 1);
    }
    rs_client_states s;
    it_assert_ok(c, rs_client_get(c, 42, NULL, 0, &s));
    assert_int_equal(s.n, N);
    assert_int_equal(s.user_version, N);
    assert_int_equal(s.states[N - 1].channel_id, 1000000000000ull + N - 1);
    rs_client_states_free(&s);
    rs_proc child = {.pid = pid};
    int st = 0;
    assert_int_equal(rs_proc_wait(&child, IT_TIMEOUT_MS, &st), 0);
    assert_int_equal(rs_proc_exit_code(&child), 0);
    free(states);
    free(ptrs);
    rs_client_close(c);
    peer_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_timeout_is_sticky),
        cmocka_unit_test(test_recv_timeout_is_not_sticky),
        cmocka_unit_test(test_peer_close_is_sticky),
        cmocka_unit_test(test_garbage_and_oversized_frames),
        cmocka_unit_test(test_large_response_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
