/*
 * test_readstatectl_cluster.c: `readstatectl cluster init|show` end to end:
 * the real binary against a real redis-server (persist_readstatectl_cluster)
 * or a real Redis Cluster of three primaries (the same program with
 * RS_TEST_REDIS_CLUSTER=1, persist_readstatectl_cluster_cluster), with a
 * real readstated as the node that is up.
 *
 *   init   an even split of three nodes, written as the rs_ring text form,
 *          generation 1 then 2; --ranges; tables with unassigned or doubly
 *          assigned slots, bad nodes and bad options refused with exit 2 and
 *          nothing written; --expect-generation that is stale: STALE_RING,
 *          exit 1, nothing written; a stored generation that is no number
 *   ring   GetRing from one node: a fleet node's ring, a readstated outside
 *          a fleet (itself alone, generation 0), a closed port (exit 14)
 *   show   no table (exit 5), the table with each node's health (a fleet
 *          readstated up with its version and the ring generation it uses, a
 *          readstated outside a fleet, a closed port down), JSON; a table
 *          that does not parse (exit 13); Redis unreachable (exit 14)
 *   cluster  MOVED from a seed that does not own the key, a dead first
 *          seed, ASK while the key's slot migrates (ASKING sent)
 *   auth   --redis-password-file and READSTATECTL_REDIS_PASSWORD
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_common.h"
#include "rs_ring.h"
#include "rs_slot.h"
#include "rs_testsupport.h"

#define CTL_MS 30000

typedef struct ctx {
    rs_test_redis redis;
    rs_test_server node; /* a real readstated: the node that is up */
    char addr[512];      /* --redis or --redis-cluster value */
    const char *redis_flag;
} ctx;

typedef struct ctl_out {
    int code;
    char *out;
    char *err;
} ctl_out;

static void ctl_out_free(ctl_out *o)
{
    free(o->out);
    free(o->err);
}

/* readstatectl [cluster] <args...> (NULL-terminated) with env (may be
 * NULL). */
static ctl_out ctl_run(bool cluster, const char *const *env, va_list ap)
{
    const char *argv[48];
    size_t n = 0;
    argv[n++] = rs_test_readstatectl_bin();
    if (cluster)
        argv[n++] = "cluster";
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    argv[n] = NULL;
    ctl_out o = {0};
    o.code = rs_run(argv, env, CTL_MS, &o.out, &o.err);
    assert_non_null(o.out);
    assert_non_null(o.err);
    return o;
}

static ctl_out ctl_env(const char *const *env, ...)
{
    va_list ap;
    va_start(ap, env);
    ctl_out o = ctl_run(true, env, ap);
    va_end(ap);
    return o;
}

/* readstatectl <args...> (no "cluster"). */
static ctl_out ctl_top(const char *const *env, ...)
{
    va_list ap;
    va_start(ap, env);
    ctl_out o = ctl_run(false, env, ap);
    va_end(ap);
    return o;
}

#define ctl(...) ctl_env(NULL, __VA_ARGS__)

static void expect_code(const ctl_out *o, int code)
{
    if (o->code != code)
        fail_msg("readstatectl exited %d, expected %d\nstdout:\n%s\nstderr:\n%s", o->code, code,
                 o->out, o->err);
}

