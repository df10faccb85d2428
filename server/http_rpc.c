/*
 * http_rpc.c: Connect and Twirp unary RPC over the HTTP port (http_conn.h).
 *
 *   POST /readstates.v1.ReadStates/Ack         (Connect)
 *   POST /twirp/readstates.v1.ReadStates/Ack   (Twirp)
 *     body application/proto | application/protobuf | application/json
 *       │ unpack (protobuf-c) or json_codec_decode, by the method's
 *       │ request type, taken from the Request oneof member's descriptor
 *       v
 *   Readstates__V1__Request{id, call = <member>} ──dispatch_request──> ...
 *       ... sink->reply(Response) ──> result member, packed or JSON,
 *                                     or an error JSON with its HTTP status
 *
 * Methods are the method table's rows marked HTTP (methods.h), found by
 * name; each row names its oneof member (Ack -> "ack", SetReadState ->
 * "set", ...), and message types come from the descriptors, so nothing
 * here is written per method or per message.
 *
 * Lifetime of a call (http_call embeds the rs_sink):
 * - Created with one reference; dispatch takes its own while pending.
 * - While unanswered, the request's gone callback points at the call: if
 *   the connection closes first (http_stop, a write error), the call drops
 *   the request and its reply is never sent.
 * - Answering clears the gone callback first (http_call_take).
 * - The last unref frees the call; http_stop defers freeing rs_http until
 *   no call refers to it.
 */
#include "http_rpc.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "dispatch.h"
#include "json_codec.h"
#include "methods.h"

typedef enum http_body_kind {
    HTTP_BODY_PROTO,
    HTTP_BODY_JSON,
    HTTP_BODY_KIND_MAX
} http_body_kind;

typedef struct http_call {
    rs_sink sink; /* first: the sink pointer is the call pointer */
    struct rs_http *h;
    rs_http_req *req; /* NULL once answered or gone */
    http_rpc_protocol proto;
    http_body_kind body;
    const ProtobufCFieldDescriptor *resp_field; /* expected Response member */
    const char *rpc;
    uint64_t start_ns;
} http_call;

/* ---- errors ------------------------------------------------------------ */

static int http_status_of(http_rpc_protocol proto, rs_status st)
{
    switch (st) {
    case RS_ERR_INVALID: return 400;
    case RS_ERR_NOT_FOUND: return 404;
    case RS_ERR_EXHAUSTED: return 429;
    case RS_ERR_UNAVAILABLE: return 503;
    case RS_ERR_DEADLINE: return proto == HTTP_RPC_TWIRP ? 408 : 504;
    case RS_ERR_UNIMPLEMENTED: return 501;
    case RS_ERR_UNAUTHENTICATED: return 401;
    default: return 500;
    }
}

static const char *http_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

/* Send an error body: Connect {"code","message"} or Twirp {"code","msg"}.
 * Not logged here: see http_rpc_send_error. */
static void http_rpc_write_error(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                                 int status, const char *code, const char *message)
{
    json_t *j = json_object();
    json_object_set_new(j, "code", json_string(code));
    json_t *msg = json_string(message != NULL ? message : "");
    json_object_set_new(j, proto == HTTP_RPC_TWIRP ? "msg" : "message",
                        msg != NULL ? msg : json_string("(message not valid UTF-8)"));
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    http_req_add_header(req, "Content-Type", "application/json");
    if (status == 405)
        http_req_add_header(req, "Allow", "POST");
    struct evbuffer *out = evbuffer_new();
    if (out != NULL && text != NULL)
        evbuffer_add(out, text, strlen(text));
    free(text);
    http_reply(h, req, status, http_reason(status), out);
    if (out != NULL)
        evbuffer_free(out);
}

/* An error found by the HTTP layer itself (dispatch never saw the call):
 * logged like a request, then sent. */
static void http_rpc_send_error(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                                int status, const char *code, const char *message,
                                uint64_t start_ns)
{
    http_finish(h, req, code, status, start_ns, true);
    http_rpc_write_error(h, req, proto, status, code, message);
}

static void http_rpc_send_status(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                                 rs_status st, const char *message, uint64_t start_ns)
{
    http_rpc_send_error(h, req, proto, http_status_of(proto, st), rs_status_rpc_name(st),
                        message, start_ns);
}

