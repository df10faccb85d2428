/*
 * cluster_util.h: helpers for the Redis Cluster tests (it_cluster_*.c) on
 * top of tests/support and persist_util:
 *
 * - tracked traffic (cu_traffic): several client connections to one
 *   readstated, each sending a pipelined round of Acks for (user, channel)
 *   keys in turn with rising message ids, and remembering, per key, the
 *   highest message id the server acknowledged with OK (and when), plus
 *   every failure by status; snapshots of those acknowledgements taken
 *   along the way tell what was acknowledged before a given moment;
 * - the check afterwards (cu_traffic_verify): every key read back straight
 *   from Redis (HGET readstates:{user} channel, routed by key) and compared
 *   with what was acknowledged;
 * - the server's CPU time (/proc/<pid>/stat), its log, labelled metrics;
 * - the real readstate-loadgen as a background process.
 *
 * Only 127.0.0.1 is used. Every wait is bounded.
 */
#ifndef RS_CLUSTER_UTIL_H
#define RS_CLUSTER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist_util.h"

#define CU_MAX_CLIENTS  8
#define CU_MAX_DEPTH    64
#define CU_SNAPSHOTS    64
#define CU_SNAPSHOT_MS  100
#define CU_RECV_TIMEOUT 5000

typedef struct cu_snapshot {
    long long ms; /* when it was taken (rs_mono_ms); 0: unused */
    uint64_t *acked;
} cu_snapshot;

typedef struct cu_traffic {
    const char *name;
    int port;
    int nclients, depth;
    rs_client *c[CU_MAX_CLIENTS];
    uint64_t user0;
    uint32_t users, channels, nkeys;
    uint64_t *acked;     /* [nkeys] highest message id answered OK */
    long long *acked_ms; /* [nkeys] when that answer came (0: never) */
    uint64_t *next_msg;  /* [nkeys] the next message id to send */
    uint32_t cursor;     /* the next key */
    cu_snapshot snaps[CU_SNAPSHOTS];
    int snap_next;
    /* cu_traffic_mark: what was acknowledged before the window, and at its end */
    uint64_t *floor, *mark;
    long long floor_ms, mark_ms;
    /* counts */
    uint64_t sent, ok, unavailable, other_errors, transport, reconnects;
    long long first_error_ms, last_error_ms; /* of any failure (0: none) */
    char first_error[512];
} cu_traffic;

/* Connect nclients clients to 127.0.0.1:port; keys are users user0 ..
 * user0 + users - 1 times channels 1..channels; depth acks per client per
 * round. Returns 0 or -1. */
int cu_traffic_init(cu_traffic *t, const char *name, int port, int nclients, int depth,
                    uint64_t user0, uint32_t users, uint32_t channels);

/* One round: each client sends `depth` Acks (the next keys in turn), then
 * every answer is awaited (bounded); a client whose connection failed is
 * reconnected. Returns the number answered OK in this round. */
int cu_traffic_round(cu_traffic *t);

/* Failures since the start. */
uint64_t cu_traffic_failures(const cu_traffic *t);

/* Print the counts on one "# ..." line. */
void cu_traffic_print(const cu_traffic *t);

/* Ack every key once more with one blocking call each, retrying each key
 * until OK or until deadline_ms (mono) passes. Returns the number of keys
 * that never got an OK (0: every user writes again). */
long cu_traffic_all_ok(cu_traffic *t, long long deadline_ms);

/*
 * Mark the end of a loss window now (e.g. right after a kill -9 of a
 * primary) that began window_ms earlier: keeps what had been acknowledged
 * by then (the last snapshot taken at or before now - window_ms: the
 * floor) and what has been acknowledged by now (the mark). Returns 0, or -1
 * if no snapshot is old enough (then the floor is all zero).
 */
int cu_traffic_mark(cu_traffic *t, long long window_ms);

typedef struct cu_verify {
    long keys;           /* keys with an acknowledgement */
    long lost;           /* stored last_message_id < acknowledged (a missing field too) */
    long missing;        /* no field at all (counted in lost) */
    long lost_in_window; /* lost, acknowledged last in the window, the floor kept */
    long window_keys;    /* keys whose acknowledgement rose in the window */
    long lost_before;    /* stored below the floor: lost from before the window */
    long lost_after;     /* acknowledged again after the mark and still lost */
    uint64_t worst_gap;  /* the largest acknowledged - stored */
} cu_verify;

/*
 * Read every acknowledged key back from Redis (HGETALL per user, routed)
 * and compare with what was acknowledged; with a mark, lost keys are
 * split as above. Up to 5 lost keys are printed. Returns 0, or -1 if Redis
 * could not be read.
 */
int cu_traffic_verify(const cu_traffic *t, const rs_test_redis *r, cu_verify *out);

/* One "# ..." line of a verify result. */
void cu_verify_print(const cu_traffic *t, const cu_verify *v);

void cu_traffic_free(cu_traffic *t);

/* The user / channel of key k. */
uint64_t cu_key_user(const cu_traffic *t, uint32_t k);
uint64_t cu_key_channel(const cu_traffic *t, uint32_t k);

/* CPU seconds (user + system) the process has used so far, or -1. */
double cu_cpu_seconds(int pid);

/* How many lines of the server's stderr contain every one of the given
 * strings (NULL-terminated). -1 if the log cannot be read. */
long cu_log_count(const rs_test_server *srv, ...);

/* Start readstate-loadgen against 127.0.0.1:port for duration_s at rate
 * requests/s (acks and gets of users 1..users), results in json_path.
 * Returns 0 or -1. */
int cu_loadgen_start(rs_proc *p, int port, int rate, int duration_s, int users,
                     const char *json_path);

/* Wait for it (bounded), then read totals.sent / totals.errors from its
 * JSON. Returns its exit code (0 expected) or -1. */
int cu_loadgen_finish(rs_proc *p, const char *json_path, double *sent, double *errors);

/* Stop a readstated with SIGTERM; true when it exited 0 and its log says
 * unflushed_states=0. */
bool cu_server_stop_clean(rs_test_server *srv);

#endif /* RS_CLUSTER_UTIL_H */
