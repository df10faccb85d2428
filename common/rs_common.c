/* rs_common.c: status names and small parsers shared by every program. */
#include "rs_common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *rs_status_name(rs_status st)
{
    switch (st) {
    case RS_OK: return "OK";
    case RS_ERR_INVALID: return "INVALID_ARGUMENT";
    case RS_ERR_DEADLINE: return "DEADLINE_EXCEEDED";
    case RS_ERR_NOT_FOUND: return "NOT_FOUND";
    case RS_ERR_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case RS_ERR_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case RS_ERR_INTERNAL: return "INTERNAL";
    case RS_ERR_UNAVAILABLE: return "UNAVAILABLE";
    case RS_ERR_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case RS_PENDING: return "PENDING";
    default: return "UNKNOWN";
    }
}

const char *rs_status_rpc_name(rs_status st)
{
    switch (st) {
    case RS_OK: return "ok";
    case RS_ERR_INVALID: return "invalid_argument";
    case RS_ERR_DEADLINE: return "deadline_exceeded";
    case RS_ERR_NOT_FOUND: return "not_found";
    case RS_ERR_EXHAUSTED: return "resource_exhausted";
    case RS_ERR_UNIMPLEMENTED: return "unimplemented";
    case RS_ERR_INTERNAL: return "internal";
    case RS_ERR_UNAVAILABLE: return "unavailable";
    case RS_ERR_UNAUTHENTICATED: return "unauthenticated";
    default: return "unknown";
    }
}

int rs_parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int rs_parse_size(const char *s, size_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1000ull},
        {"kb", 1000ull},
        {"kib", 1024ull},
        {"m", 1000000ull},
        {"mb", 1000000ull},
        {"mib", 1024ull * 1024},
        {"g", 1000000000ull},
        {"gb", 1000000000ull},
        {"gib", 1024ull * 1024 * 1024},
        {"t", 1000000000000ull},
        {"tb", 1000000000000ull},
        {"tib", 1024ull * 1024 * 1024 * 1024},
    };
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    for (size_t i = 0; i < RS_ARRAY_LEN(units); i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (v != 0 && units[i].mult > UINT64_MAX / v)
                return -1;
            *out = (size_t)(v * units[i].mult);
            return 0;
        }
    }
    return -1;
}

int rs_parse_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    if (s == NULL)
        return -1;
    const char *colon;
    const char *hs = s;
    size_t hl;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        hs = s + 1;
        hl = (size_t)(rb - hs);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    uint64_t p;
    if (rs_parse_u64(colon + 1, &p) != 0 || p > 65535)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int rs_write_port_file(const char *path, int port)
{
    char tmp[4096 + 32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    int w = fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || w < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

void rs_oom(const char *what)
{
    fprintf(stderr, "readstates: out of memory (%s)\n", what);
    abort();
}

void *rs_xmalloc(size_t n, const char *what)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL)
        rs_oom(what);
    return p;
}

void *rs_xcalloc(size_t n, size_t size, const char *what)
{
    void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);
    if (p == NULL)
        rs_oom(what);
    return p;
}

void *rs_xrealloc(void *p, size_t n, const char *what)
{
    void *q = realloc(p, n != 0 ? n : 1);
    if (q == NULL)
        rs_oom(what);
    return q;
}
