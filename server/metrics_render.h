/*
 * metrics_render.h: the reading side of metrics.h, for operators.
 *
 *   rs_metrics + cache/engine stats + /proc/self + allocator
 *        │                   (an rs_metrics_view: pointers, nothing owned)
 *        ├─ metrics_render_prometheus ──> GET /metrics (text format 0.0.4)
 *        └─ metrics_render_dashboard  ──> GET /dashboard.json (history ring)
 *
 *   every second: metrics_tick ──> one rs_metrics_second in m->history
 *       (p50/p99/p99.9/max per method from m->second[], then reset; the
 *        per-second rates of cache hits, misses, evictions and errors)
 *
 * Everything renders into an evbuffer; nothing here allocates per sample
 * beyond the buffer itself, and the history lives in fixed memory
 * (RS_METRICS_HISTORY slots inside rs_metrics).
 */
#ifndef RS_METRICS_RENDER_H
#define RS_METRICS_RENDER_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "engine.h"
#include "metrics.h"

/* Process figures from /proc/self. */
typedef struct rs_proc_stats {
    double cpu_seconds;   /* user + system */
    uint64_t rss_bytes;   /* resident set */
    uint64_t vsize_bytes; /* virtual memory */
    double start_time_s;  /* Unix time the process started; 0 if unknown */
    uint64_t max_fds;     /* RLIMIT_NOFILE soft limit */
    bool ok;              /* false if /proc could not be read */
} rs_proc_stats;

/* Fill *out from /proc/self. Returns 0, or -1 (out->ok false) on failure. */
int metrics_proc_read(rs_proc_stats *out);

/* Allocator figures: tcmalloc's when the server links it (RS_HAVE_TCMALLOC),
 * otherwise available is false. Chosen once, in metrics_alloc.c. */
typedef struct rs_alloc_stats {
    bool available;
    uint64_t allocated_bytes;    /* generic.current_allocated_bytes */
    uint64_t heap_bytes;         /* generic.heap_size */
    uint64_t free_bytes;         /* tcmalloc.pageheap_free_bytes */
    uint64_t unmapped_bytes;     /* tcmalloc.pageheap_unmapped_bytes */
    uint64_t thread_cache_bytes; /* tcmalloc.current_total_thread_cache_bytes */
} rs_alloc_stats;

void metrics_alloc_read(rs_alloc_stats *out);

/* The HTTP port's own traffic, by handler and status class. */
typedef enum rs_http_handler {
    RS_HTTP_HANDLER_CONNECT,   /* Connect RPC */
    RS_HTTP_HANDLER_TWIRP,     /* Twirp RPC */
    RS_HTTP_HANDLER_ENVELOPED, /* gRPC, gRPC-Web, Connect streaming (any path) */
    RS_HTTP_HANDLER_METRICS,
    RS_HTTP_HANDLER_HEALTHZ,
    RS_HTTP_HANDLER_READYZ,
    RS_HTTP_HANDLER_DASHBOARD,
    RS_HTTP_HANDLER_DASHBOARD_JSON,
    RS_HTTP_HANDLER_OTHER,
    RS_HTTP_HANDLER_MAX
} rs_http_handler;

#define RS_HTTP_CLASSES       5 /* 1xx .. 5xx */
#define RS_HTTP_STREAM_PROTOS 4 /* gRPC, gRPC-Web, gRPC-Web text, Connect streaming */

typedef struct rs_http_stats {
    uint64_t requests[RS_HTTP_HANDLER_MAX][RS_HTTP_CLASSES];
    uint64_t clients_gone; /* calls whose connection closed before the reply */
    /* the enveloped protocols (http_stream.h), by hs_proto: calls finished,
     * those with a status other than OK, streamed answers open now */
    uint64_t rpc_calls[RS_HTTP_STREAM_PROTOS];
    uint64_t rpc_errors[RS_HTTP_STREAM_PROTOS];
    uint64_t streams_open[RS_HTTP_STREAM_PROTOS];
    uint64_t streams_slow_closed; /* ended RESOURCE_EXHAUSTED: the reader was too slow */
    uint64_t cors_preflights, cors_refused; /* preflights answered 204, and 403 */
    /* the port's connections (http_conn.h), copied in before a render */
    uint64_t conns_open, conns_accepted, conns_rejected;
    uint64_t deadline_closed, idle_closed, bad_requests, accept_failures, tls_errors;
    uint64_t http2_conns; /* connections that spoke HTTP/2 */
} rs_http_stats;

/* The handler's label value ("connect", "metrics", ...). */
const char *rs_http_handler_name(rs_http_handler hd);

/* What a render reads. Any stats pointer may be NULL: its metrics are left
 * out. */
typedef struct rs_metrics_view {
    const rs_metrics *m;
    const rs_cache_stats *cache;
    uint64_t cache_max_bytes; /* the memory budget; 0 = none */
    const rs_engine_stats *engine;
    const rs_proc_stats *proc;
    const rs_alloc_stats *alloc;
    const rs_http_stats *http;
    const struct store_cluster *cluster; /* the Redis Cluster store, or NULL */
    const struct rs_fleet_stats *fleet;  /* a fleet node's ring, or NULL */
    const char *fleet_node_id;
    const struct rs_peer_stats *peers; /* its calls to other nodes */
    uint64_t forwarded_in, forwarded_out, forward_failures, misrouted_in;
    uint64_t relays_open, relayed_events;
    uint64_t tcp_accept_failures; /* accept() errors of the TCP listener */
    uint64_t inflight;            /* requests dispatched and not yet answered */
    bool ready;                   /* engine_ready() */
    bool shutting_down;           /* the server is draining */
    uint64_t now_unix_ms;
} rs_metrics_view;

/* Append the Prometheus text exposition (format 0.0.4) to out. Returns 0,
 * or -1 if the buffer could not grow. */
int metrics_render_prometheus(struct evbuffer *out, const rs_metrics_view *v);

/* Append the dashboard JSON: current figures and the history seconds newer
 * than since_unix_s (0 = all). Returns 0, or -1 if the buffer could not
 * grow. The page (dashboard.html) documents the shape it reads. */
int metrics_render_dashboard(struct evbuffer *out, const rs_metrics_view *v,
                             uint64_t since_unix_s);

/* Previous totals, so that each tick can store per-second deltas. */
typedef struct rs_metrics_ticker {
    uint64_t hits, misses, evictions, errors;
    bool primed;
} rs_metrics_ticker;

/* Close the second ending at unix_s: write one history slot from the
 * per-method histograms of the second (then reset them) and the deltas of
 * the cache and error counters. cache and engine may be NULL. */
void metrics_tick(rs_metrics *m, rs_metrics_ticker *t, uint64_t unix_s,
                  const rs_cache_stats *cache, const rs_engine_stats *engine);

/* The history slot `age` seconds back (0 = the newest), or NULL. */
const rs_metrics_second *metrics_history_at(const rs_metrics *m, uint32_t age);

#endif /* RS_METRICS_RENDER_H */
