/*
 * test_grpc_wire.c: the byte formats of the HTTP port's enveloped RPC
 * protocols (server/grpc_wire.c): envelopes (whole, cut anywhere, over the
 * maximum, several in a row), grpc-timeout in every unit with its
 * malformed forms and saturation, grpc-message percent-encoding and its
 * cut, and base64 (known vectors, round trips of random bytes, padded
 * chunks one after another, bad input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grpc_wire.h"

/* ---- envelopes ----------------------------------------------------------- */

static void test_env_header(void **state)
{
    (void)state;
    uint8_t h[GRPC_ENV_HEADER];
    grpc_env_header(h, 0x80, 0x01020304u);
    static const uint8_t want[] = {0x80, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(h, want, sizeof(want));
    grpc_env_header(h, 0, 0);
    static const uint8_t zero[] = {0, 0, 0, 0, 0};
    assert_memory_equal(h, zero, sizeof(zero));
    grpc_env_header(h, GRPC_FLAG_END_STREAM, 0xffffffffu);
    static const uint8_t max[] = {0x02, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(h, max, sizeof(max));
}

static void test_env_whole_and_cut(void **state)
{
    (void)state;
    uint8_t buf[64];
    const char *msg = "hello, world";
    size_t mlen = strlen(msg);
    grpc_env_header(buf, GRPC_FLAG_COMPRESSED, (uint32_t)mlen);
    memcpy(buf + GRPC_ENV_HEADER, msg, mlen);
    size_t total = GRPC_ENV_HEADER + mlen;

    uint8_t flags = 0xaa;
    const uint8_t *m = NULL;
    size_t ml = 99;
    assert_int_equal(grpc_env_next(buf, total, 1024, &flags, &m, &ml), (long)total);
    assert_int_equal(flags, GRPC_FLAG_COMPRESSED);
    assert_ptr_equal(m, buf + GRPC_ENV_HEADER);
    assert_int_equal(ml, mlen);
    assert_memory_equal(m, msg, mlen);

    /* trailing bytes (the next envelope) are not taken */
    assert_int_equal(grpc_env_next(buf, total + 3, 1024, &flags, &m, &ml), (long)total);

    /* cut anywhere before the end: more is needed, nothing is reported */
    for (size_t cut = 0; cut < total; cut++) {
        flags = 0x55;
        m = NULL;
        ml = 77;
        long r = grpc_env_next(buf, cut, 1024, &flags, &m, &ml);
        if (r != 0)
            fail_msg("envelope cut at %zu bytes: %ld, want 0", cut, r);
        assert_int_equal(flags, 0x55);
        assert_null(m);
        assert_int_equal(ml, 77);
    }

    /* an empty message is a whole envelope of 5 bytes, even with max 0 */
    grpc_env_header(buf, 0, 0);
    assert_int_equal(grpc_env_next(buf, GRPC_ENV_HEADER, 0, &flags, &m, &ml), GRPC_ENV_HEADER);
    assert_int_equal(flags, 0);
    assert_int_equal(ml, 0);
}

static void test_env_over_max(void **state)
{
    (void)state;
    uint8_t buf[32] = {0};
    uint8_t flags = 0;
    const uint8_t *m = NULL;
    size_t ml = 0;
    /* exactly max: fine */
    grpc_env_header(buf, 0, 10);
    assert_int_equal(grpc_env_next(buf, 15, 10, &flags, &m, &ml), 15);
    assert_int_equal(ml, 10);
    /* one over: refused as soon as the header is in, before the message */
    grpc_env_header(buf, 0, 11);
    assert_int_equal(grpc_env_next(buf, GRPC_ENV_HEADER, 10, &flags, &m, &ml), -1);
    assert_int_equal(grpc_env_next(buf, 16, 10, &flags, &m, &ml), -1);
    /* ...but only once the whole header is in */
    assert_int_equal(grpc_env_next(buf, GRPC_ENV_HEADER - 1, 10, &flags, &m, &ml), 0);
    /* the largest declared length */
    grpc_env_header(buf, 0, 0xffffffffu);
    assert_int_equal(grpc_env_next(buf, sizeof(buf), 1u << 20, &flags, &m, &ml), -1);
    /* a declared length larger than the data, under max: wait for more */
    assert_int_equal(grpc_env_next(buf, sizeof(buf), SIZE_MAX, &flags, &m, &ml), 0);
    grpc_env_header(buf, 0, 100);
    assert_int_equal(grpc_env_next(buf, sizeof(buf), 1000, &flags, &m, &ml), 0);
}

static void test_env_sequence(void **state)
{
    (void)state;
    /* three envelopes back to back, walked by their returned sizes */
    uint8_t buf[256];
    size_t len = 0;
    const char *parts[] = {"", "a", "the third message"};
    const uint8_t fl[] = {0, GRPC_FLAG_TRAILERS, GRPC_FLAG_END_STREAM};
    for (size_t i = 0; i < 3; i++) {
        grpc_env_header(buf + len, fl[i], (uint32_t)strlen(parts[i]));
        memcpy(buf + len + GRPC_ENV_HEADER, parts[i], strlen(parts[i]));
        len += GRPC_ENV_HEADER + strlen(parts[i]);
    }
    size_t off = 0;
    for (size_t i = 0; i < 3; i++) {
        uint8_t flags = 0;
        const uint8_t *m = NULL;
        size_t ml = 0;
        long r = grpc_env_next(buf + off, len - off, 100, &flags, &m, &ml);
        assert_int_equal(r, (long)(GRPC_ENV_HEADER + strlen(parts[i])));
        assert_int_equal(flags, fl[i]);
        assert_int_equal(ml, strlen(parts[i]));
        assert_memory_equal(m, parts[i], ml);
        off += (size_t)r;
    }
    assert_int_equal(off, len);
    uint8_t flags;
    const uint8_t *m;
    size_t ml;
    assert_int_equal(grpc_env_next(buf + off, 0, 100, &flags, &m, &ml), 0);
}

/* ---- grpc-timeout ---------------------------------------------------------- */

static void test_timeout_units(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        uint64_t ns;
    } ok[] = {
        {"1n", 1ull},
        {"1u", 1000ull},
        {"1m", 1000000ull},
        {"1S", 1000000000ull},
        {"1M", 60000000000ull},
        {"1H", 3600000000000ull},
        {"0S", 0},
        {"0H", 0},
        {"250m", 250000000ull},
        {"00000007S", 7000000000ull}, /* 8 digits, leading zeros */
        {"99999999n", 99999999ull},
        {"99999999u", 99999999000ull},
        {"99999999m", 99999999000000ull},
        {"99999999S", 99999999000000000ull},
        {"99999999M", 5999999940000000000ull}, /* just under 2^64 */
        {"5124095H", 18446742000000000000ull}, /* the largest hours that fit */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ns = 12345;
        if (grpc_timeout_parse(ok[i].v, &ns) != 0)
            fail_msg("grpc-timeout \"%s\" refused", ok[i].v);
        if (ns != ok[i].ns)
            fail_msg("grpc-timeout \"%s\": %llu ns, want %llu", ok[i].v, (unsigned long long)ns,
                     (unsigned long long)ok[i].ns);
    }
}

static void test_timeout_saturates(void **state)
{
    (void)state;
    uint64_t ns = 0;
    /* 5124096 hours is just over 2^64 ns */
    assert_int_equal(grpc_timeout_parse("5124096H", &ns), 0);
    assert_true(ns == UINT64_MAX);
    ns = 0;
    assert_int_equal(grpc_timeout_parse("99999999H", &ns), 0);
    assert_true(ns == UINT64_MAX);
    ns = 0;
    assert_int_equal(grpc_timeout_parse("10000000H", &ns), 0);
    assert_true(ns == UINT64_MAX);
}

static void test_timeout_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           /* empty */
        "S",          /* no digits */
        "1",          /* no unit */
        "12",         /* no unit */
        "123456789S", /* 9 digits */
        "000000000n", /* 9 digits, zeros */
        "1s",         /* lowercase seconds is not a unit */
        "1h",         /* nor lowercase hours */
        "1x",         /* unknown unit */
        "1SS",        /* two units */
        "1S ",        /* trailing space */
        " 1S",        /* leading space */
        "1 S",        /* inner space */
        "-1S",        /* sign */
        "+1S",        /* sign */
        "1.5S",       /* fraction */
        "1e3n",       /* exponent */
        "0x1S",       /* hex */
        "1S1",        /* digits after the unit */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ns = 4242;
        if (grpc_timeout_parse(bad[i], &ns) != -1)
            fail_msg("malformed grpc-timeout \"%s\" accepted (%llu ns)", bad[i],
                     (unsigned long long)ns);
    }
}

