/*
 * server.c: rs_server's lifecycle: set-up, the TCP listener, signals, the
 * 1 s tick, graceful shutdown and teardown (see server.h).
 *
 *   SIGTERM/SIGINT ─> server_shutdown: listener freed (no new connections),
 *        the HTTP port's listening socket closed (its open connections get
 *        UNAVAILABLE for new RPCs), every connection DRAINING (no reads;
 *        closes once answered)
 *     ─> drain_ev: in-flight requests == 0 (or shutdown_timeout_ms passed)
 *     ─> engine_shutdown: flush everything dirty
 *     ─> engine_done(unflushed): exit code 0 / 1
 *     ─> leave the loop once every connection has written its last answers
 *        and closed (at most SERVER_EXIT_GRACE_MS)
 *
 * Invariants: nothing here runs inside a connection's callback; freeing a
 * connection always goes through the reaper (conn.c).
 */
#include "server.h"

#include <errno.h>
#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accept_pause.h"
#include "auth.h"
#include "conn.h"
#include "fleet.h"
#include "gc_force.h"
#include "http.h"
#include "notify.h"
#include "peer.h"
#include "signals.h"
#include "tls.h"
#include "watch.h"

/* After the final flush, how long connections may take to write their
 * last answers before the process leaves anyway. */
#define SERVER_EXIT_GRACE_MS 2000

static void server_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_server *s = arg;
    engine_tick(s->loop.engine, (uint32_t)(rs_now_ns() / 1000000000u));
    if (s->loop.on_tick != NULL)
        s->loop.on_tick(s, s->loop.on_tick_arg);
}

static void server_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_reap(arg);
}

static void server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_flush_pending(arg);
}

/* ---- shutdown ----------------------------------------------------------- */

static void server_engine_done(void *arg, uint64_t unflushed)
{
    rs_server *s = arg;
    if (unflushed == 0) {
        RS_LOG(&s->proc.log, RS_LOG_INFO, "shutdown_complete", "unflushed_states=0");
        s->proc.exit_code = 0;
    } else {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "shutdown_incomplete", "unflushed_states=%llu",
               (unsigned long long)unflushed);
        s->proc.exit_code = 1;
    }
    /* Answers given while draining may still sit in output buffers: let
     * the connections write them and close, for a bounded time. */
    s->loop.exit_pending = true;
    uint32_t dropped = conn_close_waiting(s);
    if (dropped > 0)
        RS_LOG(&s->proc.log, RS_LOG_WARN, "shutdown_unanswered", "conns=%u inflight=%llu",
               dropped, (unsigned long long)s->loop.inflight);
    if (s->loop.nconns == 0 && !http_writing(s->loop.http)) {
        event_base_loopexit(s->loop.base, NULL);
        return;
    }
    RS_LOG(&s->proc.log, RS_LOG_INFO, "shutdown_wait_conns", "conns=%u grace_ms=%u",
           s->loop.nconns, SERVER_EXIT_GRACE_MS);
    struct timeval tv = {SERVER_EXIT_GRACE_MS / 1000, (SERVER_EXIT_GRACE_MS % 1000) * 1000};
    event_add(s->loop.exit_ev, &tv);
}

/* The output_done hook (server.h): the last output a finishing shutdown
 * waited for may be gone. */
static void server_output_done(rs_server *s)
{
    if (s->loop.exit_pending && s->loop.nconns == 0 && !http_writing(s->loop.http))
        event_base_loopexit(s->loop.base, NULL);
}

static void server_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_server *s = arg;
    RS_LOG(&s->proc.log, RS_LOG_WARN, "shutdown_conns_left", "conns=%u", s->loop.nconns);
    event_base_loopexit(s->loop.base, NULL);
}

/* Runs when a reply brings in-flight requests to 0, and at the deadline. */
static void server_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_server *s = arg;
    if (s->loop.engine_stopping)
        return;
    uint64_t now = rs_now_ns();
    if (s->loop.inflight > 0 && now < s->loop.drain_deadline_ns) {
        uint64_t left = s->loop.drain_deadline_ns - now;
        struct timeval tv = {(time_t)(left / 1000000000u),
                             (suseconds_t)(left % 1000000000u / 1000)};
        event_add(s->loop.drain_ev, &tv);
        return;
    }
    if (s->loop.inflight > 0)
        RS_LOG(&s->proc.log, RS_LOG_WARN, "shutdown_drain_timeout", "inflight=%llu",
               (unsigned long long)s->loop.inflight);
    RS_LOG(&s->proc.log, RS_LOG_INFO, "shutdown_flush", "open_conns=%u", s->loop.nconns);
    s->loop.engine_stopping = true;
    event_del(s->loop.drain_ev);
    engine_shutdown(s->loop.engine, server_engine_done, s);
}

