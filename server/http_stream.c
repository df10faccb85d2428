/*
 * http_stream.c: gRPC, gRPC-Web and Connect streaming on the HTTP port
 * (see http_stream.h), and the ReadStates service over them.
 *
 *   http.c ──Content-Type says enveloped──> http_stream_handle
 *     route: /readstates.v1.ReadStates/<M> (the method table's HTTP rows
 *            and Watch) or a standard service (http_grpc_std.c)
 *     checks: token, draining, POST, gRPC needs HTTP/2, compression
 *     deadline: grpc-timeout / connect-timeout-ms arms a timer
 *     body: base64 (gRPC-Web text), envelopes, each message decoded
 *           (protobuf or JSON) ──> method.on_message
 *   ReadStates methods: on_message builds a Request and dispatches it with
 *   the call's sink; the sink's reply becomes hs_send + hs_finish, and for
 *   Watch the OK starts the stream and every event is one message.
 *
 * Ending a call (hs_finish), per protocol:
 *   gRPC            trailers grpc-status, grpc-message (percent-encoded);
 *                   an error before any message is a trailers-only answer
 *   gRPC-Web        a trailer envelope (flag 0x80): "grpc-status:N\r\n..."
 *   Connect stream  an end-of-stream envelope (flag 0x02) holding JSON:
 *                   {} or {"error":{"code":"...","message":"..."}}
 *
 * Lifetime: the call embeds its rs_sink (refs: one for the HTTP request
 * until the call is over, one per dispatch in flight). A Watch call is on
 * the watch registry, which holds no reference and walks its lists while
 * replying: so a Watch call leaves the registry (and its fleet relays)
 * from the loop, after the reply that ended it has returned.
 */
#include "http_stream.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "dispatch.h"
#include "grpc_wire.h"
#include "http_rpc.h"
#include "json_codec.h"
#include "methods.h"
#include "rs_list.h"
#include "watch.h"

#define HS_RS_PREFIX "/readstates.v1.ReadStates/"
/* A request message of a bidirectional method (reflection's are tens of
 * bytes): what one open stream may hold of a message not yet whole. */
#define HS_BIDI_MAX_MESSAGE 65536

struct hs_call {
    rs_sink sink; /* first: the sink pointer is the call pointer */
    struct rs_http *h;
    rs_http_req *req;   /* NULL once the call is over */
    const hs_method *m; /* a standard service's row, or &row */
    hs_method row;      /* a ReadStates method's row, built per call */
    hs_proto proto;
    bool json;
    bool begun;               /* the headers of a streamed answer went out */
    bool over;                /* finished or the client left */
    bool released;            /* the request's reference is given back */
    bool watch;               /* a ReadStates Watch: leaves the registry from the loop */
    bool encoded;             /* gRPC: a grpc-encoding this server does not take was named */
    struct evbuffer *body;    /* a unary answer, until hs_finish */
    struct evbuffer *in;      /* a streamed request body not yet whole */
    struct event *deadline;   /* grpc-timeout / connect-timeout-ms, or NULL */
    const rs_method_def *def; /* ReadStates methods */
    const ProtobufCFieldDescriptor *resp_field; /* their Response member */
    void *state;                                /* hs_state */
    hs_call *prev, *next; /* on h->streams while begun and not done; then maybe h->reap */
    uint64_t start_ns;
};

static const char *const hs_ctypes[HS_PROTO_MAX][2] = {
    [HS_GRPC] = {"application/grpc+proto", "application/grpc+json"},
    [HS_GRPC_WEB] = {"application/grpc-web+proto", "application/grpc-web+json"},
    [HS_GRPC_WEB_TEXT] = {"application/grpc-web-text+proto", "application/grpc-web-text+json"},
    [HS_CONNECT_STREAM] = {"application/connect+proto", "application/connect+json"},
};