/* A field of readstates:ring, or NULL when absent (malloc'd). */
static char *ring_field(const ctx *c, const char *field)
{
    redisReply *rep = rs_test_redis_command(&c->redis, "HGET %s %s", RS_RING_KEY, field);
    assert_non_null(rep);
    char *v = NULL;
    if (rep->type == REDIS_REPLY_STRING)
        v = strdup(rep->str);
    else
        assert_int_equal(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    return v;
}

static void expect_field(const ctx *c, const char *field, const char *want)
{
    char *v = ring_field(c, field);
    if (want == NULL && v != NULL)
        fail_msg("%s %s is '%s', expected absent", RS_RING_KEY, field, v);
    if (want != NULL && (v == NULL || strcmp(v, want) != 0))
        fail_msg("%s %s is '%s', expected '%s'", RS_RING_KEY, field, v ? v : "(absent)", want);
    free(v);
}

static void ring_delete(const ctx *c)
{
    redisReply *rep = rs_test_redis_command(&c->redis, "DEL %s", RS_RING_KEY);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
}

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL || !json_is_object(j))
        fail_msg("not one JSON object (%s): %s", jerr.text, text);
    return j;
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static int setup(void **state)
{
    ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    if (rs_test_redis_start(&c->redis) != 0)
        return -1;
    rs_test_redis_addr(&c->redis, c->addr, sizeof(c->addr));
    c->redis_flag = rs_test_redis_is_cluster(&c->redis) ? "--redis-cluster" : "--redis";
    if (rs_test_server_start(&c->node, NULL) != 0)
        return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    ctx *c = *state;
    rs_test_server_cleanup(&c->node);
    rs_test_redis_cleanup(&c->redis);
    free(c);
    return 0;
}

/* Three nodes split evenly, generation 1 then 2; the stored text is the
 * rs_ring form and parses back. */
static void test_init_even_split(void **state)
{
    ctx *c = *state;
    ring_delete(c);
    ctl_out o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001", "--node",
                    "n1=127.0.0.1:7002", "--node", "n2=127.0.0.1:7003", NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  1 (the first table)"));
    assert_non_null(strstr(o.out, "n1    127.0.0.1:7002   5461  5461-10921"));
    ctl_out_free(&o);
    expect_field(c, "generation", "1");
    expect_field(c, "nodes", "n0=127.0.0.1:7001 n1=127.0.0.1:7002 n2=127.0.0.1:7003");
    expect_field(c, "ranges", "0-5460=0 5461-10921=1 10922-16383=2");

    /* Again, with --nodes and JSON: the generation read is replaced. */
    o = ctl("init", c->redis_flag, c->addr, "--json", "--nodes",
            "n0=127.0.0.1:7001,n1=127.0.0.1:7002,n2=127.0.0.1:7003", NULL);
    expect_code(&o, 0);
    json_t *j = parse_json(o.out);
    assert_string_equal(jstr(j, "generation"), "2");
    assert_string_equal(jstr(j, "previousGeneration"), "1");
    json_t *nodes = json_object_get(j, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    assert_string_equal(jstr(json_array_get(nodes, 2), "address"), "127.0.0.1:7003");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(nodes, 2), "slots")),
                     5462);
    json_decref(j);
    ctl_out_free(&o);
    expect_field(c, "generation", "2");

    /* What was written is a valid ring. */
    char *g = ring_field(c, "generation"), *n = ring_field(c, "nodes"),
         *r = ring_field(c, "ranges");
    rs_ring *ring = calloc(1, sizeof(*ring));
    char err[256];
    if (rs_ring_parse(ring, g, n, r, err, sizeof(err)) != 0)
        fail_msg("the written ring does not parse: %s", err);
    assert_int_equal(ring->nnodes, 3);
    assert_int_equal(ring->owner[5460], 0);
    assert_int_equal(ring->owner[5461], 1);
    assert_int_equal(ring->owner[10922], 2);
    assert_int_equal(ring->owner[RS_SLOTS - 1], 2);
    free(ring);
    free(g);
    free(n);
    free(r);
}