void server_shutdown(rs_server *s)
{
    if (s->proc.shutting_down) {
        RS_LOG(&s->proc.log, RS_LOG_INFO, "shutdown_in_progress", "inflight=%llu",
               (unsigned long long)s->loop.inflight);
        return;
    }
    s->proc.shutting_down = true;
    notify_stopping();
    RS_LOG(&s->proc.log, RS_LOG_INFO, "shutdown_begin", "inflight=%llu conns=%u",
           (unsigned long long)s->loop.inflight, s->loop.nconns);
    if (s->loop.listener != NULL) {
        evconnlistener_free(s->loop.listener); /* closes the socket: no new connections */
        s->loop.listener = NULL;
    }
    accept_pause_forget(&s->loop.accept_pause);
    http_stop_accepting(s->loop.http);
    conn_drain_all(s);
    s->loop.drain_deadline_ns =
        rs_now_ns() + (uint64_t)s->proc.cfg.shutdown_timeout_ms * 1000000u;
    event_active(s->loop.drain_ev, EV_TIMEOUT, 0);
}

static void server_log_status(rs_server *s)
{
    const rs_engine_stats *es = engine_stats(s->loop.engine);
    const rs_cache_stats *cs = engine_cache_stats(s->loop.engine);
    RS_LOG(&s->proc.log, RS_LOG_INFO, "status",
           "conns=%u inflight=%llu users=%llu states=%llu cache_bytes=%llu dirty_users=%llu "
           "redis_configured=%d redis_up=%d shutting_down=%d",
           s->loop.nconns, (unsigned long long)s->loop.inflight, (unsigned long long)cs->users,
           (unsigned long long)cs->states, (unsigned long long)cs->bytes,
           (unsigned long long)es->dirty_users, es->redis_configured, es->redis_up,
           s->proc.shutting_down);
}

static void server_on_signal(void *arg, int sig, rs_sig_action action)
{
    rs_server *s = arg;
    static const char *const actions[] = {"shutdown", "reload", "status", "ignored"};
    char buf[32];
    RS_LOG(&s->proc.log, RS_LOG_INFO, "signal", "name=%s action=%s",
           signals_name(sig, buf, sizeof(buf)), actions[action]);
    switch (action) {
    case RS_SIG_SHUTDOWN: server_shutdown(s); break;
    case RS_SIG_RELOAD: server_reload(s); break;
    case RS_SIG_STATUS: server_log_status(s); break;
    case RS_SIG_IGNORED: break;
    }
}

/* ---- listener ------------------------------------------------------------ */

static void server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                             struct sockaddr *addr, int addrlen, void *arg)
{
    (void)l;
    conn_accept(arg, fd, addr, addrlen);
}

static void server_accept_error_cb(struct evconnlistener *l, void *arg)
{
    rs_server *s = arg;
    accept_pause_failed(&s->loop.accept_pause, l, EVUTIL_SOCKET_ERROR());
}

