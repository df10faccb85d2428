/*
 * lg_engine.h: the load engine: connections, pipelines, the send loop.
 *
 * One libevent base drives every connection. Each connection owns `depth`
 * preallocated request slots; a request occupies a slot from the moment it
 * is encoded into the connection's output until its answer (or failure)
 * comes back. No allocation per request.
 *
 *              schedule (rate mode)        closed loop (max, fill)
 *   timer --> take due requests ---+   +-- answer frees a slot, refill
 *                                  v   v
 *      conn[0] [slot slot .. slot]  conn[1] [..]  ...  conn[N-1] [..]
 *           \ target ops: encode op -> output buffer; parse answers /
 *
 * Rate mode is open loop: when every slot is busy, due requests wait in the
 * schedule's backlog and keep their scheduled time as their start, so the
 * latency of a stalled target keeps growing instead of disappearing.
 *
 * Answer timing: a target that can tell when each answer arrived (the rs
 * target, from the kernel's receive timestamps) reports that time with
 * lg_engine_on_answer_at, and may then be read lazily. In rate mode the
 * engine lets such a target hold answers unread ("deferred") and collects
 * them at its next wake-up: the next scheduled send, or LG_COLLECT_NS after
 * the last collection while requests are in flight. It asks for a wake-up
 * on every answer ("eager") whenever answers are needed now: outside rate
 * mode, while due requests wait for a free slot, and once the run stops.
 *
 *   deferred:  tick(t_i): collect answers (arrival stamps) -> send due -> arm
 *   eager:     answer readable -> read -> free slot -> send backlog
 *
 * The engine talks to a target (our framed protocol, or Redis directly)
 * only through lg_target_ops; targets report back through the
 * lg_engine_on_* functions.
 */
#ifndef LG_ENGINE_H
#define LG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "lg_hiccup.h"
#include "lg_sched.h"
#include "lg_stats.h"
#include "lg_work.h"

struct event_base;
struct event;
struct bufferevent;
struct redisAsyncContext;

#define LG_TOKEN_MAX 4096

typedef enum lg_mode {
    LG_MODE_RATE,   /* open loop at a fixed rate */
    LG_MODE_CLOSED, /* closed loop: keep every pipeline full */
    LG_MODE_FILL,   /* closed loop over a fixed set of bulk acks, then exit */
    LG_MODE_MAX
} lg_mode;

typedef enum lg_target_kind {
    LG_TARGET_RS,    /* rs://host:port (rss:// with TLS): readstated's framed protocol */
    LG_TARGET_REDIS, /* redis://host:port: the same workload straight on Redis */
    LG_TARGET_KIND_MAX
} lg_target_kind;

typedef struct lg_config {
    lg_target_kind target;
    char host[256];
    int port;
    lg_mode mode;
    double rate;       /* requests per second (rate mode) */
    uint32_t conns;    /* connections */
    uint32_t depth;    /* pipeline depth per connection */
    double duration_s; /* measured phase; in fill mode the time limit */
    double warmup_s;   /* before the measured phase, not recorded */
    double drain_s;    /* after it: wait this long at most for answers */
    double connect_s;  /* wait this long at most for connections */
    lg_work_cfg work;
    uint64_t fill_users;
    uint32_t fill_channels;
    int server_pid;    /* 0: unknown */
    bool live;         /* a line every second */
    uint64_t batch_ns; /* rate mode: at most one send batch per this (LG_TICK_MIN_NS) */
    bool hiccups;      /* run the platform hiccup meter (lg_hiccup.h) beside the load */
    /* rs target: a bearer token sent in an Auth call on every connection
     * before it carries load (empty: none) */
    char token[LG_TOKEN_MAX];
    /* rs target over TLS (rss://): verify the server with tls_ca (empty:
     * the system's CAs); tls_cert/tls_key for mutual TLS (empty: none) */
    bool tls;
    char tls_ca[256];
    char tls_cert[256];
    char tls_key[256];
    /* rs target in a fleet (--ring): the slot table from GetRing. Connection
     * i goes to node i % nnodes, and every request goes on a connection of
     * its user's owner (the first user of an AddMentions). NULL: every
     * connection to host:port. */
    const struct rs_ring *ring;
} lg_config;

typedef struct lg_slot {
    uint64_t start_ns; /* scheduled (rate) or send (closed loop) time */
    uint32_t gen;      /* bumped on every reuse; part of the request id */
    uint8_t method;
    uint8_t busy;
    uint16_t n; /* entries carried (bulk ack), for counting fill progress */
} lg_slot;

typedef enum lg_conn_state {
    LG_CONN_DOWN,
    LG_CONN_CONNECTING,
    LG_CONN_READY,
    LG_CONN_STATE_MAX
} lg_conn_state;

typedef struct lg_engine lg_engine;

typedef struct lg_conn {
    lg_engine *eng;
    uint32_t idx;
    lg_conn_state state;
    struct bufferevent *bev;       /* rs target */
    struct redisAsyncContext *rac; /* redis target */
    lg_slot *slots;                /* depth slots */
    uint32_t *free_stack;          /* indexes of free slots */
    uint32_t nfree;
    struct event *retry; /* reconnect timer */
} lg_conn;