int hs_proto_of(const char *ctype, bool *json)
{
    if (ctype == NULL)
        return -1;
    size_t n = strcspn(ctype, "; \t");
    static const struct {
        const char *name;
        hs_proto proto;
        bool json;
    } types[] = {
        {"application/grpc", HS_GRPC, false},
        {"application/grpc+proto", HS_GRPC, false},
        {"application/grpc+json", HS_GRPC, true},
        {"application/grpc-web", HS_GRPC_WEB, false},
        {"application/grpc-web+proto", HS_GRPC_WEB, false},
        {"application/grpc-web+json", HS_GRPC_WEB, true},
        {"application/grpc-web-text", HS_GRPC_WEB_TEXT, false},
        {"application/grpc-web-text+proto", HS_GRPC_WEB_TEXT, false},
        {"application/connect+proto", HS_CONNECT_STREAM, false},
        {"application/connect+json", HS_CONNECT_STREAM, true},
    };
    for (size_t i = 0; i < RS_ARRAY_LEN(types); i++)
        if (strlen(types[i].name) == n && strncasecmp(ctype, types[i].name, n) == 0) {
            *json = types[i].json;
            return (int)types[i].proto;
        }
    return -1;
}

struct rs_http *hs_http(hs_call *c)
{
    return c->h;
}

void **hs_state(hs_call *c)
{
    return &c->state;
}

bool hs_over(const hs_call *c)
{
    return c->over;
}

/* ---- the end of a call ---------------------------------------------------- */

void http_stream_reap(struct rs_http *h)
{
    rs_server *s = h->s;
    while (h->reap != NULL) {
        hs_call *c = h->reap;
        RS_DLIST_REMOVE(h->reap, c, prev, next);
        watch_remove_sink(s, &c->sink);
        dispatch_fleet_sink_gone(s, &c->sink);
        rs_sink_unref(&c->sink);
    }
}

/* The call is over: stop the timer, let the method go, give the request's
 * reference back (for Watch, from the loop: see the top). */
static void hs_done(hs_call *c)
{
    if (c->released)
        return;
    struct rs_http *h = c->h;
    c->released = true;
    c->over = true;
    c->req = NULL;
    if (c->deadline != NULL)
        event_del(c->deadline);
    if (c->begun) {
        h->stats.streams_open[c->proto]--;
        RS_DLIST_REMOVE(h->streams, c, prev, next);
    }
    if (c->m != NULL && c->m->on_done != NULL)
        c->m->on_done(c);
    if (c->watch) {
        RS_DLIST_PUSH(h->reap, c, prev, next);
        event_active(h->reap_ev, EV_TIMEOUT, 0);
        return;
    }
    rs_sink_unref(&c->sink);
}

/* The client left (or the server closed the connection). */
static void hs_gone(void *arg)
{
    hs_call *c = arg;
    c->h->stats.clients_gone++;
    hs_done(c);
}

/* Status headers of the answer: content type, CORS was added by http.c. */
static void hs_add_ctype(hs_call *c)
{
    http_req_add_header(c->req, "Content-Type", hs_ctypes[c->proto][c->json]);
    if (c->proto != HS_CONNECT_STREAM)
        http_req_add_header(c->req, "grpc-accept-encoding", "identity");
}

/* Queue bytes of the answer: buffered until hs_finish for a unary answer,
 * sent for a stream. Base64 for gRPC-Web text. Returns the bytes the
 * reader has not taken yet. */
static size_t hs_put(hs_call *c, struct evbuffer *b)
{
    if (c->proto == HS_GRPC_WEB_TEXT) {
        size_t n = evbuffer_get_length(b);
        char *text = malloc((n + 2) / 3 * 4 + 1);
        if (text != NULL) {
            size_t tn = grpc_base64_encode(evbuffer_pullup(b, -1), n, text);
            evbuffer_drain(b, n);
            evbuffer_add(b, text, tn);
            free(text);
        } else {
            evbuffer_drain(b, n);
        }
    }
    if (!c->begun) {
        evbuffer_add_buffer(c->body, b);
        return 0;
    }
    return http_req_stream_send(c->req, b);
}