int server_listen(rs_server *s)
{
    char host[RS_ADDR_MAX];
    int port;
    if (rs_parse_hostport(s->proc.cfg.listen, host, sizeof(host), &port) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "bad_listen_address", "addr=%s", s->proc.cfg.listen);
        return -1;
    }
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "bad_listen_address", "addr=%s error=\"%s\"",
               s->proc.cfg.listen, gai_strerror(gai));
        return -1;
    }
    s->loop.listener = evconnlistener_new_bind(s->loop.base, server_accept_cb, s,
                                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                                   LEV_OPT_CLOSE_ON_EXEC,
                                               1024, ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (s->loop.listener == NULL) {
        int err = EVUTIL_SOCKET_ERROR();
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "listen_failed", "addr=%s errno=%d error=\"%s\"",
               s->proc.cfg.listen, err, evutil_socket_error_to_string(err));
        return -1;
    }
    evconnlistener_set_error_cb(s->loop.listener, server_accept_error_cb);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    evutil_socket_t fd = evconnlistener_get_fd(s->loop.listener);
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET)
            s->loop.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            s->loop.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    RS_LOG(&s->proc.log, RS_LOG_INFO, "listening", "addr=%s port=%d", host, s->loop.port);
    if (s->loop.fleet != NULL &&
        strcmp(fleet_advertise(s->loop.fleet), s->proc.cfg.listen) == 0) {
        /* --advertise defaulted to --listen: say the bound port (port 0). */
        char adv[RS_ADDR_MAX + 8];
        snprintf(adv, sizeof(adv), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, s->loop.port);
        fleet_set_advertise(s->loop.fleet, adv);
    }
    if (s->proc.cfg.port_file[0] != '\0' &&
        rs_write_port_file(s->proc.cfg.port_file, s->loop.port) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "port_file_failed", "path=%s error=\"%s\"",
               s->proc.cfg.port_file, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- set-up and teardown --------------------------------------------------- */

/* The first line of path (the fleet's token), into buf. */
static int server_read_token(const char *path, char *buf, size_t size, const rs_log *log)
{
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, (int)size, f) == NULL) {
        RS_LOG(log, RS_LOG_ERROR, "init_failed", "what=fleet_token_file path=%s error=\"%s\"",
               path, f == NULL ? strerror(errno) : "empty");
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* A new ring generation: watches that no longer reach their users' owners end. */
static void server_fleet_ring_changed(void *ctx)
{
    dispatch_fleet_ring_changed(ctx);
}

/* A load or merge was refused as FENCED: a newer ring exists. */
static void server_fleet_fenced(void *ctx)
{
    fleet_refresh_now(ctx);
}

/* A fleet node (--node-id): the ring and the connections to other nodes. */
static int server_fleet_start(rs_server *s)
{
    char token[512] = "";
    if (s->proc.cfg.fleet_token_file[0] != '\0' &&
        server_read_token(s->proc.cfg.fleet_token_file, token, sizeof(token), &s->proc.log) !=
            0)
        return -1;
    s->loop.fleet = fleet_new(s->loop.base, s->loop.engine, &s->proc.log, s->proc.cfg.node_id,
                              s->proc.cfg.ring_refresh_ms, server_fleet_ring_changed, s);
    s->loop.peers = peers_new(s->loop.base, &s->proc.log, s->proc.cfg.forward_timeout_ms,
                              token[0] != '\0' ? token : NULL);
    memset(token, 0, sizeof(token));
    if (s->loop.fleet == NULL || s->loop.peers == NULL) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=fleet");
        return -1;
    }
    fleet_set_advertise(s->loop.fleet, s->proc.cfg.advertise);
    engine_set_fence_hook(s->loop.engine, server_fleet_fenced, s->loop.fleet);
    RS_LOG(&s->proc.log, RS_LOG_INFO, "fleet_node",
           "node_id=%s advertise=%s ring_refresh_ms=%u", s->proc.cfg.node_id,
           s->proc.cfg.advertise, s->proc.cfg.ring_refresh_ms);
    return 0;
}

static void server_random_key(uint64_t key[2])
{
    if (getrandom(key, 2 * sizeof(uint64_t), 0) != (ssize_t)(2 * sizeof(uint64_t))) {
        key[0] = rs_now_ns() ^ ((uint64_t)getpid() << 32);
        key[1] = rs_wall_ms() * 0x9e3779b97f4a7c15ull;
    }
}

static struct event *server_event(rs_server *s, evutil_socket_t fd, short what,
                                  event_callback_fn fn)
{
    return rs_xcheck(event_new(s->loop.base, fd, what, fn, s), "event");
}

/* Descriptors kept for what is not a client connection: listeners, Redis,
 * the event base, logs, /proc reads. */
#define SERVER_FD_RESERVE 32

/* Raise the soft descriptor limit to what the connection caps need (both
 * ports plus SERVER_FD_RESERVE). Where the hard limit is lower, lower the
 * caps to fit it, in proportion (as Redis lowers maxclients), and say so:
 * a cap then refuses a connection cleanly instead of accept() failing. */
