/*
 * http_rpc.h: what http.c (the port, routing, operator endpoints) and
 * http_rpc.c (Connect/Twirp unary calls) share. Not for other modules:
 * their door is http.h.
 */
#ifndef RS_HTTP_RPC_H
#define RS_HTTP_RPC_H

#include <event2/http.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics_render.h"
#include "server.h"

struct rs_http {
    rs_server *s;
    struct evhttp *evh;
    int port;                          /* bound port */
    struct evhttp_bound_socket *bound; /* the listening socket; NULL once closed */
    uint64_t next_id;                  /* Request.id for calls made over HTTP */
    uint64_t calls_live;               /* http_call objects not yet released */
    uint64_t replies_writing;          /* replies handed to evhttp and not yet written */
    bool stopped;                      /* http_stop ran; freed when calls_live drops to 0 */
    rs_metrics_ticker ticker;          /* per-second history deltas */
    rs_http_stats stats;               /* responses by handler and class */
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
void http_rpc_handle(struct rs_http *h, struct evhttp_request *req, http_rpc_protocol proto,
                     const char *method, uint64_t start_ns);

/* Account for a response about to be sent: count it by handler and status
 * class and, when `log` is set, log it if slow (or always with
 * --log-requests) the way dispatch logs requests. */
void http_finish(struct rs_http *h, struct evhttp_request *req, const char *what,
                 int http_status, uint64_t start_ns, bool log);

/* Free h if http_stop ran and no call holds it any more. */
void http_maybe_free(struct rs_http *h);

#endif /* RS_HTTP_RPC_H */
