/*
 * test_ring.c: the fleet's slot table (rs_ring.h): its text form parsed
 * strictly and formatted back identically, every way a ring can be wrong
 * refused with a reason, the even split and owner lookup, and the
 * compare-and-set script run by a real redis-server (the generation rises
 * by one, a stale expected generation is refused, a change is published).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "rs_ring.h"
#include "rs_testsupport.h"

static rs_ring ring, back; /* big: not on the stack */

static void test_parse_and_format(void **state)
{
    (void)state;
    char err[160] = "";
    const char *nodes = "a=127.0.0.1:7001 b-2=127.0.0.1:7002 c.3=[::1]:7003";
    const char *ranges = "0-5460=0 5461-10922=1 10923-16383=2";
    assert_int_equal(rs_ring_parse(&ring, "12", nodes, ranges, err, sizeof(err)), 0);
    assert_int_equal(ring.generation, 12);
    assert_int_equal(ring.nnodes, 3);
    assert_string_equal(ring.nodes[2].id, "c.3");
    assert_string_equal(ring.nodes[2].host, "::1");
    assert_int_equal(ring.nodes[2].port, 7003);
    assert_int_equal(ring.owner[0], 0);
    assert_int_equal(ring.owner[5461], 1);
    assert_int_equal(ring.owner[16383], 2);
    char n[512], r[512];
    assert_true(rs_ring_format_nodes(&ring, n, sizeof(n)) > 0);
    assert_true(rs_ring_format_ranges(&ring, r, sizeof(r)) > 0);
    assert_string_equal(n, nodes);
    assert_string_equal(r, ranges);
    assert_int_equal(rs_ring_format_ranges(&ring, r, 10), -1); /* too small */
    /* the owner of a user is the node of its slot */
    const rs_ring_node *o = rs_ring_owner(&ring, 7);
    assert_non_null(o);
    assert_int_equal(ring.owner[rs_user_slot(7)], (uint16_t)(o - ring.nodes));
    assert_int_equal(rs_ring_find(&ring, "b-2"), 1);
    assert_int_equal(rs_ring_find(&ring, "z"), -1);
}

static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *gen, *nodes, *ranges, *why;
    } bad[] = {
        {"0", "a=h:1", "0-16383=0", "generation"},
        {"01", "a=h:1", "0-16383=0", "generation"},
        {"x", "a=h:1", "0-16383=0", "generation"},
        {"1", "", "0-16383=0", "node 0"},
        {"1", "a=h:1", "0-16382=0", "slots 16383-16383 have no node"},
        {"1", "a=h:1", "1-16383=0", "start at slot 0"},
        {"1", "a=h:1 b=h:2", "0-99=0 99-16383=1", "start at slot 100"},
        {"1", "a=h:1 b=h:2", "0-99=0 101-16383=1", "start at slot 100"},
        {"1", "a=h:1", "0-16383=1", "only 1 nodes"},
        {"1", "a=h:1", "0-16384=0", "is not"},
        {"1", "a=h:1 a=h:2", "0-16383=0", "twice"},
        {"1", "a b=h:1", "0-16383=0", "is not <id>"},
        {"1", "a=h", "0-16383=0", "HOST:PORT"},
        {"1", "a=h:0", "0-16383=0", "HOST:PORT"},
        {"1", "a=h:1 ", "0-16383=0", "trailing space"},
        {"1", "a=h:1", "0-16383=0 ", "trailing space"},
        {"1", "a=h:1", "0-16383=00", "is not"},
        {"1", "a/b=h:1", "0-16383=0", "is not <id>"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[160] = "";
        if (rs_ring_parse(&ring, bad[i].gen, bad[i].nodes, bad[i].ranges, err, sizeof(err)) !=
            -1)
            fail_msg("accepted: %s | %s | %s", bad[i].gen, bad[i].nodes, bad[i].ranges);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("case %zu: reason \"%s\" does not say \"%s\"", i, err, bad[i].why);
    }
    char err[160];
    assert_int_equal(rs_ring_parse(&ring, NULL, "a=h:1", "0-16383=0", err, sizeof(err)), -1);
}

