/*
 * http2.c: HTTP/2 sessions of the HTTP port over nghttp2 (see http2.h).
 *
 * Streams
 *   begin_headers ──> h2_stream (on the session's list and, until its
 *                     request is complete, on the receiving list, oldest
 *                     first, which holds the request deadline)
 *   header        ──> "name\0value\0" into the stream's header buffer
 *   end of headers──> the request's head (pseudo-headers become method,
 *                     path, query; :authority becomes host); delivered at
 *                     once when it ends the stream or the handler streams
 *                     request bodies (callbacks.streams_body)
 *   data          ──> the body buffer (or the handler's body callback)
 *   END_STREAM    ──> delivered (on_request) / body callback's end
 *   stream close  ──> the handler's gone callback if it had not answered,
 *                     on_written if its answer was being sent; freed
 *
 * Answers: a whole reply is HEADERS (+ DATA from the stream's buffer); a
 * streamed one is HEADERS, then DATA as the handler queues it (the data
 * source defers while the buffer is empty and is resumed on the next
 * send), then the trailers (or an empty DATA with END_STREAM). Response
 * header names are lowercased; the connection-level headers of HTTP/1.1
 * are dropped.
 */
#include "http2.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_conn_int.h"
#include "rs_common.h"
#include "rs_list.h"

#define H2_MAX_NV          (HTTP_MAX_HEADER_FIELDS + 4)
#define H2_BODY_CAP_BODIES 4u

typedef struct h2_stream h2_stream;

struct h2_stream {
    h2_session *s;
    int32_t id;
    rs_http_req req;
    struct evbuffer *hdrs; /* received "name\0value\0" */
    size_t hdr_bytes;      /* as HPACK counts them: name + value + 32 */
    uint32_t nhdrs;
    uint64_t start_ns;
    h2_stream *prev, *next;   /* the session's streams */
    h2_stream *rprev, *rnext; /* receiving, oldest first */
    struct evbuffer *out;     /* response body not yet framed */
    int status;               /* the request's own error (431, 413) to answer */
    bool receiving;           /* on the receiving list */
    bool delivered;           /* on_request ran */
    bool answered;            /* a reply or stream began */
    bool ended;               /* no more body: EOF once out drains */
    bool deferred;            /* the data source waits for bytes */
    bool reply_pending;       /* answered: on_written is owed */
    bool discard;             /* drop the rest of the request's body */
    bool grpc;                /* its content-type is application/grpc* (seen even
                                 in headers refused as too large) */
};

struct h2_session {
    h2_session_host host;
    nghttp2_session *ng;
    h2_stream *streams;
    h2_stream *recv_head, *recv_tail;
    size_t nstreams;
    size_t buffered;      /* request body bytes held by streams still receiving */
    size_t queued;        /* answer bytes in the streams' buffers, not framed yet */
    uint64_t progress_ns; /* when answer bytes last left a stream's buffer */
    uint32_t owed;        /* answers framed whose on_written waits for the socket */
};

/* ---- streams ------------------------------------------------------------ */

static void recv_unlink(h2_stream *st)
{
    if (!st->receiving)
        return;
    h2_session *s = st->s;
    if (st->rprev != NULL)
        st->rprev->rnext = st->rnext;
    else
        s->recv_head = st->rnext;
    if (st->rnext != NULL)
        st->rnext->rprev = st->rprev;
    else
        s->recv_tail = st->rprev;
    st->rprev = st->rnext = NULL;
    st->receiving = false;
    s->buffered -= RS_MIN(s->buffered, evbuffer_get_length(st->req.body));
}

static h2_stream *stream_new(h2_session *s, int32_t id)
{
    h2_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->hdrs = evbuffer_new();
    st->out = evbuffer_new();
    st->req.body = evbuffer_new();
    st->req.out_headers = evbuffer_new();
    st->req.trailers = evbuffer_new();
    if (st->hdrs == NULL || st->out == NULL || st->req.body == NULL ||
        st->req.out_headers == NULL || st->req.trailers == NULL) {
        evbuffer_free(st->hdrs);
        evbuffer_free(st->out);
        evbuffer_free(st->req.body);
        evbuffer_free(st->req.out_headers);
        evbuffer_free(st->req.trailers);
        free(st);
        return NULL;
    }
    st->s = s;
    st->id = id;
    st->req.conn = s->host.conn;
    st->req.h2 = st;
    st->start_ns = rs_now_ns();
    RS_DLIST_PUSH(s->streams, st, prev, next);
    s->nstreams++;
    st->receiving = true;
    st->rprev = s->recv_tail;
    if (s->recv_tail != NULL)
        s->recv_tail->rnext = st;
    else
        s->recv_head = st;
    s->recv_tail = st;
    return st;
}

