/*
 * http.c: the HTTP port's routes on the server's event base.
 *
 *   http_conn (connection cap, request deadline, limits) ──on_request──> http_route
 *     ├── POST /readstates.v1.ReadStates/<M>, /twirp/...  ──> http_rpc.c
 *     ├── GET  /metrics          Prometheus text 0.0.4 (metrics_render.c)
 *     ├── GET  /healthz          200 "ok" while the process runs
 *     ├── GET  /readyz           200, or 503 with the reason
 *     ├── GET  /dashboard        the embedded page (dashboard.html)
 *     └── GET  /dashboard.json   figures + history since ?since=<unix s>
 *
 * The server's 1 s tick calls http_tick, which closes the second for the
 * dashboard's history (metrics_tick). With the port off, a smaller hook
 * still resets the per-second histograms so they never saturate.
 *
 * Everything runs on the event loop; nothing here blocks. Rendering the
 * metrics is proportional to the number of series (fixed), never to the
 * cache's size.
 */
#include "http.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "fleet.h"
#include "http_rpc.h"
#include "http_stream.h"
#include "peer.h"
#include "store_cluster.h"

/* Defined in the generated dashboard_html.c (server/dashboard.cmake). */
extern const unsigned char rs_dashboard_html[];
extern const size_t rs_dashboard_html_len;

static rs_http_handler http_handler_of(const char *path)
{
    static const struct {
        const char *path;
        rs_http_handler hd;
    } exact[] = {
        {"/metrics", RS_HTTP_HANDLER_METRICS},
        {"/healthz", RS_HTTP_HANDLER_HEALTHZ},
        {"/readyz", RS_HTTP_HANDLER_READYZ},
        {"/dashboard", RS_HTTP_HANDLER_DASHBOARD},
        {"/dashboard.json", RS_HTTP_HANDLER_DASHBOARD_JSON},
    };
    if (path == NULL)
        return RS_HTTP_HANDLER_OTHER;
    if (strncmp(path, HTTP_RPC_CONNECT_PREFIX, strlen(HTTP_RPC_CONNECT_PREFIX)) == 0)
        return RS_HTTP_HANDLER_CONNECT;
    if (strncmp(path, HTTP_RPC_TWIRP_PREFIX, strlen(HTTP_RPC_TWIRP_PREFIX)) == 0)
        return RS_HTTP_HANDLER_TWIRP;
    for (size_t i = 0; i < RS_ARRAY_LEN(exact); i++)
        if (strcmp(path, exact[i].path) == 0)
            return exact[i].hd;
    return RS_HTTP_HANDLER_OTHER;
}

/* A reply was written out (or its connection failed first). */
static void http_reply_written(void *arg)
{
    struct rs_http *h = arg;
    h->replies_writing--;
    h->s->loop.output_done(h->s); /* the last output a finishing shutdown waits for? */
}

void http_reply(struct rs_http *h, rs_http_req *req, int status, const char *reason,
                struct evbuffer *body)
{
    h->replies_writing++;
    if (!http_req_reply(req, status, reason, body))
        h->replies_writing--; /* not sent: no on_written will follow */
}

bool http_writing(const struct rs_http *h)
{
    return h != NULL && h->replies_writing > 0;
}

void http_finish(struct rs_http *h, rs_http_req *req, const char *what, int http_status,
                 uint64_t start_ns, bool log)
{
    rs_server *s = h->s;
    const char *path = http_req_path(req);
    int cls = http_status / 100 - 1;
    bool json;
    rs_http_handler hd = hs_proto_of(http_req_header(req, "Content-Type"), &json) >= 0
                             ? RS_HTTP_HANDLER_ENVELOPED
                             : http_handler_of(path);
    if (cls >= 0 && cls < RS_HTTP_CLASSES)
        h->stats.requests[hd][cls]++;
    if (!log)
        return;
    uint64_t ns = rs_now_ns() - start_ns;
    bool slow = s->proc.cfg.slow_request_ms > 0 &&
                ns >= (uint64_t)s->proc.cfg.slow_request_ms * 1000000u;
    if (!slow && !s->proc.cfg.log_requests)
        return;
    RS_LOG(&s->proc.log, slow ? RS_LOG_WARN : RS_LOG_INFO, slow ? "slow_request" : "request",
           "transport=http path=%s result=%s http_status=%d latency_us=%llu peer=%s",
           path != NULL ? path : "-", what, http_status, (unsigned long long)(ns / 1000),
           http_req_peer(req));
}

