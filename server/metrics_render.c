/*
 * metrics_render.c: Prometheus text, the dashboard's JSON and the
 * per-second history (see metrics_render.h).
 *
 * History ring (inside rs_metrics, fixed memory):
 *
 *   history[0 .. RS_METRICS_HISTORY)   head = next slot to write
 *   [ s-3 | s-2 | s-1 | (head) ... oldest ... ]   len = slots in use
 *
 * Invariants
 * - history_len <= RS_METRICS_HISTORY; the newest slot is head - 1.
 * - Prometheus buckets are stored non-cumulative in rs_method_metrics and
 *   rendered cumulative; the +Inf bucket equals _count.
 * - Names follow Prometheus rules: base units (seconds, bytes), counters end
 *   in _total, every family has one HELP and one TYPE line.
 */
#include "metrics_render.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fleet.h"
#include "peer.h"
#include "store_cluster.h"

/* ---- Prometheus -------------------------------------------------------- */

typedef struct pm_out {
    struct evbuffer *buf;
    int err;
} pm_out;

static void pm_printf(pm_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pm_printf(pm_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (evbuffer_add_vprintf(o->buf, fmt, ap) < 0)
        o->err = -1;
    va_end(ap);
}

static void pm_family(pm_out *o, const char *name, const char *type, const char *help)
{
    pm_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void pm_u64(pm_out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    pm_family(o, name, type, help);
    pm_printf(o, "%s %" PRIu64 "\n", name, v);
}

static void pm_f64(pm_out *o, const char *name, const char *type, const char *help, double v)
{
    pm_family(o, name, type, help);
    pm_printf(o, "%s %.17g\n", name, v);
}

static void pm_requests(pm_out *o, const rs_metrics *m)
{
    pm_family(o, "readstates_request_duration_seconds", "histogram",
              "Time from reading a request to writing its response, by method.");
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        const rs_method_metrics *mm = &m->method[i];
        const char *name = rs_method_name((rs_method)i);
        uint64_t cum = 0;
        for (int b = 0; b < RS_METRICS_NBUCKETS; b++) {
            cum += mm->buckets[b];
            pm_printf(o,
                      "readstates_request_duration_seconds_bucket{method=\"%s\",le=\"%g\"} "
                      "%" PRIu64 "\n",
                      name, rs_metrics_bucket_bounds[b], cum);
        }
        cum += mm->buckets[RS_METRICS_NBUCKETS];
        pm_printf(o,
                  "readstates_request_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} "
                  "%" PRIu64 "\n",
                  name, cum);
        pm_printf(o, "readstates_request_duration_seconds_sum{method=\"%s\"} %.17g\n", name,
                  mm->sum_seconds);
        pm_printf(o, "readstates_request_duration_seconds_count{method=\"%s\"} %" PRIu64 "\n",
                  name, cum);
    }
    pm_family(o, "readstates_requests_total", "counter",
              "Requests answered, by method and status code.");
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        const rs_method_metrics *mm = &m->method[i];
        for (int c = 0; c < RS_METRICS_NCODES; c++) {
            if (c != RS_OK && mm->by_code[c] == 0)
                continue;
            pm_printf(o, "readstates_requests_total{method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                      rs_method_name((rs_method)i), rs_status_rpc_name((rs_status)c),
                      mm->by_code[c]);
        }
    }
}

static void pm_connections(pm_out *o, const rs_metrics *m)
{
    pm_u64(o, "readstates_connections_open", "gauge", "Open client connections.",
           m->conns_open);
    pm_u64(o, "readstates_connections_accepted_total", "counter",
           "Client connections accepted.", m->conns_accepted);
    pm_u64(o, "readstates_connections_rejected_total", "counter",
           "Connections closed at once because the connection limit was reached.",
           m->conns_rejected);
    pm_u64(o, "readstates_connections_protocol_errors_total", "counter",
           "Connections closed for a malformed frame.", m->conns_protocol_errors);
    pm_u64(o, "readstates_connections_slow_closed_total", "counter",
           "Connections closed because their output buffer passed its limit.",
           m->conns_slow_closed);
    pm_u64(o, "readstates_connections_idle_closed_total", "counter",
           "Connections closed by the idle timeout.", m->conns_idle_closed);
    pm_u64(o, "readstates_tls_errors_total", "counter",
           "TCP connections closed on a TLS handshake or record error.", m->tls_errors);
    pm_u64(o, "readstates_watches_open", "gauge", "Open watches (connection, user).",
           m->watchers);
    pm_u64(o, "readstates_watch_events_sent_total", "counter", "Watch events sent.",
           m->events_sent);
    pm_family(o, "readstates_auth_failures_total", "counter",
              "Calls refused for want of a valid token, by transport (TCP: calls before a "
              "good Auth and wrong tokens; HTTP: 401 answers).");
    pm_printf(o, "readstates_auth_failures_total{transport=\"tcp\"} %" PRIu64 "\n",
              m->auth_failures_tcp);
    pm_printf(o, "readstates_auth_failures_total{transport=\"http\"} %" PRIu64 "\n",
              m->auth_failures_http);
    pm_u64(o, "readstates_auth_closed_total", "counter",
           "TCP connections closed after too many failed authentications.", m->auth_closed);
}

