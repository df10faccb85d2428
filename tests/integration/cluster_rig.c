/*
 * cluster_rig.c: see cluster_rig.h. Assertions are cmocka's: call from a
 * test.
 */
#include "cluster_rig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_test_client.h"

#define RIG_WB_USER0 7000000
#define RIG_WT_USER0 8000000

double rig_metric(const rs_test_server *srv, const char *series)
{
    return ht_metric(srv->http_port, series);
}

static void rig_server(rs_test_server *srv, const rs_test_redis *r, const char *mode,
                       const char *const *extra)
{
    const char *flags[32];
    size_t n = 0;
    flags[n++] = "--durability";
    flags[n++] = mode;
    if (strcmp(mode, "write-behind") == 0) {
        flags[n++] = "--flush-interval-ms";
        flags[n++] = RIG_FLUSH_MS_S;
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 1 < RS_ARRAY_LEN(flags); i++)
        flags[n++] = extra[i];
    flags[n] = NULL;
    assert_int_equal(pu_server_start(srv, r, flags), 0);
}

void rig_start(rig *g, int replicas, const char *const *wb_extra, const char *const *wt_extra,
               int loadgen_rate, int loadgen_s)
{
    memset(g, 0, sizeof(*g));
    long long t0 = rs_mono_ms();
    if (replicas > 0)
        assert_int_equal(rs_test_redis_start_cluster_replicas(&g->r, replicas), 0);
    else
        assert_int_equal(rs_test_redis_start_cluster(&g->r), 0);
    long long up = rs_mono_ms() - t0;
    assert_int_equal(rs_tmpdir_create("cluster-rig", g->dir, sizeof(g->dir)), 0);
    rig_server(&g->wb, &g->r, "write-behind", wb_extra);
    rig_server(&g->wt, &g->r, "write-through", wt_extra);
    assert_int_equal(cu_traffic_init(&g->twb, "write-behind", g->wb.port, 4, 16, RIG_WB_USER0,
                                     RIG_USERS, RIG_CHANNELS),
                     0);
    assert_int_equal(cu_traffic_init(&g->twt, "write-through", g->wt.port, 4, 8, RIG_WT_USER0,
                                     RIG_USERS, RIG_CHANNELS),
                     0);
    /* Every key once, before the load generators start. */
    while (g->twb.sent < g->twb.nkeys || g->twt.sent < g->twt.nkeys)
        rig_round(g);
    assert_int_equal(cu_traffic_failures(&g->twb), 0);
    assert_int_equal(cu_traffic_failures(&g->twt), 0);
    if (loadgen_s > 0) {
        snprintf(g->json_wb, sizeof(g->json_wb), "%s/wb.json", g->dir);
        snprintf(g->json_wt, sizeof(g->json_wt), "%s/wt.json", g->dir);
        assert_int_equal(
            cu_loadgen_start(&g->lg_wb, g->wb.port, loadgen_rate, loadgen_s, 2000, g->json_wb),
            0);
        assert_int_equal(
            cu_loadgen_start(&g->lg_wt, g->wt.port, loadgen_rate, loadgen_s, 2000, g->json_wt),
            0);
    }
    printf("# rig: cluster of %d nodes up in %lld ms, ready in %lld ms\n", g->r.n_nodes, up,
           rs_mono_ms() - t0);
}

void rig_round(rig *g)
{
    cu_traffic_round(&g->twb);
    cu_traffic_round(&g->twt);
    rs_sleep_ms(1); /* leave the two cores some room for the cluster */
}

void rig_drive(rig *g, int ms)
{
    long long end = rs_mono_ms() + ms;
    while (rs_mono_ms() < end)
        rig_round(g);
}

bool rig_drive_until(rig *g, rs_cond_fn cond, void *arg, int timeout_ms)
{
    long long end = rs_mono_ms() + timeout_ms, next = 0;
    while (rs_mono_ms() < end) {
        if (rs_mono_ms() >= next) {
            if (cond(arg))
                return true;
            next = rs_mono_ms() + 100;
        }
        rig_round(g);
    }
    return cond(arg);
}