static void http_send_text(struct rs_http *h, rs_http_req *req, int status, const char *reason,
                           const char *ctype, struct evbuffer *body, uint64_t start_ns)
{
    http_req_add_header(req, "Content-Type", ctype);
    http_req_add_header(req, "Cache-Control", "no-store");
    http_finish(h, req, reason, status, start_ns, true);
    http_reply(h, req, status, reason, body);
}

static void http_send_string(struct rs_http *h, rs_http_req *req, int status,
                             const char *reason, const char *text, uint64_t start_ns)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL)
        evbuffer_add(b, text, strlen(text));
    http_send_text(h, req, status, reason, "text/plain; charset=utf-8", b, start_ns);
    if (b != NULL)
        evbuffer_free(b);
}

/* Gather what a render reads; proc and alloc (either may be NULL) are
 * filled here from /proc and the allocator. */
static void http_view(struct rs_http *h, rs_metrics_view *v, rs_proc_stats *proc,
                      rs_alloc_stats *alloc)
{
    rs_server *s = h->s;
    memset(v, 0, sizeof(*v));
    v->m = &s->proc.metrics;
    if (s->loop.engine != NULL) {
        v->cache = engine_cache_stats(s->loop.engine);
        v->cache_max_bytes = engine_cache_max_bytes(s->loop.engine);
        v->engine = engine_stats(s->loop.engine);
        v->ready = engine_ready(s->loop.engine);
        v->cluster = store_cluster_of(engine_store(s->loop.engine));
    }
    if (s->loop.fleet != NULL) {
        v->fleet = fleet_stats(s->loop.fleet);
        v->fleet_node_id = fleet_node_id(s->loop.fleet);
        v->peers = peers_stats(s->loop.peers);
        v->forwarded_in = s->loop.fleet_stats.forwarded_in;
        v->forwarded_out = s->loop.fleet_stats.forwarded_out;
        v->forward_failures = s->loop.fleet_stats.forward_failures;
        v->misrouted_in = s->loop.fleet_stats.misrouted_in;
        v->relays_open = s->loop.fleet_stats.relays_open;
        v->relayed_events = s->loop.fleet_stats.relayed_events;
    }
    v->shutting_down = s->proc.shutting_down;
    v->inflight = s->loop.inflight;
    v->now_unix_ms = rs_wall_ms();
    if (proc != NULL && metrics_proc_read(proc) == 0)
        v->proc = proc;
    if (alloc != NULL) {
        metrics_alloc_read(alloc);
        v->alloc = alloc;
    }
    const rs_http_conn_stats *cs = http_conns_stats(h->conns);
    h->stats.conns_open = cs->open;
    h->stats.conns_accepted = cs->accepted;
    h->stats.conns_rejected = cs->rejected;
    h->stats.deadline_closed = cs->deadline_closed;
    h->stats.idle_closed = cs->idle_closed;
    h->stats.bad_requests = cs->bad_requests;
    h->stats.accept_failures = cs->accept_failures;
    h->stats.tls_errors = cs->tls_errors;
    h->stats.http2_conns = cs->http2;
    v->http = &h->stats;
    v->tcp_accept_failures = s->loop.accept_pause.failures;
}

static void http_metrics(struct rs_http *h, rs_http_req *req, uint64_t start_ns)
{
    rs_metrics_view v;
    rs_proc_stats proc;
    rs_alloc_stats alloc;
    http_view(h, &v, &proc, &alloc);
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || metrics_render_prometheus(b, &v) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        http_send_string(h, req, 500, "Internal Server Error", "out of memory\n", start_ns);
        return;
    }
    http_send_text(h, req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b, start_ns);
    evbuffer_free(b);
}

static void http_dashboard_json(struct rs_http *h, rs_http_req *req, uint64_t start_ns)
{
    uint64_t since = 0;
    const char *query = http_req_query(req);
    for (const char *p = query; p != NULL && *p != '\0';) { /* ?since=<unix s> */
        size_t n = strcspn(p, "&");
        if (n > 6 && n < 32 && strncmp(p, "since=", 6) == 0) {
            char v[32];
            memcpy(v, p + 6, n - 6);
            v[n - 6] = '\0';
            if (rs_parse_u64(v, &since) != 0)
                since = 0;
        }
        p += n + (p[n] == '&');
    }
    rs_metrics_view v;
    http_view(h, &v, NULL, NULL);
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || metrics_render_dashboard(b, &v, since) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        http_send_string(h, req, 500, "Internal Server Error", "out of memory\n", start_ns);
        return;
    }
    http_send_text(h, req, 200, "OK", "application/json", b, start_ns);
    evbuffer_free(b);
}