static void pm_cache(pm_out *o, const rs_cache_stats *c, uint64_t max_bytes)
{
    pm_u64(o, "readstates_cache_users", "gauge", "Users held in the cache.", c->users);
    pm_u64(o, "readstates_cache_states", "gauge", "Read states held in the cache.", c->states);
    pm_u64(o, "readstates_cache_bytes", "gauge", "Bytes accounted to the cache.", c->bytes);
    pm_u64(o, "readstates_cache_max_bytes", "gauge", "The cache's memory budget (0 = none).",
           max_bytes);
    pm_u64(o, "readstates_cache_hits_total", "counter", "Cache lookups that found the user.",
           c->hits);
    pm_u64(o, "readstates_cache_misses_total", "counter",
           "Cache lookups that did not find the user.", c->misses);
    pm_u64(o, "readstates_cache_evictions_total", "counter", "Users evicted from the cache.",
           c->evictions);
    pm_u64(o, "readstates_cache_evicted_states_total", "counter",
           "Read states dropped with evicted users.", c->evicted_states);
}

static void pm_engine(pm_out *o, const rs_engine_stats *e)
{
    pm_u64(o, "readstates_dirty_users", "gauge", "Users with changes not yet in Redis.",
           e->dirty_users);
    pm_u64(o, "readstates_dirty_bytes", "gauge",
           "Bytes of users with changes not yet in Redis.", e->dirty_bytes);
    pm_u64(o, "readstates_flush_batches_total", "counter", "Pipelined flush batches sent.",
           e->flush_batches);
    pm_u64(o, "readstates_flushed_states_total", "counter", "Read states flushed to Redis.",
           e->flushed_states);
    pm_u64(o, "readstates_flush_users_total", "counter",
           "Users sent to Redis in merge calls (up to --flush-users-per-call per EVALSHA).",
           e->flush_users);
    pm_u64(o, "readstates_flush_errors_total", "counter",
           "Users whose merge failed (they stay dirty and are retried).", e->flush_errors);
    pm_family(o, "readstates_flush_duration_seconds", "summary",
              "Time from sending a flush batch to Redis acknowledging it.");
    pm_printf(o, "readstates_flush_duration_seconds_sum %.17g\n",
              (double)e->flush_latency_ns_sum / 1e9);
    pm_printf(o, "readstates_flush_duration_seconds_count %" PRIu64 "\n", e->flush_batches);
    pm_u64(o, "readstates_redis_loads_total", "counter", "Users loaded from Redis.", e->loads);
    pm_u64(o, "readstates_redis_loads_in_flight", "gauge", "Loads from Redis in flight.",
           e->loads_in_flight);
    pm_u64(o, "readstates_redis_load_errors_total", "counter", "Loads from Redis that failed.",
           e->load_errors);
    pm_u64(o, "readstates_stored_invalid_total", "counter",
           "Loads and merges refused because the user's stored hash in Redis is invalid "
           "(not canonical, out of range, too many fields, not a hash).",
           e->stored_invalid);
    pm_u64(o, "readstates_redis_errors_total", "counter", "Errors talking to Redis.",
           e->redis_errors);
    pm_u64(o, "readstates_redis_reconnects_total", "counter", "Reconnections to Redis.",
           e->reconnects);
    pm_u64(o, "readstates_redis_configured", "gauge", "1 if a Redis store is configured.",
           e->redis_configured ? 1 : 0);
    pm_u64(o, "readstates_redis_up", "gauge",
           "1 while the Redis connection is up (a cluster: the slot table is known and a "
           "primary is up).",
           e->redis_up ? 1 : 0);
    pm_u64(o, "readstates_redis_remerged_users_total", "counter",
           "Users merged again because their Redis primary failed over.", e->remerged_users);
    pm_u64(o, "readstates_fleet_fenced_loads_total", "counter",
           "Loads refused: a node with a newer ring generation owns the user.",
           e->fenced_loads);
    pm_u64(o, "readstates_fleet_fenced_users_total", "counter",
           "Users dropped: a node with a newer ring generation claimed them.", e->fenced_users);
    pm_u64(o, "readstates_fleet_ring_dropped_total", "counter",
           "Cached users let go because their slot changed owner in the ring.",
           e->ring_dropped);
    pm_u64(o, "readstates_fleet_ring_sweeps_finished_early_total", "counter",
           "Ring changes that came while the walk after the previous one still ran, which then "
           "finished at once on the loop.",
           e->ring_sweeps_finished_early);
    pm_u64(o, "readstates_fleet_fenced_states_total", "counter",
           "Unflushed states dropped with those users (writes that did not land).",
           e->fenced_states);
}

