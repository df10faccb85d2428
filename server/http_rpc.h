/*
 * http_rpc.h: what http.c (the port, routing, operator endpoints) and
 * http_rpc.c (Connect/Twirp unary calls) share. Not for other modules:
 * their door is http.h.
 */
#ifndef RS_HTTP_RPC_H
#define RS_HTTP_RPC_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_conn.h"
#include "metrics_render.h"
#include "server.h"

struct rs_http {
    rs_server *s;
    rs_http_conns *conns;     /* listener and connections (http_conn.h) */
    int port;                 /* bound port */
    bool stopped_accepting;   /* the listening socket is closed */
    uint64_t next_id;         /* Request.id for calls made over HTTP */
    uint64_t calls_live;      /* http_call objects not yet released */
    uint64_t replies_writing; /* replies handed over and not yet written */
    bool stopped;             /* http_stop ran; freed when calls_live drops to 0 */
    rs_metrics_ticker ticker; /* per-second history deltas */
    rs_http_stats stats;      /* responses by handler and class */
    struct hs_std *std;       /* http_grpc_std.c's state (health watchers); NULL: none yet */
    struct hs_call *streams;  /* streamed answers open (http_stream.c), ended at shutdown */
    struct hs_call *reap;     /* Watch calls over, to leave the registry from the loop */
    struct event *reap_ev;    /* runs http_stream_reap */
};

/* The RPC path prefixes. */
#define HTTP_RPC_CONNECT_PREFIX "/readstates.v1.ReadStates/"
#define HTTP_RPC_TWIRP_PREFIX   "/twirp/readstates.v1.ReadStates/"

typedef enum http_rpc_protocol {
    HTTP_RPC_CONNECT,
    HTTP_RPC_TWIRP,
    HTTP_RPC_PROTOCOL_MAX
} http_rpc_protocol;

/* Serve one RPC request: `method` is the path after the prefix. Always
 * answers req (now, or later once dispatch replies). */
void http_rpc_handle(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                     const char *method, uint64_t start_ns);

/* Account for a response about to be sent: count it by handler and status
 * class and, when `log` is set, log it if slow (or always with
 * --log-requests) the way dispatch logs requests. */
void http_finish(struct rs_http *h, rs_http_req *req, const char *what, int http_status,
                 uint64_t start_ns, bool log);

/* Send the reply (http_req_reply), counted in replies_writing until the
 * connection reports it written. */
void http_reply(struct rs_http *h, rs_http_req *req, int status, const char *reason,
                struct evbuffer *body);

/* Why the server is not ready (what /readyz says after "not ready: "),
 * or NULL when it is. buf holds the text when it is built. */
const char *http_unready(struct rs_http *h, char *buf, size_t len);

/* Free h if http_stop ran and no call holds it any more. */
void http_maybe_free(struct rs_http *h);

#endif /* RS_HTTP_RPC_H */