static void http_dashboard(struct rs_http *h, rs_http_req *req, uint64_t start_ns)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL)
        evbuffer_add_reference(b, rs_dashboard_html, rs_dashboard_html_len, NULL, NULL);
    http_send_text(h, req, 200, "OK", "text/html; charset=utf-8", b, start_ns);
    if (b != NULL)
        evbuffer_free(b);
}

const char *http_unready(struct rs_http *h, char *buf, size_t len)
{
    rs_server *s = h->s;
    if (s->proc.shutting_down)
        return "shutting down";
    if (s->loop.engine == NULL || !engine_ready(s->loop.engine))
        return "redis unreachable";
    /* On a Redis Cluster: the slots without a reachable primary (their
     * users can be neither loaded nor flushed). */
    const struct store_cluster *c = store_cluster_of(engine_store(s->loop.engine));
    char slots[400];
    if (c != NULL && store_cluster_unreachable(c, slots, sizeof(slots)) != 0) {
        snprintf(buf, len, "redis cluster slots unreachable: %s", slots);
        return buf;
    }
    if (s->loop.fleet != NULL && fleet_ring(s->loop.fleet) == NULL)
        return "the fleet's ring has not been read yet";
    return NULL;
}

static void http_readyz(struct rs_http *h, rs_http_req *req, uint64_t start_ns)
{
    char why[512], text[600];
    const char *r = http_unready(h, why, sizeof(why));
    if (r == NULL) {
        http_send_string(h, req, 200, "OK", "ready\n", start_ns);
        return;
    }
    snprintf(text, sizeof(text), "not ready: %s\n", r);
    http_send_string(h, req, 503, "Service Unavailable", text, start_ns);
}

typedef enum http_route_id {
    HTTP_ROUTE_HEALTHZ,
    HTTP_ROUTE_READYZ,
    HTTP_ROUTE_METRICS,
    HTTP_ROUTE_DASHBOARD,
    HTTP_ROUTE_DASHBOARD_JSON,
    HTTP_ROUTE_ROOT,
    HTTP_ROUTE_FAVICON,
    HTTP_ROUTE_MAX
} http_route_id;

static const char *const http_route_paths[HTTP_ROUTE_MAX] = {
    "/healthz", "/readyz", "/metrics", "/dashboard", "/dashboard.json", "/", "/favicon.ico",
};

/* --auth-admin: /metrics, /dashboard and /dashboard.json need a token too
 * (/healthz and /readyz never do). Returns true after answering 401. */
static bool http_admin_refused(struct rs_http *h, rs_http_req *req, http_route_id r,
                               uint64_t start_ns)
{
    rs_server *s = h->s;
    if (!s->proc.cfg.auth_admin || !auth_enabled(s->proc.auth) ||
        (r != HTTP_ROUTE_METRICS && r != HTTP_ROUTE_DASHBOARD &&
         r != HTTP_ROUTE_DASHBOARD_JSON))
        return false;
    const char *authz = http_req_header(req, "Authorization");
    if (auth_check_bearer(s->proc.auth, authz))
        return false;
    s->proc.metrics.auth_failures_http++;
    http_req_add_header(req, "WWW-Authenticate",
                        authz == NULL ? "Bearer realm=\"readstates\""
                                      : "Bearer realm=\"readstates\", error=\"invalid_token\"");
    http_send_string(h, req, 401, "Unauthorized",
                     "unauthenticated: send Authorization: Bearer <token>\n", start_ns);
    return true;
}

static void http_route_get(struct rs_http *h, rs_http_req *req, http_route_id r,
                           uint64_t start_ns)
{
    if (http_admin_refused(h, req, r, start_ns))
        return;
    rs_http_method m = http_req_method(req);
    if (m != HTTP_M_GET && m != HTTP_M_HEAD) {
        http_req_add_header(req, "Allow", "GET, HEAD");
        http_send_string(h, req, 405, "Method Not Allowed", "use GET\n", start_ns);
        return;
    }
    switch (r) {
    case HTTP_ROUTE_HEALTHZ: http_send_string(h, req, 200, "OK", "ok\n", start_ns); break;
    case HTTP_ROUTE_READYZ: http_readyz(h, req, start_ns); break;
    case HTTP_ROUTE_METRICS: http_metrics(h, req, start_ns); break;
    case HTTP_ROUTE_DASHBOARD: http_dashboard(h, req, start_ns); break;
    case HTTP_ROUTE_DASHBOARD_JSON: http_dashboard_json(h, req, start_ns); break;
    case HTTP_ROUTE_FAVICON: /* browsers ask; an empty answer keeps consoles clean */
        http_finish(h, req, "no_content", 204, start_ns, true);
        http_reply(h, req, 204, "No Content", NULL);
        break;
    case HTTP_ROUTE_ROOT:
    default:
        http_req_add_header(req, "Location", "/dashboard");
        http_send_string(h, req, 302, "Found", "see /dashboard\n", start_ns);
        break;
    }
}