/* The Redis Cluster store: redirections, retries, the slot table, slot
 * groups per merge call, and each node. */
static void pm_cluster(pm_out *o, const struct store_cluster *c)
{
    store_cluster_stats st;
    store_cluster_get_stats(c, &st);
    pm_family(o, "readstates_redis_cluster_redirects_total", "counter",
              "Redirections and transient errors from the cluster, by kind.");
    pm_printf(o, "readstates_redis_cluster_redirects_total{kind=\"moved\"} %" PRIu64 "\n",
              st.moved);
    pm_printf(o, "readstates_redis_cluster_redirects_total{kind=\"ask\"} %" PRIu64 "\n",
              st.ask);
    pm_printf(o, "readstates_redis_cluster_redirects_total{kind=\"tryagain\"} %" PRIu64 "\n",
              st.tryagain);
    pm_printf(o, "readstates_redis_cluster_redirects_total{kind=\"clusterdown\"} %" PRIu64 "\n",
              st.clusterdown);
    pm_printf(o, "readstates_redis_cluster_redirects_total{kind=\"noscript\"} %" PRIu64 "\n",
              st.noscript);
    pm_u64(o, "readstates_redis_cluster_retries_total", "counter",
           "Commands sent again (after a redirection, a backoff or a parked wait).",
           st.retries);
    pm_u64(o, "readstates_redis_cluster_redirect_loops_total", "counter",
           "Requests failed after 5 redirections (a cluster that keeps redirecting).",
           st.redirect_caps);
    pm_u64(o, "readstates_redis_cluster_deadline_failures_total", "counter",
           "Requests failed at --redis-timeout-ms without a reachable primary.",
           st.deadline_fails);
    pm_u64(o, "readstates_redis_cluster_wait_short_failures_total", "counter",
           "Merges failed at once because their primary lacked the replicas "
           "--redis-wait-replicas asks for (retried after 1 s).",
           st.wait_short_fails);
    pm_u64(o, "readstates_redis_cluster_unreachable_failures_total", "counter",
           "Merges failed at once because their slot's primary is unreachable (retried).",
           st.unreachable_fails);
    pm_u64(o, "readstates_redis_cluster_refreshes_total", "counter",
           "Slot table refreshes (CLUSTER SLOTS) that succeeded.", st.refreshes);
    pm_u64(o, "readstates_redis_cluster_refresh_errors_total", "counter",
           "Slot table refreshes that failed.", st.refresh_errors);
    pm_f64(o, "readstates_redis_cluster_table_age_seconds", "gauge",
           "Time since the last successful slot table refresh.",
           (double)st.table_age_ms / 1000.0);
    pm_u64(o, "readstates_redis_cluster_slots_covered", "gauge",
           "Slots with a primary in the table.", st.slots_covered);
    pm_u64(o, "readstates_redis_cluster_slots_unreachable", "gauge",
           "Slots without a primary that is up (/readyz lists them).", st.slots_unreachable);
    pm_u64(o, "readstates_redis_cluster_parked", "gauge",
           "Requests waiting for their slot's primary.", st.parked);
    pm_u64(o, "readstates_redis_cluster_failovers_total", "counter",
           "Primaries seen losing their slots while down or demoted.", st.failovers);
    pm_u64(o, "readstates_redis_cluster_remerged_users_total", "counter",
           "Users handed back for a second merge after their primary failed over.",
           st.remerged_users);
    pm_u64(o, "readstates_redis_cluster_merge_calls_total", "counter",
           "Merge calls (EVALSHA) sent: one per hash slot of a flush call.", st.merge_calls);
    pm_u64(o, "readstates_redis_cluster_merge_call_users_total", "counter",
           "Users in those merge calls.", st.merge_call_users);
    static const char *const groups[4] = {"1", "2-4", "5-16", "17+"};
    pm_family(o, "readstates_redis_cluster_merge_calls_by_group_total", "counter",
              "Merge calls by how many users of one slot they carried.");
    for (int i = 0; i < 4; i++)
        pm_printf(o,
                  "readstates_redis_cluster_merge_calls_by_group_total{users=\"%s\"} %" PRIu64
                  "\n",
                  groups[i], st.group_calls[i]);
    size_t n = store_cluster_node_count(c);
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"readstates_redis_node_up", "gauge", "1 while the connection to the node is up."},
        {"readstates_redis_node_slots", "gauge", "Slots the node serves in the table."},
        {"readstates_redis_node_pending", "gauge", "Commands sent to the node, not answered."},
        {"readstates_redis_node_replies_total", "counter", "Replies from the node."},
        {"readstates_redis_node_latency_seconds_total", "counter",
         "Summed time from send to reply (divide by replies for the mean)."},
        {"readstates_redis_node_errors_total", "counter",
         "Error replies, dropped connections and timeouts."},
        {"readstates_redis_node_moved_to_total", "counter", "MOVED redirections to the node."},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        pm_family(o, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < n; i++) {
            store_cluster_node nd;
            store_cluster_node_at(c, i, &nd);
            pm_printf(o, "%s{node=\"%s\"} ", fam[f].name, nd.addr);
            switch (f) {
            case 0: pm_printf(o, "%d\n", nd.up ? 1 : 0); break;
            case 1: pm_printf(o, "%u\n", nd.slots); break;
            case 2: pm_printf(o, "%zu\n", nd.pending); break;
            case 3: pm_printf(o, "%" PRIu64 "\n", nd.replies); break;
            case 4: pm_printf(o, "%.9f\n", (double)nd.latency_ns / 1e9); break;
            case 5: pm_printf(o, "%" PRIu64 "\n", nd.errors); break;
            default: pm_printf(o, "%" PRIu64 "\n", nd.moved_to); break;
            }
        }
    }
}