/* Start a streamed answer (Watch, Health Watch, reflection). */
static bool hs_begin(hs_call *c)
{
    if (c->begun || c->over)
        return !c->over;
    hs_add_ctype(c);
    struct rs_http *h = c->h;
    h->replies_writing++;
    if (!http_req_stream_begin(c->req, 200, "OK")) {
        h->replies_writing--;
        return false;
    }
    c->begun = true;
    h->stats.streams_open[c->proto]++;
    RS_DLIST_PUSH(h->streams, c, prev, next);
    if (evbuffer_get_length(c->body) > 0)
        http_req_stream_send(c->req, c->body);
    return true;
}

/* One message, packed or as JSON, into b. */
static int hs_encode(const hs_call *c, const ProtobufCMessage *msg, struct evbuffer *b)
{
    uint8_t hdr[GRPC_ENV_HEADER];
    if (c->json) {
        size_t len = 0;
        char *text = json_codec_encode(msg, &len);
        if (text == NULL || len > UINT32_MAX) {
            free(text);
            return -1;
        }
        grpc_env_header(hdr, 0, (uint32_t)len);
        evbuffer_add(b, hdr, sizeof(hdr));
        evbuffer_add(b, text, len);
        free(text);
        return 0;
    }
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > UINT32_MAX)
        return -1;
    grpc_env_header(hdr, 0, (uint32_t)len);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(b, (ev_ssize_t)(len + sizeof(hdr)), &v, 1) != 1)
        return -1;
    memcpy(v.iov_base, hdr, sizeof(hdr));
    protobuf_c_message_pack(msg, (uint8_t *)v.iov_base + sizeof(hdr));
    v.iov_len = len + sizeof(hdr);
    return evbuffer_commit_space(b, &v, 1);
}

bool hs_send(hs_call *c, const ProtobufCMessage *msg)
{
    if (c->over)
        return false;
    if (c->m->kind != HS_UNARY && !hs_begin(c))
        return false;
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || hs_encode(c, msg, b) != 0) {
        if (b != NULL)
            evbuffer_free(b);
        hs_finish(c, RS_ERR_INTERNAL, "could not encode the reply");
        return false;
    }
    size_t queued = hs_put(c, b);
    evbuffer_free(b);
    rs_server *s = c->h->s;
    if (queued > s->proc.cfg.max_output) {
        c->h->stats.streams_slow_closed++;
        RS_LOG(&s->proc.log, RS_LOG_WARN, "slow_consumer",
               "transport=http peer=%s path=%s output_bytes=%zu max=%zu", http_req_peer(c->req),
               http_req_path(c->req), queued, s->proc.cfg.max_output);
        char text[160];
        snprintf(text, sizeof(text),
                 "the client reads too slowly: %zu bytes of this stream unread (max %zu)",
                 queued, s->proc.cfg.max_output);
        hs_finish(c, RS_ERR_EXHAUSTED, text);
        return false;
    }
    return true;
}

/* The ending of each protocol, appended to b. */
static void hs_end_bytes(hs_call *c, rs_status st, const char *message, struct evbuffer *b)
{
    uint8_t hdr[GRPC_ENV_HEADER];
    if (c->proto == HS_CONNECT_STREAM) {
        json_t *j = json_object();
        if (st != RS_OK) {
            json_t *e = json_object();
            json_object_set_new(e, "code", json_string(rs_status_rpc_name(st)));
            json_t *msg = json_string(message != NULL ? message : "");
            json_object_set_new(e, "message",
                                msg != NULL ? msg : json_string("(message not valid UTF-8)"));
            json_object_set_new(j, "error", e);
        }
        char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        size_t n = text != NULL ? strlen(text) : 0;
        grpc_env_header(hdr, GRPC_FLAG_END_STREAM, (uint32_t)n);
        evbuffer_add(b, hdr, sizeof(hdr));
        evbuffer_add(b, text != NULL ? text : "", n);
        free(text);
        return;
    }
    /* gRPC-Web: the trailers as an HTTP/1 header block in an envelope */
    char enc[1024];
    grpc_message_encode(message != NULL ? message : "", enc, sizeof(enc));
    struct evbuffer *t = evbuffer_new();
    if (t == NULL)
        return;
    evbuffer_add_printf(t, "grpc-status:%d\r\n", (int)st);
    if (enc[0] != '\0')
        evbuffer_add_printf(t, "grpc-message:%s\r\n", enc);
    grpc_env_header(hdr, GRPC_FLAG_TRAILERS, (uint32_t)evbuffer_get_length(t));
    evbuffer_add(b, hdr, sizeof(hdr));
    evbuffer_add_buffer(b, t);
    evbuffer_free(t);
}