void rig_print_counters(const rig *g, const rs_test_server *srv, const char *name)
{
    (void)g;
    static const char *const series[][2] = {
        {"moved", "readstates_redis_cluster_redirects_total{kind=\"moved\"}"},
        {"ask", "readstates_redis_cluster_redirects_total{kind=\"ask\"}"},
        {"tryagain", "readstates_redis_cluster_redirects_total{kind=\"tryagain\"}"},
        {"clusterdown", "readstates_redis_cluster_redirects_total{kind=\"clusterdown\"}"},
        {"noscript", "readstates_redis_cluster_redirects_total{kind=\"noscript\"}"},
        {"retries", "readstates_redis_cluster_retries_total"},
        {"loops", "readstates_redis_cluster_redirect_loops_total"},
        {"deadline_failures", "readstates_redis_cluster_deadline_failures_total"},
        {"wait_short", "readstates_redis_cluster_wait_short_failures_total"},
        {"refreshes", "readstates_redis_cluster_refreshes_total"},
        {"failovers", "readstates_redis_cluster_failovers_total"},
        {"remerged", "readstates_redis_cluster_remerged_users_total"},
        {"flush_errors", "readstates_flush_errors_total"},
    };
    printf("# %s:", name);
    for (size_t i = 0; i < RS_ARRAY_LEN(series); i++)
        printf(" %s=%g", series[i][0], rig_metric(srv, series[i][1]));
    printf("\n");
    fflush(stdout);
}

void rig_finish(rig *g)
{
    if (g->lg_wb.pid > 0) {
        int rc_wb = cu_loadgen_finish(&g->lg_wb, g->json_wb, &g->lg_sent[0], &g->lg_errors[0]);
        int rc_wt = cu_loadgen_finish(&g->lg_wt, g->json_wt, &g->lg_sent[1], &g->lg_errors[1]);
        printf("# loadgen: write-behind sent=%g errors=%g (exit %d); write-through sent=%g "
               "errors=%g (exit %d)\n",
               g->lg_sent[0], g->lg_errors[0], rc_wb, g->lg_sent[1], g->lg_errors[1], rc_wt);
        assert_int_equal(rc_wb, 0);
        assert_int_equal(rc_wt, 0);
        assert_true(g->lg_sent[0] > 0 && g->lg_sent[1] > 0);
    }
    rig_print_counters(g, &g->wb, "write-behind counters");
    rig_print_counters(g, &g->wt, "write-through counters");
    cu_traffic_print(&g->twb);
    cu_traffic_print(&g->twt);
    for (int i = 0; i < CU_MAX_CLIENTS; i++) {
        if (g->twb.c[i] != NULL)
            rs_client_close(g->twb.c[i]);
        if (g->twt.c[i] != NULL)
            rs_client_close(g->twt.c[i]);
        g->twb.c[i] = g->twt.c[i] = NULL;
    }
    assert_true(cu_server_stop_clean(&g->wb));
    assert_true(cu_server_stop_clean(&g->wt));
    assert_int_equal(cu_traffic_verify(&g->twb, &g->r, &g->vwb), 0);
    assert_int_equal(cu_traffic_verify(&g->twt, &g->r, &g->vwt), 0);
    cu_verify_print(&g->twb, &g->vwb);
    cu_verify_print(&g->twt, &g->vwt);
    assert_int_equal(g->vwb.keys, (long)g->twb.nkeys);
    assert_int_equal(g->vwt.keys, (long)g->twt.nkeys);
}

void rig_cleanup(rig *g)
{
    rs_proc_cleanup(&g->lg_wb);
    rs_proc_cleanup(&g->lg_wt);
    cu_traffic_free(&g->twb);
    cu_traffic_free(&g->twt);
    rs_test_server_cleanup(&g->wb);
    rs_test_server_cleanup(&g->wt);
    rs_test_redis_cleanup(&g->r);
    rs_tmpdir_remove(g->dir);
}