/* A fleet node: its ring and its calls to and from other nodes. */
static void pm_fleet(pm_out *o, const rs_metrics_view *v)
{
    const rs_fleet_stats *f = v->fleet;
    pm_u64(o, "readstates_fleet_generation", "gauge",
           "Generation of the ring in use (0: none).", f->generation);
    pm_u64(o, "readstates_fleet_owned_slots", "gauge", "Slots this node owns.", f->owned_slots);
    pm_u64(o, "readstates_fleet_nodes", "gauge", "Nodes in the ring.", f->nodes);
    pm_u64(o, "readstates_fleet_in_ring", "gauge", "1 when this node's id is in the ring.",
           f->in_ring ? 1 : 0);
    pm_u64(o, "readstates_fleet_ring_reads_total", "counter", "Ring reads answered.",
           f->ring_reads);
    pm_u64(o, "readstates_fleet_ring_errors_total", "counter",
           "Ring reads that failed, and rings refused.", f->ring_errors);
    pm_u64(o, "readstates_fleet_ring_changes_total", "counter", "Ring generations taken.",
           f->ring_changes);
    pm_family(o, "readstates_fleet_forwarded_total", "counter",
              "Calls forwarded: out (to their owner), in (from other nodes).");
    pm_printf(o, "readstates_fleet_forwarded_total{direction=\"out\"} %" PRIu64 "\n",
              v->forwarded_out);
    pm_printf(o, "readstates_fleet_forwarded_total{direction=\"in\"} %" PRIu64 "\n",
              v->forwarded_in);
    pm_u64(o, "readstates_fleet_forward_failures_total", "counter",
           "Forwarded calls their owner did not answer (UNAVAILABLE).", v->forward_failures);
    pm_u64(o, "readstates_fleet_misrouted_total", "counter",
           "Calls forwarded here for users another node owns (rings differed).",
           v->misrouted_in);
    pm_u64(o, "readstates_fleet_watch_relays", "gauge",
           "Watches of users other nodes own, relayed from their owners.", v->relays_open);
    pm_u64(o, "readstates_fleet_relayed_events_total", "counter",
           "Watch events relayed from other nodes.", v->relayed_events);
    if (v->peers != NULL) {
        pm_u64(o, "readstates_fleet_peer_connects_total", "counter",
               "Connections opened to other nodes.", v->peers->connects);
        pm_u64(o, "readstates_fleet_peer_timeouts_total", "counter",
               "Calls to other nodes that timed out.", v->peers->timeouts);
        pm_u64(o, "readstates_fleet_peer_pending", "gauge", "Calls to other nodes in flight.",
               v->peers->pending);
    }
}

