/*
 * readstatectl_cluster.c: `readstatectl cluster init|show`, the fleet's
 * slot table (rs_ring.h: the Redis hash readstates:ring) as an operator
 * writes and reads it.
 *
 *   init  --node ID=HOST:PORT... ──rs_ring_add_node──> ring
 *           ──rs_ring_split_even, or --ranges──> rs_ring_validate (every slot
 *           owned, else exit 2 and nothing written)
 *           ──HGET readstates:ring generation (absent: 0), or --expect-generation──>
 *           EVAL rs_ring_cas_script 1 readstates:ring <expected> <nodes> <ranges>
 *           ──> the new generation (expected + 1); STALE_RING: exit 1
 *   show  HMGET readstates:ring generation nodes ranges ──rs_ring_parse──> ring
 *           ──a Ping and a GetRing to every node at once (short timeout)──>
 *           table or JSON: each node up or down, and the generation of the
 *           ring it uses (behind: it has not read the stored one yet)
 *
 * `ring` asks one node (--server) for the ring it uses (GetRing) and prints
 * it the same way.
 *
 * Redis is reached through ctl_redis.h (one Redis, or a Redis Cluster with
 * its redirections followed); the nodes through the client library, with
 * the same --tls and token options as every other command.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_redis.h"
#include "readstatectl.h"
#include "rs_common.h"
#include "rs_ring.h"

#define CLUSTER_HEALTH_TIMEOUT_MS 500 /* a node's Ping, unless --timeout-ms */
#define CLUSTER_HEALTH_PARALLEL   32  /* Pings in flight at once */
#define CLUSTER_ERRLEN            512
#define CLUSTER_PASSWORD_MAX      512
#define CLUSTER_EXIT_STALE        1 /* init: the table changed under us */

/* A node's health, from one Ping. */
typedef struct cluster_health {
    const rs_ring_node *node;
    const ctl_args *a;
    int timeout_ms;
    bool up;       /* it answered the Ping */
    bool answered; /* it answered, but refused the call (e.g. a token) */
    double rtt_ms;
    char version[64];
    char err[RS_CLIENT_ERRLEN];
    bool has_ring;                   /* it answered GetRing with a ring */
    uint64_t ring_generation;        /* that ring's (0: not in a fleet) */
    char ring_err[RS_CLIENT_ERRLEN]; /* why not, when up */
} cluster_health;

/* ---- the slot table ---------------------------------------------------- */

static rs_ring *ring_new(void)
{
    rs_ring *r = calloc(1, sizeof(*r));
    if (r != NULL)
        for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
            r->owner[sl] = RS_RING_NO_NODE;
    return r;
}

/* The nodes of every --node / --nodes value (comma-separated entries), in
 * order. Returns 0, or -1 with err set. */