/* --ranges: explicit ranges in any order, nodes by index or id. */
static void test_init_ranges(void **state)
{
    ctx *c = *state;
    ring_delete(c);
    ctl_out o = ctl("init", c->redis_flag, c->addr, "--node", "a=127.0.0.1:7001", "--node",
                    "b=[::1]:7002", "--ranges", "100-16383=b 0-99=0", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    expect_field(c, "generation", "1");
    expect_field(c, "nodes", "a=127.0.0.1:7001 b=[::1]:7002");
    expect_field(c, "ranges", "0-99=0 100-16383=1");
}

/* Tables that leave slots without a node, and malformed input: exit 2,
 * nothing written (the stored table stays as it was). */
static void test_init_refused(void **state)
{
    ctx *c = *state;
    ring_delete(c);
    struct {
        const char *node2;  /* a second --node */
        const char *ranges; /* --ranges or NULL */
        const char *why;    /* in stderr */
    } cases[] = {
        {"n1=127.0.0.1:7002", "0-99=0 200-16383=1", "slots 100-199 have no node"},
        {"n1=127.0.0.1:7002", "0-99=0", "slots 100-16383 have no node"},
        {"n1=127.0.0.1:7002", "1-16383=1", "slots 0-0 have no node"},
        {"n1=127.0.0.1:7002", "0-100=0 100-16383=1", "slot 100 is in two ranges"},
        {"n1=127.0.0.1:7002", "0-99=0 100-16384=1", "slots run from 0 to 16383"},
        {"n1=127.0.0.1:7002", "0-99=0 100-16383=2", "no node '2'"},
        {"n1=127.0.0.1:7002", "0-99=0 100-16383=nx", "no node 'nx'"},
        {"n1=127.0.0.1:7002", "0-99 100-16383=1", "is not FIRST-LAST=NODE"},
        {"n1=127.0.0.1:7002", " ", "gives no range"},
        {"n0=127.0.0.1:7002", NULL, "appears twice"},
        {"n1=127.0.0.1", NULL, "is not HOST:PORT"},
        {"n1=127.0.0.1:0", NULL, "is not HOST:PORT"},
        {"bad id=127.0.0.1:7002", NULL, "is not <id>=<host>:<port>"},
        {"n1", NULL, "is not <id>=<host>:<port>"},
    };
    for (size_t i = 0; i < RS_ARRAY_LEN(cases); i++) {
        ctl_out o = cases[i].ranges != NULL
                        ? ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001",
                              "--node", cases[i].node2, "--ranges", cases[i].ranges, NULL)
                        : ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001",
                              "--node", cases[i].node2, NULL);
        if (o.code != 2 || strstr(o.err, cases[i].why) == NULL)
            fail_msg("case %zu (%s, %s): exit %d, stderr:\n%s", i, cases[i].node2,
                     cases[i].ranges ? cases[i].ranges : "-", o.code, o.err);
        ctl_out_free(&o);
        expect_field(c, "generation", NULL);
    }

    /* With a table stored, a refused one leaves it alone. */
    ctl_out o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001", "--node",
            "n1=127.0.0.1:7002", "--ranges", "0-99=0 200-16383=1", NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    expect_field(c, "generation", "1");
    expect_field(c, "nodes", "n0=127.0.0.1:7001");
    expect_field(c, "ranges", "0-16383=0");

    /* Options. */
    o = ctl("init", c->redis_flag, c->addr, NULL);
    expect_code(&o, 2);
    assert_non_null(strstr(o.err, "needs its nodes"));
    ctl_out_free(&o);
    o = ctl("init", "--redis", "127.0.0.1:1", "--redis-cluster", "127.0.0.1:2", "--node",
            "n=127.0.0.1:1", NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    o = ctl("init", "--node", "n=127.0.0.1:1", NULL); /* no Redis */
    expect_code(&o, 2);
    ctl_out_free(&o);
    o = ctl("show", c->redis_flag, c->addr, "--node", "n=127.0.0.1:1", NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    o = ctl("frobnicate", c->redis_flag, c->addr, NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    o = ctl("show", "--redis-cluster", "127.0.0.1:1", "--redis-db", "2", NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    const char *ping[] = {rs_test_readstatectl_bin(), "--redis", "127.0.0.1:1", "ping", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(rs_run(ping, NULL, CTL_MS, &out, &err), 2); /* not an option of ping */
    free(out);
    free(err);
    expect_field(c, "generation", "1");
}

/* --expect-generation that is not the stored one: the script refuses,
 * STALE_RING, exit 1, nothing written. */
static void test_init_stale(void **state)
{
    ctx *c = *state;
    ring_delete(c);
    ctl_out o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001",
                    "--expect-generation", "1", NULL); /* nothing stored: 0 */
    expect_code(&o, 1);
    assert_non_null(strstr(o.err, "STALE_RING"));
    assert_non_null(strstr(o.err, "generation 0, not 1"));
    ctl_out_free(&o);
    expect_field(c, "generation", NULL);

    o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001",
            "--expect-generation", "0", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    expect_field(c, "generation", "1");

    o = ctl("init", c->redis_flag, c->addr, "--json", "--node", "n9=127.0.0.1:7009",
            "--expect-generation", "0", NULL);
    expect_code(&o, 1);
    json_t *j = parse_json(o.out);
    json_t *e = json_object_get(j, "error");
    assert_string_equal(jstr(e, "code"), "STALE_RING");
    assert_string_equal(jstr(e, "generation"), "1");
    json_decref(j);
    ctl_out_free(&o);
    expect_field(c, "generation", "1");
    expect_field(c, "nodes", "n0=127.0.0.1:7001");

    o = ctl("init", c->redis_flag, c->addr, "--node", "n9=127.0.0.1:7009",
            "--expect-generation", "1", NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  2 (was 1)"));
    ctl_out_free(&o);
    expect_field(c, "nodes", "n9=127.0.0.1:7009");

    /* A stored generation that is no number: refused, left alone. */
    redisReply *rep =
        rs_test_redis_command(&c->redis, "HSET %s generation %s", RS_RING_KEY, "two");
    assert_non_null(rep);
    freeReplyObject(rep);
    o = ctl("init", c->redis_flag, c->addr, "--node", "n0=127.0.0.1:7001", NULL);
    expect_code(&o, 13);
    assert_non_null(strstr(o.err, "not a generation"));
    ctl_out_free(&o);
    expect_field(c, "generation", "two");
}

/* show: generation, nodes, ranges and health; a readstated up, a closed
 * port down. */
static void test_show(void **state)
{
    ctx *c = *state;
    ring_delete(c);
    ctl_out o = ctl("show", c->redis_flag, c->addr, NULL);
    expect_code(&o, 5);
    assert_non_null(strstr(o.err, "no slot table"));
    ctl_out_free(&o);

    /* "up": a fleet node on this Redis; "solo": a readstated outside a
     * fleet; "down": a closed port. */
    rs_test_server fleet_node;
    assert_int_equal(rs_test_server_start(&fleet_node, "--node-id", "up", c->redis_flag,
                                          c->addr, "--ring-refresh-ms", "100", NULL),
                     0);
    char up[64], down[64], solo[64];
    snprintf(up, sizeof(up), "up=127.0.0.1:%d", fleet_node.port);
    snprintf(down, sizeof(down), "down=127.0.0.1:%d", rs_free_port());
    snprintf(solo, sizeof(solo), "solo=127.0.0.1:%d", c->node.port);
    o = ctl("init", c->redis_flag, c->addr, "--node", up, "--node", down, "--node", solo,
            "--ranges", "0-999=1 1000-16382=0 16383=2", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);

    /* The fleet node reads the ring within its refresh interval. */
    char row[160];
    snprintf(row, sizeof(row), "%s  15383  1000-16382      up (%s, rtt ", up + 3,
             RS_VERSION_STRING);
    long long deadline = rs_mono_ms() + 10000;
    for (;;) {
        o = ctl("show", c->redis_flag, c->addr, NULL);
        expect_code(&o, 0);
        char *at = strstr(o.out, row);
        if (at != NULL && strstr(at, " ms, ring 1)\n") != NULL)
            break;
        if (rs_mono_ms() > deadline)
            fail_msg("no row '%s...ring 1)' in:\n%s", row, o.out);
        ctl_out_free(&o);
        rs_sleep_ms(50);
    }
    assert_non_null(strstr(o.out, "generation  1\n"));
    assert_non_null(strstr(o.out, "nodes       3\n"));
    snprintf(row, sizeof(row), "%s   1000  0-999           down (", down + 5);
    if (strstr(o.out, row) == NULL)
        fail_msg("no row '%s' in:\n%s", row, o.out);
    snprintf(row, sizeof(row), "%s      1  16383-16383     up (%s, rtt ", solo + 5,
             RS_VERSION_STRING);
    char *at = strstr(o.out, row);
    if (at == NULL || strstr(at, " ms, not in a fleet)\n") == NULL)
        fail_msg("no row '%s...not in a fleet)' in:\n%s", row, o.out);
    ctl_out_free(&o);

    o = ctl("show", "--json", c->redis_flag, c->addr, NULL);
    expect_code(&o, 0);
    json_t *j = parse_json(o.out);
    assert_string_equal(jstr(j, "generation"), "1");
    json_t *nodes = json_object_get(j, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    json_t *n0 = json_array_get(nodes, 0), *n1 = json_array_get(nodes, 1),
           *n2 = json_array_get(nodes, 2);
    assert_string_equal(jstr(n0, "nodeId"), "up");
    assert_string_equal(jstr(n0, "address"), up + 3);
    assert_int_equal(json_integer_value(json_object_get(n0, "slots")), 15383);
    json_t *h0 = json_object_get(n0, "health"), *h1 = json_object_get(n1, "health"),
           *h2 = json_object_get(n2, "health");
    assert_true(json_is_true(json_object_get(h0, "up")));
    assert_string_equal(jstr(h0, "serverVersion"), RS_VERSION_STRING);
    assert_true(json_real_value(json_object_get(h0, "rttMs")) > 0);
    assert_string_equal(jstr(h0, "ringGeneration"), "1");
    assert_true(json_is_false(json_object_get(h1, "up")));
    assert_non_null(strstr(jstr(h1, "error"), "refused"));
    assert_true(json_is_true(json_object_get(h2, "up")));
    assert_string_equal(jstr(h2, "ringGeneration"), "0");
    json_t *r0 = json_array_get(json_object_get(n1, "ranges"), 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "firstSlot")), 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "lastSlot")), 999);
    json_t *ranges = json_object_get(j, "ranges");
    assert_int_equal(json_array_size(ranges), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ranges, 0), "node")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(ranges, 2), "node")), 2);
    json_decref(j);
    ctl_out_free(&o);

    /* ring: what one node uses (GetRing). */
    char server[64];
    snprintf(server, sizeof(server), "127.0.0.1:%d", fleet_node.port);
    o = ctl_top(NULL, "--server", server, "ring", NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  1\n"));
    assert_non_null(strstr(o.out, "nodes       3\n"));
    snprintf(row, sizeof(row), "%s  15383  1000-16382\n", up + 3);
    if (strstr(o.out, row) == NULL)
        fail_msg("no row '%s' in:\n%s", row, o.out);
    ctl_out_free(&o);
    snprintf(server, sizeof(server), "127.0.0.1:%d", c->node.port);
    o = ctl_top(NULL, "--server", server, "--json", "ring", NULL);
    expect_code(&o, 0);
    j = parse_json(o.out);
    assert_string_equal(jstr(j, "generation"), "0"); /* not in a fleet: itself alone */
    nodes = json_object_get(j, "nodes");
    assert_int_equal(json_array_size(nodes), 1);
    assert_string_equal(jstr(json_array_get(nodes, 0), "address"), server);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(nodes, 0), "slots")),
                     RS_SLOTS);
    json_decref(j);
    ctl_out_free(&o);
    snprintf(server, sizeof(server), "127.0.0.1:%d", rs_free_port());
    o = ctl_top(NULL, "--server", server, "ring", NULL);
    expect_code(&o, 14);
    ctl_out_free(&o);
    rs_test_server_cleanup(&fleet_node);

    /* A stored table that does not parse: INTERNAL, the reason named. */
    redisReply *rep = rs_test_redis_command(&c->redis, "HSET %s ranges %s", RS_RING_KEY,
                                            "0-999=1 1001-16383=0");
    assert_non_null(rep);
    freeReplyObject(rep);
    o = ctl("show", c->redis_flag, c->addr, NULL);
    expect_code(&o, 13);
    assert_non_null(strstr(o.err, "does not start at slot 1000"));
    ctl_out_free(&o);
}

