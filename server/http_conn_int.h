/*
 * http_conn_int.h: what http_conn.c (the listener, HTTP/1.1 and the
 * connection's I/O) and http2.c (HTTP/2 on such a connection) share. Not
 * for other modules: their door is http_conn.h.
 *
 * A request is the same struct on both versions, so the handlers above
 * never know which one carried it: HTTP/1.1 keeps one per connection,
 * HTTP/2 one per stream (req->h2 set).
 */
#ifndef RS_HTTP_CONN_INT_H
#define RS_HTTP_CONN_INT_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http_conn.h"
#include "http_parse.h"

struct h2_stream;

struct rs_http_req {
    struct rs_http_conn *conn;
    struct h2_stream *h2; /* HTTP/2: the stream carrying it; NULL on HTTP/1.1 */
    char *head_buf;       /* the head, split in place by http_head_parse (or
                             the HTTP/2 header block's copy) */
    http_head head;
    struct evbuffer *body;
    struct evbuffer *out_headers; /* "name\0value\0"... */
    struct evbuffer *trailers;    /* "name\0value\0"... (HTTP/2 only) */
    void (*gone_fn)(void *arg);
    void *gone_arg;
    void (*body_fn)(void *arg, const uint8_t *data, size_t len, bool end);
    void *body_arg;
    bool early; /* HTTP/2: delivered at its headers, the body comes through body_fn */
};

/* Append src to dst (src ends empty): small amounts are copied into dst's
 * last chain, large ones moved, so a backlog of small messages costs its
 * bytes, not a buffer chain each. */
#define HTTP_APPEND_MOVE 4096
void http_buffer_append(struct evbuffer *dst, struct evbuffer *src);

/* Walk "name\0value\0" pairs: returns false at the end. */
static inline bool http_pairs_next(const char **p, const char *end, const char **name,
                                   const char **value)
{
    if (*p >= end)
        return false;
    *name = *p;
    *p += strlen(*p) + 1;
    *value = *p;
    *p += strlen(*p) + 1;
    return true;
}

#endif /* RS_HTTP_CONN_INT_H */
