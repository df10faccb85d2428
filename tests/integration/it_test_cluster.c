/*
 * it_test_cluster.c: the cluster mode of rs_test_redis against real
 * redis-servers:
 * - rs_test_redis_start_cluster: three primaries, cluster_state:ok on each,
 *   the seed list as the address;
 * - rs_test_redis_command routes by key: keys land on more than one node, a
 *   node asked directly for another's key answers MOVED, the routed command
 *   follows it, and follows ASK (with ASKING) into a slot being imported;
 * - rs_test_redis_command_all sums DBSIZE over the primaries and runs
 *   FLUSHALL on each; rs_test_redis_connect_key pipelines on the owner;
 * - stop, kill -9 and restart act on every node, the cluster comes back on
 *   the same ports with its data; SIGSTOP/SIGCONT reach every node;
 * - rs_test_redis_start follows RS_TEST_REDIS_CLUSTER, and the routed
 *   commands work on a single Redis too.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rs_testsupport.h"

#define KEYS 60

static long long node_dbsize(const rs_test_redis *r, int i)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "DBSIZE");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long n = reply->integer;
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

static void set_keys(const rs_test_redis *r, const char *tag)
{
    for (int u = 1; u <= KEYS; u++) {
        redisReply *reply = rs_test_redis_command(r, "HSET readstates:{%d} _v %s", u, tag);
        assert_non_null(reply);
        if (reply->type == REDIS_REPLY_ERROR)
            fail_msg("HSET readstates:{%d}: %s", u, reply->str);
        freeReplyObject(reply);
    }
}

static void expect_keys(const rs_test_redis *r, const char *tag)
{
    for (int u = 1; u <= KEYS; u++) {
        redisReply *reply = rs_test_redis_command(r, "HGET readstates:{%d} _v", u);
        assert_non_null(reply);
        if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, tag) != 0)
            fail_msg("readstates:{%d} _v: %s, want %s", u,
                     reply->str != NULL ? reply->str : "(nil)", tag);
        freeReplyObject(reply);
    }
}

static bool cluster_state_ok(const rs_test_redis *r, int i)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "CLUSTER INFO");
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STRING &&
              strstr(reply->str, "cluster_state:ok") != NULL;
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

/* The node id of node i (CLUSTER MYID). */
static void node_id(const rs_test_redis *r, int i, char *out, size_t len)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "CLUSTER MYID");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    snprintf(out, len, "%s", reply->str);
    freeReplyObject(reply);
    redisFree(c);
}

/* Which node owns slot (from node 0's CLUSTER SLOTS). */
static int slot_owner(const rs_test_redis *r, long long slot)
{
    redisContext *c = rs_test_redis_connect_node(r, 0);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "CLUSTER SLOTS");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
    int owner = -1;
    for (size_t k = 0; k < reply->elements; k++) {
        redisReply *range = reply->element[k];
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        long long port = range->element[2]->element[1]->integer;
        if (slot < lo || slot > hi)
            continue;
        for (int i = 0; i < rs_test_redis_node_count(r); i++)
            if (r->nodes[i].port == port)
                owner = i;
    }
    freeReplyObject(reply);
    redisFree(c);
    return owner;
}

static long long key_slot(const rs_test_redis *r, const char *key)
{
    redisReply *reply = rs_test_redis_command(r, "CLUSTER KEYSLOT %s", key);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long slot = reply->integer;
    freeReplyObject(reply);
    return slot;
}