static void pm_process(pm_out *o, const rs_proc_stats *p)
{
    pm_f64(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent.",
           p->cpu_seconds);
    pm_u64(o, "process_resident_memory_bytes", "gauge", "Resident memory size.", p->rss_bytes);
    pm_u64(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size.", p->vsize_bytes);
    if (p->start_time_s > 0)
        pm_f64(o, "process_start_time_seconds", "gauge",
               "Start time of the process since the Unix epoch.", p->start_time_s);
    pm_u64(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           p->max_fds);
}

static void pm_alloc(pm_out *o, const rs_alloc_stats *a)
{
    pm_u64(o, "readstates_allocator_allocated_bytes", "gauge",
           "Bytes in use by the application (tcmalloc).", a->allocated_bytes);
    pm_u64(o, "readstates_allocator_heap_bytes", "gauge",
           "Bytes reserved by the allocator (tcmalloc heap size).", a->heap_bytes);
    pm_u64(o, "readstates_allocator_free_bytes", "gauge",
           "Free, mapped bytes in the allocator's page heap.", a->free_bytes);
    pm_u64(o, "readstates_allocator_unmapped_bytes", "gauge",
           "Free bytes released to the operating system.", a->unmapped_bytes);
    pm_u64(o, "readstates_allocator_thread_cache_bytes", "gauge",
           "Bytes in the allocator's thread caches.", a->thread_cache_bytes);
}

const char *rs_http_handler_name(rs_http_handler hd)
{
    static const char *const names[RS_HTTP_HANDLER_MAX] = {
        "connect", "twirp",     "enveloped_rpc",  "metrics", "healthz",
        "readyz",  "dashboard", "dashboard_json", "other",
    };
    return (unsigned)hd < RS_HTTP_HANDLER_MAX ? names[hd] : "other";
}

static void pm_http(pm_out *o, const rs_http_stats *h)
{
    pm_family(o, "readstates_http_requests_total", "counter",
              "Responses of the HTTP port, by handler and status class.");
    for (int i = 0; i < RS_HTTP_HANDLER_MAX; i++)
        for (int c = 0; c < RS_HTTP_CLASSES; c++) {
            if (c != 1 && h->requests[i][c] == 0) /* 2xx always, others once seen */
                continue;
            pm_printf(
                o, "readstates_http_requests_total{handler=\"%s\",code=\"%dxx\"} %" PRIu64 "\n",
                rs_http_handler_name((rs_http_handler)i), c + 1, h->requests[i][c]);
        }
    pm_u64(o, "readstates_http_clients_gone_total", "counter",
           "HTTP calls whose connection closed before their reply.", h->clients_gone);
    pm_u64(o, "readstates_http_connections_open", "gauge", "Open HTTP connections.",
           h->conns_open);
    pm_u64(o, "readstates_http_connections_accepted_total", "counter",
           "HTTP connections accepted.", h->conns_accepted);
    pm_u64(o, "readstates_http_connections_rejected_total", "counter",
           "HTTP connections refused over --http-max-connections (503).", h->conns_rejected);
    pm_u64(o, "readstates_http_deadline_closed_total", "counter",
           "HTTP connections closed at the request deadline (408).", h->deadline_closed);
    pm_u64(o, "readstates_http_idle_closed_total", "counter",
           "HTTP connections closed idle, or not reading their reply.", h->idle_closed);
    pm_u64(o, "readstates_http_bad_requests_total", "counter",
           "HTTP requests refused by the parser (4xx/5xx, then closed).", h->bad_requests);
    pm_u64(o, "readstates_http_tls_errors_total", "counter",
           "HTTP connections closed on a TLS handshake or record error.", h->tls_errors);
    pm_u64(o, "readstates_http2_connections_total", "counter",
           "HTTP connections that spoke HTTP/2 (h2c prior knowledge, or h2 by ALPN).",
           h->http2_conns);
    static const char *const protos[RS_HTTP_STREAM_PROTOS] = {
        "grpc", "grpc_web", "grpc_web_text", "connect_stream"};
    pm_family(o, "readstates_http_streams_open", "gauge",
              "Streamed answers open now (Watch, health Watch, reflection), by protocol.");
    for (int i = 0; i < RS_HTTP_STREAM_PROTOS; i++)
        pm_printf(o, "readstates_http_streams_open{protocol=\"%s\"} %" PRIu64 "\n", protos[i],
                  h->streams_open[i]);
    pm_family(o, "readstates_http_enveloped_errors_total", "counter",
              "gRPC, gRPC-Web and Connect streaming calls that ended with a status other than "
              "OK, by protocol.");
    for (int i = 0; i < RS_HTTP_STREAM_PROTOS; i++)
        pm_printf(o, "readstates_http_enveloped_errors_total{protocol=\"%s\"} %" PRIu64 "\n",
                  protos[i], h->rpc_errors[i]);
    pm_u64(o, "readstates_http_streams_slow_closed_total", "counter",
           "Streams ended RESOURCE_EXHAUSTED: the reader fell --max-output bytes behind.",
           h->streams_slow_closed);
    pm_u64(o, "readstates_http_cors_preflights_total", "counter",
           "CORS preflights answered for an allowed origin (--http-cors-origin).",
           h->cors_preflights);
    pm_u64(o, "readstates_http_cors_refused_total", "counter",
           "CORS preflights refused (403): the origin is not allowed.", h->cors_refused);
}

/* Calls by protocol: the framed TCP port's, and the HTTP port's by how
 * they came (Connect and Twirp unary, gRPC, gRPC-Web, Connect streaming). */
static void pm_protocols(pm_out *o, const rs_metrics *m, const rs_http_stats *h)
{
    pm_family(o, "readstates_rpc_calls_total", "counter",
              "RPC calls by protocol (framed TCP, Connect, Twirp, gRPC, gRPC-Web, gRPC-Web "
              "text, Connect streaming).");
    pm_printf(o, "readstates_rpc_calls_total{protocol=\"tcp\"} %" PRIu64 "\n", m->tcp_calls);
    if (h == NULL)
        return;
    static const struct {
        const char *name;
        rs_http_handler hd;
    } unary[] = {{"connect", RS_HTTP_HANDLER_CONNECT}, {"twirp", RS_HTTP_HANDLER_TWIRP}};
    for (size_t i = 0; i < RS_ARRAY_LEN(unary); i++) {
        uint64_t n = 0;
        for (int c = 0; c < RS_HTTP_CLASSES; c++)
            n += h->requests[unary[i].hd][c];
        pm_printf(o, "readstates_rpc_calls_total{protocol=\"%s\"} %" PRIu64 "\n", unary[i].name,
                  n);
    }
    static const char *const protos[RS_HTTP_STREAM_PROTOS] = {
        "grpc", "grpc_web", "grpc_web_text", "connect_stream"};
    for (int i = 0; i < RS_HTTP_STREAM_PROTOS; i++)
        pm_printf(o, "readstates_rpc_calls_total{protocol=\"%s\"} %" PRIu64 "\n", protos[i],
                  h->rpc_calls[i]);
}

int metrics_render_prometheus(struct evbuffer *out, const rs_metrics_view *v)
{
    pm_out o = {out, 0};
    pm_family(&o, "readstates_build_info", "gauge", "Build information; always 1.");
    pm_printf(&o, "readstates_build_info{version=\"%s\"} 1\n", RS_VERSION_STRING);
    pm_u64(&o, "readstates_ready", "gauge", "1 when ready for traffic (as /readyz).",
           v->ready && !v->shutting_down ? 1 : 0);
    pm_u64(&o, "readstates_shutting_down", "gauge", "1 while the server drains.",
           v->shutting_down ? 1 : 0);
    pm_u64(&o, "readstates_requests_in_flight", "gauge",
           "Requests dispatched and not yet answered (all transports).", v->inflight);
    pm_requests(&o, v->m);
    pm_connections(&o, v->m);
    pm_family(&o, "readstates_accept_failures_total", "counter",
              "accept() errors (EMFILE and co.); the listener pauses 100 ms on each.");
    pm_printf(&o, "readstates_accept_failures_total{listener=\"tcp\"} %" PRIu64 "\n",
              v->tcp_accept_failures);
    if (v->http != NULL)
        pm_printf(&o, "readstates_accept_failures_total{listener=\"http\"} %" PRIu64 "\n",
                  v->http->accept_failures);
    if (v->cache != NULL)
        pm_cache(&o, v->cache, v->cache_max_bytes);
    if (v->engine != NULL)
        pm_engine(&o, v->engine);
    if (v->cluster != NULL)
        pm_cluster(&o, v->cluster);
    if (v->fleet != NULL)
        pm_fleet(&o, v);
    if (v->http != NULL)
        pm_http(&o, v->http);
    pm_protocols(&o, v->m, v->http);
    if (v->alloc != NULL && v->alloc->available)
        pm_alloc(&o, v->alloc);
    if (v->proc != NULL && v->proc->ok)
        pm_process(&o, v->proc);
    return o.err;
}

/* ---- per-second history ------------------------------------------------- */

const rs_metrics_second *metrics_history_at(const rs_metrics *m, uint32_t age)
{
    if (age >= m->history_len)
        return NULL;
    uint32_t idx = (m->history_head + RS_METRICS_HISTORY - 1 - age) % RS_METRICS_HISTORY;
    return &m->history[idx];
}

static uint32_t clamp_u32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Nanoseconds to microseconds, rounding up so any recorded value shows. */
static uint32_t ns_to_us(uint64_t ns)
{
    return clamp_u32((ns + 999) / 1000);
}

static uint64_t errors_total(const rs_metrics *m)
{
    uint64_t n = 0;
    for (int i = 0; i < RS_METHOD_MAX; i++)
        for (int c = 1; c < RS_METRICS_NCODES; c++)
            n += m->method[i].by_code[c];
    return n;
}

static uint32_t delta(uint64_t now, uint64_t *prev, bool primed)
{
    uint64_t d = primed && now >= *prev ? now - *prev : 0;
    *prev = now;
    return clamp_u32(d);
}

void metrics_tick(rs_metrics *m, rs_metrics_ticker *t, uint64_t unix_s,
                  const rs_cache_stats *cache, const rs_engine_stats *engine)
{
    rs_metrics_second *s = &m->history[m->history_head];
    memset(s, 0, sizeof(*s));
    s->unix_s = unix_s;
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        rs_hist *h = m->second[i];
        if (h == NULL || h->total == 0)
            continue;
        s->p50_us[i] = ns_to_us(rs_hist_percentile(h, 50.0));
        s->p99_us[i] = ns_to_us(rs_hist_percentile(h, 99.0));
        s->p999_us[i] = ns_to_us(rs_hist_percentile(h, 99.9));
        s->max_us[i] = ns_to_us(h->max);
        s->requests[i] = clamp_u32(h->total);
        rs_hist_reset(h);
    }
    s->errors = delta(errors_total(m), &t->errors, t->primed);
    if (cache != NULL) {
        s->hits = delta(cache->hits, &t->hits, t->primed);
        s->misses = delta(cache->misses, &t->misses, t->primed);
        s->evictions = delta(cache->evictions, &t->evictions, t->primed);
    }
    if (engine != NULL) {
        s->dirty_users = clamp_u32(engine->dirty_users);
        s->redis_up = engine->redis_configured ? (engine->redis_up ? 1 : 0) : 1;
    } else {
        s->redis_up = 1;
    }
    t->primed = true;
    m->history_head = (m->history_head + 1) % RS_METRICS_HISTORY;
    if (m->history_len < RS_METRICS_HISTORY)
        m->history_len++;
}

