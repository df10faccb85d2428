/*
 * it_common.c: the integration tests' shared fixture and raw-frame helpers
 * (see it_common.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "frame.h"
#include "it_common.h"

int it_group_setup_args(void **state, const char *const *args)
{
    it_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return -1;
    rs_test_server_opts opts = {.args = args};
    if (rs_test_server_start_opts(&ctx->srv, &opts) != 0) {
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

int it_group_setup(void **state)
{
    return it_group_setup_args(state, NULL);
}

int it_group_teardown(void **state)
{
    it_ctx *ctx = *state;
    if (ctx == NULL)
        return 0;
    int rc = 0;
    if (!rs_proc_alive(&ctx->srv.proc)) {
        fprintf(stderr, "readstated died during the tests (exit %d)\n",
                rs_proc_exit_code(&ctx->srv.proc));
        rc = -1;
    } else {
        int st = 0;
        if (rs_test_server_stop(&ctx->srv, 20000, &st) != 0 || !WIFEXITED(st) ||
            WEXITSTATUS(st) != 0) {
            fprintf(stderr, "readstated did not exit 0 on SIGTERM (exit %d)\n",
                    rs_proc_exit_code(&ctx->srv.proc));
            rc = -1;
        }
    }
    rs_proc_dump_log(&ctx->srv.proc, "readstated", stderr, rc == 0 ? 4096 : 16384);
    rs_test_server_cleanup(&ctx->srv);
    free(ctx);
    *state = NULL;
    return rc;
}

rs_client *it_connect(const it_ctx *ctx)
{
    char err[RS_CLIENT_ERRLEN];
    rs_client *c =
        rs_client_connect("127.0.0.1", ctx->srv.port, IT_TIMEOUT_MS, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect to 127.0.0.1:%d: %s", ctx->srv.port, err);
    return c;
}

int it_raw_send_frame(int fd, uint32_t len, const void *payload, size_t payload_len)
{
    uint8_t hdr[FRAME_HEADER_LEN];
    frame_put_header(hdr, len);
    if (rs_fd_write_all(fd, hdr, sizeof(hdr), IT_TIMEOUT_MS) != 0)
        return -1;
    if (payload_len == 0)
        return 0;
    return rs_fd_write_all(fd, payload, payload_len, IT_TIMEOUT_MS);
}

int it_raw_send_request(int fd, const Readstates__V1__Request *req)
{
    size_t n = frame_size(&req->base);
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return -1;
    int rc =
        frame_encode(&req->base, buf) == n ? rs_fd_write_all(fd, buf, n, IT_TIMEOUT_MS) : -1;
    free(buf);
    return rc;
}

/* Read exactly n bytes within the deadline. Returns 0 or -1. */
static int read_exact(int fd, uint8_t *buf, size_t n, long long deadline)
{
    size_t got = 0;
    while (got < n) {
        long long left = deadline - rs_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

Readstates__V1__Response *it_raw_recv_response(int fd, int timeout_ms)
{
    long long deadline = rs_mono_ms() + timeout_ms;
    uint8_t hdr[FRAME_HEADER_LEN];
    uint32_t len;
    if (read_exact(fd, hdr, sizeof(hdr), deadline) != 0 ||
        frame_parse_header(hdr, FRAME_RESPONSE_MAX_DEFAULT, &len) != FRAME_OK)
        return NULL;
    uint8_t *payload = malloc(len);
    if (payload == NULL)
        return NULL;
    Readstates__V1__Response *resp = NULL;
    if (read_exact(fd, payload, len, deadline) == 0)
        resp = frame_decode_response(payload, len, NULL);
    free(payload);
    return resp;
}

void it_ping_request(Readstates__V1__Request *req, Readstates__V1__PingRequest *ping,
                     uint64_t id)
{
    readstates__v1__ping_request__init(ping);
    readstates__v1__request__init(req);
    req->id = id;
    req->call_case = READSTATES__V1__REQUEST__CALL_PING;
    req->ping = ping;
}
