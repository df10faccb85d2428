/*
 * fuzz_http_request.c: bytes from a client through the whole HTTP request
 * path: the connection state machine and parser (http_conn.c,
 * http_parse.c), the routes, the Connect/Twirp RPC layer (http_rpc.c, the
 * JSON codec, protobuf-c) and dispatch, on an in-process rs_server
 * (memory-only engine, small limits) that lives across inputs.
 *
 * Each input is written into one end of a socketpair whose other end the
 * HTTP port adopts (http_conns_adopt); the write side is then shut, and the
 * event loop runs (bounded) until the server closes the connection.
 * Checks: whatever the server sends is HTTP/1.1 responses (it starts with
 * "HTTP/1.1 "; after the HTTP/2 client preface, a SETTINGS frame), the server closes the
 * connection after the client's EOF, and no connection, call or reply is left behind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_http_server.h"
#include "http.h"
#include "http_rpc.h"
#include "server.h"

#define FZ_MAX_ROUNDS 4000

static rs_server *fz_server;

static void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz_http_request: %s\n", what);
    abort();
}

static rs_server *fz_get_server(void)
{
    return fz_http_server(&fz_server, "fuzz_http_request", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_server *s = fz_get_server();
    struct rs_http *h = s->loop.http;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        fz_fail("socketpair");
    if (http_conns_adopt(h->conns, sv[0], "fuzz") != 0)
        fz_fail("adopt");
    size_t off = 0, got = 0;
    bool shut = false, closed = false;
    char first[9] = {0};
    for (int round = 0; round < FZ_MAX_ROUNDS && !closed; round++) {
        if (off < size) {
            ssize_t n = send(sv[1], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        event_base_loop(s->loop.base, EVLOOP_NONBLOCK);
        for (;;) {
            char buf[4096];
            ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0) {
                closed = true;
                break;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    closed = true; /* reset: the server closed too */
                break;
            }
            for (ssize_t i = 0; i < n && got < 9; i++)
                first[got++] = buf[i];
        }
    }
    if (!closed)
        fz_fail("the server did not close the connection after the client's EOF");
    /* An input that starts with the HTTP/2 client preface is answered in
     * HTTP/2 (fuzz_http2 checks that side): its first frame is SETTINGS. */
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    bool h2 = size >= sizeof(preface) - 1 && memcmp(data, preface, sizeof(preface) - 1) == 0;
    if (h2 && got >= 4 && first[3] != 0x04)
        fz_fail("the server's first HTTP/2 frame is not SETTINGS");
    if (!h2 && got > 0 && strncmp(first, "HTTP/1.1 ", got) != 0)
        fz_fail("the server sent something that is not an HTTP/1.1 response");
    close(sv[1]);
    if (http_conns_stats(h->conns)->open != 0)
        fz_fail("a connection was left open");
    if (h->replies_writing != 0 || h->calls_live != 0 || s->loop.inflight != 0)
        fz_fail("a reply, call or request was left behind");
    return 0;
}
