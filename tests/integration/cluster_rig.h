/*
 * cluster_rig.h: the set-up the load tests of the Redis Cluster store
 * share (it_cluster_reshard.c, it_cluster_failover.c):
 *
 *   rs_test_redis cluster (3 primaries, optionally replicas)
 *     ├── readstated "wb"  --durability write-behind  [flags]
 *     │     ├── readstate-loadgen (background, its own users)
 *     │     └── cu_traffic "write-behind" (tracked acks, users 7000000+)
 *     └── readstated "wt"  --durability write-through [flags]
 *           ├── readstate-loadgen
 *           └── cu_traffic "write-through" (users 8000000+)
 *
 * rig_round drives one round of both tracked traffics; rig_finish waits
 * for the load generators (their errors), stops both servers with SIGTERM
 * (exit 0, unflushed_states=0) and reads every tracked key back.
 */
#ifndef RS_CLUSTER_RIG_H
#define RS_CLUSTER_RIG_H

#include "cluster_util.h"

#define RIG_USERS      200
#define RIG_CHANNELS   5
#define RIG_FLUSH_MS   200 /* write-behind --flush-interval-ms */
#define RIG_FLUSH_MS_S "200"

typedef struct rig {
    rs_test_redis r;
    rs_test_server wb, wt;
    cu_traffic twb, twt;
    rs_proc lg_wb, lg_wt;
    char dir[PATH_MAX];
    char json_wb[PATH_MAX + 16], json_wt[PATH_MAX + 16];
    double lg_sent[2], lg_errors[2];
    cu_verify vwb, vwt;
} rig;

/* Start the cluster (replicas per primary: 0 for none), both servers
 * (extra flags for each, NULL-terminated or NULL), the load generators
 * (loadgen_s seconds at loadgen_rate each; 0: none) and the tracked
 * traffic; one round of it writes every key once. */
void rig_start(rig *g, int replicas, const char *const *wb_extra, const char *const *wt_extra,
               int loadgen_rate, int loadgen_s);

/* One round of each traffic. */
void rig_round(rig *g);

/* Rounds for ms milliseconds. */
void rig_drive(rig *g, int ms);

/* Rounds until cond(arg) holds or timeout_ms passes (cond is asked every
 * 100 ms). Returns true if it held. */
bool rig_drive_until(rig *g, rs_cond_fn cond, void *arg, int timeout_ms);

/* The load generators' totals, both servers stopped clean (asserted), the
 * tracked keys verified into g->vwb and g->vwt (printed). */
void rig_finish(rig *g);

/* Print a server's cluster counters on one line. */
void rig_print_counters(const rig *g, const rs_test_server *srv, const char *name);

/* A cluster counter of a server (a series of /metrics), or -1. */
double rig_metric(const rs_test_server *srv, const char *series);

void rig_cleanup(rig *g);

#endif /* RS_CLUSTER_RIG_H */