/* ---- dashboard JSON ------------------------------------------------------ */

typedef struct dash_range {
    const rs_metrics *m;
    uint32_t n; /* slots to emit, oldest first: ages n-1 .. 0 */
} dash_range;

/* One JSON array of the uint32 at byte offset `off` in each emitted slot. */
static void dash_series(pm_out *o, const dash_range *r, size_t off)
{
    pm_printf(o, "[");
    for (uint32_t k = 0; k < r->n; k++) {
        const rs_metrics_second *s = metrics_history_at(r->m, r->n - 1 - k);
        uint32_t v;
        memcpy(&v, (const char *)s + off, sizeof(v));
        pm_printf(o, k ? ",%" PRIu32 : "%" PRIu32, v);
    }
    pm_printf(o, "]");
}

/* {"p50":[[...per method...]], ...}: one array per method for a field. */
static void dash_per_method(pm_out *o, const dash_range *r, const char *key, size_t base)
{
    pm_printf(o, ",\"%s\":[", key);
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        if (i)
            pm_printf(o, ",");
        dash_series(o, r, base + (size_t)i * sizeof(uint32_t));
    }
    pm_printf(o, "]");
}

static void dash_history(pm_out *o, const rs_metrics *m, uint64_t since)
{
    dash_range r = {m, 0};
    while (r.n < m->history_len && metrics_history_at(m, r.n)->unix_s > since)
        r.n++;
    pm_printf(o, "\"history\":{\"t\":[");
    for (uint32_t k = 0; k < r.n; k++)
        pm_printf(o, k ? ",%" PRIu64 : "%" PRIu64, metrics_history_at(m, r.n - 1 - k)->unix_s);
    pm_printf(o, "],\"redis_up\":[");
    for (uint32_t k = 0; k < r.n; k++)
        pm_printf(o, k ? ",%u" : "%u", (unsigned)metrics_history_at(m, r.n - 1 - k)->redis_up);
    pm_printf(o, "]");
    static const struct {
        const char *key;
        size_t off;
    } scalars[] = {
        {"errors", offsetof(rs_metrics_second, errors)},
        {"hits", offsetof(rs_metrics_second, hits)},
        {"misses", offsetof(rs_metrics_second, misses)},
        {"evictions", offsetof(rs_metrics_second, evictions)},
        {"dirty", offsetof(rs_metrics_second, dirty_users)},
    };
    for (size_t i = 0; i < RS_ARRAY_LEN(scalars); i++) {
        pm_printf(o, ",\"%s\":", scalars[i].key);
        dash_series(o, &r, scalars[i].off);
    }
    dash_per_method(o, &r, "requests", offsetof(rs_metrics_second, requests));
    dash_per_method(o, &r, "p50", offsetof(rs_metrics_second, p50_us));
    dash_per_method(o, &r, "p99", offsetof(rs_metrics_second, p99_us));
    dash_per_method(o, &r, "p999", offsetof(rs_metrics_second, p999_us));
    dash_per_method(o, &r, "max", offsetof(rs_metrics_second, max_us));
    pm_printf(o, "}");
}

