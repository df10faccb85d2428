/*
 * cluster_slots.c: CLUSTER SLOTS replies and MOVED/ASK redirections
 * (cluster_slots.h). Strict: anything that is not exactly the documented
 * shape is refused, so a confused node cannot point slots at garbage.
 */
#include "cluster_slots.h"

#include <stdio.h>
#include <string.h>

#include "rs_slot.h"

static int copy_host(char *dst, const char *src, size_t len, const char *asked_host)
{
    if (len == 0 || (len == 1 && src[0] == '?')) {
        src = asked_host != NULL ? asked_host : "";
        len = strlen(src);
    }
    if (len == 0 || len >= CLUSTER_HOST_MAX || memchr(src, '\0', len) != NULL)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

static int parse_port(const char *p, size_t len)
{
    if (len == 0 || len > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

long cluster_slots_parse(const redisReply *r, const char *asked_host, cluster_range *out,
                         size_t cap, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = "";
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        *why = r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "not an array";
        return -1;
    }
    if (r->elements > cap) {
        *why = "too many ranges";
        return -1;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2) {
            *why = "malformed range";
            return -1;
        }
        long long a = e->element[0]->integer, b = e->element[1]->integer;
        if (a < 0 || b < a || b >= (long long)RS_SLOTS) {
            *why = "slot out of range";
            return -1;
        }
        const redisReply *node = e->element[2];
        const redisReply *h = node->element[0], *p = node->element[1];
        if ((h->type != REDIS_REPLY_STRING && h->type != REDIS_REPLY_NIL) ||
            p->type != REDIS_REPLY_INTEGER || p->integer < 1 || p->integer > 65535) {
            *why = "malformed node";
            return -1;
        }
        cluster_range *o = &out[i];
        o->start = (uint16_t)a;
        o->end = (uint16_t)b;
        o->port = (int)p->integer;
        const char *hs = h->type == REDIS_REPLY_STRING ? h->str : "";
        size_t hl = h->type == REDIS_REPLY_STRING ? h->len : 0;
        if (copy_host(o->host, hs, hl, asked_host) != 0) {
            *why = "malformed host";
            return -1;
        }
    }
    return (long)r->elements;
}

cluster_redirect_kind cluster_redirect_parse(const char *err, size_t len,
                                             const char *asked_host, cluster_redirect *out)
{
    memset(out, 0, sizeof(*out));
    cluster_redirect_kind kind;
    size_t skip;
    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        kind = CLUSTER_MOVED;
        skip = 6;
    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        kind = CLUSTER_ASK;
        skip = 4;
    } else {
        return CLUSTER_NO_REDIRECT;
    }
    const char *p = err + skip, *end = err + len;
    unsigned slot = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9' && q - p < 6)
        slot = slot * 10 + (unsigned)(*q++ - '0');
    if (q == p || q >= end || *q != ' ' || slot >= RS_SLOTS)
        return CLUSTER_NO_REDIRECT;
    const char *ep = q + 1; /* host:port, the port after the last ':' */
    const char *colon = NULL;
    for (const char *c = ep; c < end; c++)
        if (*c == ':')
            colon = c;
    if (colon == NULL)
        return CLUSTER_NO_REDIRECT;
    int port = parse_port(colon + 1, (size_t)(end - colon - 1));
    if (port < 0 || copy_host(out->host, ep, (size_t)(colon - ep), asked_host) != 0)
        return CLUSTER_NO_REDIRECT;
    out->kind = kind;
    out->slot = (uint16_t)slot;
    out->port = port;
    return kind;
}
