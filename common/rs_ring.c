/*
 * rs_ring.c: the fleet's slot table in its text form (rs_ring.h). Strict,
 * as the stored values are: a ring that does not parse exactly is refused
 * whole, never used in part.
 */
#include "rs_ring.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rs_common.h"

const char rs_ring_cas_script[] =
    "local cur = redis.call('HGET', KEYS[1], 'generation') or '0'\n"
    "if cur ~= ARGV[1] then return redis.error_reply('STALE_RING ' .. cur) end\n"
    "local g = tostring(tonumber(cur) + 1)\n"
    "redis.call('HSET', KEYS[1], 'generation', g, 'nodes', ARGV[2], 'ranges', ARGV[3])\n"
    "redis.call('PUBLISH', KEYS[1], g)\n"
    "return g\n";

static int ring_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ring_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A canonical decimal in [min, max] from s[0..len). */
static int ring_decimal(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static bool ring_id_ok(const char *s, size_t len)
{
    if (len == 0 || len > RS_RING_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int rs_ring_find(const rs_ring *r, const char *id)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (strcmp(r->nodes[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* One node entry s[0..len): <id>=<host>:<port>. */
static int ring_add_entry(rs_ring *r, const char *s, size_t len, char *err, size_t errlen)
{
    const char *eq = memchr(s, '=', len);
    if (eq == NULL || !ring_id_ok(s, (size_t)(eq - s)))
        return ring_err(err, errlen,
                        "node '%.*s' is not <id>=<host>:<port> (id: 1-%d of "
                        "[A-Za-z0-9_.-])",
                        (int)len, s, RS_RING_ID_MAX);
    if (r->nnodes == RS_RING_NODES_MAX)
        return ring_err(err, errlen, "more than %d nodes", RS_RING_NODES_MAX);
    rs_ring_node *n = &r->nodes[r->nnodes];
    size_t idlen = (size_t)(eq - s);
    memcpy(n->id, s, idlen);
    n->id[idlen] = '\0';
    if (rs_ring_find(r, n->id) >= 0)
        return ring_err(err, errlen, "node id '%s' appears twice", n->id);
    char addr[RS_RING_HOST_MAX + 8];
    size_t alen = len - idlen - 1;
    if (alen == 0 || alen >= sizeof(addr))
        return ring_err(err, errlen, "node '%s': no address", n->id);
    memcpy(addr, eq + 1, alen);
    addr[alen] = '\0';
    if (rs_parse_hostport(addr, n->host, sizeof(n->host), &n->port) != 0 || n->port == 0)
        return ring_err(err, errlen, "node '%s': '%s' is not HOST:PORT", n->id, addr);
    return (int)r->nnodes++;
}

int rs_ring_add_node(rs_ring *r, const char *entry, char *err, size_t errlen)
{
    return ring_add_entry(r, entry, strlen(entry), err, errlen);
}

int rs_ring_validate(const rs_ring *r, char *err, size_t errlen)
{
    if (r->generation == 0)
        return ring_err(err, errlen, "generation 0");
    if (r->nnodes == 0)
        return ring_err(err, errlen, "no nodes");
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++) {
        if (r->owner[sl] == RS_RING_NO_NODE) {
            uint32_t last = sl;
            while (last + 1 < RS_SLOTS && r->owner[last + 1] == RS_RING_NO_NODE)
                last++;
            return ring_err(err, errlen, "slots %u-%u have no node", sl, last);
        }
        if (r->owner[sl] >= r->nnodes)
            return ring_err(err, errlen, "slot %u: node index %u, only %zu nodes", sl,
                            r->owner[sl], r->nnodes);
    }
    for (size_t i = 0; i < r->nnodes; i++) {
        if (!ring_id_ok(r->nodes[i].id, strlen(r->nodes[i].id)))
            return ring_err(err, errlen, "node %zu: bad id", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->nodes[i].id, r->nodes[j].id) == 0)
                return ring_err(err, errlen, "node id '%s' appears twice", r->nodes[i].id);
    }
    return 0;
}

int rs_ring_parse(rs_ring *r, const char *generation, const char *nodes, const char *ranges,
                  char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        r->owner[sl] = RS_RING_NO_NODE;
    if (generation == NULL || nodes == NULL || ranges == NULL)
        return ring_err(err, errlen, "no ring (generation, nodes and ranges are all needed)");
    if (ring_decimal(generation, strlen(generation), 1, UINT64_MAX, &r->generation) != 0)
        return ring_err(err, errlen, "generation '%s' is not a canonical decimal >= 1",
                        generation);
    for (const char *p = nodes; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (ring_add_entry(r, p, len, err, errlen) < 0)
            return -1;
        p += len;
        if (*p == ' ' && *++p == '\0')
            return ring_err(err, errlen, "nodes: a trailing space");
    }
    uint64_t next = 0; /* the first slot the next range must start at */
    for (const char *p = ranges; *p != '\0';) {
        const char *sp = strchr(p, ' ');
        size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);
        const char *dash = memchr(p, '-', len), *eq = memchr(p, '=', len);
        uint64_t a, b, idx;
        if (dash == NULL || eq == NULL || eq < dash ||
            ring_decimal(p, (size_t)(dash - p), 0, RS_SLOTS - 1, &a) != 0 ||
            ring_decimal(dash + 1, (size_t)(eq - dash - 1), 0, RS_SLOTS - 1, &b) != 0 ||
            ring_decimal(eq + 1, len - (size_t)(eq - p) - 1, 0, RS_RING_NODES_MAX - 1, &idx) !=
                0)
            return ring_err(err, errlen, "range '%.*s' is not <first>-<last>=<node index>",
                            (int)len, p);
        if (a != next || b < a)
            return ring_err(err, errlen, "range '%.*s' does not start at slot %llu", (int)len,
                            p, (unsigned long long)next);
        if (idx >= r->nnodes)
            return ring_err(err, errlen, "range '%.*s': node %llu, only %zu nodes", (int)len, p,
                            (unsigned long long)idx, r->nnodes);
        for (uint64_t sl = a; sl <= b; sl++)
            r->owner[sl] = (uint16_t)idx;
        next = b + 1;
        p += len;
        if (*p == ' ' && *++p == '\0')
            return ring_err(err, errlen, "ranges: a trailing space");
    }
    return rs_ring_validate(r, err, errlen);
}

int rs_ring_format_nodes(const rs_ring *r, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return -1;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nnodes; i++) {
        const rs_ring_node *n = &r->nodes[i];
        bool v6 = strchr(n->host, ':') != NULL;
        int w = snprintf(buf + used, size - used, "%s%s=%s%s%s:%d", i ? " " : "", n->id,
                         v6 ? "[" : "", n->host, v6 ? "]" : "", n->port);
        if (w < 0 || (size_t)w >= size - used)
            return -1;
        used += (size_t)w;
    }
    return (int)used;
}

int rs_ring_format_ranges(const rs_ring *r, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return -1;
    buf[0] = '\0';
    for (uint32_t sl = 0; sl < RS_SLOTS;) {
        uint32_t last = sl;
        while (last + 1 < RS_SLOTS && r->owner[last + 1] == r->owner[sl])
            last++;
        int w = snprintf(buf + used, size - used, "%s%u-%u=%u", used ? " " : "", sl, last,
                         (unsigned)r->owner[sl]);
        if (w < 0 || (size_t)w >= size - used)
            return -1;
        used += (size_t)w;
        sl = last + 1;
    }
    return (int)used;
}

void rs_ring_split_even(rs_ring *r)
{
    if (r->nnodes == 0)
        return;
    for (uint32_t i = 0; i < r->nnodes; i++) {
        uint32_t a = (uint32_t)((uint64_t)i * RS_SLOTS / r->nnodes);
        uint32_t b = (uint32_t)((uint64_t)(i + 1) * RS_SLOTS / r->nnodes);
        for (uint32_t sl = a; sl < b; sl++)
            r->owner[sl] = (uint16_t)i;
    }
}

const rs_ring_node *rs_ring_owner(const rs_ring *r, uint64_t user_id)
{
    uint16_t i = r->owner[rs_user_slot(user_id)];
    return i < r->nnodes ? &r->nodes[i] : NULL;
}
