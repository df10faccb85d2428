/*
 * test_http_parse.c: the HTTP/1.1 request framing (server/http_parse.c):
 * where a head ends and its size limit, request lines, headers, body
 * framing and keep-alive, the refusals that guard against request
 * smuggling, and chunked bodies fed whole, byte by byte and into a small
 * output buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_parse.h"

/* Parse text as a whole head; returns the status (0 = parsed). */
static int parse(const char *text, http_head *h, char **keep)
{
    size_t len = strlen(text);
    long end = http_head_end(text, len, 16384);
    assert_int_equal(end, (long)len);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    int rc = http_head_parse(buf, len, h);
    *keep = buf;
    return rc;
}

static void test_head_end(void **state)
{
    (void)state;
    const char *r = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
    assert_int_equal(http_head_end(r, strlen(r), 1024), (long)strlen(r) - 4);
    assert_int_equal(http_head_end(r, 20, 1024), 0); /* more needed */
    assert_int_equal(http_head_end("GET / HTTP/1.1\n\n", 16, 1024), 16);
    assert_int_equal(http_head_end(r, strlen(r), 10), -1); /* over the limit */
    char big[100];
    memset(big, 'a', sizeof(big));
    assert_int_equal(http_head_end(big, sizeof(big), 100), -1);
    assert_int_equal(http_head_end(big, 50, 100), 0);
}

static void test_request(void **state)
{
    (void)state;
    http_head h;
    char *buf;
    assert_int_equal(parse("POST /readstates.v1.ReadStates/Ack?x=1&since=5 HTTP/1.1\r\n"
                           "Host: a\r\nContent-Type:  application/json \r\n"
                           "content-length: 12\r\n\r\n",
                           &h, &buf),
                     0);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.path, "/readstates.v1.ReadStates/Ack");
    assert_string_equal(h.query, "x=1&since=5");
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.nheaders, 3);
    assert_string_equal(http_head_get(&h, "CONTENT-TYPE"), "application/json");
    assert_null(http_head_get(&h, "Authorization"));
    assert_int_equal(h.framing, HTTP_BODY_LENGTH);
    assert_int_equal(h.content_length, 12);
    assert_true(h.keep_alive);
    free(buf);

    assert_int_equal(parse("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", &h, &buf),
                     0);
    assert_false(h.keep_alive);
    assert_null(h.query);
    free(buf);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &h, &buf), 0);
    assert_false(h.keep_alive);
    free(buf);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h, &buf), 0);
    assert_true(h.keep_alive);
    free(buf);
    assert_int_equal(parse("\r\nGET / HTTP/1.1\r\n\r\n", &h, &buf), 0); /* leading CRLF */
    free(buf);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                           "Expect: 100-continue\r\n\r\n",
                           &h, &buf),
                     0);
    assert_int_equal(h.framing, HTTP_BODY_CHUNKED);
    assert_true(h.expect_continue);
    free(buf);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int status;
    } cases[] = {
        {"GET /\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / HTTX/1.1\r\n\r\n", 400},
        {"GET /a b HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nName : v\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: v\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nExpect: something\r\n\r\n", 417},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_head h;
        char *buf;
        int rc = parse(cases[i].text, &h, &buf);
        if (rc != cases[i].status)
            fail_msg("case %zu: got %d, want %d", i, rc, cases[i].status);
        free(buf);
    }
    /* A NUL inside the head (it would cut a value short: "5\0 9"). */
    {
        static const char nul[] = "POST / HTTP/1.1\r\nContent-Length: 5\0 9\r\n\r\n";
        size_t len = sizeof(nul) - 1;
        assert_int_equal(http_head_end(nul, len, 1024), (long)len);
        char *b = malloc(len + 1);
        assert_non_null(b);
        memcpy(b, nul, len);
        http_head h0;
        assert_int_equal(http_head_parse(b, len, &h0), 400);
        free(b);
    }
    /* Two equal Content-Lengths are one. */
    http_head h;
    char *buf;
    assert_int_equal(
        parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h, &buf),
        0);
    free(buf);
    /* Too many header fields. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADER_FIELDS; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "X%d: y\r\n", i);
    snprintf(text + n, sizeof(text) - n, "\r\n");
    assert_int_equal(parse(text, &h, &buf), 431);
    free(buf);
}

static const char CHUNKED[] = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";

static void test_chunked(void **state)
{
    (void)state;
    uint8_t out[64];
    size_t w = 0;
    bool done = false;
    http_chunked d = {0};
    size_t len = strlen(CHUNKED);
    long used = http_chunked_decode(&d, CHUNKED, len, out, sizeof(out), &w, &done);
    assert_true(done);
    assert_int_equal(used, (long)len - 4); /* stops before the next request */
    assert_int_equal(w, 12);
    assert_memory_equal(out, "hello, world", 12);
    assert_int_equal(d.total, 12);

    /* byte by byte, into a 3-byte buffer */
    memset(&d, 0, sizeof(d));
    size_t total = 0, at = 0;
    done = false;
    while (!done && at < len) {
        uint8_t small[3];
        size_t got = 0;
        long u = http_chunked_decode(&d, CHUNKED + at, 1, small, sizeof(small), &got, &done);
        assert_true(u >= 0);
        memcpy(out + total, small, got);
        total += got;
        at += (size_t)u;
    }
    assert_true(done);
    assert_int_equal(total, 12);
    assert_memory_equal(out, "hello, world", 12);

    /* extensions and trailers past HTTP_CHUNK_OVERHEAD_MAX are refused */
    {
        size_t n = HTTP_CHUNK_OVERHEAD_MAX + 64;
        char *big = malloc(n + 16);
        assert_non_null(big);
        memcpy(big, "1;", 2);
        memset(big + 2, 'x', n);
        memcpy(big + 2 + n, "\r\na\r\n", 6);
        memset(&d, 0, sizeof(d));
        done = false;
        assert_int_equal(http_chunked_decode(&d, big, n + 8, out, sizeof(out), &w, &done), -1);
        memcpy(big, "0\r\nT: ", 6);
        memset(big + 6, 'y', n);
        memset(&d, 0, sizeof(d));
        done = false;
        assert_int_equal(http_chunked_decode(&d, big, n + 6, out, sizeof(out), &w, &done), -1);
        free(big);
    }
    static const char *const bad[] = {
        "x\r\n", "5\r\nhelloXX", "5\nhello\r\n", "\r\n", "fffffffffffffffffff\r\n", "0\r\n\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&d, 0, sizeof(d));
        done = false;
        long u = http_chunked_decode(&d, bad[i], strlen(bad[i]), out, sizeof(out), &w, &done);
        if (u != -1)
            fail_msg("bad chunked body %zu accepted (%ld)", i, u);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_end),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