/* ---- success bodies ---------------------------------------------------- */

typedef struct http_pb_buffer {
    ProtobufCBuffer base;
    struct evbuffer *out;
    int err;
} http_pb_buffer;

static void http_pb_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    http_pb_buffer *pb = (http_pb_buffer *)b;
    if (evbuffer_add(pb->out, data, len) != 0)
        pb->err = -1;
}

/* Serialise msg (NULL = empty message of type desc) into out. */
static int http_rpc_body(struct evbuffer *out, http_body_kind kind, const ProtobufCMessage *msg,
                         const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *empty = NULL;
    if (msg == NULL) {
        empty = malloc(desc->sizeof_message);
        if (empty == NULL)
            return -1;
        desc->message_init(empty);
        msg = empty;
    }
    int rc = 0;
    if (kind == HTTP_BODY_PROTO) {
        http_pb_buffer pb = {{http_pb_append}, out, 0};
        protobuf_c_message_pack_to_buffer(msg, &pb.base);
        rc = pb.err;
    } else {
        size_t len = 0;
        char *text = json_codec_encode(msg, &len);
        rc = text != NULL ? evbuffer_add(out, text, len) : -1;
        free(text);
    }
    free(empty);
    return rc;
}

/* ---- the sink ------------------------------------------------------------ */

/* The call's client went away: the request is gone, the reply is dropped. */
static void http_call_gone(void *arg)
{
    http_call *c = arg;
    c->req = NULL;
    c->h->stats.clients_gone++;
    RS_LOG(&c->h->s->proc.log, RS_LOG_DEBUG, "http_client_gone", "method=%s", c->rpc);
}

/* Take the request out of the call for answering; NULL if there is no one
 * to answer (the client left). */
static rs_http_req *http_call_take(http_call *c)
{
    rs_http_req *req = c->req;
    c->req = NULL;
    if (req != NULL)
        http_req_on_gone(req, NULL, NULL);
    return req;
}

static void http_call_reply(rs_sink *sink, const Readstates__V1__Response *resp)
{
    http_call *c = (http_call *)sink;
    rs_http_req *req = http_call_take(c);
    if (req == NULL)
        return;
    rs_status st = resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
    if (st != RS_OK) { /* dispatch has logged the call */
        http_finish(c->h, req, rs_status_rpc_name(st), http_status_of(c->proto, st),
                    c->start_ns, false);
        http_rpc_write_error(c->h, req, c->proto, http_status_of(c->proto, st),
                             rs_status_rpc_name(st),
                             resp->status != NULL ? resp->status->message : NULL);
        return;
    }
    if ((uint32_t)resp->result_case != c->resp_field->id) {
        http_rpc_send_status(c->h, req, c->proto, RS_ERR_INTERNAL,
                             "response does not match the method", c->start_ns);
        return;
    }
    const ProtobufCMessage *result =
        *(ProtobufCMessage *const *)(const void *)((const char *)resp + c->resp_field->offset);
    struct evbuffer *out = evbuffer_new();
    if (out == NULL || http_rpc_body(out, c->body, result, c->resp_field->descriptor) != 0) {
        if (out != NULL)
            evbuffer_free(out);
        http_rpc_send_status(c->h, req, c->proto, RS_ERR_INTERNAL, "could not encode the reply",
                             c->start_ns);
        return;
    }
    const char *ctype = c->body == HTTP_BODY_JSON    ? "application/json"
                        : c->proto == HTTP_RPC_TWIRP ? "application/protobuf"
                                                     : "application/proto";
    http_req_add_header(req, "Content-Type", ctype);
    http_finish(c->h, req, "ok", 200, c->start_ns, false);
    http_reply(c->h, req, 200, "OK", out);
    evbuffer_free(out);
}

static void http_call_release(rs_sink *sink)
{
    http_call *c = (http_call *)sink;
    /* Dispatch always replies before letting go; if it did not, answer. */
    rs_http_req *req = http_call_take(c);
    if (req != NULL)
        http_rpc_send_status(c->h, req, c->proto, RS_ERR_INTERNAL, "no reply", c->start_ns);
    struct rs_http *h = c->h;
    free(c);
    h->calls_live--;
    http_maybe_free(h);
}