/* The cluster store for the dashboard: counters (the page turns them into
 * rates), the table, and each node with its slots, state and mean latency. */
static void dash_cluster(pm_out *o, const struct store_cluster *c)
{
    store_cluster_stats st;
    store_cluster_get_stats(c, &st);
    char down[200];
    store_cluster_unreachable(c, down, sizeof(down));
    pm_printf(o,
              ",\"cluster\":{\"moved\":%" PRIu64 ",\"ask\":%" PRIu64 ",\"tryagain\":%" PRIu64
              ",\"clusterdown\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"refreshes\":%" PRIu64
              ",\"table_age_ms\":%" PRIu64 ",\"slots_unreachable\":%u,\"unreachable\":\"%s\""
              ",\"merge_calls\":%" PRIu64 ",\"merge_call_users\":%" PRIu64
              ",\"failovers\":%" PRIu64 ",\"remerged_users\":%" PRIu64 ",\"nodes\":[",
              st.moved, st.ask, st.tryagain, st.clusterdown, st.retries, st.refreshes,
              st.table_age_ms, st.slots_unreachable, down, st.merge_calls, st.merge_call_users,
              st.failovers, st.remerged_users);
    size_t n = store_cluster_node_count(c);
    for (size_t i = 0; i < n; i++) {
        store_cluster_node nd;
        store_cluster_node_at(c, i, &nd);
        double mean_us = nd.replies > 0 ? (double)nd.latency_ns / (double)nd.replies / 1e3 : 0;
        pm_printf(
            o, "%s{\"addr\":\"%s\",\"up\":%s,\"slots\":%u,\"pending\":%zu,\"mean_us\":%.1f}",
            i ? "," : "", nd.addr, nd.up ? "true" : "false", nd.slots, nd.pending, mean_us);
    }
    pm_printf(o, "]}");
}