static void server_fit_fd_limit(rs_server *s)
{
    bool http_on = strcmp(s->proc.cfg.http, "off") != 0 && s->proc.cfg.http[0] != '\0';
    uint64_t tcp = s->proc.cfg.max_connections;
    uint64_t http = http_on ? s->proc.cfg.http_max_connections : 0;
    s->loop.max_connections = (uint32_t)tcp;
    s->loop.http_max_connections = (uint32_t)(http_on ? http : 0);
    rlim_t need = (rlim_t)(tcp + http + SERVER_FD_RESERVE);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        /* over the kernel's nr_open: take what it allows */
        struct rlimit hard;
        if (getrlimit(RLIMIT_NOFILE, &hard) == 0 && hard.rlim_max > was &&
            hard.rlim_max != RLIM_INFINITY) {
            hard.rlim_cur = hard.rlim_max;
            rl.rlim_cur = setrlimit(RLIMIT_NOFILE, &hard) == 0 ? hard.rlim_max : was;
        } else {
            rl.rlim_cur = was;
        }
    }
    if (rl.rlim_cur >= need) {
        RS_LOG(&s->proc.log, RS_LOG_INFO, "fd_limit_raised", "from=%llu to=%llu",
               (unsigned long long)was, (unsigned long long)rl.rlim_cur);
        return;
    }
    uint64_t avail = rl.rlim_cur > SERVER_FD_RESERVE + 2 ? rl.rlim_cur - SERVER_FD_RESERVE : 2;
    uint64_t new_tcp = avail * tcp / (tcp + http);
    new_tcp = new_tcp < 1 ? 1 : new_tcp;
    uint64_t new_http = !http_on ? 0 : avail - new_tcp < 1 ? 1 : avail - new_tcp;
    RS_LOG(&s->proc.log, RS_LOG_WARN, "fd_limit_low",
           "limit=%llu need=%llu max_connections=%llu was=%llu http_max_connections=%llu "
           "http_was=%llu hint=\"raise ulimit -n or LimitNOFILE to keep the configured caps\"",
           (unsigned long long)rl.rlim_cur, (unsigned long long)need,
           (unsigned long long)new_tcp, (unsigned long long)tcp, (unsigned long long)new_http,
           (unsigned long long)http);
    /* The effective caps live in the loop: the settings stay as given, so
     * a reload does not report them as changed. */
    s->loop.max_connections = (uint32_t)new_tcp;
    s->loop.http_max_connections = (uint32_t)new_http;
}

/* Load the tokens of --auth-token-file (a file that does not load stops
 * the start) and say whether calls need one. */
static int server_auth_start(rs_server *s)
{
    char err[512];
    s->proc.auth = auth_new();
    if (auth_reload(s->proc.auth, s->proc.cfg.auth_token_file, err, sizeof(err)) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=auth-token-file error=\"%s\"",
               err);
        return -1;
    }
    if (auth_enabled(s->proc.auth))
        RS_LOG(&s->proc.log, RS_LOG_INFO, "auth",
               "mode=tokens tokens=%zu admin_protected=%s file=%s", auth_count(s->proc.auth),
               s->proc.cfg.auth_admin ? "true" : "false", s->proc.cfg.auth_token_file);
    else
        RS_LOG(&s->proc.log, RS_LOG_WARN, "auth",
               "mode=off warning=\"accepting unauthenticated calls\" "
               "hint=\"set --auth-token-file to require a token\"");
    return 0;
}

