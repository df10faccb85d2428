/*
 * it_cluster_reshard.c: resharding a Redis Cluster under load.
 *
 * Three primaries; a write-behind and a write-through readstated
 * (--redis-cluster), each with readstate-loadgen running against it in the
 * background and tracked traffic (pipelined acks whose acknowledgements are
 * remembered per key). Meanwhile `redis-cli --cluster reshard` moves slots
 * (with their keys, by MIGRATE) around the three primaries, several times.
 *
 * Asserted: every tracked call answers OK (the store follows MOVED, ASK and
 * TRYAGAIN inside a request's --redis-timeout-ms; that is the only retrying
 * there is, and clients never see it), the load generators count zero
 * errors, both servers stop clean (exit 0, unflushed_states=0), and every
 * acknowledged state reads back from the cluster at least as new as
 * acknowledged; and the resharding was real: slots changed owner and the
 * servers were redirected (MOVED or ASK counted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_rig.h"

#define RESHARDS 3
/* Unequal amounts, so the slots do not all come back where they were. */
static const char *const reshard_slots[] = {"1500", "1000", "2000"};
#define RESHARD_TIMEOUT 20000
#define LOADGEN_RATE    400
#define LOADGEN_SECONDS 20

static const char *redis_cli(void)
{
    const char *cli = getenv("REDIS_CLI");
    return cli != NULL && cli[0] != '\0' ? cli : "redis-cli";
}

typedef struct check_arg {
    const rs_test_redis *r;
    char seed[32];
} check_arg;

/* redis-cli --cluster check: every node agrees, every slot covered, no
 * slot open (migrating or importing). */
static bool cluster_check_ok(void *arg)
{
    check_arg *a = arg;
    const char *argv[] = {redis_cli(), "--cluster", "check", a->seed, NULL};
    char *out = NULL;
    int rc = rs_run(argv, NULL, 10000, &out, NULL);
    bool ok = rc == 0 && out != NULL && strstr(out, "[OK] All nodes agree") != NULL &&
              strstr(out, "[OK] All 16384 slots covered") != NULL &&
              strstr(out, "[WARNING]") == NULL;
    free(out);
    return ok;
}

static void reshard_start(rs_proc *p, const rs_test_redis *r, const char *seed, int from,
                          int to, const char *slots)
{
    char from_id[64], to_id[64];
    assert_int_equal(rs_test_redis_node_id(r, from, from_id, sizeof(from_id)), 0);
    assert_int_equal(rs_test_redis_node_id(r, to, to_id, sizeof(to_id)), 0);
    const char *argv[] = {redis_cli(),       "--cluster", "reshard",       seed,
                          "--cluster-from",  from_id,     "--cluster-to",  to_id,
                          "--cluster-slots", slots,       "--cluster-yes", NULL};
    assert_int_equal(rs_proc_start(argv, NULL, p), 0);
}

#define SAMPLE_EVERY 16

/* The owner of every SAMPLE_EVERY-th slot. */
static void owners(const rs_test_redis *r, int *out)
{
    for (int s = 0; s < 16384; s += SAMPLE_EVERY)
        out[s / SAMPLE_EVERY] = rs_test_redis_slot_node(r, s);
}

static void test_reshard_under_load(void **state)
{
    (void)state;
    rig g;
    long long t_start = rs_mono_ms();
    rig_start(&g, 0, NULL, NULL, LOADGEN_RATE, LOADGEN_SECONDS);
    check_arg ca = {.r = &g.r};
    snprintf(ca.seed, sizeof(ca.seed), "127.0.0.1:%d", g.r.nodes[0].port);
    int before[16384 / SAMPLE_EVERY], after[16384 / SAMPLE_EVERY];
    owners(&g.r, before);
    rig_drive(&g, 1000);

    long long took[RESHARDS];
    for (int k = 0; k < RESHARDS; k++) {
        int from = k % 3, to = (k + 1) % 3;
        const char *slots = reshard_slots[k];
        assert_true(rig_drive_until(&g, cluster_check_ok, &ca, 10000));
        rs_proc cli;
        long long t0 = rs_mono_ms();
        reshard_start(&cli, &g.r, ca.seed, from, to, slots);
        long long end = t0 + RESHARD_TIMEOUT;
        while (rs_proc_alive(&cli) && rs_mono_ms() < end)
            rig_round(&g);
        took[k] = rs_mono_ms() - t0;
        int ws = 0;
        if (rs_proc_wait(&cli, 0, &ws) != 0 || rs_proc_exit_code(&cli) != 0) {
            rs_proc_dump_log(&cli, "redis-cli", stderr, 4096);
            fail_msg("reshard %d (node%d -> node%d) failed or ran past %d ms", k, from, to,
                     RESHARD_TIMEOUT);
        }
        rs_proc_cleanup(&cli);
        printf("# reshard %d: %s slots node%d -> node%d in %lld ms; tracked so far: "
               "write-behind ok=%llu failures=%llu, write-through ok=%llu failures=%llu\n",
               k, slots, from, to, took[k], (unsigned long long)g.twb.ok,
               (unsigned long long)cu_traffic_failures(&g.twb), (unsigned long long)g.twt.ok,
               (unsigned long long)cu_traffic_failures(&g.twt));
    }
    assert_true(rig_drive_until(&g, cluster_check_ok, &ca, 10000));
    owners(&g.r, after);
    int changed = 0, per_node[3] = {0, 0, 0};
    for (size_t i = 0; i < RS_ARRAY_LEN(after); i++) {
        changed += after[i] != before[i];
        if (after[i] >= 0 && after[i] < 3)
            per_node[after[i]]++;
    }
    printf("# slots (1 in %d sampled): %d changed owner; now %d/%d/%d\n", SAMPLE_EVERY, changed,
           per_node[0], per_node[1], per_node[2]);
    rig_drive(&g, 500);

    double redirected_wb =
        rig_metric(&g.wb, "readstates_redis_cluster_redirects_total{kind=\"moved\"}") +
        rig_metric(&g.wb, "readstates_redis_cluster_redirects_total{kind=\"ask\"}");
    double redirected_wt =
        rig_metric(&g.wt, "readstates_redis_cluster_redirects_total{kind=\"moved\"}") +
        rig_metric(&g.wt, "readstates_redis_cluster_redirects_total{kind=\"ask\"}");
    rig_finish(&g);

    /* The resharding moved slots, and the servers had to follow. */
    assert_true(changed > 0);
    assert_true(redirected_wb > 0);
    assert_true(redirected_wt > 0);
    /* Zero errors to clients. */
    assert_int_equal(cu_traffic_failures(&g.twb), 0);
    assert_int_equal(cu_traffic_failures(&g.twt), 0);
    assert_true(g.lg_errors[0] == 0);
    assert_true(g.lg_errors[1] == 0);
    /* Every acknowledged state reads back. */
    assert_int_equal(g.vwb.lost, 0);
    assert_int_equal(g.vwt.lost, 0);
    printf("# reshard under load: %lld ms in all\n", rs_mono_ms() - t_start);
    rig_cleanup(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshard_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