/* The stream is closed or the session ends: tell the handler, free. */
static void stream_free(h2_stream *st)
{
    h2_session *s = st->s;
    recv_unlink(st);
    if (st->delivered && st->req.gone_fn != NULL) {
        void (*fn)(void *) = st->req.gone_fn;
        st->req.gone_fn = NULL;
        fn(st->req.gone_arg);
    }
    if (st->reply_pending)
        s->owed++; /* its frames may still wait in the connection's output */
    s->queued -= RS_MIN(s->queued, evbuffer_get_length(st->out));
    RS_DLIST_REMOVE(s->streams, st, prev, next);
    s->nstreams--;
    if (s->ng != NULL)
        nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
    evbuffer_free(st->hdrs);
    evbuffer_free(st->out);
    free(st->req.head_buf);
    evbuffer_free(st->req.body);
    evbuffer_free(st->req.out_headers);
    evbuffer_free(st->req.trailers);
    free(st);
}

static h2_stream *stream_of(h2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s->ng, id);
}

/* ---- answers -------------------------------------------------------------- */

static ssize_t data_read_cb(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)user_data;
    h2_stream *st = source->ptr;
    int n = evbuffer_remove(st->out, buf, length);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (n > 0) {
        st->s->queued -= RS_MIN(st->s->queued, (size_t)n);
        st->s->progress_ns = rs_now_ns();
    }
    if (evbuffer_get_length(st->out) > 0)
        return n;
    if (!st->ended) {
        if (n > 0)
            return n;
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    size_t tlen = evbuffer_get_length(st->req.trailers);
    if (tlen > 0) {
        nghttp2_nv nv[H2_MAX_NV];
        size_t nnv = 0;
        const char *p = (const char *)evbuffer_pullup(st->req.trailers, -1);
        const char *end = p + tlen, *name, *value;
        while (nnv < H2_MAX_NV && http_pairs_next(&p, end, &name, &value))
            nv[nnv++] = (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value,
                                     strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE};
        if (nghttp2_submit_trailer(ng, stream_id, nv, nnv) == 0)
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return n;
}

static bool h2_hop_header(const char *name)
{
    static const char *const hop[] = {"connection", "keep-alive",       "transfer-encoding",
                                      "upgrade",    "proxy-connection", "content-length"};
    for (size_t i = 0; i < RS_ARRAY_LEN(hop); i++)
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    return false;
}

/* :status, the added headers (lowercased; content-length when known),
 * then the data source when the answer has a body. */
static bool h2_submit(h2_stream *st, int status, long content_length, bool with_body)
{
    h2_session *s = st->s;
    char names[H2_MAX_NV][64];
    char status_text[8], clen[24];
    nghttp2_nv nv[H2_MAX_NV];
    size_t nnv = 0;
    snprintf(status_text, sizeof(status_text), "%d", status);
    nv[nnv++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status_text, 7,
                             strlen(status_text), NGHTTP2_NV_FLAG_NONE};
    size_t hlen = evbuffer_get_length(st->req.out_headers);
    static const char none[] = "";
    /* an empty buffer pulls up to NULL: walk an empty string instead */
    const char *p = hlen > 0 ? (const char *)evbuffer_pullup(st->req.out_headers, -1) : none;
    const char *end = p + hlen, *name, *value;
    while (nnv < H2_MAX_NV - 1 && http_pairs_next(&p, end, &name, &value)) {
        size_t n = strlen(name);
        if (n == 0 || n >= sizeof(names[0]) || h2_hop_header(name))
            continue;
        for (size_t i = 0; i <= n; i++)
            names[nnv][i] = (char)tolower((unsigned char)name[i]);
        nv[nnv] = (nghttp2_nv){(uint8_t *)names[nnv], (uint8_t *)(uintptr_t)value, n,
                               strlen(value), NGHTTP2_NV_FLAG_NONE};
        nnv++;
    }
    if (content_length >= 0 && nnv < H2_MAX_NV) {
        snprintf(clen, sizeof(clen), "%ld", content_length);
        nv[nnv++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)clen, 14, strlen(clen),
                                 NGHTTP2_NV_FLAG_NONE};
    }
    nghttp2_data_provider prd = {.source = {.ptr = st}, .read_callback = data_read_cb};
    int rc = nghttp2_submit_response(s->ng, st->id, nv, nnv, with_body ? &prd : NULL);
    if (rc != 0) {
        RS_LOG(s->host.log, RS_LOG_WARN, "http2_submit_failed",
               "peer=%s stream=%d error=\"%s\"", s->host.peer, st->id, nghttp2_strerror(rc));
        return false;
    }
    st->answered = true;
    s->host.kick(s->host.conn);
    return true;
}

