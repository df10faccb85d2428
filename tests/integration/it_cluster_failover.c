/*
 * it_cluster_failover.c: failovers of a Redis Cluster (three primaries, one
 * replica each, --cluster-node-timeout 1000) under load, with a
 * write-behind readstated and a write-through one with
 * --redis-wait-replicas 1, each with readstate-loadgen in the background
 * and tracked traffic (every acknowledged (user, channel) remembered).
 *
 * - kill -9 of a primary: its replica is promoted; clients may get
 *   UNAVAILABLE while the slots have no primary (counted and timed); the
 *   killed node restarts on its port and data and rejoins as a replica;
 *   then, with no restart of readstated, every user of both servers
 *   writes again (bounded poll) and the next second of traffic has no
 *   error. Afterwards: write-through lost nothing acknowledged; in
 *   write-behind, nothing acknowledged before the window
 *   (--flush-interval-ms plus a second of replication lag before the kill)
 *   or after the kill is lost, and what was lost inside it is measured and
 *   printed (the store merges again the users its dead primary took in its
 *   last 5 s, so 0 is expected) and bounded by the keys acknowledged in it.
 * - CLUSTER FAILOVER (planned), over and back: nothing acknowledged is
 *   lost in either mode; write-behind clients see no error at all.
 * - A primary that loses its only replica (write-through, WAIT 1): its
 *   users' writes fail at once, the others' succeed; with no traffic
 *   readstated does not spin on the users left dirty; once the replica is
 *   back every user writes again.
 *
 * The kill -9 test also prints the write-through server's throughput, CPU
 * and fast-failed merges before the kill and while the promoted replica
 * has no replica of its own.
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

#include "cluster_rig.h"
#include "rs_slot.h"

#define VICTIM         1 /* a primary */
#define VICTIM_REPLICA (RS_TEST_REDIS_CLUSTER_NODES + VICTIM)
#define LOADGEN_RATE   300
#define LOSS_WINDOW_MS (RIG_FLUSH_MS + 1000)

static const char *const wt_flags[] = {"--redis-wait-replicas", "1", NULL};

typedef struct role_arg {
    const rs_test_redis *r;
    int node;
} role_arg;

static bool is_primary(void *arg)
{
    role_arg *a = arg;
    return rs_test_redis_node_is_primary(a->r, a->node);
}

static double failovers(const rs_test_server *srv)
{
    return rig_metric(srv, "readstates_redis_cluster_failovers_total");
}

typedef struct window {
    double cpu, ok, wait_short, secs;
} window;

/* Drive ms of traffic, measuring the write-through server meanwhile. */
static window measured_drive(rig *g, int ms)
{
    const char *ws = "readstates_redis_cluster_wait_short_failures_total";
    window w;
    double cpu0 = cu_cpu_seconds(g->wt.proc.pid), ws0 = rig_metric(&g->wt, ws);
    uint64_t ok0 = g->twt.ok;
    long long t0 = rs_mono_ms();
    rig_drive(g, ms);
    w.secs = (double)(rs_mono_ms() - t0) / 1000.0;
    w.cpu = cu_cpu_seconds(g->wt.proc.pid) - cpu0;
    w.ok = (double)(g->twt.ok - ok0);
    w.wait_short = rig_metric(&g->wt, ws) - ws0;
    return w;
}

static void print_window(const char *what, const window *w)
{
    printf("# write-through server %s: %.0f acks OK/s, CPU %.0f%% of a core (%.1f us per OK "
           "ack), %.0f merges failed fast (wait short)/s\n",
           what, w->ok / w->secs, 100 * w->cpu / w->secs,
           w->ok > 0 ? 1e6 * w->cpu / w->ok : 0.0, w->wait_short / w->secs);
}