/* ---- grpc-message ------------------------------------------------------------ */

static void test_message_encode(void **state)
{
    (void)state;
    char out[256];
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"plain text, OK: (a=b) [c] {d} ~!", "plain text, OK: (a=b) [c] {d} ~!"},
        {"100%", "100%25"},
        {"%%", "%25%25"},
        {"line\nbreak", "line%0Abreak"},
        {"tab\there\r", "tab%09here%0D"},
        {"caf\xc3\xa9", "caf%C3%A9"},      /* UTF-8 é */
        {"\xe2\x82\xac 5", "%E2%82%AC 5"}, /* UTF-8 € */
        {"\x7f\x01\x1f", "%7F%01%1F"},     /* DEL and controls */
        {"\xff\x80", "%FF%80"},            /* not UTF-8: still encoded */
        {"no method /x/y on this server", "no method /x/y on this server"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 'Z', sizeof(out));
        grpc_message_encode(cases[i].in, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("grpc-message of case %zu: \"%s\", want \"%s\"", i, out, cases[i].want);
    }
}

/* Every byte decoded back from its encoding (the gRPC rules: %XX). */
static size_t percent_decode(const char *in, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0'; i++) {
        if (in[i] == '%') {
            unsigned v = 0;
            assert_int_equal(sscanf(in + i + 1, "%2X", &v), 1);
            out[o++] = (uint8_t)v;
            i += 2;
        } else {
            out[o++] = (uint8_t)in[i];
        }
    }
    return o;
}