bool h2_req_reply(rs_http_req *r, int status, struct evbuffer *body)
{
    h2_stream *st = r->h2;
    if (st->answered)
        return false;
    size_t blen = body != NULL ? evbuffer_get_length(body) : 0;
    bool head = r->head.method != NULL && strcmp(r->head.method, "HEAD") == 0;
    bool no_body = status == 204 || status == 304 || head;
    if (body != NULL) {
        if (!no_body) {
            evbuffer_add_buffer(st->out, body);
            st->s->queued += blen;
        } else {
            evbuffer_drain(body, blen);
        }
    }
    st->ended = true;
    st->discard = true; /* a body still coming is not kept: it was answered */
    r->gone_fn = NULL;
    r->body_fn = NULL;
    if (!h2_submit(st, status, no_body ? -1 : (long)blen, !no_body && blen > 0))
        return false;
    st->reply_pending = true;
    return true;
}

bool h2_req_stream_begin(rs_http_req *r, int status)
{
    h2_stream *st = r->h2;
    if (st->answered)
        return false;
    if (!h2_submit(st, status, -1, true))
        return false;
    st->reply_pending = true;
    return true;
}

size_t h2_req_stream_send(rs_http_req *r, struct evbuffer *data)
{
    h2_stream *st = r->h2;
    if (!st->answered || st->ended) {
        evbuffer_drain(data, evbuffer_get_length(data));
        return 0;
    }
    size_t n = evbuffer_get_length(data);
    if (st->s->queued == 0)
        st->s->progress_ns = rs_now_ns(); /* the stall clock starts with a backlog */
    http_buffer_append(st->out, data);
    st->s->queued += n;
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
    st->s->host.kick(st->s->host.conn);
    /* one reader's backlog: the whole connection's, as --max-output is per
     * connection on the framed port too */
    return st->s->queued;
}

bool h2_req_stream_end(rs_http_req *r)
{
    h2_stream *st = r->h2;
    if (!st->answered || st->ended)
        return false;
    st->ended = true;
    st->discard = true;
    r->gone_fn = NULL;
    r->body_fn = NULL;
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->s->ng, st->id);
    }
    st->s->host.kick(st->s->host.conn);
    return true;
}

/* The request's own error, answered by this layer (the handler never saw
 * the request). gRPC clients read trailers, not HTTP statuses. */
static void stream_refuse(h2_stream *st, int status, const char *text)
{
    if (st->answered)
        return;
    rs_http_req *r = &st->req;
    if (st->grpc) {
        /* gRPC reads the outcome from grpc-status, not from :status */
        http_req_add_header(r, "content-type", "application/grpc");
        http_req_add_header(r, "grpc-status",
                            status == 413 || status == 431 ? "8"
                            : status == 400                ? "3"
                                                           : "14");
        http_req_add_header(r, "grpc-message", text);
        h2_req_reply(r, 200, NULL);
    } else {
        struct evbuffer *b = evbuffer_new();
        http_req_add_header(r, "content-type", "text/plain; charset=utf-8");
        if (b != NULL)
            evbuffer_add_printf(b, "%s\n", text);
        h2_req_reply(r, status, b);
        if (b != NULL)
            evbuffer_free(b);
    }
    /* answered here, not through the owner (http_reply): no on_written is owed */
    st->reply_pending = false;
    st->s->host.st->bad_requests++;
}

/* ---- requests --------------------------------------------------------------- */

/* The header block is complete: build the request's head. Returns 0, or
 * the status to answer. */
