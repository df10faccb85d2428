/*
 * server.h: rs_server, the one context of a readstated process.
 *
 * Everything the server owns hangs off this struct and is passed down; there
 * are no process-wide mutable globals. It has two halves: the process's
 * (rs_process: settings, log, metrics registry, signals, TLS and token
 * material, the shutdown's outcome) and one event loop's worker (rs_loop:
 * the event base and everything on it). A process runs one loop today;
 * the fleet scales by processes, and a worker per thread would be one more
 * rs_loop, not an untangling.
 *
 *   rs_server
 *   ├── proc: cfg, log, metrics, signals, tls, auth, exit_code
 *   └── loop
 *       ├── base ──── listener ──accept──> rs_conn <-> rs_conn <-> ... (conns)
 *       ├── engine ── cache + store (store.h: memory or Redis)  │ frames
 *       ├── dispatch state (spare ops), arena  <───────┘ dispatch_request(sink, req)
 *       ├── watch registry (user -> watching sinks), fed by the change hook
 *       ├── http (the HTTP port: http_conn, routes, RPC)
 *       └── tick (1 s): cache clock, on_tick (HTTP metrics); drain and exit timers
 *
 * Who calls whom: server.c owns and calls down into conn.c, dispatch.c,
 * watch.c, http.c and the engine; none of them calls back up into
 * server.c. What they must tell the owner goes through a hook it set
 * (output_done) or through the state it reads (inflight, nconns).
 *
 * Lifecycle: server_init -> server_listen -> [http_start] -> server_run
 * (returns after a graceful shutdown) -> [http_stop] -> server_destroy.
 *
 * Signals (signals.h): SIGHUP reloads (reload.c), SIGUSR1 logs a status
 * line, and SIGTERM, SIGINT, SIGQUIT, SIGXCPU and SIGPWR shut down
 * gracefully; none of the others an operator might send kills the server.
 *
 * Graceful shutdown (SIGTERM/SIGINT or server_shutdown): stop accepting,
 * stop reading every connection, let in-flight requests finish (at most
 * shutdown_timeout_ms), then engine_shutdown flushes everything dirty; the
 * exit code is 0 when nothing was left unflushed, else 1.
 */
#ifndef RS_SERVER_H
#define RS_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdint.h>

#include "accept_pause.h"
#include "config.h"
#include "engine.h"
#include "metrics.h"
#include "rs_arena.h"
#include "rs_log.h"
#include "watch.h"

typedef struct rs_server rs_server;
typedef struct rs_conn rs_conn;
struct rs_http;
struct rs_dispatch;
struct rs_gc_force;

/* A function run once a second from the tick timer. */
typedef void (*rs_tick_fn)(rs_server *s, void *arg);

/* What there is one of per process: settings and their sources, the log,
 * the metrics registry, signals, TLS and token material, the shutdown's
 * outcome. A worker reads these; it never owns them. */
typedef struct rs_process {
    rs_config cfg;
    rs_log log;
    rs_metrics metrics;
    int argc; /* the process's arguments, for reloads */
    char **argv;
    struct rs_signals *signals; /* signals.h: shutdown, reload, status */
    struct rs_tls *tls;         /* TLS on both ports (tls.h), NULL when plain */
    /* Bearer tokens (auth.h): none loaded means every caller is accepted.
     * Loaded at start from --auth-token-file, re-read on SIGHUP. */
    struct rs_auth *auth;
    struct rs_gc_force *gc_force; /* the GC build's forced collections, else NULL */
    bool shutting_down;
    int exit_code;
    uint64_t started_wall_ms;
} rs_process;

/* One event loop and everything that runs on it (memcached's
 * LIBEVENT_THREAD): its event base, listener and connections, the engine
 * with its cache and store connection, the per-request arena, dispatch's
 * state, Watch's registry, the HTTP port, the tick and the shutdown's
 * drain. Today a process runs one; a fleet of processes scales out. */