/* Redis that does not answer: UNAVAILABLE (14). */
static void test_redis_unreachable(void **state)
{
    (void)state;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", rs_free_port());
    ctl_out o = ctl("show", "--redis", addr, NULL);
    expect_code(&o, 14);
    assert_non_null(strstr(o.err, "error: UNAVAILABLE: redis 127.0.0.1:"));
    ctl_out_free(&o);
    o = ctl("init", "--redis-cluster", addr, "--node", "n=127.0.0.1:1", NULL);
    expect_code(&o, 14);
    assert_non_null(strstr(o.err, "no seed of the cluster answers"));
    ctl_out_free(&o);
}

/* The port of the cluster node that does not own the ring's key's slot
 * (-1 on a single Redis), and of the one that does. */
static int other_node_port(const ctx *c, int *owner_port)
{
    if (!rs_test_redis_is_cluster(&c->redis))
        return -1;
    int slot = (int)rs_key_slot(RS_RING_KEY, strlen(RS_RING_KEY));
    int owner = rs_test_redis_slot_node(&c->redis, slot);
    assert_true(owner >= 0);
    *owner_port = c->redis.nodes[owner].port;
    return c->redis.nodes[(owner + 1) % RS_TEST_REDIS_CLUSTER_NODES].port;
}

/* Cluster: a seed that does not own the key answers MOVED, followed; a
 * dead first seed is skipped. */