static int stream_head(h2_stream *st)
{
    rs_http_req *r = &st->req;
    size_t len = evbuffer_get_length(st->hdrs);
    r->head_buf = malloc(len + 1);
    if (r->head_buf == NULL)
        return 503;
    evbuffer_remove(st->hdrs, r->head_buf, len);
    r->head_buf[len] = '\0';
    http_head *h = &r->head;
    h->minor = 1;
    h->keep_alive = true;
    const char *p = r->head_buf, *end = r->head_buf + len, *name, *value;
    while (http_pairs_next(&p, end, &name, &value)) {
        if (strcmp(name, ":method") == 0) {
            h->method = value;
        } else if (strcmp(name, ":path") == 0) {
            char *q = strchr((char *)(uintptr_t)value, '?');
            if (q != NULL) {
                *q = '\0';
                h->query = q + 1;
            }
            h->path = value;
        } else if (name[0] == ':') {
            if (strcmp(name, ":authority") == 0 && h->nheaders < HTTP_MAX_HEADER_FIELDS)
                h->headers[h->nheaders++] = (http_header){"host", value};
        } else if (h->nheaders < HTTP_MAX_HEADER_FIELDS) {
            h->headers[h->nheaders++] = (http_header){name, value};
        } else {
            return 431;
        }
    }
    if (h->method == NULL || h->path == NULL)
        return 400; /* CONNECT without :path; nghttp2 checked the rest */
    return 0;
}

static void stream_deliver(h2_stream *st, bool early)
{
    h2_session *s = st->s;
    recv_unlink(st);
    st->delivered = true;
    st->req.early = early;
    s->host.cb->on_request(s->host.cb->arg, &st->req);
}

/* The end of the request's body. */
static void stream_body_end(h2_stream *st)
{
    recv_unlink(st);
    if (st->status != 0) {
        stream_refuse(st, st->status,
                      st->status == 413 ? "request body too large"
                                        : "request header fields too large");
        return;
    }
    if (!st->delivered) {
        stream_deliver(st, false);
        return;
    }
    if (st->req.body_fn != NULL)
        st->req.body_fn(st->req.body_arg, NULL, 0, true);
}

/* ---- nghttp2 callbacks --------------------------------------------------------- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    h2_session *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2_stream *st = stream_new(s, frame->hd.stream_id);
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM this one */
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    (void)ng;
    (void)flags;
    h2_session *s = user_data;
    h2_stream *st = stream_of(s, frame->hd.stream_id);
    if (st == NULL || st->delivered)
        return 0; /* trailers of a delivered request: ignored */
    if (namelen == 12 && memcmp(name, "content-type", 12) == 0 && valuelen >= 16 &&
        strncasecmp((const char *)value, "application/grpc", 16) == 0)
        st->grpc = true;
    if (st->status != 0)
        return 0; /* refused already: the rest is only looked at for the above */
    st->hdr_bytes += namelen + valuelen + 32;
    if (st->hdr_bytes > s->host.lim->max_headers || ++st->nhdrs > HTTP_MAX_HEADER_FIELDS + 4 ||
        memchr(name, '\0', namelen) != NULL || memchr(value, '\0', valuelen) != NULL) {
        st->status = 431;
        return 0;
    }
    evbuffer_add(st->hdrs, name, namelen);
    evbuffer_add(st->hdrs, "", 1);
    evbuffer_add(st->hdrs, value, valuelen);
    evbuffer_add(st->hdrs, "", 1);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data)
{
    (void)ng;
    h2_session *s = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    h2_stream *st = stream_of(s, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (st->status == 0)
            st->status = stream_head(st);
        if (st->status != 0) {
            st->discard = true;
            stream_refuse(st, st->status,
                          st->status == 431   ? "request header fields too large"
                          : st->status == 400 ? "malformed request (no :method or :path)"
                                              : "out of memory");
            recv_unlink(st);
            return 0;
        }
        if (!end && s->host.cb->streams_body != NULL &&
            s->host.cb->streams_body(s->host.cb->arg, &st->req)) {
            stream_deliver(st, true);
            return 0;
        }
    }
    if (end && !st->discard)
        stream_body_end(st);
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    h2_session *s = user_data;
    h2_stream *st = stream_of(s, stream_id);
    if (st == NULL || st->discard)
        return 0;
    if (st->delivered && st->req.body_fn != NULL) {
        st->req.body_fn(st->req.body_arg, data, len, false);
        return 0;
    }
    const rs_http_limits *lim = s->host.lim;
    size_t have = evbuffer_get_length(st->req.body);
    if (have + len > lim->max_body) {
        st->discard = true;
        stream_refuse(st, 413, "request body too large");
        recv_unlink(st);
        return 0;
    }
    size_t cap = RS_MAX(lim->max_body, (size_t)1 << 20) * H2_BODY_CAP_BODIES;
    if (st->receiving && s->buffered + len > cap) {
        st->discard = true;
        recv_unlink(st);
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    evbuffer_add(st->req.body, data, len);
    if (st->receiving)
        s->buffered += len;
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)ng;
    (void)error_code;
    h2_session *s = user_data;
    h2_stream *st = stream_of(s, stream_id);
    if (st != NULL)
        stream_free(st);
    return 0;
}