int metrics_render_dashboard(struct evbuffer *out, const rs_metrics_view *v,
                             uint64_t since_unix_s)
{
    pm_out o = {out, 0};
    pm_printf(&o,
              "{\"version\":\"%s\",\"now_ms\":%" PRIu64 ",\"ready\":%s,\"shutting_down\":%s",
              RS_VERSION_STRING, v->now_unix_ms, v->ready ? "true" : "false",
              v->shutting_down ? "true" : "false");
    pm_printf(&o, ",\"history_max\":%d,\"methods\":[", RS_METRICS_HISTORY);
    for (int i = 0; i < RS_METHOD_MAX; i++)
        pm_printf(&o, i ? ",\"%s\"" : "\"%s\"", rs_method_name((rs_method)i));
    pm_printf(&o, "],\"conns_open\":%" PRIu64, v->m->conns_open);
    if (v->cache != NULL)
        pm_printf(&o,
                  ",\"cache\":{\"users\":%" PRIu64 ",\"states\":%" PRIu64 ",\"bytes\":%" PRIu64
                  ",\"max_bytes\":%" PRIu64 ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64
                  ",\"evictions\":%" PRIu64 "}",
                  v->cache->users, v->cache->states, v->cache->bytes, v->cache_max_bytes,
                  v->cache->hits, v->cache->misses, v->cache->evictions);
    if (v->engine != NULL)
        pm_printf(&o,
                  ",\"redis\":{\"configured\":%s,\"up\":%s,\"reconnects\":%" PRIu64
                  ",\"errors\":%" PRIu64 ",\"dirty_users\":%" PRIu64 ",\"dirty_bytes\":%" PRIu64
                  ",\"loads_in_flight\":%" PRIu64 "}",
                  v->engine->redis_configured ? "true" : "false",
                  v->engine->redis_up ? "true" : "false", v->engine->reconnects,
                  v->engine->redis_errors, v->engine->dirty_users, v->engine->dirty_bytes,
                  v->engine->loads_in_flight);
    if (v->cluster != NULL)
        dash_cluster(&o, v->cluster);
    if (v->fleet != NULL) {
        const rs_fleet_stats *f = v->fleet;
        pm_printf(&o,
                  ",\"fleet\":{\"node_id\":\"%s\",\"generation\":%" PRIu64
                  ",\"owned_slots\":%u,\"nodes\":%u,\"in_ring\":%s,\"forwarded_out\":%" PRIu64
                  ",\"forwarded_in\":%" PRIu64 ",\"forward_failures\":%" PRIu64
                  ",\"fenced_states\":%" PRIu64 "}",
                  v->fleet_node_id, f->generation, f->owned_slots, f->nodes,
                  f->in_ring ? "true" : "false", v->forwarded_out, v->forwarded_in,
                  v->forward_failures, v->engine != NULL ? v->engine->fenced_states : 0);
    }
    pm_printf(&o, ",");
    dash_history(&o, v->m, since_unix_s);
    pm_printf(&o, "}\n");
    return o.err;
}