static void test_failover_kill9(void **state)
{
    (void)state;
    rig g;
    long long t_start = rs_mono_ms();
    rig_start(&g, 1, NULL, wt_flags, LOADGEN_RATE, 14);
    role_arg victim = {&g.r, VICTIM}, replica = {&g.r, VICTIM_REPLICA};
    assert_true(is_primary(&victim));
    assert_false(is_primary(&replica));
    rig_drive(&g, 500);
    window before = measured_drive(&g, 1000);
    assert_int_equal(cu_traffic_failures(&g.twb), 0);
    assert_int_equal(cu_traffic_failures(&g.twt), 0);

    long long t_kill = rs_mono_ms();
    assert_int_equal(rs_test_redis_kill9_node(&g.r, VICTIM), 0);
    cu_traffic_mark(&g.twb, LOSS_WINDOW_MS);
    cu_traffic_mark(&g.twt, LOSS_WINDOW_MS);

    assert_true(rig_drive_until(&g, is_primary, &replica, 15000));
    long long t_promoted = rs_mono_ms();
    /* The promoted replica has no replica of its own: after a second for
     * the servers' tables to catch up, a second measured. */
    rig_drive(&g, 1000);
    window shortw = measured_drive(&g, 1000);
    print_window("before the kill", &before);
    print_window("while a primary has no replica", &shortw);
    assert_int_equal(rs_test_redis_restart_node(&g.r, VICTIM), 0);
    assert_true(rig_drive_until(&g, rs_test_redis_cluster_settled, &g.r, 20000));
    long long t_settled = rs_mono_ms();
    assert_false(is_primary(&victim)); /* it came back as a replica */

    /* Every user writes again, with the same readstated processes. */
    long long deadline = rs_mono_ms() + 15000;
    long wb_left = cu_traffic_all_ok(&g.twb, deadline);
    long wt_left = cu_traffic_all_ok(&g.twt, deadline);
    long long t_all_ok = rs_mono_ms();
    printf("# kill -9 node%d: replica promoted after %lld ms, old primary back as a replica "
           "after %lld ms, every user writes again after %lld ms (left: wb %ld, wt %ld)\n",
           VICTIM, t_promoted - t_kill, t_settled - t_kill, t_all_ok - t_kill, wb_left,
           wt_left);
    cu_traffic_print(&g.twb);
    cu_traffic_print(&g.twt);
    assert_int_equal(wb_left, 0);
    assert_int_equal(wt_left, 0);
    /* And the traffic is healthy again: a second without an error. */
    uint64_t wb_fail = cu_traffic_failures(&g.twb), wt_fail = cu_traffic_failures(&g.twt);
    rig_drive(&g, 1000);
    assert_int_equal(cu_traffic_failures(&g.twb), wb_fail);
    assert_int_equal(cu_traffic_failures(&g.twt), wt_fail);
    double fo_wb = failovers(&g.wb), fo_wt = failovers(&g.wt);

    rig_finish(&g);
    assert_true(fo_wb >= 1);
    assert_true(fo_wt >= 1);
    /* Write-through with WAIT 1: nothing acknowledged is lost. */
    assert_int_equal(g.vwt.lost, 0);
    /* Write-behind: only inside the window, and no more than it holds. */
    assert_int_equal(g.vwb.lost_before, 0);
    assert_int_equal(g.vwb.lost_after, 0);
    assert_true(g.vwb.lost <= g.vwb.window_keys);
    printf("# write-behind loss after kill -9: %ld of %ld keys acknowledged in the last %d ms "
           "before the kill (%ld keys in all)\n",
           g.vwb.lost, g.vwb.window_keys, LOSS_WINDOW_MS, g.vwb.keys);
    printf("# failover under load: %lld ms in all\n", rs_mono_ms() - t_start);
    rig_cleanup(&g);
}

/* CLUSTER FAILOVER on node `to` (a replica); waits for it to be primary and
 * the cluster to settle, driving traffic. Returns the time it took. */
