/*
 * dispatch.c: one Request in, one Response out (see dispatch.h).
 *
 * What each call does is its row in the method table (methods.h); the
 * handlers the rows name are here (AddMentions' in dispatch_mentions.c),
 * and rs_methods[] is built at the bottom of this file. Every call is
 * validated first (the row's validate: INVALID_ARGUMENT naming the field;
 * nothing changes), then either runs directly (the row's run: Ping, Watch,
 * Auth, AddMentions) or, for a call on one user, through the engine as an
 * op (the row's fill, apply, reply; apply is NULL for a read):
 *
 *   acquire ──OK──> run: write_allowed? ─> cache op ─> commit ──OK──> reply, release
 *      │                                                  └─PENDING─┐
 *      └─PENDING─> (op waits; its rs_waiter is embedded)            v
 *                  op_acquired ─> run ...              op_committed ─> reply, release
 *
 * Allocation: the op object comes from a one-slot spare, so a call that
 * completes synchronously (a cached user in write-behind) allocates nothing
 * from the heap; its arguments are read in place from the decoded request
 * and its response is built on the stack or in the server's arena. Only
 * when the engine answers RS_PENDING does the op leave the spare slot; it
 * then copies the arguments and results it still needs (op_detach), holds
 * a sink reference and waits on the pending list. The next call mallocs a
 * new spare.
 *
 * Writes refused by the engine (dirty budget full, store down in
 * write-through) still answer a request that would change nothing (an
 * equal or older Ack, say) with the current state: only changes are
 * refused.
 *
 * AddMentions spans many users and lives in dispatch_mentions.c.
 */
#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dispatch_int.h"
#include "methods.h"
#include "peer.h"
#include "rs_list.h"
#include "server.h"
#include "watch.h"

#define DISPATCH_ARENA_CHUNK (64u * 1024u)

struct dispatch_op {
    rs_waiter w; /* acquire, then commit; w.arg is the op */
    rs_server *s;
    rs_sink *sink;
    op *prev, *next; /* the pending list, while detached */
    uint64_t req_id;
    uint64_t start_ns;
    rs_method method;
    const rs_method_def *def; /* the method's row: fill, apply, reply */
    bool detached;
    rs_user *u; /* pinned while acquired */
    /* arguments */
    uint64_t user_id, channel_id, message_id;
    uint32_t mention_count;
    bool all;
    const uint64_t *ids; /* get/delete channel ids */
    size_t nids;
    const rs_ack_entry *entries; /* bulk ack */
    size_t nentries;
    /* results kept across a pending commit */
    rs_state state;
    bool applied;
    uint32_t napplied; /* bulk ack applied, delete removed */
    uint64_t version;
    rs_state *states; /* bulk ack results, nentries */
    void *owned_args; /* heap copies once detached */
    rs_state *owned_states;
    const char *why; /* refusal text (arena or static) */
};

/* ---- helpers shared with dispatch_mentions.c ---------------------------- */

