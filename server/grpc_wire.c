/*
 * grpc_wire.c: envelopes, grpc-timeout, grpc-message and base64 for the
 * HTTP port's enveloped protocols (see grpc_wire.h).
 */
#include "grpc_wire.h"

#include <stdio.h>
#include <string.h>

long grpc_env_next(const uint8_t *data, size_t len, size_t max, uint8_t *flags,
                   const uint8_t **msg, size_t *msglen)
{
    if (len < GRPC_ENV_HEADER)
        return 0;
    uint32_t n = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                 (uint32_t)data[4];
    if (n > max)
        return -1;
    if (len - GRPC_ENV_HEADER < n)
        return 0;
    *flags = data[0];
    *msg = data + GRPC_ENV_HEADER;
    *msglen = n;
    return (long)(GRPC_ENV_HEADER + n);
}

void grpc_env_header(uint8_t out[GRPC_ENV_HEADER], uint8_t flags, uint32_t len)
{
    out[0] = flags;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int grpc_timeout_parse(const char *v, uint64_t *ns)
{
    uint64_t n = 0;
    size_t digits = 0;
    while (v[digits] >= '0' && v[digits] <= '9') {
        n = n * 10 + (uint64_t)(v[digits] - '0');
        if (++digits > 8)
            return -1;
    }
    if (digits == 0 || v[digits] == '\0' || v[digits + 1] != '\0')
        return -1;
    uint64_t unit;
    switch (v[digits]) {
    case 'H': unit = 3600000000000ull; break;
    case 'M': unit = 60000000000ull; break;
    case 'S': unit = 1000000000ull; break;
    case 'm': unit = 1000000ull; break;
    case 'u': unit = 1000ull; break;
    case 'n': unit = 1ull; break;
    default: return -1;
    }
    /* 8 digits of hours pass 2^64 ns: saturate */
    *ns = n > UINT64_MAX / unit ? UINT64_MAX : n * unit;
    return 0;
}

void grpc_message_encode(const char *text, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (outlen == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        bool plain = *p >= 0x20 && *p <= 0x7e && *p != '%';
        size_t need = plain ? 1 : 3;
        if (o + need >= outlen)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long grpc_base64_decode(const char *in, size_t n, uint8_t *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        if (n - i < 4)
            return -1; /* groups are whole */
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            if (c == '=') {
                if (k < 2)
                    return -1;
                v[k] = 0;
                pad++;
            } else {
                if (pad > 0)
                    return -1; /* data after padding inside a group */
                if ((v[k] = b64_value(c)) < 0)
                    return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
        i += 4;
    }
    return (long)o;
}

size_t grpc_base64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            w |= in[i + 2];
        out[o++] = abc[(w >> 18) & 63];
        out[o++] = abc[(w >> 12) & 63];
        out[o++] = i + 1 < n ? abc[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? abc[w & 63] : '=';
    }
    out[o] = '\0';
    return o;
}