static int ring_add_nodes(rs_ring *r, const ctl_args *a, char *err, size_t errlen)
{
    for (int i = 0; i < a->nnodes; i++) {
        for (const char *p = a->nodes[i];;) {
            const char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
            char entry[RS_RING_ID_MAX + RS_RING_HOST_MAX + 16];
            if (len == 0 || len >= sizeof(entry)) {
                snprintf(err, errlen, "node '%.*s' is not ID=HOST:PORT", (int)len, p);
                return -1;
            }
            memcpy(entry, p, len);
            entry[len] = '\0';
            if (rs_ring_add_node(r, entry, err, errlen) < 0)
                return -1;
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    return 0;
}

/* A node of --ranges: its index (all digits) or its id. Returns the index
 * or -1. */
static int ring_range_node(const rs_ring *r, const char *s)
{
    uint64_t idx;
    if (rs_parse_u64(s, &idx) == 0)
        return idx < r->nnodes ? (int)idx : -1;
    return rs_ring_find(r, s);
}

/* --ranges "FIRST-LAST=NODE ..." (or FIRST=NODE for one slot), in any
 * order, separated by blanks or commas. Fills r->owner; a slot given twice
 * is refused. Unassigned slots are left for rs_ring_validate to name.
 * Returns 0, or -1 with err set. */
static int ring_parse_ranges(rs_ring *r, const char *text, char *err, size_t errlen)
{
    bool any = false;
    for (const char *p = text; *p != '\0';) {
        if (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \t,");
        char tok[RS_RING_ID_MAX + 32], node[RS_RING_ID_MAX + 32];
        if (len >= sizeof(tok)) {
            snprintf(err, errlen, "range '%.*s' is not FIRST-LAST=NODE", (int)len, p);
            return -1;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        p += len;
        char *eq = strchr(tok, '=');
        char *dash = eq != NULL ? memchr(tok, '-', (size_t)(eq - tok)) : NULL;
        uint64_t first, last;
        if (eq == NULL)
            goto malformed;
        *eq = '\0';
        snprintf(node, sizeof(node), "%s", eq + 1);
        if (dash != NULL)
            *dash = '\0';
        if (rs_parse_u64(tok, &first) != 0 ||
            (dash != NULL ? rs_parse_u64(dash + 1, &last) != 0 : (last = first, false)))
            goto malformed;
        if (first > last || last >= RS_SLOTS) {
            snprintf(err, errlen, "range %llu-%llu: slots run from 0 to %u, first <= last",
                     (unsigned long long)first, (unsigned long long)last, RS_SLOTS - 1);
            return -1;
        }
        int idx = ring_range_node(r, node);
        if (idx < 0) {
            snprintf(err, errlen,
                     "range %llu-%llu: no node '%s' (a node's index from 0, or its id)",
                     (unsigned long long)first, (unsigned long long)last, node);
            return -1;
        }
        for (uint64_t sl = first; sl <= last; sl++) {
            if (r->owner[sl] != RS_RING_NO_NODE) {
                snprintf(err, errlen, "slot %llu is in two ranges", (unsigned long long)sl);
                return -1;
            }
            r->owner[sl] = (uint16_t)idx;
        }
        any = true;
        continue;
    malformed:
        snprintf(err, errlen, "range '%s' is not FIRST-LAST=NODE", tok);
        return -1;
    }
    if (!any) {
        snprintf(err, errlen, "--ranges gives no range");
        return -1;
    }
    return 0;
}

/* host:port as the table writes it ("[v6]:port" for IPv6). */
static void node_address(const rs_ring_node *n, char *buf, size_t len)
{
    bool v6 = strchr(n->host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", n->host, v6 ? "]" : "", n->port);
}

static uint32_t node_slots(const rs_ring *r, size_t idx)
{
    uint32_t n = 0;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        n += r->owner[sl] == idx;
    return n;
}

/* The next range starting at or after *sl, [first, last] of one owner. */
static bool next_range(const rs_ring *r, uint32_t *sl, uint32_t *first, uint32_t *last)
{
    if (*sl >= RS_SLOTS)
        return false;
    *first = *sl;
    *last = *sl;
    while (*last + 1 < RS_SLOTS && r->owner[*last + 1] == r->owner[*first])
        (*last)++;
    *sl = *last + 1;
    return true;
}

/* ---- output ---------------------------------------------------------- */

static void print_health_text(const cluster_health *h, uint64_t generation)
{
    if (h->up) {
        printf("up (%s, rtt %.2f ms, ", h->version, h->rtt_ms);
        if (!h->has_ring)
            printf("%s)", h->ring_err);
        else if (h->ring_generation == 0)
            printf("not in a fleet)");
        else
            printf("ring %llu%s)", (unsigned long long)h->ring_generation,
                   h->ring_generation < generation   ? ", behind"
                   : h->ring_generation > generation ? ", ahead"
                                                     : "");
    } else if (h->answered)
        printf("up (refused the Ping: %s)", h->err);
    else
        printf("down (%s)", h->err);
}

static void print_health_json(const cluster_health *h)
{
    printf(",\"health\":{\"up\":%s", h->up || h->answered ? "true" : "false");
    if (h->up) {
        printf(",\"serverVersion\":");
        ctl_json_string(stdout, h->version);
        printf(",\"rttMs\":%.3f", h->rtt_ms);
        if (h->has_ring) {
            printf(",\"ringGeneration\":\"%llu\"", (unsigned long long)h->ring_generation);
        } else {
            printf(",\"ringError\":");
            ctl_json_string(stdout, h->ring_err);
        }
    } else {
        printf(",\"error\":");
        ctl_json_string(stdout, h->err);
    }
    printf("}");
}

/* The table: generation, then one row per node (id, address, slots, ranges,
 * and its health when health is not NULL). previous: the generation init
 * replaced (0: none), or -1 for show. */
static void print_ring(const ctl_args *a, const rs_ring *r, long long previous,
                       const cluster_health *health)
{
    char addr[RS_RING_HOST_MAX + 16];
    if (a->json) {
        printf("{\"generation\":\"%llu\"", (unsigned long long)r->generation);
        if (previous >= 0)
            printf(",\"previousGeneration\":\"%lld\"", previous);
        printf(",\"nodes\":[");
        for (size_t i = 0; i < r->nnodes; i++) {
            node_address(&r->nodes[i], addr, sizeof(addr));
            printf("%s{\"nodeId\":", i ? "," : "");
            ctl_json_string(stdout, r->nodes[i].id);
            printf(",\"address\":");
            ctl_json_string(stdout, addr);
            printf(",\"slots\":%u,\"ranges\":[", node_slots(r, i));
            uint32_t sl = 0, first, last;
            bool more = false;
            while (next_range(r, &sl, &first, &last))
                if (r->owner[first] == i) {
                    printf("%s{\"firstSlot\":%u,\"lastSlot\":%u}", more ? "," : "", first,
                           last);
                    more = true;
                }
            printf("]");
            if (health != NULL)
                print_health_json(&health[i]);
            printf("}");
        }
        printf("],\"ranges\":[");
        uint32_t sl = 0, first, last;
        for (bool more = false; next_range(r, &sl, &first, &last); more = true)
            printf("%s{\"firstSlot\":%u,\"lastSlot\":%u,\"node\":%u}", more ? "," : "", first,
                   last, (unsigned)r->owner[first]);
        printf("]}\n");
        return;
    }
    printf("generation  %llu", (unsigned long long)r->generation);
    if (previous > 0)
        printf(" (was %lld)", previous);
    else if (previous == 0)
        printf(" (the first table)");
    printf("\nnodes       %zu\n\n", r->nnodes);
    int idw = 4, addrw = 7;
    for (size_t i = 0; i < r->nnodes; i++) {
        node_address(&r->nodes[i], addr, sizeof(addr));
        idw = RS_MAX(idw, (int)strlen(r->nodes[i].id));
        addrw = RS_MAX(addrw, (int)strlen(addr));
    }
    printf("%-*s  %-*s  %5s  ", idw, "NODE", addrw, "ADDRESS", "SLOTS");
    printf(health != NULL ? "%-14s  HEALTH\n" : "%s\n", "RANGES");
    for (size_t i = 0; i < r->nnodes; i++) {
        node_address(&r->nodes[i], addr, sizeof(addr));
        printf("%-*s  %-*s  %5u  ", idw, r->nodes[i].id[0] != '\0' ? r->nodes[i].id : "-",
               addrw, addr, node_slots(r, i));
        int w = 0;
        uint32_t sl = 0, first, last;
        while (next_range(r, &sl, &first, &last))
            if (r->owner[first] == i)
                w += printf("%s%u-%u", w ? "," : "", first, last);
        if (w == 0)
            w = printf("-");
        if (health != NULL) {
            printf("%*s  ", w < 14 ? 14 - w : 0, "");
            print_health_text(&health[i], r->generation);
        }
        printf("\n");
    }
}

/* ---- Redis ----------------------------------------------------------- */

/* The Redis password: the first line of --redis-password-file, else
 * $READSTATECTL_REDIS_PASSWORD. Returns 1 with it in out, 0 for none, or
 * -1 with a reason in out. */
static int redis_password(const ctl_args *a, char *out, size_t outlen)
{
    if (a->redis_password_file == NULL) {
        const char *env = getenv("READSTATECTL_REDIS_PASSWORD");
        if (env == NULL || env[0] == '\0')
            return 0;
        if (strlen(env) >= outlen) {
            snprintf(out, outlen, "READSTATECTL_REDIS_PASSWORD is too long");
            return -1;
        }
        snprintf(out, outlen, "%s", env);
        return 1;
    }
    FILE *f = fopen(a->redis_password_file, "r");
    if (f == NULL) {
        snprintf(out, outlen, "--redis-password-file %s: cannot open it",
                 a->redis_password_file);
        return -1;
    }
    bool got = fgets(out, (int)outlen, f) != NULL;
    fclose(f);
    size_t n = got ? strlen(out) : 0;
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    if (n == 0) {
        snprintf(out, outlen,
                 "--redis-password-file %s: empty (the password is its first line)",
                 a->redis_password_file);
        return -1;
    }
    return 1;
}

/* Check the Redis options and connect. Returns 0, or the exit status after
 * reporting (usage error, or UNAVAILABLE). */
static int cluster_redis_open(ctl_args *a, ctl_redis *redis)
{
    if ((a->redis == NULL) == (a->redis_cluster == NULL))
        return ctl_usage_error("cluster %s needs --redis HOST:PORT or --redis-cluster SEEDS "
                               "(one of them)",
                               a->pos[0]);
    if (a->redis_cluster != NULL && a->redis_db != 0)
        return ctl_usage_error("%s", "--redis-db is for one Redis: a Redis Cluster has only "
                                     "database 0");
    char password[CLUSTER_PASSWORD_MAX];
    int got = redis_password(a, password, sizeof(password));
    if (got < 0)
        return ctl_usage_error("%s", password);
    if (a->redis_user != NULL && got == 0)
        return ctl_usage_error("--redis-user %s needs a password (--redis-password-file or "
                               "READSTATECTL_REDIS_PASSWORD)",
                               a->redis_user);
    ctl_redis_opts o = {
        .addr = a->redis,
        .seeds = a->redis_cluster,
        .user = a->redis_user,
        .password = got > 0 ? password : NULL,
        .db = a->redis_db,
        .timeout_ms = a->timeout_ms,
    };
    int rc = ctl_redis_open(redis, &o);
    explicit_bzero(password, sizeof(password));
    redis->opts.password = NULL; /* used only while connecting */
    if (rc != 0)
        return ctl_report_error(a, RS_ERR_UNAVAILABLE, redis->err);
    return 0;
}

/* A Redis failure (no reply, or an error reply) reported as UNAVAILABLE. */
static int redis_failure(const ctl_args *a, ctl_redis *redis, const redisReply *rep,
                         const char *what)
{
    char msg[CLUSTER_ERRLEN + CTL_REDIS_ERRLEN];
    bool moved = !redis->cluster && rep != NULL && rep->type == REDIS_REPLY_ERROR &&
                 strncmp(rep->str, "MOVED ", 6) == 0;
    snprintf(msg, sizeof(msg), "%s on %s: %s%s", what, ctl_redis_where(redis),
             rep != NULL && rep->type == REDIS_REPLY_ERROR ? rep->str
             : rep != NULL                                 ? "an unexpected reply"
                                                           : redis->err,
             moved ? " (a Redis Cluster node: use --redis-cluster)" : "");
    return ctl_report_error(a, RS_ERR_UNAVAILABLE, msg);
}

/* ---- init ------------------------------------------------------------ */

static int cluster_init(ctl_args *a)
{
    char err[CLUSTER_ERRLEN];
    if (a->nnodes == 0)
        return ctl_usage_error("%s", "cluster init needs its nodes: --node ID=HOST:PORT "
                                     "(repeated) or --nodes ID=HOST:PORT,...");
    rs_ring *r = ring_new();
    size_t cap = (size_t)RS_RING_NODES_MAX * (RS_RING_ID_MAX + RS_RING_HOST_MAX + 16) +
                 (size_t)RS_SLOTS * 24;
    char *nodes = malloc(cap), *ranges = malloc(cap);
    ctl_redis redis = {0};
    redisReply *rep = NULL;
    int rc = 0;
    if (r == NULL || nodes == NULL || ranges == NULL) {
        rc = ctl_report_error(a, RS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (ring_add_nodes(r, a, err, sizeof(err)) != 0 ||
        (a->ranges != NULL && ring_parse_ranges(r, a->ranges, err, sizeof(err)) != 0)) {
        rc = ctl_usage_error("cluster init: %s", err);
        goto out;
    }
    if (a->ranges == NULL)
        rs_ring_split_even(r);
    r->generation = 1; /* what rs_ring_validate wants; the script sets it */
    if (rs_ring_validate(r, err, sizeof(err)) != 0) {
        rc = ctl_usage_error("cluster init: refused, nothing written: %s", err);
        goto out;
    }
    if (rs_ring_format_nodes(r, nodes, cap) < 0 || rs_ring_format_ranges(r, ranges, cap) < 0) {
        rc = ctl_report_error(a, RS_ERR_INTERNAL, "the table does not fit its buffer");
        goto out;
    }
    if ((rc = cluster_redis_open(a, &redis)) != 0)
        goto out;

    /* The generation to replace: --expect-generation, or the stored one. */
    uint64_t expected = a->expect_generation;
    char expected_text[24];
    if (!a->have_expect) {
        const char *hget[] = {"HGET", RS_RING_KEY, "generation"};
        rep = ctl_redis_command(&redis, 3, hget, NULL);
        if (rep == NULL || (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_NIL)) {
            rc = redis_failure(a, &redis, rep, "HGET " RS_RING_KEY " generation");
            goto out;
        }
        expected = 0;
        if (rep->type == REDIS_REPLY_STRING &&
            (rs_parse_u64(rep->str, &expected) != 0 || expected == 0 ||
             (rep->str[0] == '0' && rep->len > 1))) {
            snprintf(err, sizeof(err),
                     "%s generation on %s is '%s', not a generation: mend or delete the key",
                     RS_RING_KEY, ctl_redis_where(&redis), rep->str);
            rc = ctl_report_error(a, RS_ERR_INTERNAL, err);
            goto out;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    snprintf(expected_text, sizeof(expected_text), "%llu", (unsigned long long)expected);
    const char *eval[] = {"EVAL", rs_ring_cas_script, "1", RS_RING_KEY, expected_text, nodes,
                          ranges};
    rep = ctl_redis_command(&redis, 7, eval, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR &&
        strncmp(rep->str, "STALE_RING", 10) == 0) {
        const char *cur = rep->str[10] == ' ' ? rep->str + 11 : "?";
        fprintf(stderr,
                "error: STALE_RING: the slot table changed: it is at generation %s, "
                "not %s; nothing written (read it again with `readstatectl cluster show`)\n",
                cur, expected_text);
        if (a->json) {
            printf("{\"error\":{\"code\":\"STALE_RING\",\"generation\":");
            ctl_json_string(stdout, cur);
            printf(",\"expectedGeneration\":\"%s\"}}\n", expected_text);
        }
        rc = CLUSTER_EXIT_STALE;
        goto out;
    }
    uint64_t written;
    if (rep == NULL || rep->type != REDIS_REPLY_STRING ||
        rs_parse_u64(rep->str, &written) != 0) {
        rc = redis_failure(a, &redis, rep, "EVAL of the table's compare-and-set script");
        goto out;
    }
    r->generation = written;
    print_ring(a, r, (long long)expected, NULL);
out:
    if (rep != NULL)
        freeReplyObject(rep);
    ctl_redis_close(&redis);
    free(nodes);
    free(ranges);
    free(r);
    return rc;
}

/* ---- show ------------------------------------------------------------ */

static void *health_probe(void *arg)
{
    cluster_health *h = arg;
    const ctl_args *a = h->a;
    rs_client *c =
        rs_client_connect_tls(h->node->host, h->node->port, a->tls ? &a->tls_opts : NULL,
                              h->timeout_ms, h->err, sizeof(h->err));
    if (c == NULL)
        return NULL;
    rs_status st = RS_OK;
    if (a->have_token)
        st = rs_client_auth(c, a->token_buf);
    uint64_t t0 = rs_now_ns();
    if (st == RS_OK)
        st = rs_client_ping(c, NULL, h->version, sizeof(h->version));
    if (st == RS_OK) {
        h->up = true;
        h->rtt_ms = (double)(rs_now_ns() - t0) / 1e6;
        /* The ring the node uses: is it the stored one yet? */
        rs_ring *ring = malloc(sizeof(*ring));
        st = ring != NULL ? rs_client_get_ring(c, ring) : RS_ERR_INTERNAL;
        if (st == RS_OK) {
            h->has_ring = true;
            h->ring_generation = ring->generation;
        } else if (st == RS_ERR_UNAVAILABLE && rs_client_err(c) == RS_OK) {
            snprintf(h->ring_err, sizeof(h->ring_err), "no ring yet");
        } else {
            snprintf(h->ring_err, sizeof(h->ring_err), "GetRing: %s",
                     ring != NULL ? rs_client_errmsg(c) : "out of memory");
        }
        free(ring);
    } else {
        /* a code from the server: it runs, but refused (a token) */
        h->answered = rs_client_err(c) == RS_OK;
        snprintf(h->err, sizeof(h->err), "%s", rs_client_errmsg(c));
    }
    rs_client_close(c);
    return NULL;
}

/* A Ping to every node, CLUSTER_HEALTH_PARALLEL at a time. */
static void probe_all(cluster_health *h, size_t n)
{
    for (size_t from = 0; from < n; from += CLUSTER_HEALTH_PARALLEL) {
        pthread_t th[CLUSTER_HEALTH_PARALLEL];
        bool started[CLUSTER_HEALTH_PARALLEL] = {false};
        size_t k = RS_MIN(n - from, (size_t)CLUSTER_HEALTH_PARALLEL);
        for (size_t i = 0; i < k; i++)
            started[i] = pthread_create(&th[i], NULL, health_probe, &h[from + i]) == 0;
        for (size_t i = 0; i < k; i++) {
            if (started[i])
                pthread_join(th[i], NULL);
            else
                health_probe(&h[from + i]);
        }
    }
}

static int cluster_show(ctl_args *a)
{
    if (a->nnodes > 0 || a->ranges != NULL || a->have_expect)
        return ctl_usage_error("%s", "--node(s), --ranges and --expect-generation are options "
                                     "of cluster init");
    ctl_redis redis = {0};
    rs_ring *r = NULL;
    cluster_health *health = NULL;
    redisReply *rep = NULL;
    int rc = cluster_redis_open(a, &redis);
    if (rc != 0)
        goto out;
    const char *hmget[] = {"HMGET", RS_RING_KEY, "generation", "nodes", "ranges"};
    rep = ctl_redis_command(&redis, 5, hmget, NULL);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
        rc = redis_failure(a, &redis, rep, "HMGET " RS_RING_KEY);
        goto out;
    }
    const char *f[3];
    size_t present = 0;
    for (size_t i = 0; i < 3; i++) {
        f[i] = rep->element[i]->type == REDIS_REPLY_STRING ? rep->element[i]->str : NULL;
        present += f[i] != NULL;
    }
    char err[CLUSTER_ERRLEN], msg[CLUSTER_ERRLEN + 256];
    if (present == 0) {
        snprintf(msg, sizeof(msg),
                 "no slot table: %s is absent on %s (write one with `readstatectl cluster "
                 "init`)",
                 RS_RING_KEY, ctl_redis_where(&redis));
        rc = ctl_report_error(a, RS_ERR_NOT_FOUND, msg);
        goto out;
    }
    if ((r = ring_new()) == NULL) {
        rc = ctl_report_error(a, RS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (rs_ring_parse(r, f[0], f[1], f[2], err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "%s on %s does not parse: %s", RS_RING_KEY,
                 ctl_redis_where(&redis), err);
        rc = ctl_report_error(a, RS_ERR_INTERNAL, msg);
        goto out;
    }
    freeReplyObject(rep);
    rep = NULL;
    ctl_redis_close(&redis);
    if ((health = calloc(r->nnodes, sizeof(*health))) == NULL) {
        rc = ctl_report_error(a, RS_ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nnodes; i++) {
        health[i].node = &r->nodes[i];
        health[i].a = a;
        health[i].timeout_ms = a->timeout_given ? a->timeout_ms : CLUSTER_HEALTH_TIMEOUT_MS;
    }
    probe_all(health, r->nnodes);
    print_ring(a, r, -1, health);
out:
    if (rep != NULL)
        freeReplyObject(rep);
    ctl_redis_close(&redis);
    free(health);
    free(r);
    return rc;
}

/* ---- ring (GetRing) ------------------------------------------------- */

int ctl_cmd_ring(ctl_args *a)
{
    rs_ring *r = malloc(sizeof(*r));
    if (r == NULL)
        return ctl_report_error(a, RS_ERR_INTERNAL, "out of memory");
    int rc = 0;
    rs_client *c = ctl_connect(a);
    if (c == NULL) {
        rc = a->connect_rc;
    } else {
        rs_status st = rs_client_get_ring(c, r);
        if (st != RS_OK)
            rc = ctl_report_error(a, st, rs_client_errmsg(c));
        else
            print_ring(a, r, -1, NULL);
    }
    free(r);
    return rc;
}

int ctl_cmd_cluster(ctl_args *a)
{
    if (strcmp(a->pos[0], "init") == 0)
        return cluster_init(a);
    if (strcmp(a->pos[0], "show") == 0)
        return cluster_show(a);
    return ctl_usage_error("unknown cluster command %s (init or show)", a->pos[0]);
}