static void test_message_every_byte(void **state)
{
    (void)state;
    char text[256];
    for (int b = 1; b < 256; b++)
        text[b - 1] = (char)b;
    text[255] = '\0';
    char out[1024];
    grpc_message_encode(text, out, sizeof(out));
    /* only printable ASCII other than '%' is sent as is */
    for (const char *p = out; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
    uint8_t back[256];
    size_t n = percent_decode(out, back);
    assert_int_equal(n, 255);
    assert_memory_equal(back, text, 255);
}

static void test_message_cut(void **state)
{
    (void)state;
    char out[16];
    /* outlen 0: nothing is written */
    out[0] = 'Q';
    grpc_message_encode("abc", out, 0);
    assert_int_equal(out[0], 'Q');
    /* outlen 1: just the terminator */
    grpc_message_encode("abc", out, 1);
    assert_string_equal(out, "");
    /* plain text cut to outlen - 1 characters */
    grpc_message_encode("abcdefgh", out, 5);
    assert_string_equal(out, "abcd");
    /* an escape is never split: "ab%25" needs 6 bytes */
    grpc_message_encode("ab%cd", out, 5);
    assert_string_equal(out, "ab");
    grpc_message_encode("ab%cd", out, 6);
    assert_string_equal(out, "ab%25");
    grpc_message_encode("ab%cd", out, 7);
    assert_string_equal(out, "ab%25c");
    /* every cut of a mixed text is a prefix of the whole encoding made of
     * whole escapes, and NUL-terminated within outlen */
    const char *text = "a%\n\xc3\xa9 z%";
    char whole[64];
    grpc_message_encode(text, whole, sizeof(whole));
    assert_string_equal(whole, "a%25%0A%C3%A9 z%25");
    for (size_t outlen = 1; outlen <= strlen(whole) + 1; outlen++) {
        char cut[64];
        memset(cut, 'Z', sizeof(cut));
        grpc_message_encode(text, cut, outlen);
        size_t n = strlen(cut);
        assert_true(n < outlen);
        assert_memory_equal(cut, whole, n);
        /* not inside an escape: the next byte of the whole starts one */
        if (n < strlen(whole)) {
            assert_true(n == 0 || cut[n - 1] != '%');
            assert_true(n < 2 || cut[n - 2] != '%');
            /* and it stopped only because the next unit did not fit */
            size_t unit = whole[n] == '%' ? 3 : 1;
            assert_true(n + unit >= outlen);
        }
    }
}

/* ---- base64 ------------------------------------------------------------------ */

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    static const struct {
        const char *bin, *text;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char text[32];
        size_t n = grpc_base64_encode((const uint8_t *)v[i].bin, strlen(v[i].bin), text);
        assert_int_equal(n, strlen(v[i].text));
        assert_string_equal(text, v[i].text);
        uint8_t bin[32];
        long d = grpc_base64_decode(v[i].text, strlen(v[i].text), bin);
        assert_int_equal(d, (long)strlen(v[i].bin));
        assert_memory_equal(bin, v[i].bin, (size_t)d);
    }
    /* the whole alphabet, '+' and '/' included */
    static const uint8_t all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30,
                                  0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96,
                                  0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7,
                                  0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
                                  0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf};
    char text[128];
    grpc_base64_encode(all, sizeof(all), text);
    assert_string_equal(text,
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    uint8_t back[64];
    assert_int_equal(grpc_base64_decode(text, strlen(text), back), (long)sizeof(all));
    assert_memory_equal(back, all, sizeof(all));
}

