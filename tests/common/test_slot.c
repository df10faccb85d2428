/*
 * test_slot.c: rs_slot.h against the real engine: a redis-server started
 * with cluster support answers CLUSTER KEYSLOT for the same keys, and every
 * answer must match rs_key_slot (and rs_user_slot for user keys): hash-tag
 * edge cases ("{}", "{{a}}", "a{}{b}", unmatched braces), binary keys with
 * NUL bytes, random keys and random user ids. Also the CRC16-XMODEM check
 * value.
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

#include "rs_slot.h"
#include "rs_testsupport.h"

typedef struct cluster_node {
    rs_proc proc;
    char dir[PATH_MAX];
    redisContext *c;
} cluster_node;

/* A cluster-enabled redis-server on a free loopback port (no slots are
 * assigned: CLUSTER KEYSLOT needs none). */
static void node_start(cluster_node *n)
{
    memset(n, 0, sizeof(*n));
    assert_int_equal(rs_tmpdir_create("slot", n->dir, sizeof(n->dir)), 0);
    for (int attempt = 0; attempt < 5 && n->c == NULL; attempt++) {
        int port = rs_free_port();
        assert_true(port > 0);
        char ports[16], conf[PATH_MAX + 32];
        snprintf(ports, sizeof(ports), "%d", port);
        snprintf(conf, sizeof(conf), "%s/nodes-%d.conf", n->dir, port);
        const char *argv[] = {"redis-server",
                              "--bind",
                              "127.0.0.1",
                              "--port",
                              ports,
                              "--cluster-enabled",
                              "yes",
                              "--cluster-config-file",
                              conf,
                              "--dir",
                              n->dir,
                              "--save",
                              "",
                              "--appendonly",
                              "no",
                              "--daemonize",
                              "no",
                              NULL};
        assert_int_equal(rs_proc_start(argv, NULL, &n->proc), 0);
        long long end = rs_mono_ms() + 10000;
        while (rs_mono_ms() < end && rs_proc_alive(&n->proc)) {
            struct timeval tv = {1, 0};
            redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
            if (c != NULL && c->err == 0) {
                redisReply *r = redisCommand(c, "PING");
                bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
                freeReplyObject(r);
                if (ok) {
                    n->c = c;
                    break;
                }
            }
            if (c != NULL)
                redisFree(c);
            rs_sleep_ms(20);
        }
        if (n->c == NULL)
            rs_proc_cleanup(&n->proc);
    }
    assert_non_null(n->c);
}

static void node_stop(cluster_node *n)
{
    redisFree(n->c);
    rs_proc_stop(&n->proc, 0, 10000, NULL);
    rs_proc_cleanup(&n->proc);
    rs_tmpdir_remove(n->dir);
}

static long long redis_slot(cluster_node *n, const void *key, size_t len)
{
    redisReply *r = redisCommand(n->c, "CLUSTER KEYSLOT %b", key, len);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_INTEGER)
        fail_msg("CLUSTER KEYSLOT: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "not an integer");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void check_key(cluster_node *n, const void *key, size_t len)
{
    long long want = redis_slot(n, key, len);
    uint32_t got = rs_key_slot(key, len);
    if ((long long)got != want)
        fail_msg("key of %zu bytes '%.*s': rs_key_slot %u, Redis %lld", len, (int)len,
                 (const char *)key, got, want);
}

static void test_crc16_check_value(void **state)
{
    (void)state;
    assert_int_equal(rs_crc16("123456789", 9), 0x31c3);
    assert_int_equal(rs_crc16("", 0), 0);
}

static void test_against_redis(void **state)
{
    (void)state;
    cluster_node n;
    node_start(&n);
    static const char *const keys[] = {
        "",
        "foo",
        "{}",
        "{}foo",
        "foo{}",
        "foo{}{bar}",
        "{{a}}",
        "a{{b}}c",
        "foo{bar}{zap}",
        "{",
        "}",
        "}{",
        "foo{bar",
        "foo}bar{",
        "{user1000}.following",
        "readstates:{42}",
        "a{b}c{d}e",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        check_key(&n, keys[i], strlen(keys[i]));
    static const char bin[] = {'a', '\0', '{', 'x', '\0', '}', 'b'};
    check_key(&n, bin, sizeof(bin));
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) { /* random keys over a small alphabet with braces */
        char k[24];
        size_t len = (size_t)(x % 20);
        for (size_t j = 0; j < len; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            k[j] = "ab{}\0z9"[x % 7];
        }
        check_key(&n, k, len);
    }
    for (int i = 0; i < 2000; i++) { /* users' keys */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t user = i < 20 ? (uint64_t)i : (i < 40 ? UINT64_MAX - (uint64_t)i : x);
        char key[48];
        int len = snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)user);
        long long want = redis_slot(&n, key, (size_t)len);
        if ((long long)rs_user_slot(user) != want)
            fail_msg("user %llu: rs_user_slot %u, Redis %lld", (unsigned long long)user,
                     rs_user_slot(user), want);
    }
    node_stop(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_check_value),
        cmocka_unit_test(test_against_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