static void test_cluster_start_route_restart(void **state)
{
    (void)state;
    rs_test_redis r;
    long long t0 = rs_mono_ms();
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    long long started = rs_mono_ms() - t0;
    assert_true(rs_test_redis_is_cluster(&r));
    assert_int_equal(rs_test_redis_node_count(&r), RS_TEST_REDIS_CLUSTER_NODES);
    assert_true(rs_test_redis_ping(&r));
    for (int i = 0; i < RS_TEST_REDIS_CLUSTER_NODES; i++)
        assert_true(cluster_state_ok(&r, i));

    char addr[256], want[256];
    snprintf(want, sizeof(want), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", r.nodes[0].port,
             r.nodes[1].port, r.nodes[2].port);
    assert_string_equal(rs_test_redis_addr(&r, addr, sizeof(addr)), want);
    assert_int_equal(r.port, r.nodes[0].port);

    /* Routed writes land on every node (the slots are split in three). */
    set_keys(&r, "1");
    expect_keys(&r, "1");
    long long total = 0;
    for (int i = 0; i < RS_TEST_REDIS_CLUSTER_NODES; i++) {
        long long n = node_dbsize(&r, i);
        assert_true(n > 0);
        total += n;
    }
    assert_int_equal(total, KEYS);
    long long sum = -1;
    assert_int_equal(rs_test_redis_command_all(&r, &sum, "DBSIZE"), 0);
    assert_int_equal(sum, KEYS);

    /* Node 0 asked directly for a key it does not own says MOVED; the
     * routed command follows it. */
    int foreign = -1;
    for (int u = 1; u <= KEYS && foreign < 0; u++) {
        char key[32];
        snprintf(key, sizeof(key), "readstates:{%d}", u);
        if (slot_owner(&r, key_slot(&r, key)) != 0)
            foreign = u;
    }
    assert_true(foreign > 0);
    redisContext *c0 = rs_test_redis_connect(&r);
    assert_non_null(c0);
    redisReply *reply = redisCommand(c0, "HGET readstates:{%d} _v", foreign);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(reply->str, "MOVED ", 6) == 0);
    freeReplyObject(reply);
    redisFree(c0);

    /* A pipeline on the owner's connection. */
    redisContext *ck = rs_test_redis_connect_key(&r, "readstates:{7}");
    assert_non_null(ck);
    for (int i = 0; i < 10; i++)
        assert_int_equal(redisAppendCommand(ck, "HSET readstates:{7} f%d %d", i, i), REDIS_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(redisGetReply(ck, (void **)&reply), REDIS_OK);
        assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
        freeReplyObject(reply);
    }
    redisFree(ck);
    reply = rs_test_redis_command(&r, "HLEN readstates:{7}");
    assert_non_null(reply);
    assert_int_equal(reply->integer, 11);
    freeReplyObject(reply);

    /* SIGTERM on every node, restart on the same ports: AOF and nodes.conf
     * bring the cluster back with its data. */
    assert_int_equal(rs_test_redis_stop(&r), 0);
    assert_false(rs_test_redis_ping(&r));
    assert_null(rs_test_redis_command(&r, "HGET readstates:{1} _v"));
    t0 = rs_mono_ms();
    assert_int_equal(rs_test_redis_restart(&r), 0);
    long long restarted = rs_mono_ms() - t0;
    assert_true(rs_test_redis_ping(&r));
    for (int i = 0; i < RS_TEST_REDIS_CLUSTER_NODES; i++)
        assert_true(cluster_state_ok(&r, i));
    expect_keys(&r, "1");

    /* kill -9 of every node: what was fsynced at the last shutdown is there. */
    rs_test_redis_kill9(&r);
    assert_false(rs_test_redis_ping(&r));
    t0 = rs_mono_ms();
    assert_int_equal(rs_test_redis_restart(&r), 0);
    long long after_kill = rs_mono_ms() - t0;
    expect_keys(&r, "1");

    /* SIGSTOP and SIGCONT reach every node. */
    assert_int_equal(rs_test_redis_signal(&r, SIGSTOP), 0);
    assert_int_equal(rs_test_redis_signal(&r, SIGCONT), 0);
    assert_true(rs_test_redis_ping(&r));

    /* Keyless commands on every primary. */
    assert_int_equal(rs_test_redis_command_all(&r, NULL, "FLUSHALL"), 0);
    assert_int_equal(rs_test_redis_command_all(&r, &sum, "DBSIZE"), 0);
    assert_int_equal(sum, 0);
    assert_int_equal(rs_test_redis_command_all(&r, NULL, "NO-SUCH-COMMAND"), -1);

    printf("# cluster start %lld ms, restart %lld ms, restart after kill -9 %lld ms\n", started,
           restarted, after_kill);
    rs_test_redis_cleanup(&r);
    assert_int_equal(r.n_nodes, 0);
}

/* ASK: a slot being moved from its owner to another node. A key not (yet)
 * on the owner is answered -ASK; the routed command sends ASKING and the
 * command to the importing node. */