static const rs_sink_ops http_sink_ops = {
    .reply = http_call_reply,
    .release = http_call_release,
    .streams = false,
};

/* ---- requests ------------------------------------------------------------ */

static const ProtobufCFieldDescriptor *http_member(const ProtobufCMessageDescriptor *d,
                                                   const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

/* The body kind from Content-Type (parameters such as charset ignored).
 * Returns -1 for anything else. */
static int http_body_kind_of(const char *ctype)
{
    if (ctype == NULL)
        return -1;
    size_t n = strcspn(ctype, "; \t");
    static const struct {
        const char *name;
        http_body_kind kind;
    } types[] = {
        {"application/json", HTTP_BODY_JSON},
        {"application/proto", HTTP_BODY_PROTO},
        {"application/protobuf", HTTP_BODY_PROTO},
        {"application/x-protobuf", HTTP_BODY_PROTO},
    };
    for (size_t i = 0; i < RS_ARRAY_LEN(types); i++)
        if (strlen(types[i].name) == n && strncasecmp(ctype, types[i].name, n) == 0)
            return (int)types[i].kind;
    return -1;
}

/* Decode the body as `desc`. Returns the message (free_unpacked) or NULL
 * with a reason in err. */
static ProtobufCMessage *http_rpc_decode(rs_http_req *req, http_body_kind kind,
                                         const ProtobufCMessageDescriptor *desc, char *err,
                                         size_t errlen)
{
    size_t len = 0;
    const uint8_t *data = http_req_body(req, &len);
    if (data == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (kind == HTTP_BODY_JSON) {
        if (len == 0) /* an empty body is the empty message */
            return json_codec_decode(desc, "{}", 2, err, errlen);
        return json_codec_decode(desc, (const char *)data, len, err, errlen);
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
    if (m == NULL)
        snprintf(err, errlen, "malformed %s message", desc->name);
    return m;
}

/* Tokens (auth.h): with tokens on, every RPC needs `Authorization: Bearer
 * <token>`, checked before anything else is looked at. Returns true when
 * the call may go on; otherwise it has been answered 401 (Connect and
 * Twirp both say "unauthenticated") with a WWW-Authenticate challenge. */
static bool http_rpc_authorized(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                                uint64_t start_ns)
{
    rs_server *s = h->s;
    if (!auth_enabled(s->proc.auth))
        return true;
    const char *authz = http_req_header(req, "Authorization");
    if (auth_check_bearer(s->proc.auth, authz))
        return true;
    s->proc.metrics.auth_failures_http++;
    http_req_add_header(req, "WWW-Authenticate",
                        authz == NULL ? "Bearer realm=\"readstates\""
                                      : "Bearer realm=\"readstates\", error=\"invalid_token\"");
    http_rpc_send_status(h, req, proto, RS_ERR_UNAUTHENTICATED,
                         authz == NULL
                             ? "this server needs a token: send Authorization: Bearer "
                               "<token>"
                             : "the token is not valid",
                         start_ns);
    return false;
}

/* The row serving `method` on this port, or NULL once answered 404. */
static const rs_method_def *http_rpc_route(struct rs_http *h, rs_http_req *req,
                                           http_rpc_protocol proto, const char *method,
                                           uint64_t start_ns)
{
    const rs_method_def *def = rs_method_find(method);
    if (def != NULL && (def->flags & RS_METHOD_F_HTTP) != 0)
        return def;
    if (strcmp(method, "Watch") == 0 && proto == HTTP_RPC_CONNECT) {
        /* Connect's unary Content-Types: Watch streams */
        http_rpc_send_error(
            h, req, proto, 415, "unknown",
            "Watch is a server-streaming method: call it with Connect streaming "
            "(application/connect+proto or +json), gRPC or gRPC-Web",
            start_ns);
        return NULL;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "no method %.100s in readstates.v1.ReadStates", method);
    http_rpc_send_error(h, req, proto, 404,
                        proto == HTTP_RPC_TWIRP ? "bad_route" : "unimplemented", msg, start_ns);
    return NULL;
}

/* The body kind of a call this server takes now (not draining; POST; an
 * identity encoding; a proto or JSON Content-Type), or -1 once answered. */
static int http_rpc_accept(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                           uint64_t start_ns)
{
    if (h->s->proc.shutting_down) {
        /* Draining: calls in flight finish, new ones go elsewhere. */
        http_rpc_send_status(h, req, proto, RS_ERR_UNAVAILABLE, "server is shutting down",
                             start_ns);
        return -1;
    }
    /* A wrong method or Content-Type: Connect answers 405/415 (code
     * unknown); Twirp servers treat both as an unroutable request: 404
     * bad_route. */
    if (http_req_method(req) != HTTP_M_POST) {
        http_rpc_send_error(h, req, proto, proto == HTTP_RPC_TWIRP ? 404 : 405,
                            proto == HTTP_RPC_TWIRP ? "bad_route" : "unknown",
                            "RPC methods take POST", start_ns);
        return -1;
    }
    const char *enc = http_req_header(req, "Content-Encoding");
    if (enc != NULL && strcasecmp(enc, "identity") != 0) {
        http_rpc_send_error(h, req, proto, 501, "unimplemented",
                            "compressed request bodies are not supported", start_ns);
        return -1;
    }
    int kind = http_body_kind_of(http_req_header(req, "Content-Type"));
    if (kind < 0)
        http_rpc_send_error(h, req, proto, proto == HTTP_RPC_TWIRP ? 404 : 415,
                            proto == HTTP_RPC_TWIRP ? "bad_route" : "unknown",
                            "Content-Type must be application/proto or application/json",
                            start_ns);
    return kind;
}

/* A call for req, answering with the Response member rf; registered with
 * h and the request (its gone callback). NULL on out of memory. */
static http_call *http_call_new(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                                http_body_kind kind, const ProtobufCFieldDescriptor *rf,
                                const char *rpc, uint64_t start_ns)
{
    http_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->sink.ops = &http_sink_ops;
    c->sink.refs = 1;
    c->h = h;
    c->req = req;
    c->proto = proto;
    c->body = kind;
    c->resp_field = rf;
    c->rpc = rpc;
    c->start_ns = start_ns;
    h->calls_live++;
    http_req_on_gone(req, http_call_gone, c);
    return c;
}

/* Decode the body as the row's Request member and dispatch it. */
static void http_rpc_call(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                          http_body_kind kind, const rs_method_def *def, uint64_t start_ns)
{
    const ProtobufCFieldDescriptor *qf =
        http_member(&readstates__v1__request__descriptor, def->member);
    const ProtobufCFieldDescriptor *rf =
        http_member(&readstates__v1__response__descriptor, def->member);
    char err[256];
    ProtobufCMessage *body = http_rpc_decode(req, kind, qf->descriptor, err, sizeof(err));
    if (body == NULL) {
        http_rpc_send_error(h, req, proto, 400,
                            proto == HTTP_RPC_TWIRP ? "malformed" : "invalid_argument", err,
                            start_ns);
        return;
    }
    http_call *c = http_call_new(h, req, proto, kind, rf, def->name, start_ns);
    if (c == NULL) {
        protobuf_c_message_free_unpacked(body, NULL);
        http_rpc_send_status(h, req, proto, RS_ERR_INTERNAL, "out of memory", start_ns);
        return;
    }
    Readstates__V1__Request r = READSTATES__V1__REQUEST__INIT;
    r.id = ++h->next_id;
    r.call_case = (Readstates__V1__Request__CallCase)qf->id;
    memcpy((char *)&r + qf->offset, &body, sizeof(body));
    dispatch_request(h->s, &c->sink, &r, start_ns);
    protobuf_c_message_free_unpacked(body, NULL);
    rs_sink_unref(&c->sink);
}

void http_rpc_handle(struct rs_http *h, rs_http_req *req, http_rpc_protocol proto,
                     const char *method, uint64_t start_ns)
{
    if (!http_rpc_authorized(h, req, proto, start_ns))
        return;
    const rs_method_def *def = http_rpc_route(h, req, proto, method, start_ns);
    if (def == NULL)
        return;
    int kind = http_rpc_accept(h, req, proto, start_ns);
    if (kind < 0)
        return;
    http_rpc_call(h, req, proto, (http_body_kind)kind, def, start_ns);
}