void hs_finish(hs_call *c, rs_status st, const char *message)
{
    if (c->over)
        return;
    struct rs_http *h = c->h;
    rs_http_req *req = c->req;
    /* a stream's "latency" is its lifetime: only unary calls are logged slow */
    http_finish(h, req, rs_status_rpc_name(st), 200, c->start_ns,
                st != RS_OK && c->m->kind == HS_UNARY);
    h->stats.rpc_calls[c->proto]++;
    if (st != RS_OK)
        h->stats.rpc_errors[c->proto]++;
    http_req_on_gone(req, NULL, NULL);
    if (c->proto == HS_GRPC) {
        char code[12], enc[1024];
        snprintf(code, sizeof(code), "%d", (int)st);
        grpc_message_encode(message != NULL ? message : "", enc, sizeof(enc));
        if (!c->begun && evbuffer_get_length(c->body) == 0) {
            /* trailers-only: the status in the only HEADERS frame */
            hs_add_ctype(c);
            http_req_add_header(req, "grpc-status", code);
            if (enc[0] != '\0')
                http_req_add_header(req, "grpc-message", enc);
            c->over = true;
            http_reply(h, req, 200, "OK", NULL);
        } else {
            if (!c->begun)
                hs_begin(c);
            c->over = true;
            http_req_add_trailer(req, "grpc-status", code);
            if (enc[0] != '\0')
                http_req_add_trailer(req, "grpc-message", enc);
            http_req_stream_end(req);
        }
        hs_done(c);
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (b != NULL) {
        hs_end_bytes(c, st, message, b);
        hs_put(c, b);
        evbuffer_free(b);
    }
    c->over = true;
    if (c->begun) {
        http_req_stream_end(req);
    } else {
        hs_add_ctype(c);
        http_reply(h, req, 200, "OK", c->body);
    }
    hs_done(c);
}

/* ---- the sink (ReadStates methods through dispatch) -------------------------- */

static void hs_sink_reply(rs_sink *sink, const Readstates__V1__Response *resp)
{
    hs_call *c = (hs_call *)sink;
    if (c->over)
        return;
    rs_status st = resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
    if (st != RS_OK) {
        hs_finish(c, st, resp->status != NULL ? resp->status->message : NULL);
        return;
    }
    if (c->watch) {
        if (resp->result_case == READSTATES__V1__RESPONSE__RESULT_EVENT)
            hs_send(c, &resp->event->base);
        else
            hs_begin(c); /* the watch is registered: the stream is open */
        return;
    }
    if ((uint32_t)resp->result_case != c->resp_field->id) {
        hs_finish(c, RS_ERR_INTERNAL, "response does not match the method");
        return;
    }
    const ProtobufCMessage *result =
        *(ProtobufCMessage *const *)(const void *)((const char *)resp + c->resp_field->offset);
    if (result == NULL) { /* an empty result message */
        const ProtobufCMessageDescriptor *d = c->resp_field->descriptor;
        ProtobufCMessage *empty = malloc(d->sizeof_message);
        if (empty == NULL) {
            hs_finish(c, RS_ERR_INTERNAL, "out of memory");
            return;
        }
        d->message_init(empty);
        bool ok = hs_send(c, empty);
        free(empty);
        if (!ok)
            return;
    } else if (!hs_send(c, result)) {
        return;
    }
    hs_finish(c, RS_OK, NULL);
}

static void hs_sink_release(rs_sink *sink)
{
    hs_call *c = (hs_call *)sink;
    struct rs_http *h = c->h;
    if (c->deadline != NULL)
        event_free(c->deadline);
    if (c->body != NULL)
        evbuffer_free(c->body);
    if (c->in != NULL)
        evbuffer_free(c->in);
    free(c);
    h->calls_live--;
    http_maybe_free(h);
}

/* The server ends the stream (a relayed watch lost its upstream, the ring
 * moved the user): the client watches again and reads the states. */
static void hs_sink_close(rs_sink *sink, const char *why)
{
    hs_call *c = (hs_call *)sink;
    char text[160];
    snprintf(text, sizeof(text), "the watch ended (%s): watch again and read the states", why);
    hs_finish(c, RS_ERR_UNAVAILABLE, text);
}

static const rs_sink_ops hs_sink_ops = {
    .reply = hs_sink_reply,
    .release = hs_sink_release,
    .streams = true,
    .close = hs_sink_close,
};

/* on_message of a ReadStates method: one Request through dispatch. */
static void hs_rs_message(hs_call *c, const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *qf = protobuf_c_message_descriptor_get_field_by_name(
        &readstates__v1__request__descriptor, c->def->member);
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.id = ++c->h->next_id;
    r.call_case = (Readstates__V1__Request__CallCase)qf->id;
    memcpy((char *)&r + qf->offset, &msg, sizeof(msg));
    dispatch_request(c->h->s, &c->sink, &r, c->start_ns);
}

/* ---- requests ----------------------------------------------------------------- */

/* A method of the ReadStates service, as a row of its own. */
static bool hs_rs_method(const char *name, hs_method *out, const rs_method_def **def)
{
    const rs_method_def *d = rs_method_find(name);
    if (d == NULL || ((d->flags & RS_METHOD_F_HTTP) == 0 && strcmp(name, "Watch") != 0))
        return false;
    const ProtobufCFieldDescriptor *qf = protobuf_c_message_descriptor_get_field_by_name(
        &readstates__v1__request__descriptor, d->member);
    const ProtobufCFieldDescriptor *rf = protobuf_c_message_descriptor_get_field_by_name(
        &readstates__v1__response__descriptor, d->member);
    bool watch = strcmp(name, "Watch") == 0; /* answered by events, not a member */
    if (qf == NULL || (rf == NULL && !watch))
        return false;
    *out = (hs_method){
        .path = NULL,
        .in = qf->descriptor,
        .out = rf != NULL ? rf->descriptor : &readstates__v1__read_state_event__descriptor,
        .kind = watch ? HS_SERVER_STREAM : HS_UNARY,
        .needs_token = true,
        .on_message = hs_rs_message,
    };
    *def = d;
    return true;
}

static const hs_method *hs_std_find(const char *path)
{
    for (size_t i = 0; i < hs_std_methods_len; i++)
        if (strcmp(hs_std_methods[i].path, path) == 0)
            return &hs_std_methods[i];
    return NULL;
}

void http_stream_shutdown(struct rs_http *h)
{
    while (h->streams != NULL)
        hs_finish(h->streams, RS_ERR_UNAVAILABLE, "server is shutting down");
}

bool http_stream_wants_body(void *arg, rs_http_req *req)
{
    (void)arg;
    bool json;
    if (hs_proto_of(http_req_header(req, "content-type"), &json) < 0)
        return false;
    const hs_method *m = hs_std_find(http_req_path(req));
    return m != NULL && m->kind == HS_BIDI;
}

static void hs_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hs_finish(arg, RS_ERR_DEADLINE, "the call's deadline passed");
}