static long long planned_failover(rig *g, int to)
{
    role_arg a = {&g->r, to};
    assert_false(is_primary(&a));
    long long t0 = rs_mono_ms();
    redisContext *c = rs_test_redis_connect_node(&g->r, to);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "CLUSTER FAILOVER");
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_ERROR)
        fail_msg("CLUSTER FAILOVER on node%d: %s", to, reply->str);
    freeReplyObject(reply);
    redisFree(c);
    assert_true(rig_drive_until(g, is_primary, &a, 10000));
    long long promoted = rs_mono_ms() - t0;
    assert_true(rig_drive_until(g, rs_test_redis_cluster_settled, &g->r, 15000));
    printf("# CLUSTER FAILOVER to node%d: primary after %lld ms, settled after %lld ms\n", to,
           promoted, rs_mono_ms() - t0);
    return rs_mono_ms() - t0;
}

static void test_planned_failover(void **state)
{
    (void)state;
    rig g;
    long long t_start = rs_mono_ms();
    rig_start(&g, 1, NULL, wt_flags, LOADGEN_RATE, 10);
    rig_drive(&g, 1500);
    assert_int_equal(cu_traffic_failures(&g.twb), 0);
    assert_int_equal(cu_traffic_failures(&g.twt), 0);
    planned_failover(&g, VICTIM_REPLICA);
    rig_drive(&g, 1000);
    planned_failover(&g, VICTIM);
    rig_drive(&g, 1000);
    double fo_wb = failovers(&g.wb), fo_wt = failovers(&g.wt);
    rig_finish(&g);
    printf("# planned failovers seen: write-behind %g, write-through %g\n", fo_wb, fo_wt);
    /* Nothing acknowledged is lost, in either mode. */
    assert_int_equal(g.vwb.lost, 0);
    assert_int_equal(g.vwt.lost, 0);
    /* Write-behind clients never wait on Redis for cached users. */
    assert_int_equal(cu_traffic_failures(&g.twb), 0);
    printf("# planned failover under load: %lld ms in all\n", rs_mono_ms() - t_start);
    rig_cleanup(&g);
}

/* A primary whose WAIT comes back short (its only replica died): the
 * write-through merges of its users fail at once (UNAVAILABLE) until ROLE
 * shows a replica again. Those users stay dirty in memory; with no client
 * traffic at all, readstated must not spin retrying them: its CPU stays
 * low and the failed merges it counts stay few. Then the replica comes
 * back and every user writes again with no restart. */
#define WS_USERS         300 /* about 100 on node 1: more than one flush batch (64) */
#define WS_TRAFFIC_USERS 60  /* about 20 on node 1: fewer than one flush batch */
#define WS_USER0         9000000

static bool wait_short_seen(void *arg)
{
    return rig_metric(arg, "readstates_redis_cluster_wait_short_failures_total") > 0;
}

/* A cluster with replicas, a server (write-through, or write-behind) with
 * WAIT 1, `users` users written; then node 1 loses its only replica and
 * every user is written again: on_victim[i] says whether user i's primary
 * is node 1. Write-through: exactly those get UNAVAILABLE; write-behind:
 * every write is accepted and the flushes of those users fail (WAIT
 * short). Returns how many users are on node 1 (left dirty). */
