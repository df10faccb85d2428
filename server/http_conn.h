/*
 * http_conn.h: the HTTP port's listener and HTTP/1.1 connections, on the
 * server's event base, with the limits a public port needs:
 *
 *   - at most max_connections open; one more is answered 503 and closed
 *     at once (counted, logged at most once a second);
 *   - a request's headers and body must arrive within request_deadline_ms
 *     from its first byte: bytes do not extend it (slowloris), and a
 *     connection past it gets 408 and is closed;
 *   - an idle kept-alive connection, or one whose reply the peer does not
 *     read, is closed after idle_timeout_ms;
 *   - headers over max_headers get 431, a body over max_body 413;
 *   - accept() out of descriptors or memory pauses the listener
 *     (accept_pause.h) instead of spinning;
 *   - with TLS (limits.tls) every connection speaks it: bytes move through
 *     OpenSSL (tls.h), the handshake inside the first reads, and the
 *     deadline covers the handshake too.
 *
 * A connection serves one request at a time (pipelined requests wait in
 * the socket): it reads a request, hands it to on_request and stops
 * reading until the handler answers with http_req_reply, now or later,
 * writes the reply, and then reads the next one. A handler that answers
 * later learns that its connection went away first (http_req_on_gone:
 * the server closed it at shutdown, or a timeout or error did; a client's
 * hang-up is seen only when the reply is written, since a connection is
 * not read while its request is served); after that callback, or after
 * http_req_reply, the request is not the handler's to touch.
 *
 *   listener ──accept──> http_conn ──read──> http_parse ──> on_request(req)
 *                          ^                                     │
 *                          └──── next request <── write <── http_req_reply
 *
 * The owner registers callbacks; nothing here knows the server.
 */
#ifndef RS_HTTP_CONN_H
#define RS_HTTP_CONN_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_log.h"

typedef struct rs_http_conns rs_http_conns;
typedef struct rs_http_req rs_http_req;

typedef struct rs_http_limits {
    uint32_t max_connections;
    size_t max_headers; /* bytes of request line and headers */
    size_t max_body;
    uint32_t request_deadline_ms; /* one request's headers and body */
    uint32_t idle_timeout_ms;     /* idle between requests, or stalled writing */
    struct rs_tls *tls;           /* TLS on every connection (tls.h); NULL: plain */
    uint32_t max_streams;         /* HTTP/2: concurrent streams per connection */
} rs_http_limits;

typedef struct rs_http_callbacks {
    /* A whole request is in: answer it with http_req_reply, now or later. */
    void (*on_request)(void *arg, rs_http_req *req);
    /* A reply left (or its connection failed before it could). */
    void (*on_written)(void *arg);
    /* HTTP/2: a request whose headers are in and whose body is still to
     * come: true to have on_request now and the body through
     * http_req_on_body (bidirectional streams). NULL: always whole. */
    bool (*streams_body)(void *arg, rs_http_req *req);
    void *arg;
} rs_http_callbacks;

typedef struct rs_http_conn_stats {
    uint64_t open;            /* connections open now */
    uint64_t accepted;        /* connections accepted */
    uint64_t rejected;        /* refused over max_connections */
    uint64_t deadline_closed; /* closed at the request deadline */
    uint64_t idle_closed;     /* closed idle or stalled */
    uint64_t bad_requests;    /* closed after a 4xx/5xx from the parser */
    uint64_t accept_failures; /* accept() errors (EMFILE...) */
    uint64_t tls_errors;      /* closed on a TLS handshake or record error */
    uint64_t http2;           /* connections that turned to HTTP/2 */
} rs_http_conn_stats;

typedef enum rs_http_method {
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_POST,
    HTTP_M_OPTIONS,
    HTTP_M_OTHER
} rs_http_method;

/* Create the connection set (no socket yet). cb is copied. Aborts on out
 * of memory. */
rs_http_conns *http_conns_new(struct event_base *base, const rs_http_limits *limits,
                              const rs_log *log, const rs_http_callbacks *cb);

/* Listen on host:port (port 0 picks one). Returns the bound port, or -1
 * (logged). */