/* --http-cors-origin: is origin one of the list ("*" takes any)? */
static bool http_cors_allowed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t' || p[m - 1] == '/'))
            m--;
        if ((m == 1 && p[0] == '*') || (m == olen && strncasecmp(p, origin, m) == 0))
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

/* CORS for the RPC paths: an allowed Origin gets Access-Control-* headers
 * on its answers; a preflight (OPTIONS with an Origin) is answered here:
 * 204 with what Connect, gRPC-Web and Twirp clients send and read, or 403
 * for an origin not on the list (none is by default). Returns true when it
 * answered. */
static bool http_cors(struct rs_http *h, rs_http_req *req, uint64_t start_ns)
{
    const char *origin = http_req_header(req, "Origin");
    if (origin == NULL)
        return false; /* not a browser's cross-origin call */
    bool allowed = http_cors_allowed(h->s->proc.cfg.http_cors_origin, origin);
    bool preflight = http_req_method(req) == HTTP_M_OPTIONS;
    if (!allowed) {
        if (!preflight)
            return false; /* answered without the headers: the browser refuses it */
        h->stats.cors_refused++;
        http_send_string(h, req, 403, "Forbidden",
                         "origin not allowed: see --http-cors-origin\n", start_ns);
        return true;
    }
    http_req_add_header(req, "Access-Control-Allow-Origin", origin);
    http_req_add_header(req, "Vary", "Origin");
    if (!preflight) {
        http_req_add_header(req, "Access-Control-Expose-Headers",
                            "Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, "
                            "Grpc-Accept-Encoding, Connect-Content-Encoding, Content-Encoding");
        return false;
    }
    const char *asked = http_req_header(req, "Access-Control-Request-Headers");
    http_req_add_header(req, "Access-Control-Allow-Methods", "POST, OPTIONS");
    http_req_add_header(
        req, "Access-Control-Allow-Headers",
        asked != NULL && asked[0] != '\0'
            ? asked
            : "Content-Type, Connect-Protocol-Version, Connect-Timeout-Ms, "
              "Connect-Accept-Encoding, Connect-Content-Encoding, Grpc-Timeout, "
              "X-Grpc-Web, X-User-Agent, Authorization");
    http_req_add_header(req, "Access-Control-Max-Age", "7200");
    h->stats.cors_preflights++;
    http_finish(h, req, "cors_preflight", 204, start_ns, true);
    http_reply(h, req, 204, "No Content", NULL);
    return true;
}

static bool http_rpc_path(const char *path)
{
    return strncmp(path, HTTP_RPC_CONNECT_PREFIX, strlen(HTTP_RPC_CONNECT_PREFIX)) == 0 ||
           strncmp(path, HTTP_RPC_TWIRP_PREFIX, strlen(HTTP_RPC_TWIRP_PREFIX)) == 0 ||
           strncmp(path, "/grpc.", 6) == 0;
}

static void http_route(void *arg, rs_http_req *req)
{
    struct rs_http *h = arg;
    uint64_t start_ns = rs_now_ns();
    const char *path = http_req_path(req);
    size_t nc = strlen(HTTP_RPC_CONNECT_PREFIX), nt = strlen(HTTP_RPC_TWIRP_PREFIX);
    if (http_rpc_path(path) && http_cors(h, req, start_ns))
        return;
    bool json = false;
    int proto = hs_proto_of(http_req_header(req, "Content-Type"), &json);
    if (proto >= 0) { /* gRPC, gRPC-Web, Connect streaming: any path */
        http_stream_handle(h, req, (hs_proto)proto, json, start_ns);
        return;
    }
    if (strncmp(path, HTTP_RPC_CONNECT_PREFIX, nc) == 0) {
        http_rpc_handle(h, req, HTTP_RPC_CONNECT, path + nc, start_ns);
        return;
    }
    if (strncmp(path, HTTP_RPC_TWIRP_PREFIX, nt) == 0) {
        http_rpc_handle(h, req, HTTP_RPC_TWIRP, path + nt, start_ns);
        return;
    }
    for (int r = 0; r < HTTP_ROUTE_MAX; r++)
        if (strcmp(path, http_route_paths[r]) == 0) {
            http_route_get(h, req, (http_route_id)r, start_ns);
            return;
        }
    http_send_string(h, req, 404, "Not Found", "not found\n", start_ns);
}

