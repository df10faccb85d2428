/*
 * dispatch_int.h: what dispatch.c and dispatch_mentions.c share (not for
 * other modules; their door is dispatch.h).
 */
#ifndef RS_DISPATCH_INT_H
#define RS_DISPATCH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "dispatch.h"
#include "server.h"

typedef struct dispatch_op op;
typedef struct am_op am_op;

/* Spare operation objects (so a request served synchronously allocates
 * nothing) and the requests waiting on storage (for teardown). */
struct rs_dispatch {
    op *spare;
    am_op *am_spare;
    op *pending;
    am_op *am_pending;
};

/* Reply to one call: fills id and status (message may be NULL), takes the
 * call off the in-flight counts, records metrics, logs, and hands resp to
 * the sink. resp may point into the arena; it is only read during the call. */
void dispatch_reply(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                    uint64_t start_ns, rs_status st, const char *message,
                    Readstates__V1__Response *resp);

/* An error reply with a printf-style message (formatted in the arena). */
void dispatch_errorf(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                     uint64_t start_ns, rs_status st, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* A printf-style string in the arena (valid until the arena is reset). */
char *dispatch_sprintf(rs_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fill a wire ReadState from a cache state (flags limited to wire flags). */
void dispatch_pb_state(Readstates__V1__ReadState *pb, const rs_state *st);

/* AddMentions (dispatch_mentions.c): its method-table row's run (methods.h). */
void dispatch_add_mentions(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                           uint64_t start_ns);
/* The fleet (dispatch_fleet.c). route: a one-user call for a user another
 * node owns goes there (true: answered or on its way; false: serve it
 * here). add_mentions / watch: the same for those calls' users. */
bool dispatch_fleet_route(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          rs_method m, uint64_t start_ns);
bool dispatch_fleet_add_mentions(rs_server *s, rs_sink *sink,
                                 const Readstates__V1__Request *req, uint64_t start_ns);
bool dispatch_fleet_watch(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          uint64_t start_ns);
/* GetRing: its method-table row's run. */
void dispatch_get_ring(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                       uint64_t start_ns);

/* Free AddMentions' spare and pending objects (teardown). */
void dispatch_mentions_destroy(rs_server *s);

#endif /* RS_DISPATCH_INT_H */