int http_conns_listen(rs_http_conns *hc, const char *host, int port);

/* Serve an already connected socket (a socketpair's end in the fuzzer and
 * tests) as if accepted: made non-blocking, subject to the cap. Takes the
 * descriptor either way. Returns 0, or -1 if it was refused. */
int http_conns_adopt(rs_http_conns *hc, evutil_socket_t fd, const char *peer);

/* Close the listening socket; open connections stay. */
void http_conns_stop_accepting(rs_http_conns *hc);

/* Close every connection (requests being served get their gone callback)
 * and free everything. NULL is fine. */
void http_conns_free(rs_http_conns *hc);

const rs_http_conn_stats *http_conns_stats(const rs_http_conns *hc);

/* ---- one request ------------------------------------------------------- */

rs_http_method http_req_method(const rs_http_req *r);
const char *http_req_method_name(const rs_http_req *r);
const char *http_req_path(const rs_http_req *r);  /* the target before '?' */
const char *http_req_query(const rs_http_req *r); /* after '?', or NULL */
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const rs_http_req *r, const char *name);
/* The body (decoded if it came chunked); never NULL. */
const uint8_t *http_req_body(const rs_http_req *r, size_t *len);
/* "host:port" of the client. */
const char *http_req_peer(const rs_http_req *r);

/* Add a response header (before http_req_reply). */
void http_req_add_header(rs_http_req *r, const char *name, const char *value);

/* Answer: status line, the added headers, Content-Length, and the body
 * (moved out of `body`, which may be NULL; none is sent for HEAD). After
 * this the request is gone for the caller. Returns false (and sends
 * nothing) if the request was answered already: on_written will then not
 * run for this call. */
bool http_req_reply(rs_http_req *r, int status, const char *reason, struct evbuffer *body);

/* The client left before the reply: fn(arg) runs once, and the request is
 * gone for the caller. Set NULL to cancel. */
void http_req_on_gone(rs_http_req *r, void (*fn)(void *arg), void *arg);

/* ---- streamed replies and request bodies ---------------------------------
 *
 * A reply may also go out in parts: http_req_stream_begin sends the status
 * and the added headers, http_req_stream_send queues body bytes (chunked
 * on HTTP/1.1, close-delimited on HTTP/1.0, DATA frames on HTTP/2), and
 * http_req_stream_end ends it, with the added trailers on HTTP/2 (HTTP/1.x
 * has none: protocols that need them there carry them in the body). Until
 * the end the request stays the caller's, and the gone callback tells it
 * when the client leaves (it is read for that while the reply streams).
 * None of these write or close synchronously: the connection runs from
 * the loop, so a caller may send from inside any callback.
 */

/* 1 for HTTP/1.x, 2 for HTTP/2. */
int http_req_version(const rs_http_req *r);
/* Add a trailer (HTTP/2; ignored on HTTP/1.x), before http_req_stream_end. */
void http_req_add_trailer(rs_http_req *r, const char *name, const char *value);
/* Send the status line and headers of a streamed reply. Returns false if
 * the request was answered already. */
bool http_req_stream_begin(rs_http_req *r, int status, const char *reason);
/* Queue body bytes (moved out of data). Returns the bytes of this reply
 * still waiting to be written (a slow reader makes it grow). */
size_t http_req_stream_send(rs_http_req *r, struct evbuffer *data);
/* End the streamed reply; the request is then gone for the caller. */
void http_req_stream_end(rs_http_req *r);
/* Delivered before its body ended (HTTP/2, callbacks.streams_body said
 * so): the body comes through http_req_on_body. */
bool http_req_body_streams(const rs_http_req *r);
/* HTTP/2 requests delivered early (callbacks.streams_body): the body's
 * bytes as they come, then fn(arg, NULL, 0, true) at its end. Set from
 * on_request; bytes that came before are in http_req_body. */
void http_req_on_body(rs_http_req *r,
                      void (*fn)(void *arg, const uint8_t *data, size_t len, bool end),
                      void *arg);

#endif /* RS_HTTP_CONN_H */