/* ---- the session ------------------------------------------------------------ */

h2_session *h2_session_new(const h2_session_host *host)
{
    h2_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->host = *host;
    nghttp2_session_callbacks *cbs = NULL;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        free(s);
        return NULL;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rc = nghttp2_session_server_new(&s->ng, cbs, s);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        free(s);
        return NULL;
    }
    const rs_http_limits *lim = host->lim;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, lim->max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)RS_MIN(lim->max_headers, UINT32_MAX)},
    };
    if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, RS_ARRAY_LEN(iv)) != 0) {
        nghttp2_session_del(s->ng);
        free(s);
        return NULL;
    }
    return s;
}

void h2_session_free(h2_session *s)
{
    if (s == NULL)
        return;
    while (s->streams != NULL)
        stream_free(s->streams);
    h2_session_written(s); /* the answers owed are lost with the connection */
    nghttp2_session_del(s->ng);
    free(s);
}

void h2_session_written(h2_session *s)
{
    while (s->owed > 0) {
        s->owed--;
        if (s->host.cb->on_written != NULL)
            s->host.cb->on_written(s->host.cb->arg);
    }
}

uint64_t h2_session_stall_ns(const h2_session *s)
{
    if (s->queued == 0)
        return 0;
    return s->progress_ns + (uint64_t)s->host.lim->idle_timeout_ms * 1000000u;
}

int h2_session_recv(h2_session *s, struct evbuffer *in)
{
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(s->ng, v.iov_base, v.iov_len);
        if (n < 0) {
            RS_LOG(s->host.log, RS_LOG_DEBUG, "http2_error", "peer=%s error=\"%s\"",
                   s->host.peer, nghttp2_strerror((int)n));
            s->host.st->bad_requests++;
            if (n != NGHTTP2_ERR_BAD_CLIENT_MAGIC)
                nghttp2_session_terminate_session(s->ng, NGHTTP2_PROTOCOL_ERROR);
            evbuffer_drain(in, evbuffer_get_length(in));
            return -1;
        }
        evbuffer_drain(in, (size_t)n);
    }
    return 0;
}

int h2_session_fill(h2_session *s, struct evbuffer *out, size_t room)
{
    size_t added = 0;
    while (added < room) {
        const uint8_t *data = NULL;
        ssize_t n = nghttp2_session_mem_send(s->ng, &data);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        evbuffer_add(out, data, (size_t)n);
        added += (size_t)n;
    }
    return 0;
}

bool h2_session_finished(h2_session *s)
{
    return nghttp2_session_want_read(s->ng) == 0 && nghttp2_session_want_write(s->ng) == 0;
}

bool h2_session_want_write(h2_session *s)
{
    return nghttp2_session_want_write(s->ng) != 0;
}

bool h2_session_idle(const h2_session *s)
{
    return s->nstreams == 0;
}

uint64_t h2_session_deadline_ns(const h2_session *s)
{
    if (s->recv_head == NULL)
        return 0;
    return s->recv_head->start_ns + (uint64_t)s->host.lim->request_deadline_ms * 1000000u;
}

void h2_session_expire(h2_session *s, uint64_t now_ns)
{
    uint64_t ms = (uint64_t)s->host.lim->request_deadline_ms * 1000000u;
    while (s->recv_head != NULL && s->recv_head->start_ns + ms <= now_ns) {
        h2_stream *st = s->recv_head;
        recv_unlink(st);
        st->discard = true;
        s->host.st->deadline_closed++;
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
    s->host.kick(s->host.conn);
}

void h2_session_shutdown(h2_session *s)
{
    nghttp2_submit_shutdown_notice(s->ng);
    s->host.kick(s->host.conn);
}