static void test_split_even(void **state)
{
    (void)state;
    char err[160];
    memset(&ring, 0, sizeof(ring));
    ring.generation = 1;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        ring.owner[sl] = RS_RING_NO_NODE;
    assert_int_equal(rs_ring_validate(&ring, err, sizeof(err)), -1); /* no nodes */
    assert_int_equal(rs_ring_add_node(&ring, "n0=127.0.0.1:7480", err, sizeof(err)), 0);
    assert_int_equal(rs_ring_add_node(&ring, "n1=127.0.0.1:7482", err, sizeof(err)), 1);
    assert_int_equal(rs_ring_add_node(&ring, "n2=127.0.0.1:7484", err, sizeof(err)), 2);
    assert_int_equal(rs_ring_add_node(&ring, "n1=127.0.0.1:9", err, sizeof(err)), -1);
    assert_int_equal(rs_ring_validate(&ring, err, sizeof(err)), -1); /* slots unassigned */
    assert_non_null(strstr(err, "have no node"));
    rs_ring_split_even(&ring);
    assert_int_equal(rs_ring_validate(&ring, err, sizeof(err)), 0);
    char r[256];
    assert_true(rs_ring_format_ranges(&ring, r, sizeof(r)) > 0);
    assert_string_equal(r, "0-5460=0 5461-10921=1 10922-16383=2");
    /* format, parse: the same ring */
    char n[256];
    assert_true(rs_ring_format_nodes(&ring, n, sizeof(n)) > 0);
    assert_int_equal(rs_ring_parse(&back, "1", n, r, err, sizeof(err)), 0);
    assert_memory_equal(back.owner, ring.owner, sizeof(ring.owner));
}

/* EVAL of the compare-and-set script; returns the reply (caller frees). */
static redisReply *cas(redisContext *c, const char *expect, const char *nodes,
                       const char *ranges)
{
    const char *argv[] = {"EVAL", rs_ring_cas_script, "1", RS_RING_KEY, expect, nodes, ranges};
    redisReply *r = redisCommandArgv(c, 7, argv, NULL);
    assert_non_null(r);
    return r;
}

static void test_cas_in_redis(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    redisContext *c = rs_test_redis_connect(&redis);
    assert_non_null(c);
    redisContext *sub = rs_test_redis_connect(&redis);
    assert_non_null(sub);
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", RS_RING_KEY);
    freeReplyObject(r);

    r = cas(c, "0", "a=127.0.0.1:1", "0-16383=0");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    r = cas(c, "0", "a=127.0.0.1:1 b=127.0.0.1:2", "0-99=0 100-16383=1"); /* stale */
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_string_equal(r->str, "STALE_RING 1");
    freeReplyObject(r);
    r = cas(c, "1", "a=127.0.0.1:1 b=127.0.0.1:2", "0-99=0 100-16383=1");
    assert_string_equal(r->str, "2");
    freeReplyObject(r);

    /* what is stored parses back to the ring written */
    r = redisCommand(c, "HMGET %s generation nodes ranges", RS_RING_KEY);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    char err[160];
    assert_int_equal(rs_ring_parse(&ring, r->element[0]->str, r->element[1]->str,
                                   r->element[2]->str, err, sizeof(err)),
                     0);
    freeReplyObject(r);
    assert_int_equal(ring.generation, 2);
    assert_int_equal(ring.owner[100], 1);

    /* each change was published: generations 1 then 2 */
    for (const char *want = "1"; want != NULL; want = strcmp(want, "1") == 0 ? "2" : NULL) {
        void *msg = NULL;
        assert_int_equal(redisGetReply(sub, &msg), REDIS_OK);
        redisReply *m = msg;
        assert_int_equal(m->type, REDIS_REPLY_ARRAY);
        assert_string_equal(m->element[0]->str, "message");
        assert_string_equal(m->element[2]->str, want);
        freeReplyObject(m);
    }
    redisFree(sub);
    redisFree(c);
    rs_test_redis_cleanup(&redis);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_split_even),
        cmocka_unit_test(test_cas_in_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
