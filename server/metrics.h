/*
 * metrics.h: the server's request and connection metrics.
 *
 * Recording is a few increments on the hot path; rendering (Prometheus text,
 * the dashboard's JSON and its per-second history) reads the same struct.
 *
 *   request done ──metrics_record(method, status, latency)──> counters,
 *       Prometheus buckets (1 us .. 10 s, 1-2-5 per decade), and the
 *       current second's rs_hist
 *   every second ──metrics_tick──> the history ring keeps p50/p99/p99.9 per
 *       method and the rates for the last RS_METRICS_HISTORY seconds
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>

#include "methods.h" /* rs_method: the metric slot of each row */
#include "rs_common.h"
#include "rs_hist.h"

/* Prometheus bucket upper bounds in seconds: 1, 2, 5 per decade from 1 us
 * to 10 s (then +Inf). */
#define RS_METRICS_NBUCKETS 22
extern const double rs_metrics_bucket_bounds[RS_METRICS_NBUCKETS];

/* Status codes tracked per method: index by rs_status value (0..16). */
#define RS_METRICS_NCODES 17

#define RS_METRICS_HISTORY 600 /* seconds of per-second history */

typedef struct rs_method_metrics {
    uint64_t by_code[RS_METRICS_NCODES];
    uint64_t buckets[RS_METRICS_NBUCKETS + 1]; /* last = +Inf, non-cumulative */
    uint64_t count;
    double sum_seconds;
} rs_method_metrics;

typedef struct rs_metrics_second {
    uint64_t unix_s;
    uint32_t p50_us[RS_METHOD_MAX];
    uint32_t p99_us[RS_METHOD_MAX];
    uint32_t p999_us[RS_METHOD_MAX];
    uint32_t max_us[RS_METHOD_MAX];
    uint32_t requests[RS_METHOD_MAX];
    uint32_t errors;
    uint32_t hits;
    uint32_t misses;
    uint32_t evictions;
    uint32_t dirty_users;
    uint8_t redis_up;
} rs_metrics_second;

typedef struct rs_metrics {
    rs_method_metrics method[RS_METHOD_MAX];
    uint64_t conns_open;
    uint64_t conns_accepted;
    uint64_t conns_rejected;        /* over the connection limit */
    uint64_t conns_protocol_errors; /* closed for a malformed frame */
    uint64_t conns_slow_closed;     /* output buffer over its limit */
    uint64_t conns_idle_closed;
    uint64_t tls_errors; /* TCP connections closed on a TLS handshake or record error */
    uint64_t watchers;   /* open watches (connection, user) */
    uint64_t events_sent;
    /* Calls refused for want of a valid token (auth.h), by transport: on
     * TCP every call before a good Auth and every wrong token; on HTTP
     * every 401. */
    uint64_t auth_failures_tcp;
    uint64_t auth_failures_http;
    uint64_t tcp_calls;   /* requests read on the framed TCP port (for the protocol split) */
    uint64_t auth_closed; /* TCP connections closed after too many failures */
    /* The current second, per method (for the history's percentiles). */
    rs_hist *second[RS_METHOD_MAX];
    /* The history ring. */
    rs_metrics_second history[RS_METRICS_HISTORY];
    uint32_t history_head; /* next slot to write */
    uint32_t history_len;
    /* The bucket lookup, from rs_metrics_bucket_bounds (metrics_init): the
     * bounds in ns (the last UINT64_MAX, for +Inf), and by the bit length
     * of a latency in ns the first bucket that can hold it. Bounds at
     * least 2x apart put a latency in that bucket or the next. */
    uint64_t bucket_ns[RS_METRICS_NBUCKETS + 1];
    uint8_t bucket_by_bits[65];
} rs_metrics;

/* Allocate the per-second histograms. Returns 0, or -1 on out of memory. */
int metrics_init(rs_metrics *m);
void metrics_destroy(rs_metrics *m);
/* Count one finished request. */
void metrics_record(rs_metrics *m, rs_method method, rs_status st, uint64_t latency_ns);

#endif /* RS_METRICS_H */