/* ---- the 1 s tick ------------------------------------------------------ */

static void http_tick(rs_server *s, void *arg)
{
    struct rs_http *h = arg;
    const rs_cache_stats *cs = NULL;
    const rs_engine_stats *es = NULL;
    if (s->loop.engine != NULL) {
        cs = engine_cache_stats(s->loop.engine);
        es = engine_stats(s->loop.engine);
    }
    metrics_tick(&s->proc.metrics, &h->ticker, (uint64_t)time(NULL), cs, es);
    hs_std_tick(h);
}

/* The port is off: only keep the per-second histograms from saturating. */
static void http_tick_off(rs_server *s, void *arg)
{
    (void)arg;
    for (int i = 0; i < RS_METHOD_MAX; i++)
        if (s->proc.metrics.second[i] != NULL && s->proc.metrics.second[i]->total > 0)
            rs_hist_reset(s->proc.metrics.second[i]);
}

/* ---- start / stop ------------------------------------------------------ */

static int http_listen(struct rs_http *h)
{
    rs_server *s = h->s;
    char host[RS_ADDR_MAX];
    int port = 0;
    if (rs_parse_hostport(s->proc.cfg.http, host, sizeof(host), &port) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "http_bad_address", "addr=%s", s->proc.cfg.http);
        return -1;
    }
    h->port = http_conns_listen(h->conns, host, port);
    if (h->port < 0)
        return -1;
    if (s->proc.cfg.http_port_file[0] != '\0' &&
        rs_write_port_file(s->proc.cfg.http_port_file, h->port) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "http_port_file_failed", "path=%s",
               s->proc.cfg.http_port_file);
        return -1;
    }
    RS_LOG(&s->proc.log, RS_LOG_INFO, "http_listening", "addr=%s port=%d max_connections=%u",
           host, h->port, s->loop.http_max_connections);
    return 0;
}

static void http_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_stream_reap(arg);
}

struct rs_http *http_start(rs_server *s)
{
    if (strcmp(s->proc.cfg.http, "off") == 0 || s->proc.cfg.http[0] == '\0') {
        s->loop.on_tick = http_tick_off;
        s->loop.on_tick_arg = NULL;
        return NULL;
    }
    struct rs_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->s = s;
    rs_http_limits lim = {
        .max_connections = s->loop.http_max_connections,
        .max_headers = s->proc.cfg.http_max_headers,
        .max_body = s->proc.cfg.http_max_body,
        .request_deadline_ms = s->proc.cfg.http_request_deadline_ms,
        .idle_timeout_ms = s->proc.cfg.http_timeout_s * 1000u,
        .tls = s->proc.tls,
        .max_streams = s->proc.cfg.http2_max_streams,
    };
    rs_http_callbacks cb = {.on_request = http_route,
                            .on_written = http_reply_written,
                            .streams_body = http_stream_wants_body,
                            .arg = h};
    h->conns = http_conns_new(s->loop.base, &lim, &s->proc.log, &cb);
    h->reap_ev = rs_xcheck(event_new(s->loop.base, -1, 0, http_reap_cb, h), "event");
    if (http_listen(h) != 0) {
        http_conns_free(h->conns);
        event_free(h->reap_ev);
        free(h);
        return NULL;
    }
    s->loop.on_tick = http_tick;
    s->loop.on_tick_arg = h;
    return h;
}

void http_maybe_free(struct rs_http *h)
{
    if (h->stopped && h->calls_live == 0) {
        hs_std_free(h);
        event_free(h->reap_ev);
        free(h);
    }
}

void http_stop_accepting(struct rs_http *h)
{
    if (h == NULL || h->stopped_accepting)
        return;
    http_conns_stop_accepting(h->conns); /* closes the socket; HTTP/2 gets GOAWAY */
    h->stopped_accepting = true;
    http_stream_shutdown(h);
    RS_LOG(&h->s->proc.log, RS_LOG_INFO, "http_stop_accepting", "port=%d", h->port);
}

void http_stop(struct rs_http *h)
{
    if (h == NULL)
        return;
    rs_server *s = h->s;
    if (s->loop.on_tick_arg == h) {
        s->loop.on_tick = http_tick_off;
        s->loop.on_tick_arg = NULL;
    }
    /* Closes every connection: pending calls see their close callback and
     * drop their replies; the struct lives until the last call lets go. */
    http_conns_free(h->conns);
    h->conns = NULL;
    http_stream_reap(h); /* the watches of the streams just closed */
    event_del(h->reap_ev);
    h->stopped = true;
    http_maybe_free(h);
}
