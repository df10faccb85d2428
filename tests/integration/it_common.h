/*
 * it_common.h: what the integration test programs share: a cmocka group
 * fixture that runs one real readstated per program (memory-only, port 0),
 * client connections that fail the test when they cannot be made, and raw
 * frame helpers for tests that speak the protocol by hand.
 *
 *   main() ── cmocka_run_group_tests(tests, it_group_setup_*, it_group_teardown)
 *                    │ *state = it_ctx { rs_test_server srv; ... }
 *                    └─> each test: it_ctx *ctx = *state; it_connect(ctx)
 *
 * The teardown stops the server with SIGTERM, fails the group unless it
 * exits 0, and prints the tail of its log (ctest shows it on failure).
 */
#ifndef IT_COMMON_H
#define IT_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rs_client.h"
#include "rs_testsupport.h"

#define IT_TIMEOUT_MS 10000

typedef struct it_ctx {
    rs_test_server srv;
    const char *name; /* the test program's name, for logs */
} it_ctx;

/* Group setup: a memory-only server with the default flags. */
int it_group_setup(void **state);

/* Start a server with extra flags (NULL-terminated) and put the context in
 * *state. Returns 0 or -1. For group setups with their own flags. */
int it_group_setup_args(void **state, const char *const *args);

/* Group teardown: stop the server (must exit 0), print its log tail, free. */
int it_group_teardown(void **state);

/* A client connected to the context's server; the test fails if it cannot
 * connect. Close with rs_client_close. */
rs_client *it_connect(const it_ctx *ctx);

/* Assert that a call returned RS_OK, printing the client's message if not. */
#define it_assert_ok(c, expr)                                                                  \
    do {                                                                                       \
        rs_status it_st_ = (expr);                                                             \
        if (it_st_ != RS_OK)                                                                   \
            fail_msg("%s -> %s (%s)", #expr, rs_status_name(it_st_), rs_client_errmsg(c));     \
    } while (0)

/* Send one framed payload of len bytes on a raw socket (len is written as
 * the header whatever the payload). Returns 0 or -1. */
int it_raw_send_frame(int fd, uint32_t len, const void *payload, size_t payload_len);

/* Encode and send a Request on a raw socket. Returns 0 or -1. */
int it_raw_send_request(int fd, const Readstates__V1__Request *req);

/* Read one Response from a raw socket within timeout_ms. Returns it (free
 * with rs_client_response_free) or NULL. */
Readstates__V1__Response *it_raw_recv_response(int fd, int timeout_ms);

/* Fill req as a Ping with the given id; req points at ping, so both must
 * live until the request is sent. */
void it_ping_request(Readstates__V1__Request *req, Readstates__V1__PingRequest *ping,
                     uint64_t id);

#endif /* IT_COMMON_H */
