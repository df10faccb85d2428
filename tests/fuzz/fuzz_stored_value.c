/*
 * fuzz_stored_value.c: libFuzzer harness for the strict parser of stored
 * values (storage/stored_value.h).
 *
 * The input is a field name and a value separated by the first '\n' (no
 * '\n': the whole input is tried as the value of _v, _o and of channel 1, and
 * as a bare number). The oracle is canonical form: whatever the parser
 * accepts, printed back in decimal, must be exactly the bytes it read, and
 * every number must be within its field's range; so "0005", "+5", " 5" or a
 * value past 2^64-1 can never be accepted. sv_quote must always return a
 * NUL-terminated string within its buffer. Crashes and sanitizer reports
 * are findings too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stored_value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The decimal of v at p; returns its length. */
static size_t put_u64(char *p, uint64_t v)
{
    return (size_t)snprintf(p, 21, "%llu", (unsigned long long)v);
}

static void check_field(const char *name, size_t nlen, const char *val, size_t vlen)
{
    sv_field f;
    char buf[96];
    switch (sv_parse_field(name, nlen, val, vlen, &f)) {
    case SV_VERSION:
        if (nlen != 2 || memcmp(name, "_v", 2) != 0)
            abort();
        if (put_u64(buf, f.version) != vlen || memcmp(buf, val, vlen) != 0)
            abort();
        break;
    case SV_OWNER:
        if (nlen != 2 || memcmp(name, "_o", 2) != 0)
            abort();
        if (put_u64(buf, f.owner) != vlen || memcmp(buf, val, vlen) != 0)
            abort();
        break;
    case SV_STATE: {
        size_t n = put_u64(buf, f.state.channel_id);
        if (f.state.channel_id == 0 || n != nlen || memcmp(buf, name, nlen) != 0)
            abort();
        if (f.state.flags > RS_STATE_PROTO_FLAGS)
            abort();
        n = (size_t)snprintf(
            buf, sizeof(buf), "%llu:%llu:%u:%u", (unsigned long long)f.state.version,
            (unsigned long long)f.state.last_message_id, f.state.mention_count, f.state.flags);
        if (n != vlen || memcmp(buf, val, vlen) != 0)
            abort();
        break;
    }
    case SV_INVALID:
        if (f.why == NULL || f.why[0] == '\0')
            abort();
        break;
    default: abort();
    }
}

static void check_decimal(const char *s, size_t len)
{
    static const uint64_t maxes[] = {0, 1, 9, 10, 4294967295u, UINT64_MAX};
    char buf[24];
    for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        uint64_t v;
        if (sv_parse_decimal(s, len, maxes[i], &v) != 0)
            continue;
        if (v > maxes[i] || put_u64(buf, v) != len || memcmp(buf, s, len) != 0)
            abort();
    }
}

static void check_quote(const char *s, size_t len)
{
    static const size_t sizes[] = {1, 2, 7, 8, 40, 200};
    char buf[200];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        memset(buf, 'x', sizeof(buf));
        sv_quote(s, len, 64, buf, sizes[i]);
        if (memchr(buf, '\0', sizes[i]) == NULL)
            abort();
        for (const char *p = buf; *p != '\0'; p++)
            if (*p < 0x20 || *p > 0x7e)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so reads past the input are caught. */
    char *in = malloc(size > 0 ? size : 1);
    if (in == NULL)
        return 0;
    if (size > 0)
        memcpy(in, data, size);
    const char *nl = size > 0 ? memchr(in, '\n', size) : NULL;
    if (nl != NULL) {
        size_t nlen = (size_t)(nl - in);
        check_field(in, nlen, nl + 1, size - nlen - 1);
    } else {
        check_field("_v", 2, in, size);
        check_field("_o", 2, in, size);
        check_field("1", 1, in, size);
        check_field(in, size, "1:2:3:0", 7);
    }
    check_decimal(in, size);
    check_quote(in, size);
    free(in);
    return 0;
}