char *dispatch_sprintf(rs_server *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char probe[1];
    int n = vsnprintf(probe, sizeof(probe), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *buf = rs_arena_alloc(&s->loop.arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return buf;
}

void dispatch_pb_state(Readstates__V1__ReadState *pb, const rs_state *st)
{
    readstates__v1__read_state__init(pb);
    pb->channel_id = st->channel_id;
    pb->last_message_id = st->last_message_id;
    pb->mention_count = st->mention_count;
    pb->flags = st->flags & RS_STATE_PROTO_FLAGS;
    pb->version = st->version;
}

static void dispatch_log(rs_server *s, rs_method m, uint64_t req_id, rs_status st,
                         uint64_t lat_ns, const char *message)
{
    const rs_config *cfg = &s->proc.cfg;
    bool slow = cfg->slow_request_ms > 0 && lat_ns >= (uint64_t)cfg->slow_request_ms * 1000000u;
    if (!slow && !cfg->log_requests)
        return;
    RS_LOG(&s->proc.log, slow ? RS_LOG_WARN : RS_LOG_INFO, slow ? "slow_request" : "request",
           "method=%s id=%llu status=%s latency_us=%llu%s%s%s", rs_method_name(m),
           (unsigned long long)req_id, rs_status_name(st), (unsigned long long)(lat_ns / 1000),
           message != NULL ? " message=\"" : "", message != NULL ? message : "",
           message != NULL ? "\"" : "");
}

void dispatch_reply(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                    uint64_t start_ns, rs_status st, const char *message,
                    Readstates__V1__Response *resp)
{
    Readstates__V1__Status status = READSTATES__V1__STATUS__INIT;
    status.code = (Readstates__V1__Code)st;
    if (message != NULL)
        status.message = (char *)message;
    resp->id = req_id;
    resp->status = &status;
    sink->inflight--;
    s->loop.inflight--;
    uint64_t now = rs_now_ns();
    uint64_t lat = now > start_ns ? now - start_ns : 0;
    metrics_record(&s->proc.metrics, m, st, lat);
    dispatch_log(s, m, req_id, st, lat, message);
    sink->ops->reply(sink, resp);
    if (s->proc.shutting_down && s->loop.inflight == 0 && s->loop.drain_ev != NULL)
        event_active(s->loop.drain_ev, EV_TIMEOUT, 0);
}

void dispatch_errorf(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                     uint64_t start_ns, rs_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    dispatch_reply(s, sink, m, req_id, start_ns, st, buf, &resp);
}

rs_method dispatch_method(const Readstates__V1__Request *req)
{
    return rs_method_of_call((int)req->call_case);
}

/* ---- validation ---------------------------------------------------------- */

/* NULL when the id list is fine, else the message. */
static const char *check_ids(rs_server *s, const char *field, const uint64_t *ids, size_t n,
                             size_t min)
{
    if (n < min)
        return dispatch_sprintf(s, "%s must not be empty", field);
    if (n > s->proc.cfg.max_list)
        return dispatch_sprintf(s, "%s has %zu entries (max %u)", field, n,
                                s->proc.cfg.max_list);
    for (size_t i = 0; i < n; i++)
        if (ids[i] == 0)
            return dispatch_sprintf(s, "%s[%zu] must be non-zero", field, i);
    return NULL;
}

/* The rows' validate functions (methods.h): NULL for a valid request, else
 * the INVALID_ARGUMENT message. */

static const char *validate_ack(rs_server *s, const Readstates__V1__Request *req)
{
    (void)s;
    if (req->ack->user_id == 0)
        return "ack.user_id must be non-zero";
    if (req->ack->channel_id == 0)
        return "ack.channel_id must be non-zero";
    return NULL;
}

static const char *validate_set(rs_server *s, const Readstates__V1__Request *req)
{
    (void)s;
    if (req->set->user_id == 0)
        return "set.user_id must be non-zero";
    if (req->set->channel_id == 0)
        return "set.channel_id must be non-zero";
    return NULL;
}

static const char *validate_bulk_ack(rs_server *s, const Readstates__V1__Request *req)
{
    const Readstates__V1__BulkAckRequest *b = req->bulk_ack;
    if (b->user_id == 0)
        return "bulk_ack.user_id must be non-zero";
    if (b->n_entries > s->proc.cfg.max_list)
        return dispatch_sprintf(s, "bulk_ack.entries has %zu entries (max %u)", b->n_entries,
                                s->proc.cfg.max_list);
    for (size_t i = 0; i < b->n_entries; i++)
        if (b->entries[i]->channel_id == 0)
            return dispatch_sprintf(s, "bulk_ack.entries[%zu].channel_id must be non-zero", i);
    return NULL;
}

static const char *validate_add_mentions(rs_server *s, const Readstates__V1__Request *req)
{
    const Readstates__V1__AddMentionsRequest *a = req->add_mentions;
    if (a->channel_id == 0)
        return "add_mentions.channel_id must be non-zero";
    return check_ids(s, "add_mentions.user_ids", a->user_ids, a->n_user_ids, 1);
}

static const char *validate_get(rs_server *s, const Readstates__V1__Request *req)
{
    if (req->get->user_id == 0)
        return "get.user_id must be non-zero";
    return check_ids(s, "get.channel_ids", req->get->channel_ids, req->get->n_channel_ids, 0);
}

static const char *validate_delete(rs_server *s, const Readstates__V1__Request *req)
{
    if (req->delete_->user_id == 0)
        return "delete.user_id must be non-zero";
    return check_ids(s, "delete.channel_ids", req->delete_->channel_ids,
                     req->delete_->n_channel_ids, 0);
}

static const char *validate_watch(rs_server *s, const Readstates__V1__Request *req)
{
    return check_ids(s, "watch.user_ids", req->watch->user_ids, req->watch->n_user_ids, 1);
}

/* The Invalid row's: a request with no call set (or one this server does
 * not know) is refused whole. */
static const char *validate_no_call(rs_server *s, const Readstates__V1__Request *req)
{
    (void)s;
    (void)req;
    return "request has no call set";
}

/* ---- op objects ---------------------------------------------------------- */

static op *op_get(rs_server *s)
{
    op *o = s->loop.dispatch->spare;
    s->loop.dispatch->spare = NULL;
    if (o == NULL)
        o = rs_xmalloc(sizeof(*o), "dispatch");
    memset(o, 0, sizeof(*o));
    return o;
}

/* Done with o: back to the spare slot (or freed), its sink ref dropped. */
static void op_finish(op *o)
{
    rs_server *s = o->s;
    struct rs_dispatch *d = s->loop.dispatch;
    if (o->detached) {
        RS_DLIST_REMOVE(d->pending, o, prev, next);
        free(o->owned_args);
        free(o->owned_states);
        rs_sink_unref(o->sink);
    }
    if (d->spare == NULL)
        d->spare = o;
    else
        free(o);
}

/* The op outlives this call: copy what it still reads, hold the sink. */
static void op_detach(op *o)
{
    if (o->states != NULL && o->states != o->owned_states) {
        o->owned_states = rs_xmalloc(o->nentries * sizeof(rs_state), "dispatch");
        memcpy(o->owned_states, o->states, o->nentries * sizeof(rs_state));
        o->states = o->owned_states;
    }
    if (o->detached)
        return;
    size_t ids_bytes = o->nids * sizeof(uint64_t);
    size_t ent_bytes = o->nentries * sizeof(rs_ack_entry);
    if (ids_bytes + ent_bytes > 0) {
        uint8_t *p = rs_xmalloc(ids_bytes + ent_bytes, "dispatch");
        if (ent_bytes > 0)
            memcpy(p, o->entries, ent_bytes);
        if (ids_bytes > 0)
            memcpy(p + ent_bytes, o->ids, ids_bytes);
        o->entries = ent_bytes > 0 ? (const rs_ack_entry *)p : NULL;
        o->ids = ids_bytes > 0 ? (const uint64_t *)(p + ent_bytes) : NULL;
        o->owned_args = p;
    }
    o->detached = true;
    rs_sink_ref(o->sink);
    struct rs_dispatch *d = o->s->loop.dispatch;
    RS_DLIST_PUSH(d->pending, o, prev, next);
}

/* ---- responses ------------------------------------------------------------ */

static void op_reply_error(op *o, rs_status st, const char *what)
{
    dispatch_errorf(o->s, o->sink, o->method, o->req_id, o->start_ns, st, "user %llu: %s",
                    (unsigned long long)o->user_id, what);
}

static const char *op_status_text(rs_status st)
{
    switch (st) {
    case RS_ERR_EXHAUSTED: return "resources exhausted; retry later";
    case RS_ERR_UNAVAILABLE: return "storage unavailable";
    default: return rs_status_name(st);
    }
}

/* Why the engine refused the op's user with INTERNAL (its stored data is
 * invalid: the key and the field), else fallback. */
static const char *op_problem_text(op *o, const char *fallback)
{
    const char *p = engine_user_problem(o->s->loop.engine, o->user_id);
    return p != NULL ? dispatch_sprintf(o->s, "%s", p) : fallback;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : (x > y);
}

/* The rows' reply functions: the Response from the op's results (o->u is
 * the user, still pinned). */

static void reply_get(op *o)
{
    rs_server *s = o->s;
    const rs_user *u = o->u;
    size_t cap = o->nids > 0 ? o->nids : u->nstates;
    Readstates__V1__ReadState *pbs =
        rs_arena_alloc(&s->loop.arena, (cap ? cap : 1) * sizeof(*pbs));
    Readstates__V1__ReadState **ptrs =
        rs_arena_alloc(&s->loop.arena, (cap ? cap : 1) * sizeof(*ptrs));
    size_t n = 0;
    if (o->nids == 0) {
        for (uint32_t i = 0; i < u->nslots && n < cap; i++) {
            rs_state st;
            if (!engine_slot(u, i, &st))
                continue;
            dispatch_pb_state(&pbs[n], &st);
            ptrs[n] = &pbs[n];
            n++;
        }
    } else {
        /* Sorted and unique by channel_id, like the user's own array. */
        uint64_t *ids = rs_arena_alloc(&s->loop.arena, o->nids * sizeof(uint64_t));
        memcpy(ids, o->ids, o->nids * sizeof(uint64_t));
        qsort(ids, o->nids, sizeof(uint64_t), cmp_u64);
        for (size_t i = 0; i < o->nids; i++) {
            if (i > 0 && ids[i] == ids[i - 1])
                continue;
            rs_state st;
            if (!engine_state(u, ids[i], &st))
                continue;
            dispatch_pb_state(&pbs[n], &st);
            ptrs[n] = &pbs[n];
            n++;
        }
    }
    Readstates__V1__GetReadStatesResponse get = READSTATES__V1__GET_READ_STATES_RESPONSE__INIT;
    get.n_states = n;
    get.states = ptrs;
    get.user_version = u->version;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_GET;
    resp.get = &get;
    dispatch_reply(s, o->sink, o->method, o->req_id, o->start_ns, RS_OK, NULL, &resp);
}

static void reply_ack_or_set(op *o, bool set)
{
    Readstates__V1__ReadState pb = READSTATES__V1__READ_STATE__INIT;
    Readstates__V1__AckResponse ack = READSTATES__V1__ACK_RESPONSE__INIT;
    dispatch_pb_state(&pb, &o->state);
    ack.state = &pb;
    ack.applied = o->applied;
    ack.user_version = o->version;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    if (!set) {
        resp.result_case = READSTATES__V1__RESPONSE__RESULT_ACK;
        resp.ack = &ack;
    } else {
        resp.result_case = READSTATES__V1__RESPONSE__RESULT_SET;
        resp.set = &ack;
    }
    dispatch_reply(o->s, o->sink, o->method, o->req_id, o->start_ns, RS_OK, NULL, &resp);
}

static void reply_ack(op *o)
{
    reply_ack_or_set(o, false);
}

static void reply_set(op *o)
{
    reply_ack_or_set(o, true);
}

static void reply_bulk_ack(op *o)
{
    rs_server *s = o->s;
    size_t n = o->nentries;
    Readstates__V1__ReadState *pbs = rs_arena_alloc(&s->loop.arena, (n ? n : 1) * sizeof(*pbs));
    Readstates__V1__ReadState **ptrs =
        rs_arena_alloc(&s->loop.arena, (n ? n : 1) * sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        dispatch_pb_state(&pbs[i], &o->states[i]);
        ptrs[i] = &pbs[i];
    }
    Readstates__V1__BulkAckResponse bulk = READSTATES__V1__BULK_ACK_RESPONSE__INIT;
    bulk.n_states = n;
    bulk.states = ptrs;
    bulk.applied = o->napplied;
    bulk.user_version = o->version;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_BULK_ACK;
    resp.bulk_ack = &bulk;
    dispatch_reply(s, o->sink, o->method, o->req_id, o->start_ns, RS_OK, NULL, &resp);
}

static void reply_delete(op *o)
{
    Readstates__V1__DeleteReadStatesResponse del =
        READSTATES__V1__DELETE_READ_STATES_RESPONSE__INIT;
    del.deleted = o->napplied;
    del.user_version = o->version;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_DELETE;
    resp.delete_ = &del;
    dispatch_reply(o->s, o->sink, o->method, o->req_id, o->start_ns, RS_OK, NULL, &resp);
}

/* ---- running an op on a ready user --------------------------------------- */

/* Would an Ack of message_id change nothing? Then *out is the current state. */
static bool ack_is_noop(const rs_user *u, uint64_t channel_id, uint64_t message_id,
                        rs_state *out)
{
    rs_state cur;
    bool found = engine_state(u, channel_id, &cur);
    if (message_id > (found ? cur.last_message_id : 0))
        return false;
    if (found) {
        *out = cur;
    } else {
        memset(out, 0, sizeof(*out));
        out->channel_id = channel_id;
    }
    return true;
}

/* The rows' apply functions: the change on the acquired user u, given
 * what the engine allows (engine_write_allowed). Return RS_OK with results
 * in o, or the refusal (op_apply words it). When writes are refused, a
 * request that would change nothing is still answered with the current
 * state. */

static rs_status apply_ack(op *o, rs_user *u, rs_status allowed)
{
    if (allowed == RS_OK)
        return engine_ack(o->s->loop.engine, u, o->channel_id, o->message_id, o->mention_count,
                          &o->state, &o->applied);
    if (ack_is_noop(u, o->channel_id, o->message_id, &o->state))
        return RS_OK;
    return allowed;
}

static rs_status apply_set(op *o, rs_user *u, rs_status allowed)
{
    if (allowed == RS_OK)
        return engine_set(o->s->loop.engine, u, o->channel_id, o->message_id, o->mention_count,
                          &o->state, &o->applied);
    rs_state cur;
    if (engine_state(u, o->channel_id, &cur) && cur.last_message_id == o->message_id &&
        cur.mention_count == o->mention_count && (cur.flags & RS_STATE_MANUAL)) {
        o->state = cur;
        return RS_OK;
    }
    return allowed;
}

static rs_status apply_bulk_ack(op *o, rs_user *u, rs_status allowed)
{
    rs_status st = allowed;
    o->states =
        rs_arena_alloc(&o->s->loop.arena, (o->nentries ? o->nentries : 1) * sizeof(rs_state));
    if (allowed == RS_OK) {
        st = engine_bulk_ack(o->s->loop.engine, u, o->entries, o->nentries, o->states,
                             &o->napplied);
    } else {
        size_t i = 0;
        while (i < o->nentries && ack_is_noop(u, o->entries[i].channel_id,
                                              o->entries[i].message_id, &o->states[i]))
            i++;
        if (i == o->nentries)
            st = RS_OK; /* every entry is old news: nothing to refuse */
    }
    o->applied = o->napplied > 0;
    return st;
}

static rs_status apply_delete(op *o, rs_user *u, rs_status allowed)
{
    rs_status st = allowed;
    if (allowed == RS_OK && engine_version_full(u, 1))
        st = RS_ERR_EXHAUSTED; /* refused below unless nothing would go */
    if (st == RS_OK) {
        o->napplied = engine_delete(o->s->loop.engine, u, o->ids, o->nids, o->all);
    } else {
        bool any = o->all ? u->nstates > 0 : false;
        rs_state cur;
        for (size_t i = 0; !any && i < o->nids; i++)
            any = engine_state(u, o->ids[i], &cur);
        if (!any)
            st = RS_OK;
    }
    o->applied = o->napplied > 0;
    return st;
}

/* Apply the change (the row's apply); returns RS_OK with results in o, or
 * the refusal, with its reason in o->why. */
static rs_status op_apply(op *o, rs_user *u)
{
    rs_engine *e = o->s->loop.engine;
    rs_status allowed = engine_write_allowed(e, u);
    rs_status st = o->def->apply(o, u, allowed);
    o->version = u->version;
    if (st == RS_ERR_EXHAUSTED && allowed == RS_OK &&
        engine_version_full(u, RS_MAX(o->nentries, (size_t)1)))
        o->why = dispatch_sprintf(o->s,
                                  "the user's version is %llu and may not pass 2^64-1: "
                                  "the change is refused (versions never wrap)",
                                  (unsigned long long)u->version);
    else if (st == RS_ERR_EXHAUSTED && allowed == RS_OK)
        o->why = dispatch_sprintf(o->s, "the user has the maximum of %u read states",
                                  engine_max_states_per_user(e));
    else if (st == RS_ERR_INTERNAL && allowed == RS_ERR_INTERNAL)
        o->why = op_problem_text(o, "its stored data is invalid; writes are refused until it "
                                    "is fixed in Redis");
    else if (st == RS_ERR_EXHAUSTED)
        o->why = "unflushed changes fill the dirty budget; retry later";
    return st;
}

static void op_committed(rs_waiter *w, rs_user *u, rs_status st);

static void op_run(op *o, rs_user *u)
{
    rs_server *s = o->s;
    o->u = u;
    if (o->def->apply == NULL) { /* a read */
        o->def->reply(o);
        engine_release(s->loop.engine, u);
        op_finish(o);
        return;
    }
    rs_status st = op_apply(o, u);
    if (st != RS_OK) {
        op_reply_error(o, st, o->why != NULL ? o->why : op_status_text(st));
        engine_release(s->loop.engine, u);
        op_finish(o);
        return;
    }
    if (o->applied) {
        o->w.fn = op_committed;
        st = engine_commit(s->loop.engine, u, &o->w);
        if (st == RS_PENDING) {
            op_detach(o); /* write-through: answer once the store has it */
            return;
        }
    }
    if (st == RS_OK)
        o->def->reply(o);
    else
        op_reply_error(o, st, op_status_text(st));
    engine_release(s->loop.engine, u);
    op_finish(o);
}

static void op_committed(rs_waiter *w, rs_user *u, rs_status st)
{
    (void)u;
    op *o = w->arg;
    rs_server *s = o->s;
    dispatch_arena_enter(s);
    if (st == RS_OK)
        o->def->reply(o);
    else if (st == RS_ERR_INTERNAL)
        op_reply_error(o, st,
                       dispatch_sprintf(s,
                                        "the change is in memory but the store refused it: %s",
                                        op_problem_text(o, "its stored data is invalid")));
    else
        op_reply_error(o, st, "the change is in memory but the store did not acknowledge it");
    engine_release(s->loop.engine, o->u);
    op_finish(o);
    dispatch_arena_leave(s);
}

static void op_acquired(rs_waiter *w, rs_user *u, rs_status st)
{
    op *o = w->arg;
    rs_server *s = o->s;
    dispatch_arena_enter(s);
    if (st == RS_OK && u != NULL) {
        op_run(o, u);
    } else {
        op_reply_error(o, st == RS_OK ? RS_ERR_INTERNAL : st,
                       st == RS_ERR_INTERNAL
                           ? op_problem_text(o, "could not be loaded from storage")
                           : "could not be loaded from storage");
        op_finish(o);
    }
    dispatch_arena_leave(s);
}

/* The rows' fill functions: the op's arguments from the request (pointing
 * into it). */

static void fill_ack(op *o, const Readstates__V1__Request *req)
{
    o->user_id = req->ack->user_id;
    o->channel_id = req->ack->channel_id;
    o->message_id = req->ack->message_id;
    o->mention_count = req->ack->mention_count;
}

static void fill_set(op *o, const Readstates__V1__Request *req)
{
    o->user_id = req->set->user_id;
    o->channel_id = req->set->channel_id;
    o->message_id = req->set->message_id;
    o->mention_count = req->set->mention_count;
}

static void fill_bulk_ack(op *o, const Readstates__V1__Request *req)
{
    const Readstates__V1__BulkAckRequest *b = req->bulk_ack;
    rs_ack_entry *ents = rs_arena_alloc(&o->s->loop.arena, (b->n_entries ? b->n_entries : 1) *
                                                               sizeof(rs_ack_entry));
    for (size_t i = 0; i < b->n_entries; i++) {
        ents[i].channel_id = b->entries[i]->channel_id;
        ents[i].message_id = b->entries[i]->message_id;
    }
    o->user_id = b->user_id;
    o->entries = ents;
    o->nentries = b->n_entries;
}

static void fill_get(op *o, const Readstates__V1__Request *req)
{
    o->user_id = req->get->user_id;
    o->ids = req->get->channel_ids;
    o->nids = req->get->n_channel_ids;
}

static void fill_delete(op *o, const Readstates__V1__Request *req)
{
    o->user_id = req->delete_->user_id;
    o->ids = req->delete_->channel_ids;
    o->nids = req->delete_->n_channel_ids;
    o->all = req->delete_->all;
}

/* An op call (a row with fill/apply/reply): acquire the user, then run. */
static void op_start(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                     const rs_method_def *def, uint64_t start_ns)
{
    op *o = op_get(s);
    o->s = s;
    o->sink = sink;
    o->req_id = req->id;
    o->start_ns = start_ns;
    o->method = def->method;
    o->def = def;
    def->fill(o, req);
    o->w.fn = op_acquired;
    o->w.arg = o;
    o->w.user_id = o->user_id;
    rs_user *u = NULL;
    rs_status st = engine_acquire(s->loop.engine, o->user_id, &o->w, &u);
    if (st == RS_OK) {
        op_run(o, u);
    } else if (st == RS_PENDING) {
        op_detach(o);
    } else {
        op_reply_error(o, st, op_status_text(st));
        op_finish(o);
    }
}

/* ---- Ping and Watch ---------------------------------------------------------- */

static void dispatch_ping(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          uint64_t start_ns)
{
    Readstates__V1__PingResponse ping = READSTATES__V1__PING_RESPONSE__INIT;
    ping.server_time_ms = rs_wall_ms();
    ping.server_version = (char *)RS_VERSION_STRING;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_PING;
    resp.ping = &ping;
    dispatch_reply(s, sink, RS_METHOD_PING, req->id, start_ns, RS_OK, NULL, &resp);
}

/* Watch is answered once with OK and no result; events follow under the
 * same id (watch.c). Watching a user again on the same connection moves it
 * to the newer request's id. A request that could take the connection past
 * max_watches is refused whole (RESOURCE_EXHAUSTED, nothing added). */
static void dispatch_watch(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                           uint64_t start_ns)
{
    if (!sink->ops->streams) {
        dispatch_errorf(s, sink, RS_METHOD_WATCH, req->id, start_ns, RS_ERR_UNIMPLEMENTED,
                        "Watch needs a streaming connection: use the framed TCP port");
        return;
    }
    if (dispatch_fleet_watch(s, sink, req, start_ns))
        return;
    const Readstates__V1__WatchRequest *w = req->watch;
    if ((uint64_t)sink->nwatches + w->n_user_ids > s->proc.cfg.max_watches) {
        dispatch_errorf(s, sink, RS_METHOD_WATCH, req->id, start_ns, RS_ERR_EXHAUSTED,
                        "the connection watches %u users; %zu more would pass the limit of %u",
                        sink->nwatches, w->n_user_ids, s->proc.cfg.max_watches);
        return;
    }
    for (size_t i = 0; i < w->n_user_ids; i++)
        watch_add(s, sink, w->user_ids[i], req->id);
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    dispatch_reply(s, sink, RS_METHOD_WATCH, req->id, start_ns, RS_OK, NULL, &resp);
}

/* ---- Auth ---------------------------------------------------------------------- */

static bool dispatch_auth_token_ok(rs_server *s, const Readstates__V1__Request *req)
{
    const char *t = req->auth->token;
    return t != NULL && auth_check(s->proc.auth, t, strlen(t));
}

static void dispatch_auth_ok(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                             uint64_t start_ns)
{
    Readstates__V1__AuthResponse auth = READSTATES__V1__AUTH_RESPONSE__INIT;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_AUTH;
    resp.auth = &auth;
    dispatch_reply(s, sink, RS_METHOD_AUTH, req->id, start_ns, RS_OK, NULL, &resp);
}

#define DISPATCH_AUTH_WRONG "the token is not valid"

/* Auth on a connection that may call already: with tokens on the token is
 * checked (a wrong one is refused, but the connection stays authenticated,
 * as Redis's AUTH does); with tokens off every Auth is answered OK. */
static void dispatch_auth(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          uint64_t start_ns)
{
    if (auth_enabled(s->proc.auth) && !dispatch_auth_token_ok(s, req)) {
        s->proc.metrics.auth_failures_tcp++;
        dispatch_errorf(s, sink, RS_METHOD_AUTH, req->id, start_ns, RS_ERR_UNAUTHENTICATED,
                        DISPATCH_AUTH_WRONG);
        return;
    }
    dispatch_auth_ok(s, sink, req, start_ns);
}

dispatch_gate dispatch_auth_gate(rs_server *s, rs_sink *sink,
                                 const Readstates__V1__Request *req, uint64_t start_ns,
                                 uint32_t *failures)
{
    if (!auth_enabled(s->proc.auth))
        return DISPATCH_GATE_PASS;
    dispatch_arena_enter(s);
    sink->inflight++;
    s->loop.inflight++;
    rs_method m = dispatch_method(req);
    dispatch_gate g;
    if (m == RS_METHOD_AUTH && dispatch_auth_token_ok(s, req)) {
        dispatch_auth_ok(s, sink, req, start_ns);
        g = DISPATCH_GATE_OK;
    } else {
        s->proc.metrics.auth_failures_tcp++;
        ++*failures;
        g = *failures >= RS_AUTH_MAX_FAILURES ? DISPATCH_GATE_CLOSE : DISPATCH_GATE_REFUSED;
        if (m == RS_METHOD_AUTH)
            dispatch_errorf(s, sink, m, req->id, start_ns, RS_ERR_UNAUTHENTICATED,
                            DISPATCH_AUTH_WRONG "%s",
                            g == DISPATCH_GATE_CLOSE ? "; too many failures: closing" : "");
        else
            dispatch_errorf(s, sink, m, req->id, start_ns, RS_ERR_UNAUTHENTICATED,
                            "call Auth first: this connection has not authenticated%s",
                            g == DISPATCH_GATE_CLOSE ? "; too many failures: closing" : "");
    }
    dispatch_arena_leave(s);
    return g;
}

/* ---- the door ------------------------------------------------------------------ */

void dispatch_request(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                      uint64_t start_ns)
{
    dispatch_arena_enter(s);
    sink->inflight++;
    s->loop.inflight++;
    const rs_method_def *def = &rs_methods[dispatch_method(req)];
    if (s->loop.fleet != NULL && (req->id & PEER_ID_FORWARDED))
        s->loop.fleet_stats.forwarded_in++;
    const char *bad = def->validate != NULL ? def->validate(s, req) : NULL;
    if (bad != NULL)
        dispatch_errorf(s, sink, def->method, req->id, start_ns, RS_ERR_INVALID, "%s", bad);
    else if (def->run != NULL)
        def->run(s, sink, req, start_ns);
    else if (!dispatch_fleet_route(s, sink, req, def->method, start_ns))
        op_start(s, sink, req, def, start_ns);
    dispatch_arena_leave(s);
}

/* ---- the method table ------------------------------------------------------------ */

/* rs_methods (methods.h): its rows, with the handlers above. */
const rs_method_def rs_methods[RS_METHOD_MAX] = {
#define DISPATCH_ROW_(id, name_, member_, flags_, run_, validate_, fill_, apply_, reply_)      \
    [RS_METHOD_##id] = {.method = RS_METHOD_##id,                                              \
                        .name = name_,                                                         \
                        .member = member_,                                                     \
                        .call_case = READSTATES__V1__REQUEST__CALL_##id,                       \
                        .flags = RS_METHOD_F_##flags_,                                         \
                        .validate = validate_,                                                 \
                        .run = run_,                                                           \
                        .fill = fill_,                                                         \
                        .apply = apply_,                                                       \
                        .reply = reply_},
    RS_METHOD_TABLE(DISPATCH_ROW_)
#undef DISPATCH_ROW_
        [RS_METHOD_INVALID] = {.method = RS_METHOD_INVALID,
                               .name = RS_METHOD_INVALID_NAME,
                               .validate = validate_no_call},
};

void dispatch_arena_enter(rs_server *s)
{
    s->loop.arena_depth++;
}

void dispatch_arena_leave(rs_server *s)
{
    if (s->loop.arena_depth > 0 && --s->loop.arena_depth == 0)
        rs_arena_reset(&s->loop.arena);
}

void dispatch_init(rs_server *s)
{
    rs_arena_init(&s->loop.arena, DISPATCH_ARENA_CHUNK);
    s->loop.dispatch = rs_xcalloc(1, sizeof(*s->loop.dispatch), "dispatch");
}

void dispatch_destroy(rs_server *s)
{
    struct rs_dispatch *d = s->loop.dispatch;
    if (d == NULL)
        return;
    /* Calls still waiting when the engine is gone are dropped unanswered. */
    while (d->pending != NULL) {
        op *o = d->pending;
        d->pending = o->next;
        free(o->owned_args);
        free(o->owned_states);
        rs_sink_unref(o->sink);
        free(o);
    }
    free(d->spare);
    dispatch_mentions_destroy(s);
    free(d);
    s->loop.dispatch = NULL;
    if (s->loop.arena.first != NULL)
        rs_arena_destroy(&s->loop.arena);
}