static int wait_short_setup(rs_test_redis *r, rs_test_server *srv, rs_client **cp,
                            bool write_through, int users, bool *on_victim)
{
    assert_int_equal(rs_test_redis_start_cluster_replicas(r, 1), 0);
    const char *flags[] = {"--durability",
                           write_through ? "write-through" : "write-behind",
                           "--redis-wait-replicas",
                           "1",
                           "--flush-interval-ms",
                           "200",
                           NULL};
    assert_int_equal(pu_server_start(srv, r, flags), 0);
    rs_client *c = pu_connect(srv);
    assert_non_null(c);
    rs_client_ack_result res;
    int victims = 0;
    for (uint64_t u = 1; u <= (uint64_t)users; u++) {
        assert_int_equal(rs_client_ack(c, WS_USER0 + u, 1, 10, 0, &res), RS_OK);
        on_victim[u - 1] =
            rs_test_redis_slot_node(r, (int)rs_user_slot(WS_USER0 + u)) == VICTIM;
        victims += on_victim[u - 1];
    }

    /* Node 1 loses its only replica. */
    assert_int_equal(rs_test_redis_kill9_node(r, VICTIM_REPLICA), 0);
    int unavailable = 0, oks = 0;
    for (uint64_t u = 1; u <= (uint64_t)users; u++) {
        rs_status st = rs_client_ack(c, WS_USER0 + u, 1, 20, 0, &res);
        if (st == RS_OK)
            oks++;
        else if (pu_server_said(c, st, RS_ERR_UNAVAILABLE))
            unavailable++;
        else
            fail_msg("ack: %s", rs_client_errmsg(c));
        if (write_through)
            assert_int_equal(st == RS_OK, !on_victim[u - 1]);
    }
    printf("# wait short (%s): %d acks OK, %d UNAVAILABLE; %d users on the primary without "
           "a replica\n",
           write_through ? "write-through" : "write-behind", oks, unavailable, victims);
    assert_true(victims > 0 && victims < users);
    if (!write_through) {
        assert_int_equal(oks, users);
        assert_true(rs_poll_until(wait_short_seen, srv, 5000));
    }
    *cp = c;
    return victims;
}

/* Quiet: no client sends anything for two seconds, then the replica comes
 * back and every user writes again with no restart. */
static void wait_short_quiet(bool write_through)
{
    rs_test_redis r;
    rs_test_server srv;
    rs_client *c = NULL;
    bool on_victim[WS_USERS];
    int dirty = wait_short_setup(&r, &srv, &c, write_through, WS_USERS, on_victim);
    rs_client_ack_result res;

    rs_sleep_ms(200);
    const char *ws = "readstates_redis_cluster_wait_short_failures_total";
    double ws0 = rig_metric(&srv, ws);
    double cpu0 = cu_cpu_seconds(srv.proc.pid);
    long long t0 = rs_mono_ms();
    rs_sleep_ms(2000);
    double secs = (double)(rs_mono_ms() - t0) / 1000.0;
    double cpu = cu_cpu_seconds(srv.proc.pid) - cpu0;
    double failed = rig_metric(&srv, ws) - ws0;
    printf("# wait short (%s), no traffic for %.1f s: readstated CPU %.2f s (%.0f%% of a "
           "core), %.0f merges failed fast for %d dirty users\n",
           write_through ? "write-through" : "write-behind", secs, cpu, 100 * cpu / secs,
           failed, dirty);

    /* The replica comes back: every user writes again, no restart. */
    assert_int_equal(rs_test_redis_restart_node(&r, VICTIM_REPLICA), 0);
    assert_true(rs_poll_until(rs_test_redis_cluster_settled, &r, 20000));
    long long end = rs_mono_ms() + 10000;
    for (uint64_t u = 1; u <= WS_USERS; u++) {
        rs_status st;
        while ((st = rs_client_ack(c, WS_USER0 + u, 1, 30, 0, &res)) != RS_OK &&
               rs_mono_ms() < end)
            rs_sleep_ms(50);
        assert_int_equal(st, RS_OK);
    }
    rs_client_close(c);
    assert_true(cu_server_stop_clean(&srv));
    for (uint64_t u = 1; u <= WS_USERS; u++) {
        rs_client_state *st = NULL;
        uint64_t v = 0;
        assert_int_equal(pu_redis_user(&r, WS_USER0 + u, &st, &v), 1);
        assert_int_equal(st[0].last_message_id, 30);
        free(st);
    }
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&r);
    /* No busy loop: little CPU, and a retry every few hundred ms per dirty
     * user at most (10 a second each is what one timer tick gives). */
    assert_true(cpu >= 0 && cpu / secs < 0.30);
    assert_true(failed < 2 * 20.0 * dirty);
}

static void test_wait_short_quiet_write_through(void **state)
{
    (void)state;
    wait_short_quiet(true);
}

static void test_wait_short_quiet_write_behind(void **state)
{
    (void)state;
    wait_short_quiet(false);
}