int server_init(rs_server *s, const rs_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->proc.cfg = *cfg;
    s->proc.log.min = cfg->log_level;
    s->proc.log.out = NULL;
    s->proc.started_wall_ms = rs_wall_ms();
    server_fit_fd_limit(s);
    s->loop.output_done = server_output_done;
    dispatch_init(s);
    uint64_t key[2];
    server_random_key(key);
    watch_init(&s->loop.watch, key);
    if (metrics_init(&s->proc.metrics) != 0) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=metrics");
        return -1;
    }
    s->loop.base = event_base_new();
    if (s->loop.base == NULL) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=event_base");
        return -1;
    }
    if (s->proc.cfg.tls_cert[0] != '\0') {
        char err[512];
        s->proc.tls = tls_new(&(rs_tls_files){s->proc.cfg.tls_cert, s->proc.cfg.tls_key,
                                              s->proc.cfg.tls_client_ca},
                              err, sizeof(err));
        if (s->proc.tls == NULL) {
            RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=tls error=\"%s\"", err);
            return -1;
        }
        RS_LOG(&s->proc.log, RS_LOG_INFO, "tls", "cert=%s client_ca=%s min_version=1.2",
               s->proc.cfg.tls_cert,
               s->proc.cfg.tls_client_ca[0] != '\0' ? s->proc.cfg.tls_client_ca : "none");
    }
    rs_engine_config ec;
    config_to_engine(&s->proc.cfg, &ec, &s->proc.log);
    if (rs_gc_force_configure(&ec.cache, &s->proc.log) != 0)
        return -1;
    s->loop.engine = engine_new(s->loop.base, &ec);
    if (s->loop.engine == NULL) {
        RS_LOG(&s->proc.log, RS_LOG_ERROR, "init_failed", "what=engine");
        return -1;
    }
    engine_set_change_hook(s->loop.engine, watch_on_change, s);
    engine_tick(s->loop.engine, (uint32_t)(rs_now_ns() / 1000000000u));
    if (s->proc.cfg.node_id[0] != '\0' && server_fleet_start(s) != 0)
        return -1;

    s->loop.reaper_ev = server_event(s, -1, 0, server_reaper_cb);
    s->loop.flush_ev = server_event(s, -1, 0, server_flush_cb);
    s->loop.drain_ev = server_event(s, -1, 0, server_drain_cb);
    s->loop.exit_ev = server_event(s, -1, 0, server_exit_cb);
    accept_pause_init(&s->loop.accept_pause, s->loop.base, &s->proc.log, "tcp");
    s->loop.tick_ev = server_event(s, -1, EV_PERSIST, server_tick_cb);
    s->proc.signals = signals_start(s->loop.base, rs_gc_force_enabled(), server_on_signal, s);
    struct timeval second = {1, 0};
    event_add(s->loop.tick_ev, &second);
    s->proc.gc_force =
        rs_gc_force_start(s->loop.base, s->proc.cfg.gc_force_interval_s, &s->proc.log);

    RS_LOG(&s->proc.log, RS_LOG_INFO, "starting",
           "version=%s durability=%s redis=%s%s max_memory=%zu libevent=%s backend=%s",
           RS_VERSION_STRING,
           s->proc.cfg.durability == RS_DURABILITY_WRITE_THROUGH ? "write-through"
                                                                 : "write-behind",
           s->proc.cfg.redis_cluster[0] != '\0' ? "cluster:" : "",
           s->proc.cfg.redis[0] != '\0'           ? s->proc.cfg.redis
           : s->proc.cfg.redis_cluster[0] != '\0' ? s->proc.cfg.redis_cluster
                                                  : "none",
           s->proc.cfg.max_memory, event_get_version(), event_base_get_method(s->loop.base));
    return server_auth_start(s);
}

int server_run(rs_server *s)
{
    char status[128];
    snprintf(status, sizeof(status), "serving on port %d", s->loop.port);
    notify_ready(status);
    event_base_dispatch(s->loop.base);
    return s->proc.exit_code;
}

static void server_event_free(struct event **ev)
{
    if (*ev != NULL) {
        event_free(*ev);
        *ev = NULL;
    }
}

void server_destroy(rs_server *s)
{
    if (s->loop.listener != NULL) {
        evconnlistener_free(s->loop.listener);
        s->loop.listener = NULL;
    }
    if (s->loop.reaper_ev != NULL)
        conn_close_all(s);
    rs_gc_force_stop(s->proc.gc_force);
    s->proc.gc_force = NULL;
    server_event_free(&s->loop.reaper_ev);
    server_event_free(&s->loop.flush_ev);
    server_event_free(&s->loop.drain_ev);
    server_event_free(&s->loop.exit_ev);
    accept_pause_destroy(&s->loop.accept_pause);
    server_event_free(&s->loop.tick_ev);
    /* Past the event loop: a repeated SIGTERM/SIGINT must not kill the
     * teardown and turn the exit code into a signal's. */
    if (s->proc.shutting_down)
        signals_block_shutdown();
    signals_stop(s->proc.signals);
    s->proc.signals = NULL;
    peers_free(s->loop.peers); /* forwarded calls still waiting answer UNAVAILABLE */
    s->loop.peers = NULL;
    engine_free(s->loop.engine);
    s->loop.engine = NULL;
    fleet_free(s->loop.fleet); /* after the engine: a ring read completes into it */
    s->loop.fleet = NULL;
    dispatch_destroy(s);
    watch_destroy(&s->loop.watch);
    metrics_destroy(&s->proc.metrics);
    auth_free(s->proc.auth);
    s->proc.auth = NULL;
    tls_free(s->proc.tls);
    s->proc.tls = NULL;
    if (s->loop.base != NULL) {
        event_base_free(s->loop.base);
        s->loop.base = NULL;
    }
}
