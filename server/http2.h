/*
 * http2.h: HTTP/2 on one connection of the HTTP port (nghttp2), for
 * http_conn.c. The connection keeps its socket, TLS, timers and output
 * buffer; this part turns its input bytes into requests (one rs_http_req
 * per stream, the same struct HTTP/1.1 hands out) and the handlers'
 * answers into frames:
 *
 *   conn input ──h2_session_recv──> nghttp2 ──> stream: headers, body
 *        │                                         │ END_STREAM (or, when the
 *        │                                         │ handler streams the body,
 *        │                                         │ the end of the headers)
 *        │                                         v
 *        │                                    host->cb->on_request(req)
 *        │                                         │ http_req_reply / stream_*
 *        v                                         v
 *   conn output <──h2_session_fill── nghttp2 <── HEADERS, DATA (pulled from the
 *                                                stream's buffer), trailers
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS is lim->max_streams; a stream's
 * headers over lim->max_headers get 431 and its body over lim->max_body 413
 * (a gRPC request gets RESOURCE_EXHAUSTED in trailers instead); request
 * bodies buffered on the connection are capped at four bodies' worth
 * (REFUSED_STREAM past it); every stream must bring its headers and body
 * within lim->request_deadline_ms (CANCEL past it). nghttp2 itself checks
 * the framing, HPACK, flow control and the request's pseudo-headers.
 *
 * Nothing here touches the socket: the host's kick asks the connection to
 * run (read what is pending, call h2_session_fill, write).
 */
#ifndef RS_HTTP2_H
#define RS_HTTP2_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_conn.h"
#include "rs_log.h"

struct rs_http_conn;
typedef struct h2_session h2_session;

/* The client connection preface every HTTP/2 connection starts with. */
#define H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

typedef struct h2_host {
    const rs_http_limits *lim;
    const rs_http_callbacks *cb;
    const rs_log *log;
    rs_http_conn_stats *st;
    const char *peer;
    struct rs_http_conn *conn; /* stored in each request (req->conn) */
    /* Frames wait to be sent: run the connection (never synchronously
     * inside the caller: it schedules). */
    void (*kick)(struct rs_http_conn *conn);
} h2_session_host;

/* A server session whose SETTINGS are queued. host is copied. NULL on out
 * of memory. */
h2_session *h2_session_new(const h2_session_host *host);
/* Every open stream's request gets its gone callback (and a reply being
 * written its on_written); then everything is freed. NULL is fine. */
void h2_session_free(h2_session *s);

/* Feed the connection's input (all of it is consumed). Returns -1 when
 * the session must end (a protocol error: a GOAWAY is queued). */
int h2_session_recv(h2_session *s, struct evbuffer *in);
/* Append frames to send to out until about `room` bytes. Returns -1 on a
 * fatal error. */
int h2_session_fill(h2_session *s, struct evbuffer *out, size_t room);
/* Nothing more to read or write: the connection may close. */
bool h2_session_finished(h2_session *s);
/* The connection's output is all on the socket: answers framed before it
 * are written (on_written for each). Also run by h2_session_free. */
void h2_session_written(h2_session *s);
/* Answer bytes wait in streams' buffers (a reader that does not open its
 * window): when that stall passes lim->idle_timeout_ms, as a time; 0 when
 * nothing waits. */
uint64_t h2_session_stall_ns(const h2_session *s);
/* Frames wait to be sent (h2_session_fill would add some). */
bool h2_session_want_write(h2_session *s);
/* No stream is open. */
bool h2_session_idle(const h2_session *s);
/* When the oldest stream still receiving passes its deadline; 0: none. */
uint64_t h2_session_deadline_ns(const h2_session *s);
/* Reset the streams past their deadline (counted in deadline_closed). */
void h2_session_expire(h2_session *s, uint64_t now_ns);
/* Graceful shutdown: GOAWAY, streams open now go on. */
void h2_session_shutdown(h2_session *s);

/* The request API of http_conn.h for a request that came over HTTP/2. */
bool h2_req_reply(rs_http_req *r, int status, struct evbuffer *body);
bool h2_req_stream_begin(rs_http_req *r, int status);
size_t h2_req_stream_send(rs_http_req *r, struct evbuffer *data);
bool h2_req_stream_end(rs_http_req *r);

#endif /* RS_HTTP2_H */
