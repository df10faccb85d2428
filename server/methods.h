/*
 * methods.h: the method table, one row per RPC (Redis's command table is
 * the model). Everything that differs between calls is in its row; the
 * transports, dispatch and metrics read the table and hold no per-method
 * lists or switches of their own.
 *
 *   RS_METHOD_TABLE rows ──> enum rs_method (the metric slot: metrics and
 *        │                   the dashboard index arrays by it)
 *        ├─> rs_method_name ("Ack": metrics labels, logs, the HTTP path)
 *        ├─> rs_method_of_call (Request.call_case -> row: O(1), methods.c)
 *        ├─> rs_method_find ("Ack" -> row: the HTTP port, methods.c)
 *        └─> rs_methods[] (dispatch.c, beside the handlers the rows name):
 *              validate, then either `run` (a direct call: Ping, Watch, Auth,
 *              AddMentions) or the op machinery on one user (dispatch.c):
 *              fill (arguments) -> acquire -> apply (the change; none for a
 *              read) -> commit -> reply (the Response)
 *
 * A row is X(ID, Name, member, flags, run, validate, fill, apply, reply):
 *   ID        RS_METHOD_<ID>, and the Request / Response oneof case suffix
 *             (READSTATES__V1__REQUEST__CALL_<ID>)
 *   Name      the RPC name in proto/readstates.proto's service
 *   member    the Request / Response oneof member ("ack")
 *   flags     HTTP: served on the HTTP port too; TCP_ONLY: not (Watch
 *             streams and Auth is per connection)
 *   run       a direct call, or NULL for an op call
 *   validate  NULL, or the INVALID_ARGUMENT check (a message naming the
 *             field, or NULL when the request is fine)
 *   fill, apply, reply   an op call's stages (apply NULL: a read)
 * The handlers are dispatch.c's (and dispatch_mentions.c's) functions.
 *
 * A new call: a row here (before RS_METHOD_INVALID's place: the values of
 * the existing rows must not move), its handlers in dispatch.c, and its
 * Request / Response members in the proto.
 */
#ifndef RS_METHODS_H
#define RS_METHODS_H

#include <stddef.h>
#include <stdint.h>

#include "rs_common.h"

/* A row's flags: RS_METHOD_F_<flags>. */
#define RS_METHOD_F_TCP_ONLY 0u /* framed TCP only */
#define RS_METHOD_F_HTTP     1u /* framed TCP and the HTTP port */

/* clang-format off */
#define RS_METHOD_TABLE(X)                                                                     \
    /* ID            Name                member          flags     run                         \
         validate               fill           apply           reply */                        \
    X(PING,         "Ping",             "ping",         HTTP,     dispatch_ping,               \
      NULL,                  NULL,          NULL,           NULL)                              \
    X(ACK,          "Ack",              "ack",          HTTP,     NULL,                        \
      validate_ack,          fill_ack,      apply_ack,      reply_ack)                         \
    X(SET,          "SetReadState",     "set",          HTTP,     NULL,                        \
      validate_set,          fill_set,      apply_set,      reply_set)                         \
    X(BULK_ACK,     "BulkAck",          "bulk_ack",     HTTP,     NULL,                        \
      validate_bulk_ack,     fill_bulk_ack, apply_bulk_ack, reply_bulk_ack)                    \
    X(ADD_MENTIONS, "AddMentions",      "add_mentions", HTTP,     dispatch_add_mentions,       \
      validate_add_mentions, NULL,          NULL,           NULL)                              \
    X(GET,          "GetReadStates",    "get",          HTTP,     NULL,                        \
      validate_get,          fill_get,      NULL,           reply_get)                         \
    X(DELETE,       "DeleteReadStates", "delete",       HTTP,     NULL,                        \
      validate_delete,       fill_delete,   apply_delete,   reply_delete)                      \
    X(WATCH,        "Watch",            "watch",        TCP_ONLY, dispatch_watch,              \
      validate_watch,        NULL,          NULL,           NULL)                              \
    X(AUTH,         "Auth",             "auth",         TCP_ONLY, dispatch_auth,               \
      NULL,                  NULL,          NULL,           NULL)                              \
    X(GET_RING,     "GetRing",          "get_ring",     HTTP,     dispatch_get_ring,           \
      NULL,                  NULL,          NULL,           NULL)
