/*
 * http_stream.h: the enveloped RPC protocols of the HTTP port, shared by
 * http.c (routing), http_stream.c (the protocols and the ReadStates
 * service over them) and http_grpc_std.c (the standard gRPC health and
 * reflection services). Not for other modules: their door is http.h.
 *
 *   Content-Type                          protocol          transport
 *   application/grpc[+proto|+json]        gRPC              HTTP/2
 *   application/grpc-web[+proto]          gRPC-Web          HTTP/1.1 or 2
 *   application/grpc-web-text[+proto]     gRPC-Web, base64  HTTP/1.1 or 2
 *   application/connect+proto|+json       Connect streaming HTTP/1.1 or 2
 *
 * One hs_call per RPC: the request's messages are decoded by the method's
 * input type and handed to the method (hs_method.on_message); the method
 * answers with hs_send (one message: the reply of a unary method, an event
 * of a stream) and ends with hs_finish (a status), each protocol framing
 * them its way (trailers, a trailer envelope, an end-of-stream envelope).
 * A unary answer goes out whole at hs_finish; a stream's messages go out
 * as sent, and a reader too slow for --max-output bytes gets its stream
 * ended with RESOURCE_EXHAUSTED.
 */
#ifndef RS_HTTP_STREAM_H
#define RS_HTTP_STREAM_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_conn.h"
#include "metrics_render.h"
#include "rs_common.h"

struct rs_http;
typedef struct hs_call hs_call;

typedef enum hs_proto {
    HS_GRPC,
    HS_GRPC_WEB,
    HS_GRPC_WEB_TEXT,
    HS_CONNECT_STREAM,
    HS_PROTO_MAX
} hs_proto;
_Static_assert(HS_PROTO_MAX == RS_HTTP_STREAM_PROTOS, "rs_http_stats counts by hs_proto");

typedef enum hs_kind {
    HS_UNARY,         /* one message in, one out */
    HS_SERVER_STREAM, /* one message in, messages out until hs_finish */
    HS_BIDI           /* messages in (as they come over HTTP/2), messages out */
} hs_kind;

typedef struct hs_method {
    const char *path; /* "/grpc.health.v1.Health/Check" */
    const ProtobufCMessageDescriptor *in, *out;
    hs_kind kind;
    bool needs_token; /* tokens on (auth.h): refused without a valid bearer token */
    /* A request message, valid only during the call. */
    void (*on_message)(hs_call *c, const ProtobufCMessage *msg);
    /* The request stream ended (HS_BIDI); NULL finishes OK. */
    void (*on_end)(hs_call *c);
    /* The call is over (finished, or the client left): drop what the
     * method keeps for it. NULL: nothing kept. */
    void (*on_done)(hs_call *c);
} hs_method;

/* The protocol of a request's Content-Type, or -1 (not enveloped: Connect
 * unary and Twirp, http_rpc.c). *json: the messages are JSON. */
int hs_proto_of(const char *ctype, bool *json);

/* Serve one enveloped RPC (hs_proto_of said so). Always answers req. */
void http_stream_handle(struct rs_http *h, rs_http_req *req, hs_proto proto, bool json,
                        uint64_t start_ns);

/* Shutdown began: every streamed answer ends UNAVAILABLE (the clients
 * go to another server), so the drain does not wait on them. */
void http_stream_shutdown(struct rs_http *h);

/* Let the Watch calls that are over leave the watch registry and give
 * their reference back (from h->reap_ev, and at http_stop). */
void http_stream_reap(struct rs_http *h);

/* rs_http_callbacks.streams_body: an HTTP/2 request of a bidirectional
 * method takes its body as it comes. */
bool http_stream_wants_body(void *arg, rs_http_req *req);

/* ---- for the methods ------------------------------------------------------ */

struct rs_http *hs_http(hs_call *c);
/* A pointer's worth of the method's own state for this call (NULL at
 * first). */
void **hs_state(hs_call *c);
/* Send one message of the method's output type. Returns false when the
 * call is over (finished, the client left, or this message made the reader
 * too slow and the call was ended with RESOURCE_EXHAUSTED). */
bool hs_send(hs_call *c, const ProtobufCMessage *msg);
/* End the call with a status (message may be NULL). Once. */
void hs_finish(hs_call *c, rs_status st, const char *message);
/* Finished or the client left. */
bool hs_over(const hs_call *c);

/* ---- the standard services (http_grpc_std.c) ------------------------------- */

/* grpc.health.v1.Health/Check and Watch, grpc.reflection.v1 and v1alpha
 * ServerReflection/ServerReflectionInfo. */
extern const hs_method hs_std_methods[];
extern const size_t hs_std_methods_len;
/* Every second: health watchers whose status changed get the new one. */
void hs_std_tick(struct rs_http *h);
/* Free the standard services' state (h->std); at http_stop. */
void hs_std_free(struct rs_http *h);

#endif /* RS_HTTP_STREAM_H */