typedef struct lg_target_ops {
    const char *scheme;
    /* Once before connecting (e.g. load scripts). 0, or -1 with err set. */
    int (*prepare)(lg_engine *e, char *err, size_t errlen);
    /* Free what prepare allocated inside e->target_data (which the engine
     * frees). May be NULL. */
    void (*release)(lg_engine *e);
    /* Start connecting c; call lg_engine_on_ready when usable. 0 or -1. */
    int (*connect)(lg_conn *c);
    /* Encode op as the request in slot `slot` and queue it for sending. */
    void (*send)(lg_conn *c, const lg_op *op, uint32_t slot);
    /* Push out what send queued; called after every batch of sends. May be
     * NULL (the target writes on its own). */
    void (*flush)(lg_engine *e);
    /* Close c without callbacks into the engine. */
    void (*close)(lg_conn *c);
    /* Read every answer that has arrived by now, without waiting, and report
     * them (with their arrival times). May be NULL. */
    void (*collect)(lg_engine *e);
    /* eager: report answers as soon as they arrive (the default); false:
     * hold them until collect. A target that cannot time answers without
     * reading them at once stays eager. May be NULL (always eager). */
    void (*set_eager)(lg_engine *e, bool eager);
} lg_target_ops;

/* Deferred answers are collected at most this long after the last
 * collection (their latency is timed by arrival, not by collection), so
 * any rate of at least 250 requests/s needs one wake-up per request. It
 * stays below the live line's slack: a second is printed complete. */
#define LG_COLLECT_NS 4000000ull

/* Rate mode sends at most once per this interval (the default of
 * --batch-us): requests that fall due
 * closer together go out in one batch, on one connection while its slots
 * last (one write, one timer wake-up). A request sent up to this much after
 * its scheduled time has that delay counted in its latency (latency is
 * timed from the schedule), so batching hides nothing; it only keeps the
 * generator's own cost per request below the server's at high rates. */
#define LG_TICK_MIN_NS 50000ull

struct lg_engine {
    lg_config cfg;
    const lg_target_ops *ops;
    struct event_base *base;
    lg_conn *conns;
    uint32_t rr;     /* round-robin cursor */
    bool held;       /* --ring, rate mode: op waits for a connection of its owner */
    uint64_t held_t; /* its scheduled time */
    lg_op held_op;
    uint32_t free_ready; /* free slots on ready connections */
    lg_work work;
    lg_sched sched;
    lg_stats stats;
    uint64_t t0_ns;        /* load starts (warm-up begins) */
    uint64_t t_meas_ns;    /* measured phase begins */
    uint64_t meas_unix_ms; /* the same moment on the wall clock (for reports) */
    uint64_t t_end_ns;     /* measured phase ends; no new requests after */
    uint64_t t_drain_ns;   /* give up waiting for answers */
    bool started, stopping, fill_done;
    uint64_t inflight;
    uint64_t fill_total; /* fill: states in bulk acks answered OK */
    double cpu0_self, cpu0_server;

    lg_cpu_ticks steal0, steal1; /* /proc/stat at the measured phase's start and end */
    lg_hiccup *hiccup;           /* cfg.hiccups: the meter; joined when run returns */

    int tick_fd;           /* send timer (rate mode): a timerfd */
    struct event *tick;    /* watches tick_fd */
    uint64_t tick_at;      /* when it fires (UINT64_MAX: disarmed) */
    uint64_t last_tick_ns; /* when the tick last ran (cfg.batch_ns) */
    struct event *second;  /* once a second: live line, phase changes */
    struct event *sigint;
    bool eager;           /* the target reports answers at once (see top) */
    bool collecting;      /* inside ops->collect: the caller pumps after */
    uint32_t live_sec;    /* next window to print */
    uint64_t conn_errors; /* connection failures seen */
    bool failed;          /* lg_engine_fail: the run stops, lg_engine_run returns -1 */
    char err[256];
    void *target_data; /* target's own state (e.g. script hashes) */
};

/* Create an engine for cfg. Returns NULL with a message in err on bad
 * configuration or failure. Free with lg_engine_free. */
lg_engine *lg_engine_new(const lg_config *cfg, char *err, size_t errlen);
void lg_engine_free(lg_engine *e);
/* Run to the end. Returns 0, or -1 (message in e->err) when the target
 * could not be reached at all or the hiccup meter could not start. Results
 * are in e->stats (and e->hiccup's record: its thread is joined by then). */
int lg_engine_run(lg_engine *e);

/* Callbacks for targets. */
void lg_engine_on_ready(lg_conn *c);
/* The answer to the request in `slot` (status: wire code or lg_status),
 * arriving now. */
void lg_engine_on_answer(lg_conn *c, uint32_t slot, int status);
/* The same, for an answer that arrived at done_ns (monotonic, rs_now_ns's
 * clock; clamped to [start of the request, now]). */
void lg_engine_on_answer_at(lg_conn *c, uint32_t slot, int status, uint64_t done_ns);
/* The connection failed: every request in flight fails, reconnect later. */
void lg_engine_on_conn_error(lg_conn *c, const char *why);
/* Nothing can succeed (the server refused the token): stop the run now;
 * lg_engine_run returns -1 with why in e->err. */
void lg_engine_fail(lg_engine *e, const char *why);

extern const lg_target_ops lg_target_rs_ops;
extern const lg_target_ops lg_target_redis_ops;

#endif /* LG_ENGINE_H */