/* clang-format on */

/* clang-format off */
typedef enum rs_method {
#define RS_METHOD_ENUM_(id, ...) RS_METHOD_##id,
    RS_METHOD_TABLE(RS_METHOD_ENUM_)
#undef RS_METHOD_ENUM_
    RS_METHOD_INVALID, /* a request with no call set (a row of its own) */
    RS_METHOD_MAX
} rs_method;
/* clang-format on */

#define RS_METHOD_INVALID_NAME "Invalid"

/* RPC names: "Ping", "Ack", "SetReadState", ..., "Watch", "Auth", "Invalid";
 * "Unknown" out of range. Inline, from the rows: metrics code needs only
 * this header. */
static inline const char *rs_method_name(rs_method m)
{
    static const char *const names[RS_METHOD_MAX] = {
#define RS_METHOD_NAME_(id, name, ...) [RS_METHOD_##id] = name,
        RS_METHOD_TABLE(RS_METHOD_NAME_)
#undef RS_METHOD_NAME_
            [RS_METHOD_INVALID] = RS_METHOD_INVALID_NAME,
    };
    return (unsigned)m < RS_METHOD_MAX ? names[m] : "Unknown";
}

typedef struct rs_server rs_server;
typedef struct rs_sink rs_sink;
typedef struct rs_user rs_user;
typedef struct Readstates__V1__Request Readstates__V1__Request;
struct dispatch_op; /* dispatch.c's per-call state of an op call */

/* The handler types (dispatch_int.h's). */
typedef const char *rs_method_validate_fn(rs_server *s, const Readstates__V1__Request *req);
typedef void rs_method_run_fn(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                              uint64_t start_ns);
typedef void rs_op_fill_fn(struct dispatch_op *o, const Readstates__V1__Request *req);
typedef rs_status rs_op_apply_fn(struct dispatch_op *o, rs_user *u, rs_status allowed);
typedef void rs_op_reply_fn(struct dispatch_op *o);

/* One row. */
typedef struct rs_method_def {
    rs_method method;                /* the metric slot: this row's index */
    const char *name;                /* "Ack": metrics label, logs, HTTP path */
    const char *member;              /* "ack": Request/Response oneof member (NULL: Invalid) */
    int call_case;                   /* Request.call_case (0: Invalid) */
    unsigned flags;                  /* RS_METHOD_F_* */
    rs_method_validate_fn *validate; /* NULL: nothing to check */
    rs_method_run_fn *run;           /* a direct call; NULL: an op call */
    rs_op_fill_fn *fill;             /* op: arguments from the request */
    rs_op_apply_fn *apply;           /* op: the change (NULL: a read) */
    rs_op_reply_fn *reply;           /* op: the Response from the results */
} rs_method_def;

/* The table, indexed by rs_method (defined in dispatch.c, with the
 * handlers it points to). */
extern const rs_method_def rs_methods[RS_METHOD_MAX];

static inline const rs_method_def *rs_method_def_of(rs_method m)
{
    return &rs_methods[(unsigned)m < RS_METHOD_MAX ? m : RS_METHOD_INVALID];
}

/* Request.call_case -> method, by an array built at compile time
 * (methods.c); a case no row has is RS_METHOD_INVALID. */
#define RS_METHOD_CALL_CASES 64
extern const uint8_t rs_method_by_call[RS_METHOD_CALL_CASES];

static inline rs_method rs_method_of_call(int call_case)
{
    if ((unsigned)call_case >= RS_METHOD_CALL_CASES)
        return RS_METHOD_INVALID;
    /* Stored as method ^ RS_METHOD_INVALID, so the unset entries (0) read
     * as RS_METHOD_INVALID. */
    return (rs_method)(rs_method_by_call[call_case] ^ RS_METHOD_INVALID);
}

/* The row named `name` ("SetReadState"), or NULL. */
const rs_method_def *rs_method_find(const char *name);

#endif /* RS_METHODS_H */