static void test_cluster_ask(void **state)
{
    (void)state;
    rs_test_redis r;
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    const char *key = "readstates:{424242}";
    long long slot = key_slot(&r, key);
    int src = slot_owner(&r, slot);
    assert_true(src >= 0);
    int dst = (src + 1) % RS_TEST_REDIS_CLUSTER_NODES;
    char src_id[64], dst_id[64];
    node_id(&r, src, src_id, sizeof(src_id));
    node_id(&r, dst, dst_id, sizeof(dst_id));
    redisContext *cs = rs_test_redis_connect_node(&r, src);
    redisContext *cd = rs_test_redis_connect_node(&r, dst);
    assert_non_null(cs);
    assert_non_null(cd);
    redisReply *reply = redisCommand(cd, "CLUSTER SETSLOT %lld IMPORTING %s", slot, src_id);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(cs, "CLUSTER SETSLOT %lld MIGRATING %s", slot, dst_id);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    /* Directly: the owner says ASK for a key it does not hold. */
    reply = redisCommand(cs, "SET %s v", key);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ERROR);
    assert_true(strncmp(reply->str, "ASK ", 4) == 0);
    freeReplyObject(reply);

    /* Routed: it lands on the importing node. */
    reply = rs_test_redis_command(&r, "SET %s v", key);
    assert_non_null(reply);
    if (reply->type != REDIS_REPLY_STATUS)
        fail_msg("routed SET during migration: %s", reply->str);
    freeReplyObject(reply);
    reply = redisCommand(cd, "ASKING");
    freeReplyObject(reply);
    reply = redisCommand(cd, "GET %s", key);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, "v");
    freeReplyObject(reply);
    reply = rs_test_redis_command(&r, "GET %s", key);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    freeReplyObject(reply);
    redisFree(cs);
    redisFree(cd);
    rs_test_redis_cleanup(&r);
}

/* rs_test_redis_start follows the environment; the routed commands work
 * on a single Redis too. */
static void test_mode_from_environment(void **state)
{
    (void)state;
    const char *saved = getenv("RS_TEST_REDIS_CLUSTER");
    char *copy = saved != NULL ? strdup(saved) : NULL;
    rs_test_redis r;

    assert_int_equal(setenv("RS_TEST_REDIS_CLUSTER", "0", 1), 0);
    assert_false(rs_test_redis_cluster_requested());
    assert_int_equal(rs_test_redis_start(&r), 0);
    assert_false(rs_test_redis_is_cluster(&r));
    assert_int_equal(rs_test_redis_node_count(&r), 1);
    char addr[64], want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", r.port);
    assert_string_equal(rs_test_redis_addr(&r, addr, sizeof(addr)), want);
    set_keys(&r, "2");
    expect_keys(&r, "2");
    long long sum = 0;
    assert_int_equal(rs_test_redis_command_all(&r, &sum, "DBSIZE"), 0);
    assert_int_equal(sum, KEYS);
    redisContext *ck = rs_test_redis_connect_key(&r, "readstates:{3}");
    assert_non_null(ck);
    redisFree(ck);
    assert_int_equal(rs_test_redis_signal(&r, SIGSTOP), 0);
    assert_int_equal(rs_test_redis_signal(&r, SIGCONT), 0);
    assert_int_equal(rs_test_redis_stop(&r), 0);
    assert_int_equal(rs_test_redis_restart(&r), 0);
    expect_keys(&r, "2");
    rs_test_redis_cleanup(&r);

    assert_int_equal(setenv("RS_TEST_REDIS_CLUSTER", "1", 1), 0);
    assert_true(rs_test_redis_cluster_requested());
    assert_int_equal(rs_test_redis_start(&r), 0);
    assert_true(rs_test_redis_is_cluster(&r));
    assert_int_equal(r.proc.pid, 0);
    rs_test_redis_cleanup(&r);

    if (copy != NULL)
        setenv("RS_TEST_REDIS_CLUSTER", copy, 1);
    else
        unsetenv("RS_TEST_REDIS_CLUSTER");
    free(copy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_start_route_restart),
        cmocka_unit_test(test_cluster_ask),
        cmocka_unit_test(test_mode_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