static void test_cluster_moved(void **state)
{
    ctx *c = *state;
    int owner_port;
    int port = other_node_port(c, &owner_port);
    if (port < 0)
        skip();
    ring_delete(c);
    char seeds[128];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", rs_free_port(), port);
    ctl_out o = ctl("init", "--redis-cluster", seeds, "--node", "n0=127.0.0.1:7001", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    expect_field(c, "generation", "1");
    o = ctl("show", "--redis-cluster", seeds, NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  1\n"));
    ctl_out_free(&o);

    /* A cluster node given as --redis: its MOVED is not followed, and the
     * error says what to give instead. */
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", port);
    o = ctl("show", "--redis", seeds, NULL);
    expect_code(&o, 14);
    assert_non_null(strstr(o.err, "MOVED"));
    assert_non_null(strstr(o.err, "use --redis-cluster"));
    ctl_out_free(&o);
}

/* Cluster: while the key's slot migrates and the key is not on its old
 * owner yet, the old owner answers ASK: readstatectl sends ASKING and the
 * command to the importing node (without ASKING that node would answer
 * MOVED back, and the redirections would run out). */
static void test_cluster_ask(void **state)
{
    ctx *c = *state;
    int owner_port;
    if (other_node_port(c, &owner_port) < 0)
        skip();
    ring_delete(c);
    int slot = (int)rs_key_slot(RS_RING_KEY, strlen(RS_RING_KEY));
    int src = rs_test_redis_slot_node(&c->redis, slot);
    int dst = (src + 1) % RS_TEST_REDIS_CLUSTER_NODES;
    char src_id[64], dst_id[64];
    assert_int_equal(rs_test_redis_node_id(&c->redis, src, src_id, sizeof(src_id)), 0);
    assert_int_equal(rs_test_redis_node_id(&c->redis, dst, dst_id, sizeof(dst_id)), 0);
    redisContext *cs = rs_test_redis_connect_node(&c->redis, src);
    redisContext *cd = rs_test_redis_connect_node(&c->redis, dst);
    assert_non_null(cs);
    assert_non_null(cd);
    redisReply *rep = redisCommand(cd, "CLUSTER SETSLOT %d IMPORTING %s", slot, src_id);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    rep = redisCommand(cs, "CLUSTER SETSLOT %d MIGRATING %s", slot, dst_id);
    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    freeReplyObject(rep);

    char seed[64];
    snprintf(seed, sizeof(seed), "127.0.0.1:%d", owner_port);
    ctl_out o = ctl("init", "--redis-cluster", seed, "--node", "n0=127.0.0.1:7001", NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    /* It landed on the importing node. */
    rep = redisCommand(cs, "EXISTS %s", RS_RING_KEY);
    assert_int_equal(rep->integer, 0);
    freeReplyObject(rep);
    freeReplyObject(redisCommand(cd, "ASKING"));
    rep = redisCommand(cd, "HGET %s generation", RS_RING_KEY);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "1");
    freeReplyObject(rep);
    o = ctl("show", "--redis-cluster", seed, NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  1\n"));
    ctl_out_free(&o);

    /* Back to how it was: the slot stays with its owner, the key goes. */
    freeReplyObject(redisCommand(cd, "ASKING"));
    freeReplyObject(redisCommand(cd, "DEL %s", RS_RING_KEY));
    for (int i = 0; i < RS_TEST_REDIS_CLUSTER_NODES; i++) {
        redisContext *n = rs_test_redis_connect_node(&c->redis, i);
        assert_non_null(n);
        rep = redisCommand(n, "CLUSTER SETSLOT %d NODE %s", slot, src_id);
        assert_non_null(rep);
        freeReplyObject(rep);
        redisFree(n);
    }
    redisFree(cs);
    redisFree(cd);
}

/* A Redis with a password: --redis-password-file, else the environment;
 * none gets Redis's refusal (one Redis of its own, whatever the mode). */
static void test_password(void **state)
{
    (void)state;
    rs_test_redis r;
    assert_int_equal(rs_test_redis_start(&r), 0);
    char addr[512], dir[PATH_MAX], file[PATH_MAX + 16];
    rs_test_redis_addr(&r, addr, sizeof(addr));
    const char *flag = rs_test_redis_is_cluster(&r) ? "--redis-cluster" : "--redis";
    assert_int_equal(
        rs_test_redis_command_all(&r, NULL, "CONFIG SET requirepass %s", "s3cret-for-the-ring"),
        0);
    assert_int_equal(rs_tmpdir_create("ctl-pass", dir, sizeof(dir)), 0);
    snprintf(file, sizeof(file), "%s/pass", dir);
    assert_int_equal(rs_write_file(file, "s3cret-for-the-ring\n"), 0);

    ctl_out o = ctl("show", flag, addr, NULL);
    expect_code(&o, 14);
    assert_non_null(strstr(o.err, "NOAUTH"));
    ctl_out_free(&o);
    o = ctl("init", flag, addr, "--redis-password-file", file, "--node", "n=127.0.0.1:7001",
            NULL);
    expect_code(&o, 0);
    ctl_out_free(&o);
    const char *env[] = {"READSTATECTL_REDIS_PASSWORD=s3cret-for-the-ring", NULL};
    o = ctl_env(env, "show", flag, addr, NULL);
    expect_code(&o, 0);
    assert_non_null(strstr(o.out, "generation  1\n"));
    ctl_out_free(&o);
    const char *wrong[] = {"READSTATECTL_REDIS_PASSWORD=wrong", NULL};
    o = ctl_env(wrong, "show", flag, addr, NULL);
    expect_code(&o, 14);
    ctl_out_free(&o);
    o = ctl("show", flag, addr, "--redis-user", "someone", NULL);
    expect_code(&o, 2);
    ctl_out_free(&o);
    rs_tmpdir_remove(dir);
    rs_test_redis_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_even_split),
        cmocka_unit_test(test_init_ranges),
        cmocka_unit_test(test_init_refused),
        cmocka_unit_test(test_init_stale),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_redis_unreachable),
        cmocka_unit_test(test_cluster_moved),
        cmocka_unit_test(test_cluster_ask),
        cmocka_unit_test(test_password),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