/* grpc-timeout or connect-timeout-ms: arm the call's timer. Returns -1
 * when the header is malformed (answered INVALID_ARGUMENT by the caller). */
static int hs_arm_deadline(hs_call *c, rs_http_req *req)
{
    uint64_t ns = 0;
    const char *v = http_req_header(req, "grpc-timeout");
    if (v != NULL && c->proto != HS_CONNECT_STREAM) {
        if (grpc_timeout_parse(v, &ns) != 0)
            return -1;
    } else if ((v = http_req_header(req, "connect-timeout-ms")) != NULL &&
               c->proto == HS_CONNECT_STREAM) {
        uint64_t ms = 0;
        if (rs_parse_u64(v, &ms) != 0 || strlen(v) > 10)
            return -1;
        ns = ms * 1000000u;
    } else {
        return 0;
    }
    if (ns > (uint64_t)86400 * 1000000000u)
        return 0; /* over a day: no deadline worth a timer */
    c->deadline = event_new(c->h->s->loop.base, -1, 0, hs_deadline_cb, c);
    if (c->deadline == NULL)
        return 0;
    struct timeval tv = {(time_t)(ns / 1000000000u), (suseconds_t)(ns % 1000000000u / 1000u)};
    event_add(c->deadline, &tv);
    return 0;
}