/* The same primary short of its replica, fewer of its users dirty than
 * one flush batch holds (quiet, that does not spin), and steady
 * write-through traffic for the users of the other primaries (which have
 * their replicas): the users left dirty on the short primary must not be
 * retried on every flush pass the other users' commits cause. Measured over two seconds:
 * merges failed fast per second (bounded by 50 a second per dirty user)
 * and the server's CPU per acknowledged write (bounded by 4 times what the
 * same traffic costs once the replica is back). */
static void test_wait_short_retries_under_traffic(void **state)
{
    (void)state;
    rs_test_redis r;
    rs_test_server srv;
    rs_client *c = NULL;
    bool on_victim[WS_TRAFFIC_USERS];
    int dirty = wait_short_setup(&r, &srv, &c, true, WS_TRAFFIC_USERS, on_victim);
    const char *ws = "readstates_redis_cluster_wait_short_failures_total";
    uint64_t msg = 100;
    double rate[2] = {0, 0}, cost[2] = {0, 0};
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1) { /* the replica is back: the same traffic, for reference */
            assert_int_equal(rs_test_redis_restart_node(&r, VICTIM_REPLICA), 0);
            assert_true(rs_poll_until(rs_test_redis_cluster_settled, &r, 20000));
            rs_client_ack_result res;
            long long end = rs_mono_ms() + 10000;
            for (uint64_t u = 1; u <= WS_TRAFFIC_USERS; u++) {
                rs_status st;
                while ((st = rs_client_ack(c, WS_USER0 + u, 1, msg, 0, &res)) != RS_OK &&
                       rs_mono_ms() < end)
                    rs_sleep_ms(50);
                assert_int_equal(st, RS_OK);
            }
            msg++;
        }
        double ws0 = rig_metric(&srv, ws), cpu0 = cu_cpu_seconds(srv.proc.pid);
        long long t0 = rs_mono_ms();
        long acked = 0;
        while (rs_mono_ms() - t0 < 2000) {
            int sent = 0;
            for (int i = 0; i < WS_TRAFFIC_USERS; i++) {
                if (on_victim[i])
                    continue;
                Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
                ack.user_id = WS_USER0 + 1 + (uint64_t)i;
                ack.channel_id = 1;
                ack.message_id = msg;
                Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
                req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
                req.ack = &ack;
                assert_int_equal(rs_client_send(c, &req), RS_OK);
                sent++;
            }
            assert_int_equal(rs_client_flush(c), RS_OK);
            for (int k = 0; k < sent; k++) {
                Readstates__V1__Response *resp = NULL;
                assert_int_equal(rs_client_recv(c, &resp, 5000), RS_OK);
                acked += rs_client_response_status(resp) == RS_OK;
                rs_client_response_free(resp);
            }
            msg++;
            rs_sleep_ms(5);
        }
        double secs = (double)(rs_mono_ms() - t0) / 1000.0;
        double cpu = cu_cpu_seconds(srv.proc.pid) - cpu0;
        rate[phase] = (rig_metric(&srv, ws) - ws0) / secs;
        cost[phase] = acked > 0 ? 1e6 * cpu / (double)acked : 0;
        printf("# wait short %s: %.0f acks OK/s for the users of healthy primaries, CPU "
               "%.0f%% of a core (%.1f us per OK ack), %.0f merges failed fast/s for %d "
               "dirty users\n",
               phase == 0 ? "with traffic" : "over, same traffic", (double)acked / secs,
               100 * cpu / secs, cost[phase], rate[phase], dirty);
    }
    rs_client_close(c);
    assert_true(cu_server_stop_clean(&srv));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&r);
    assert_true(rate[0] < 50.0 * dirty);
    assert_true(cost[0] < 4 * cost[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failover_kill9),
        cmocka_unit_test(test_planned_failover),
        cmocka_unit_test(test_wait_short_quiet_write_through),
        cmocka_unit_test(test_wait_short_quiet_write_behind),
        cmocka_unit_test(test_wait_short_retries_under_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
