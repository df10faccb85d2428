/*
 * dispatch.h: one Request in, one Response out, whatever the transport.
 *
 * The framed TCP connections (conn.c) and the HTTP port (http.c) both turn
 * bytes into a Readstates__V1__Request and hand it to dispatch_request with
 * a sink. Dispatch validates it, runs it through the engine (synchronously
 * for cached users, later for users being loaded or, in write-through, being
 * persisted) and calls sink->reply exactly once with the Response. Handlers
 * never see a socket.
 *
 *   conn.c / http.c ──request──> dispatch_request ──engine──> cache
 *          ^                                                   |
 *          └──────────── sink->reply(response) <───────────────┘
 *
 * The sink is reference-counted: dispatch takes a reference while a call is
 * pending, so a connection that closes meanwhile stays allocated (marked
 * closed) until its last call completes; replies to a closed sink are
 * dropped by the sink itself.
 */
#ifndef RS_DISPATCH_H
#define RS_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "readstates.pb-c.h"
#include "rs_common.h"

typedef struct rs_server rs_server;
typedef struct rs_sink rs_sink;

typedef struct rs_sink_ops {
    /* Deliver a response. `resp` and everything it points to are valid only
     * during the call: pack or serialise it before returning. */
    void (*reply)(rs_sink *sink, const Readstates__V1__Response *resp);
    /* The last reference is gone: free the sink. */
    void (*release)(rs_sink *sink);
    /* Watch support: NULL for transports that cannot stream (HTTP answers a
     * Watch with UNIMPLEMENTED). */
    bool streams;
    /* A streaming sink's connection closed by the server (a relayed watch
     * lost its upstream: the client reconnects and reads the current
     * states, as after any watch disconnection). NULL: cannot. */
    void (*close)(rs_sink *sink, const char *why);
} rs_sink_ops;

struct rs_sink {
    const rs_sink_ops *ops;
    uint32_t refs;
    uint32_t inflight; /* calls dispatched and not yet replied: dispatch adds 1
                          when a call starts and takes it off just before that
                          call's reply, so reply() sees the new count */
    /* Watch (watch.c): this sink's watch entries, NULL when none. Only
     * streaming sinks ever get one; start it NULL. */
    struct watch_entry *watches;
    uint32_t nwatches; /* entries on that list */
};

static inline void rs_sink_ref(rs_sink *s)
{
    s->refs++;
}
static inline void rs_sink_unref(rs_sink *s)
{
    if (--s->refs == 0)
        s->ops->release(s);
}

/* Run one request. The request is only read during the call (dispatch
 * copies what it keeps). start_ns is when the request was read (latency is
 * measured from it). */
void dispatch_request(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                      uint64_t start_ns);

/* Per-request memory (s->loop.arena, set up by dispatch_init): enter before
 * decoding a request into it, leave after the response is out. Nested
 * enters share the arena; it is reset when the outermost leave runs. */
void dispatch_arena_enter(rs_server *s);
void dispatch_arena_leave(rs_server *s);

/* A streaming sink is gone (its connection reaped): end the watches relayed
 * for it from other fleet nodes (dispatch_fleet.c). */
void dispatch_fleet_sink_gone(rs_server *s, rs_sink *sink);

/* The fleet's ring changed: end the watches that no longer reach their
 * users' owners (relayed ones, and local ones of users whose slot moved);
 * their clients reconnect and watch again. */
void dispatch_fleet_ring_changed(rs_server *s);

/* The method of a request, for metrics and logs. */
rs_method dispatch_method(const Readstates__V1__Request *req);

/* What the access check of a framed connection that is not authenticated
 * yet did with a request (dispatch_auth_gate). */
typedef enum dispatch_gate {
    DISPATCH_GATE_PASS,    /* tokens are off: the connection is authenticated; dispatch req */
    DISPATCH_GATE_OK,      /* an Auth with a good token: answered OK, now authenticated */
    DISPATCH_GATE_REFUSED, /* answered UNAUTHENTICATED; one more failure counted */
    DISPATCH_GATE_CLOSE,   /* answered UNAUTHENTICATED, too many failures: close once
                              the answer is written */
    DISPATCH_GATE_MAX
} dispatch_gate;

/* The first calls of a framed connection while tokens are on (auth.h):
 * an Auth with a loaded token is answered OK; any other call ("call Auth
 * first") or a wrong token is answered UNAUTHENTICATED and counts in
 * *failures (and in readstates_auth_failures_total{transport="tcp"}); at
 * RS_AUTH_MAX_FAILURES the caller closes the connection. With tokens off
 * nothing is answered: the caller dispatches req as usual. Once a
 * connection is authenticated its requests (Auth again included) go
 * straight to dispatch_request. */
dispatch_gate dispatch_auth_gate(rs_server *s, rs_sink *sink,
                                 const Readstates__V1__Request *req, uint64_t start_ns,
                                 uint32_t *failures);

#endif /* RS_DISPATCH_H */