static uint32_t rng_state = 0x12345678u;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    uint8_t bin[600], back[600 + 3];
    char text[(600 + 2) / 3 * 4 + 1];
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = rng() % 600;
        for (size_t i = 0; i < n; i++)
            bin[i] = (uint8_t)rng();
        size_t tn = grpc_base64_encode(bin, n, text);
        assert_int_equal(tn, (n + 2) / 3 * 4);
        assert_int_equal(text[tn], '\0');
        assert_int_equal(strlen(text), tn);
        long d = grpc_base64_decode(text, tn, back);
        assert_int_equal(d, (long)n);
        assert_memory_equal(back, bin, n);
    }
}

/* gRPC-Web text: each message may be encoded on its own, so padded groups
 * follow one another in the body. */
static void test_base64_padded_chunks(void **state)
{
    (void)state;
    uint8_t back[64];
    /* "a" "bc" "def" each encoded alone */
    const char *joined = "YQ==YmM=ZGVm";
    long d = grpc_base64_decode(joined, strlen(joined), back);
    assert_int_equal(d, 6);
    assert_memory_equal(back, "abcdef", 6);

    /* random messages, each encoded on its own, concatenated */
    uint8_t bin[2000], out[2000 + 3];
    char text[4000];
    for (int iter = 0; iter < 300; iter++) {
        size_t bn = 0, tn = 0;
        int chunks = 1 + (int)(rng() % 8);
        for (int c = 0; c < chunks; c++) {
            size_t n = rng() % 40;
            for (size_t i = 0; i < n; i++)
                bin[bn + i] = (uint8_t)rng();
            tn += grpc_base64_encode(bin + bn, n, text + tn);
            bn += n;
        }
        long r = grpc_base64_decode(text, tn, out);
        assert_int_equal(r, (long)bn);
        assert_memory_equal(out, bin, bn);
    }
}

static void test_base64_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Z",          /* not a whole group */
        "Zg",         /* not a whole group */
        "Zg=",        /* not a whole group */
        "Zm9vY",      /* a trailing partial group */
        "Zm9vYmFy=",  /* a lone '=' after whole groups */
        "====",       /* padding only */
        "Z===",       /* padding in the second place */
        "=Zg=",       /* padding first */
        "Zg=a",       /* data after padding in a group */
        "Zg=\0",      /* NUL in the group (length below counts it) */
        "Zm9v!mFy",   /* outside the alphabet */
        "Zm9v YmFy",  /* whitespace is not base64 (the caller strips it) */
        "Zm-_",       /* URL-safe alphabet */
        "Zm\xc3\xa9", /* UTF-8 is not the alphabet */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t out[32];
        size_t n = strlen(bad[i]);
        if (i == 9)
            n = 4; /* "Zg=" plus its NUL */
        long r = grpc_base64_decode(bad[i], n, out);
        if (r != -1)
            fail_msg("bad base64 %zu (\"%s\") decoded to %ld bytes", i, bad[i], r);
    }
    /* a bad group after good ones fails the whole input */
    uint8_t out[32];
    assert_int_equal(grpc_base64_decode("Zm9vYmFyZg=a", 12, out), -1);
    assert_int_equal(grpc_base64_decode("YQ==Y", 5, out), -1);
    /* empty input: nothing */
    assert_int_equal(grpc_base64_decode("", 0, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_header),           cmocka_unit_test(test_env_whole_and_cut),
        cmocka_unit_test(test_env_over_max),         cmocka_unit_test(test_env_sequence),
        cmocka_unit_test(test_timeout_units),        cmocka_unit_test(test_timeout_saturates),
        cmocka_unit_test(test_timeout_malformed),    cmocka_unit_test(test_message_encode),
        cmocka_unit_test(test_message_every_byte),   cmocka_unit_test(test_message_cut),
        cmocka_unit_test(test_base64_vectors),       cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_padded_chunks), cmocka_unit_test(test_base64_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
