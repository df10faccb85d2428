/*
 * test_fleet_client.c: the ring-aware client (rs_fleet_client.h) against a
 * real fleet: a redis-server, two readstated nodes with --node-id and a
 * ring written through the compare-and-set script. Every call the client
 * routes lands on its user's owner (no node forwards anything), answers are
 * those of the owner (read back through the other node, which forwards),
 * a stale table still works through a forward and is refreshed, and
 * outside a fleet the client talks to the one server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "persist_util.h"
#include "rs_fleet_client.h"
#include "rs_ring.h"
#include "rs_testsupport.h"

static rs_ring ring; /* big: not on the stack */

/* Write the ring (nodes n0..n{k-1} at the given ports, even split) with
 * the expected generation. */
static void write_ring(rs_test_redis *redis, const int *ports, int k, const char *expect)
{
    memset(&ring, 0, sizeof(ring));
    ring.generation = 1;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        ring.owner[sl] = RS_RING_NO_NODE;
    char err[160], entry[64];
    for (int i = 0; i < k; i++) {
        snprintf(entry, sizeof(entry), "n%d=127.0.0.1:%d", i, ports[i]);
        assert_int_equal(rs_ring_add_node(&ring, entry, err, sizeof(err)), i);
    }
    rs_ring_split_even(&ring);
    char nodes[512], ranges[512];
    assert_true(rs_ring_format_nodes(&ring, nodes, sizeof(nodes)) > 0);
    assert_true(rs_ring_format_ranges(&ring, ranges, sizeof(ranges)) > 0);
    redisContext *c = rs_test_redis_connect(redis);
    assert_non_null(c);
    const char *argv[] = {"EVAL", rs_ring_cas_script, "1", RS_RING_KEY, expect, nodes, ranges};
    redisReply *r = redisCommandArgv(c, 7, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    redisFree(c);
}

typedef struct ring_wait {
    const rs_test_server *srv;
    uint64_t generation;
} ring_wait;

static bool node_has_ring(void *arg)
{
    ring_wait *w = arg;
    return pu_metric(w->srv, "readstates_fleet_generation") == (double)w->generation;
}

static bool node_clean(void *arg)
{
    return pu_metric(arg, "readstates_dirty_users") == 0;
}

static double forwarded(const rs_test_server *srv, const char *dir)
{
    char name[96];
    snprintf(name, sizeof(name), "readstates_fleet_forwarded_total{direction=\"%s\"}", dir);
    return pu_metric(srv, name);
}

static void test_routes_to_owners(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    rs_test_server n[2];
    for (int i = 0; i < 2; i++) {
        char id[8];
        snprintf(id, sizeof(id), "n%d", i);
        const char *extra[] = {"--node-id", id, "--ring-refresh-ms", "100", NULL};
        assert_int_equal(pu_server_start(&n[i], &redis, extra), 0);
    }
    int ports[2] = {n[0].port, n[1].port};
    write_ring(&redis, ports, 2, "0");
    for (int i = 0; i < 2; i++) {
        ring_wait w = {&n[i], 1};
        assert_true(rs_poll_until(node_has_ring, &w, 10000));
    }

    char err[256];
    rs_fleet_client *f =
        rs_fleet_client_connect("127.0.0.1", n[0].port, 5000, err, sizeof(err));
    if (f == NULL)
        fail_msg("rs_fleet_client_connect: %s", err);
    assert_int_equal(rs_fleet_client_ring(f)->generation, 1);
    assert_int_equal(rs_fleet_client_ring(f)->nnodes, 2);
    /* 200 users over both nodes, each acked on its owner */
    for (uint64_t u = 1; u <= 200; u++) {
        rs_client *c = rs_fleet_client_for(f, u);
        if (c == NULL)
            fail_msg("no connection for user %llu: %s", (unsigned long long)u,
                     rs_fleet_client_errmsg(f));
        rs_client_ack_result res;
        assert_int_equal(rs_client_ack(c, u, 7, 100 + u, 1, &res), RS_OK);
        assert_true(res.applied);
        assert_int_equal(res.user_version, 1);
    }
    /* nobody forwarded: every call went straight to its owner */
    for (int i = 0; i < 2; i++) {
        assert_true(forwarded(&n[i], "out") == 0);
        assert_true(forwarded(&n[i], "in") == 0);
    }
    /* what the owners hold, read through the other node (it forwards) */
    rs_client *plain = pu_connect(&n[0]);
    assert_non_null(plain);
    for (uint64_t u = 1; u <= 200; u += 37) {
        rs_client_states got;
        assert_int_equal(rs_client_get(plain, u, NULL, 0, &got), RS_OK);
        assert_int_equal(got.n, 1);
        assert_int_equal(got.states[0].last_message_id, 100 + u);
        rs_client_states_free(&got);
    }
    assert_true(forwarded(&n[0], "out") > 0); /* some of those were n1's */

    /* readstatectl --ring: through n0, each call on its owner (n0 forwards
     * none); without --ring, n0 forwards n1's users */
    double before = forwarded(&n[0], "out");
    char server[32];
    snprintf(server, sizeof(server), "127.0.0.1:%d", n[0].port);
    int ctl_n1 = 0;
    for (uint64_t u = 300; u < 340; u++) {
        char user[24];
        snprintf(user, sizeof(user), "%llu", (unsigned long long)u);
        const char *argv[] = {rs_test_readstatectl_bin(),
                              "--server",
                              server,
                              "--ring",
                              "ack",
                              user,
                              "5",
                              "77",
                              NULL};
        char *out = NULL;
        assert_int_equal(rs_run(argv, NULL, 10000, &out, NULL), 0);
        assert_non_null(strstr(out, "applied: yes"));
        free(out);
        ctl_n1 +=
            rs_ring_owner(rs_fleet_client_ring(f), u) == &rs_fleet_client_ring(f)->nodes[1];
    }
    assert_true(ctl_n1 > 0);
    assert_true(forwarded(&n[0], "out") == before);
    const char *fw[] = {
        rs_test_readstatectl_bin(), "--server", server, "ack", "301", "5", "78", NULL};
    uint64_t probe = 300;
    while (rs_ring_owner(rs_fleet_client_ring(f), probe) != &rs_fleet_client_ring(f)->nodes[1])
        probe++;
    char probe_s[24];
    snprintf(probe_s, sizeof(probe_s), "%llu", (unsigned long long)probe);
    fw[4] = probe_s;
    assert_int_equal(rs_run(fw, NULL, 10000, NULL, NULL), 0);
    assert_true(forwarded(&n[0], "out") == before + 1); /* the same call, without --ring */

    /* a new ring (the two nodes swap halves) once everything is flushed
     * (without a handoff, what an old owner has not flushed when the new
     * one claims its users is fenced: counted, and the exit code says so):
     * the client's table is stale, its calls still answered (forwarded);
     * after a refresh, straight again */
    for (int i = 0; i < 2; i++)
        assert_true(rs_poll_until(node_clean, &n[i], 10000));
    int swapped[2] = {n[1].port, n[0].port};
    memset(&ring, 0, sizeof(ring));
    redisContext *rc = rs_test_redis_connect(&redis);
    assert_non_null(rc);
    char nodes[256];
    snprintf(nodes, sizeof(nodes), "n1=127.0.0.1:%d n0=127.0.0.1:%d", swapped[0], swapped[1]);
    const char *argv[] = {"EVAL", rs_ring_cas_script,     "1", RS_RING_KEY, "1",
                          nodes,  "0-8191=0 8192-16383=1"};
    redisReply *r = redisCommandArgv(rc, 7, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    redisFree(rc);
    for (int i = 0; i < 2; i++) {
        ring_wait w = {&n[i], 2};
        assert_true(rs_poll_until(node_has_ring, &w, 10000));
    }
    rs_client_ack_result res;
    rs_client *c = rs_fleet_client_for(f, 1);
    assert_non_null(c);
    assert_int_equal(rs_client_ack(c, 1, 8, 50, 0, &res), RS_OK);
    rs_sleep_ms(600); /* refreshes are at most one per 500 ms */
    assert_int_equal(rs_fleet_client_refresh(f), RS_OK);
    assert_int_equal(rs_fleet_client_ring(f)->generation, 2);
    double out0 = forwarded(&n[0], "out"), out1 = forwarded(&n[1], "out");
    for (uint64_t u = 1; u <= 50; u++) {
        c = rs_fleet_client_for(f, u);
        assert_non_null(c);
        assert_int_equal(rs_client_ack(c, u, 9, 10, 0, &res), RS_OK);
    }
    assert_true(forwarded(&n[0], "out") == out0);
    assert_true(forwarded(&n[1], "out") == out1);

    rs_fleet_client_close(f);
    rs_client_close(plain);
    for (int i = 0; i < 2; i++) {
        int ws = 0;
        assert_int_equal(rs_test_server_stop(&n[i], 30000, &ws), 0);
        assert_int_equal(WEXITSTATUS(ws), 0);
        rs_test_server_cleanup(&n[i]);
    }
    rs_test_redis_cleanup(&redis);
}

/* Watch through a node that owns only some of the users: the others'
 * events are relayed from their owner, every applied change arrives, in
 * version order per user; a ring change ends the watch (the connection
 * closes: the client watches again at the new owners). */
static void test_watch_relay(void **state)
{
    (void)state;
    rs_test_redis redis;
    assert_int_equal(rs_test_redis_start(&redis), 0);
    rs_test_server n[2];
    for (int i = 0; i < 2; i++) {
        char id[8];
        snprintf(id, sizeof(id), "n%d", i);
        const char *extra[] = {"--node-id", id, "--ring-refresh-ms", "100", NULL};
        assert_int_equal(pu_server_start(&n[i], &redis, extra), 0);
    }
    int ports[2] = {n[0].port, n[1].port};
    write_ring(&redis, ports, 2, "0");
    for (int i = 0; i < 2; i++) {
        ring_wait w = {&n[i], 1};
        assert_true(rs_poll_until(node_has_ring, &w, 10000));
    }
    /* six users, at least two owned by each node */
    uint64_t users[6];
    int count[2] = {0, 0}, k = 0;
    for (uint64_t u = 1; k < 6; u++) {
        int owner = ring.owner[rs_user_slot(u)];
        if (count[owner] >= 3)
            continue;
        count[owner]++;
        users[k++] = u;
    }
    rs_client *watcher = pu_connect(&n[0]);
    rs_client *writer = pu_connect(&n[1]);
    assert_non_null(watcher);
    assert_non_null(writer);
    uint64_t watch_id = 0;
    assert_int_equal(rs_client_watch(watcher, users, 6, &watch_id), RS_OK);
    /* three changes per user, through the other node */
    for (int round = 1; round <= 3; round++)
        for (int i = 0; i < 6; i++) {
            rs_client_ack_result res;
            assert_int_equal(rs_client_ack(writer, users[i], 40 + (uint64_t)round,
                                           1000 * (uint64_t)round, 0, &res),
                             RS_OK);
        }
    uint64_t last[6] = {0};
    for (int got = 0; got < 18; got++) {
        rs_client_event ev;
        rs_status st = rs_client_next_event(watcher, &ev, 5000);
        if (st != RS_OK)
            fail_msg("event %d of 18: %s", got + 1, rs_status_name(st));
        assert_int_equal(ev.watch_id, watch_id);
        int i = 0;
        while (i < 6 && users[i] != ev.user_id)
            i++;
        assert_true(i < 6);
        assert_int_equal(ev.user_version, last[i] + 1); /* in version order, none missed */
        last[i] = ev.user_version;
    }
    for (int i = 0; i < 6; i++)
        assert_int_equal(last[i], 3);
    assert_true(pu_metric(&n[0], "readstates_fleet_relayed_events_total") >= 9);
    assert_true(pu_metric(&n[0], "readstates_fleet_watch_relays") == 1);

    /* a new ring: the watch ends, the connection closes */
    redisContext *rc = rs_test_redis_connect(&redis);
    assert_non_null(rc);
    char nodes[256];
    snprintf(nodes, sizeof(nodes), "n1=127.0.0.1:%d n0=127.0.0.1:%d", n[1].port, n[0].port);
    const char *argv[] = {"EVAL", rs_ring_cas_script,     "1", RS_RING_KEY, "1",
                          nodes,  "0-8191=0 8192-16383=1"};
    redisReply *r = redisCommandArgv(rc, 7, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
    redisFree(rc);
    rs_client_event ev;
    rs_status st = rs_client_next_event(watcher, &ev, 5000);
    assert_int_equal(st, RS_ERR_UNAVAILABLE); /* closed by the server, not a timeout */
    assert_true(pu_metric(&n[0], "readstates_fleet_watch_relays") == 0);

    rs_client_close(watcher);
    rs_client_close(writer);
    for (int i = 0; i < 2; i++) {
        int ws = 0;
        assert_int_equal(rs_test_server_stop(&n[i], 30000, &ws), 0);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
        rs_test_server_cleanup(&n[i]);
    }
    rs_test_redis_cleanup(&redis);
}

/* Outside a fleet: a ring of the one server; every call goes to it. */
static void test_single_server(void **state)
{
    (void)state;
    rs_test_server srv;
    rs_test_server_opts o = {.http = true};
    assert_int_equal(rs_test_server_start_opts(&srv, &o), 0);
    char err[256];
    rs_fleet_client *f = rs_fleet_client_connect("127.0.0.1", srv.port, 5000, err, sizeof(err));
    if (f == NULL)
        fail_msg("rs_fleet_client_connect: %s", err);
    assert_int_equal(rs_fleet_client_ring(f)->generation, 0);
    assert_int_equal(rs_fleet_client_ring(f)->nnodes, 1);
    rs_client *c = rs_fleet_client_for(f, 12345);
    assert_non_null(c);
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 12345, 1, 2, 0, &res), RS_OK);
    assert_true(res.applied);
    rs_fleet_client_close(f);
    rs_test_server_stop(&srv, 10000, NULL);
    rs_test_server_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_to_owners),
        cmocka_unit_test(test_watch_relay),
        cmocka_unit_test(test_single_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
