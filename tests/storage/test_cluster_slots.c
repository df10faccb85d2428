/*
 * test_cluster_slots.c: CLUSTER SLOTS replies and MOVED/ASK redirections
 * as cluster_slots.c parses them. The replies are real RESP, read with
 * hiredis's own reader (the bytes a Redis 7 cluster sends); the slot
 * table's shape is checked against a live cluster by the _cluster
 * persistence tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_slots.h"

static redisReply *resp(const char *bytes)
{
    redisReader *rd = redisReaderCreate();
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, bytes, strlen(bytes)), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

/* Three primaries, each with one replica, as redis-cli --cluster create
 * leaves them; the second with an empty host (a node that does not know its
 * address answers "" and the client uses the one it asked). */
static void test_slots_three_primaries(void **state)
{
    (void)state;
    redisReply *r = resp("*3\r\n"
                         "*4\r\n:0\r\n:5460\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\nid1\r\n"
                         "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid4\r\n"
                         "*3\r\n:5461\r\n:10922\r\n"
                         "*3\r\n$0\r\n\r\n:7001\r\n$3\r\nid2\r\n"
                         "*3\r\n:10923\r\n:16383\r\n"
                         "*3\r\n$1\r\n?\r\n:7002\r\n$3\r\nid3\r\n");
    cluster_range out[8];
    const char *why = NULL;
    assert_int_equal(cluster_slots_parse(r, "10.0.0.9", out, 8, &why), 3);
    assert_int_equal(out[0].start, 0);
    assert_int_equal(out[0].end, 5460);
    assert_string_equal(out[0].host, "127.0.0.1");
    assert_int_equal(out[0].port, 7000);
    assert_string_equal(out[1].host, "10.0.0.9"); /* empty: the asked node's host */
    assert_int_equal(out[1].port, 7001);
    assert_string_equal(out[2].host, "10.0.0.9"); /* "?": likewise */
    assert_int_equal(out[2].end, 16383);
    freeReplyObject(r);
}

static void test_slots_refused(void **state)
{
    (void)state;
    cluster_range out[4];
    const char *why = NULL;
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        "$3\r\nabc\r\n",
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n",     /* end < start */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n",  /* past the last slot */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n",      /* port 0 */
        "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:65536\r\n",  /* port too big */
        "*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n",            /* no port */
        "*1\r\n*2\r\n:0\r\n:1\r\n",                             /* no node */
        "*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n", /* slot as a string */
        "*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n",                 /* more ranges than room */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = resp(bad[i]);
        why = NULL;
        if (cluster_slots_parse(r, "127.0.0.1", out, 4, &why) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
        assert_true(why[0] != '\0');
        freeReplyObject(r);
    }
    assert_int_equal(cluster_slots_parse(NULL, "h", out, 4, &why), -1);
    /* an empty host with nothing to stand in for it */
    redisReply *r = resp("*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$0\r\n\r\n:7000\r\n");
    assert_int_equal(cluster_slots_parse(r, "", out, 4, &why), -1);
    freeReplyObject(r);
}

static void test_redirects(void **state)
{
    (void)state;
    cluster_redirect rd;
    const char *m = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(cluster_redirect_parse(m, strlen(m), "x", &rd), CLUSTER_MOVED);
    assert_int_equal(rd.slot, 3999);
    assert_string_equal(rd.host, "127.0.0.1");
    assert_int_equal(rd.port, 6381);
    const char *a = "ASK 16383 ::1:7002"; /* IPv6: the port follows the last ':' */
    assert_int_equal(cluster_redirect_parse(a, strlen(a), "x", &rd), CLUSTER_ASK);
    assert_int_equal(rd.slot, 16383);
    assert_string_equal(rd.host, "::1");
    assert_int_equal(rd.port, 7002);
    const char *e = "MOVED 12 :7005"; /* unknown endpoint: the node asked */
    assert_int_equal(cluster_redirect_parse(e, strlen(e), "127.0.0.2", &rd), CLUSTER_MOVED);
    assert_string_equal(rd.host, "127.0.0.2");
    static const char *const bad[] = {
        "MOVED",
        "MOVED ",
        "MOVED 16384 h:1",
        "MOVED 1 h",
        "MOVED 1 h:0",
        "MOVED 1 h:65536",
        "MOVED x h:1",
        "ASK 1 h:1x",
        "MOVED 1h:1",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down",
        "NOSCRIPT No matching script",
        "MOVED 1234567 h:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cluster_redirect_parse(bad[i], strlen(bad[i]), "h", &rd) != CLUSTER_NO_REDIRECT)
            fail_msg("taken as a redirection: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_three_primaries),
        cmocka_unit_test(test_slots_refused),
        cmocka_unit_test(test_redirects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