typedef struct rs_loop {
    struct event_base *base;
    rs_engine *engine;
    struct evconnlistener *listener;
    int port; /* bound TCP port (after server_listen) */

    /* connections (conn.c) */
    rs_conn *conns;   /* open connections, doubly linked */
    rs_conn *closing; /* closed, waiting for the reaper (singly linked) */
    struct event *reaper_ev;
    rs_conn *flushing;      /* answered outside their read batch: write them */
    struct event *flush_ev; /* runs conn_flush_pending, activated on demand */
    uint32_t nconns;
    uint64_t next_conn_id;
    rs_accept_pause accept_pause; /* EMFILE and co.: pause, log once per interval */
    /* Connection caps in force: the settings', or lower where the
     * descriptor limit could not be raised to fit them (server_init). */
    uint32_t max_connections;
    uint32_t http_max_connections;

    /* requests (dispatch.c) */
    rs_arena arena;       /* per-request memory, reset when depth drops to 0 */
    uint32_t arena_depth; /* nesting of dispatch_arena_enter (dispatch.h) */
    uint64_t inflight;    /* requests dispatched and not yet answered, all sinks */
    struct rs_dispatch *dispatch;

    /* Watch (watch.c) */
    rs_watch_registry watch;

    /* tick and shutdown */
    struct event *tick_ev;
    struct event *drain_ev; /* checks whether in-flight requests are done */
    uint64_t drain_deadline_ns;
    bool engine_stopping;
    bool exit_pending;     /* flushed: leave once the last connection is gone */
    struct event *exit_ev; /* bounds that wait */

    /* Hook for the HTTP port's metrics: run every tick when set. */
    rs_tick_fn on_tick;
    void *on_tick_arg;
    /* A connection is gone (conn.c) or an HTTP reply written (http.c):
     * either may be the last output a finishing shutdown waits for. Set by
     * server_init; the parts call it instead of calling up into server.c. */
    void (*output_done)(rs_server *s);

    /* The HTTP port: set by main from http_start, NULL when off. */
    struct rs_http *http;
    /* The fleet (--node-id): the ring (fleet.h), calls to other nodes
     * (peer.h); NULL when not in a fleet. */
    struct rs_fleet *fleet;
    struct rs_peers *peers;
    struct fleet_relay *relays; /* watches relayed from other nodes (dispatch_fleet.c) */
    struct {
        uint64_t forwarded_out;    /* calls answered through their owner */
        uint64_t forward_failures; /* of those, the owner did not answer */
        uint64_t misrouted_in;     /* forwarded here, but owned elsewhere */
        uint64_t forwarded_in;     /* calls other nodes forwarded here */
        uint64_t relays_open;      /* watches relayed from other nodes */
        uint64_t relayed_events;   /* events they brought */
    } fleet_stats;
} rs_loop;

struct rs_server {
    rs_process proc; /* the process's */
    rs_loop loop;    /* the one event loop's */
};

/* Set up the event base, the engine (from cfg), metrics, signals and the
 * tick. cfg is copied. Returns 0, or -1 (logged) on failure; on failure
 * server_destroy is still safe to call. */
int server_init(rs_server *s, const rs_config *cfg);

/* Bind the TCP listener, log event=listening and write --port-file.
 * Returns 0, or -1 (logged). */
int server_listen(rs_server *s);

/* Run the event loop until a graceful shutdown finishes. Returns the exit
 * code: 0, or 1 when states were left unflushed. */
int server_run(rs_server *s);

/* Re-read the settings (SIGHUP, reload.c): apply those that can change at
 * run time, log each difference and whether it applied or needs a
 * restart. A settings file that does not parse changes nothing. */
void server_reload(rs_server *s);

/* Begin a graceful shutdown (what SIGTERM does). Safe to call twice. */
void server_shutdown(rs_server *s);

/* Free everything server_init created (closes any connection left). */
void server_destroy(rs_server *s);

/* Dispatch's state (dispatch.c): the per-request arena, spare operation
 * objects and the list of requests waiting on storage. init aborts on out
 * of memory; destroy frees what is left (call after engine_free). */
void dispatch_init(rs_server *s);
void dispatch_destroy(rs_server *s);

#endif /* RS_SERVER_H */