/* Decode one envelope's message and hand it to the method. */
static void hs_message(hs_call *c, uint8_t flags, const uint8_t *msg, size_t len)
{
    if ((flags & GRPC_FLAG_COMPRESSED) != 0) {
        /* gRPC: an encoding we do not take is UNIMPLEMENTED (the answer's
         * grpc-accept-encoding says identity); the flag with no encoding
         * named is the client's error: INTERNAL, as grpc-go answers */
        if (c->proto == HS_GRPC && !c->encoded)
            hs_finish(c, RS_ERR_INTERNAL, "compressed flag set without a grpc-encoding");
        else
            hs_finish(c, RS_ERR_UNIMPLEMENTED,
                      "compressed messages are not supported (identity only)");
        return;
    }
    if (flags != 0) {
        hs_finish(c, RS_ERR_INVALID, "unexpected envelope flags in the request");
        return;
    }
    char err[256];
    ProtobufCMessage *m;
    if (c->json) {
        m = json_codec_decode(c->m->in, len == 0 ? "{}" : (const char *)msg, len == 0 ? 2 : len,
                              err, sizeof(err));
    } else {
        m = protobuf_c_message_unpack(c->m->in, NULL, len, msg);
        if (m == NULL)
            snprintf(err, sizeof(err), "malformed %s message", c->m->in->name);
    }
    if (m == NULL) {
        hs_finish(c, RS_ERR_INVALID, err);
        return;
    }
    c->m->on_message(c, m);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Every whole envelope in c->in; *count counts them. Returns -1 after
 * answering a malformed one. */
static int hs_drain_envelopes(hs_call *c, uint32_t *count)
{
    size_t max = c->h->s->proc.cfg.http_max_body;
    if (c->m->kind == HS_BIDI) /* its stream stays open: one message held is small */
        max = RS_MIN(max, (size_t)HS_BIDI_MAX_MESSAGE);
    while (!c->over && evbuffer_get_length(c->in) > 0) {
        size_t have = evbuffer_get_length(c->in);
        const uint8_t *data = evbuffer_pullup(c->in, -1);
        uint8_t flags = 0;
        const uint8_t *msg = NULL;
        size_t len = 0;
        long used = grpc_env_next(data, have, max, &flags, &msg, &len);
        if (used < 0) {
            char text[96];
            snprintf(text, sizeof(text), "request message over %zu bytes (%s)", max,
                     c->m->kind == HS_BIDI ? "a bidirectional stream's limit"
                                           : "--http-max-body");
            hs_finish(c, RS_ERR_EXHAUSTED, text);
            return -1;
        }
        if (used == 0)
            return 0;
        ++*count;
        if (c->m->kind != HS_BIDI && (size_t)used != have) {
            /* the body is whole here: the one message must be all of it */
            hs_finish(c, RS_ERR_INVALID,
                      have - (size_t)used >= GRPC_ENV_HEADER
                          ? "a unary or server-streaming call takes one message"
                          : "the request ends inside a message envelope");
            return -1;
        }
        hs_message(c, flags, msg, len);
        evbuffer_drain(c->in, (size_t)used);
    }
    return 0;
}

/* The request's messages are all in: anything left is a cut envelope. */
static void hs_input_end(hs_call *c, uint32_t count)
{
    if (c->over)
        return;
    if (evbuffer_get_length(c->in) > 0) {
        hs_finish(c, RS_ERR_INVALID, "the request ends inside a message envelope");
        return;
    }
    if (c->m->kind != HS_BIDI && count == 0) {
        hs_finish(c, RS_ERR_INVALID, "the request carries no message");
        return;
    }
    if (c->m->kind == HS_BIDI) {
        if (c->m->on_end != NULL)
            c->m->on_end(c);
        else
            hs_finish(c, RS_OK, NULL);
    }
}

/* Body bytes of a bidirectional call over HTTP/2, as they come. */
static void hs_body_cb(void *arg, const uint8_t *data, size_t len, bool end)
{
    hs_call *c = arg;
    uint32_t count = 0;
    if (c->over)
        return;
    if (len > 0)
        evbuffer_add(c->in, data, len);
    rs_sink_ref(&c->sink); /* the method may finish the call under us */
    if (hs_drain_envelopes(c, &count) == 0 && end)
        hs_input_end(c, count);
    rs_sink_unref(&c->sink);
}

/* The request body into c->in (base64 decoded for gRPC-Web text). */
static int hs_take_body(hs_call *c, rs_http_req *req)
{
    size_t len = 0;
    const uint8_t *data = http_req_body(req, &len);
    if (c->proto != HS_GRPC_WEB_TEXT)
        return evbuffer_add(c->in, data, len);
    uint8_t *bin = malloc(len / 4 * 3 + 3);
    if (bin == NULL)
        return -1;
    /* whitespace may separate chunks */
    char *text = malloc(len + 1);
    size_t tn = 0;
    if (text == NULL) {
        free(bin);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if (data[i] != '\r' && data[i] != '\n' && data[i] != ' ' && data[i] != '\t')
            text[tn++] = (char)data[i];
    long n = grpc_base64_decode(text, tn, bin);
    free(text);
    int rc = n < 0 ? -2 : evbuffer_add(c->in, bin, (size_t)n);
    free(bin);
    return rc;
}

/* An answer in plain HTTP (the call is not one yet): 405, 415. */
static void hs_plain_error(struct rs_http *h, rs_http_req *req, int status, const char *reason,
                           const char *text, uint64_t start_ns)
{
    struct evbuffer *b = evbuffer_new();
    if (b != NULL)
        evbuffer_add_printf(b, "%s\n", text);
    http_req_add_header(req, "Content-Type", "text/plain; charset=utf-8");
    if (status == 405)
        http_req_add_header(req, "Allow", "POST");
    http_finish(h, req, reason, status, start_ns, true);
    http_reply(h, req, status, reason, b);
    if (b != NULL)
        evbuffer_free(b);
}

static hs_call *hs_call_new(struct rs_http *h, rs_http_req *req, hs_proto proto, bool json,
                            uint64_t start_ns)
{
    hs_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->body = evbuffer_new();
    c->in = evbuffer_new();
    if (c->body == NULL || c->in == NULL) {
        if (c->body != NULL)
            evbuffer_free(c->body);
        if (c->in != NULL)
            evbuffer_free(c->in);
        free(c);
        return NULL;
    }
    c->sink.ops = &hs_sink_ops;
    c->sink.refs = 1; /* the request's, until hs_done */
    c->h = h;
    c->req = req;
    c->proto = proto;
    c->json = json;
    c->start_ns = start_ns;
    h->calls_live++;
    http_req_on_gone(req, hs_gone, c);
    return c;
}

/* The checks every call passes before its body is read. Returns false
 * once the call is finished. */
static bool hs_admit(hs_call *c, rs_http_req *req)
{
    rs_server *s = c->h->s;
    if (c->m->needs_token && auth_enabled(s->proc.auth) &&
        !auth_check_bearer(s->proc.auth, http_req_header(req, "authorization"))) {
        s->proc.metrics.auth_failures_http++;
        hs_finish(c, RS_ERR_UNAUTHENTICATED,
                  "this server needs a token: send authorization: Bearer <token>");
        return false;
    }
    if (s->proc.shutting_down) {
        hs_finish(c, RS_ERR_UNAVAILABLE, "server is shutting down");
        return false;
    }
    const char *enc = http_req_header(
        req, c->proto == HS_CONNECT_STREAM ? "connect-content-encoding" : "grpc-encoding");
    if (enc != NULL && strcasecmp(enc, "identity") != 0) {
        if (c->proto == HS_GRPC) {
            c->encoded = true; /* refused only if a message comes compressed */
        } else {
            hs_finish(c, RS_ERR_UNIMPLEMENTED, "compressed messages are not supported");
            return false;
        }
    }
    if (hs_arm_deadline(c, req) != 0) {
        hs_finish(c, RS_ERR_INVALID, "malformed grpc-timeout or connect-timeout-ms");
        return false;
    }
    return true;
}

void http_stream_handle(struct rs_http *h, rs_http_req *req, hs_proto proto, bool json,
                        uint64_t start_ns)
{
    if (http_req_method(req) != HTTP_M_POST) {
        hs_plain_error(h, req, 405, "Method Not Allowed", "RPC methods take POST", start_ns);
        return;
    }
    if (proto == HS_GRPC && http_req_version(req) != 2) {
        hs_plain_error(h, req, 415, "Unsupported Media Type",
                       "gRPC needs HTTP/2 (h2c with prior knowledge, or h2 over TLS); over "
                       "HTTP/1.1 use gRPC-Web or Connect",
                       start_ns);
        return;
    }
    hs_call *c = hs_call_new(h, req, proto, json, start_ns);
    if (c == NULL) {
        hs_plain_error(h, req, 503, "Service Unavailable", "out of memory", start_ns);
        return;
    }
    const char *path = http_req_path(req);
    if (strncmp(path, HS_RS_PREFIX, strlen(HS_RS_PREFIX)) == 0 &&
        hs_rs_method(path + strlen(HS_RS_PREFIX), &c->row, &c->def)) {
        c->m = &c->row;
        c->resp_field = protobuf_c_message_descriptor_get_field_by_name(
            &readstates__v1__response__descriptor, c->def->member);
        c->watch = c->row.kind == HS_SERVER_STREAM;
    } else if ((c->m = hs_std_find(path)) == NULL) {
        c->m = &c->row; /* zeroed: unary, nothing to call */
        char text[200];
        snprintf(text, sizeof(text), "no method %.150s on this server", path);
        hs_finish(c, RS_ERR_UNIMPLEMENTED, text);
        return;
    }
    if (!hs_admit(c, req))
        return;
    if (c->m->kind == HS_BIDI && http_req_body_streams(req)) {
        /* HTTP/2, delivered at its headers: messages as they come */
        http_req_on_body(req, hs_body_cb, c);
        hs_body_cb(c, NULL, 0, false);
        return;
    }
    int rc = hs_take_body(c, req);
    if (rc != 0) {
        hs_finish(c, rc == -2 ? RS_ERR_INVALID : RS_ERR_INTERNAL,
                  rc == -2 ? "the gRPC-Web text body is not base64" : "out of memory");
        return;
    }
    hs_body_cb(c, NULL, 0, true);
}
