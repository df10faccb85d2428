/*
 * dispatch_mentions.c: AddMentions, the one call that spans many users.
 *
 *   am_op ── subs[0] (waiter, user 7) ── acquire ─> apply ─> commit ─> done ┐
 *         ├─ subs[1] (waiter, user 9) ── acquire (PENDING) ... ─> done ─────┤
 *         └─ subs[2] duplicate of user 7: not run, copies subs[0]'s count   │
 *                                    remaining == 0 ─> one reply <──────────┘
 *
 * Each distinct user is acquired, changed, committed and released on its
 * own, as soon as it is ready: a user being loaded from Redis does not hold
 * up the cached ones (they are applied at once and unpinned). The call is
 * answered once, when every user is done, with mention_counts aligned with
 * the request's user_ids.
 *
 * A user listed twice is mentioned once (a message mentions a user or not);
 * both positions get the same resulting count.
 *
 * Partial failure: if some users cannot be changed (UNAVAILABLE: Redis is
 * down and the user is not cached, or write-through could not persist;
 * RESOURCE_EXHAUSTED: dirty budget full, or the user's state limit), the
 * others are still applied. The reply then carries the status of the first
 * failed user in request order, a message naming the failed user ids, and
 * mention_counts for every user: the resulting count for the applied ones
 * and 0 for the failed ones. A retry is safe: a user whose mention was
 * applied has the same count again only if message_id is still unread,
 * which is exactly the case the retry must cover.
 *
 * The op object (with room for max_list users) is kept as a one-slot spare
 * like dispatch.c's, so a fully cached AddMentions allocates nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_int.h"
#include "rs_list.h"

typedef struct am_sub {
    rs_waiter w; /* acquire, then commit; w.arg is the sub */
    am_op *op;
    rs_user *u;
    uint32_t idx;
} am_sub;

struct am_op {
    rs_server *s;
    rs_sink *sink;
    am_op *prev, *next; /* the pending list, while detached */
    uint64_t req_id;
    uint64_t start_ns;
    uint64_t channel_id;
    uint64_t message_id;
    uint32_t count;
    uint32_t n;         /* users in the request */
    uint32_t cap;       /* users this allocation holds */
    uint32_t remaining; /* distinct users not done, +1 while starting */
    bool detached;
    am_sub *subs;       /* n */
    uint64_t *user_ids; /* n */
    uint32_t *counts;   /* n */
    uint32_t *first;    /* n: index of the first occurrence of this user */
    uint8_t *status;    /* n: rs_status per distinct user */
};

/* An op with room for n users: the spare when it is big enough. */
static am_op *am_get(rs_server *s, uint32_t n)
{
    struct rs_dispatch *d = s->loop.dispatch;
    am_op *o = d->am_spare;
    d->am_spare = NULL;
    if (o != NULL && o->cap < n) {
        free(o);
        o = NULL;
    }
    if (o == NULL) {
        uint32_t cap = n < 16 ? 16 : n;
        size_t per = sizeof(am_sub) + sizeof(uint64_t) + 2 * sizeof(uint32_t) + 1;
        o = rs_xmalloc(sizeof(*o) + (size_t)cap * per, "add_mentions");
        o->cap = cap;
    }
    uint32_t cap = o->cap;
    memset(o, 0, sizeof(*o));
    o->cap = cap;
    uint8_t *p = (uint8_t *)(o + 1);
    o->subs = (am_sub *)p; /* the struct's size keeps this aligned */
    p += (size_t)cap * sizeof(am_sub);
    o->user_ids = (uint64_t *)p;
    p += (size_t)cap * sizeof(uint64_t);
    o->counts = (uint32_t *)p;
    p += (size_t)cap * sizeof(uint32_t);
    o->first = (uint32_t *)p;
    p += (size_t)cap * sizeof(uint32_t);
    o->status = p;
    o->n = n;
    return o;
}

static void am_finish(am_op *o)
{
    struct rs_dispatch *d = o->s->loop.dispatch;
    if (o->detached) {
        RS_DLIST_REMOVE(d->am_pending, o, prev, next);
        rs_sink_unref(o->sink);
    }
    if (d->am_spare == NULL)
        d->am_spare = o;
    else
        free(o);
}

typedef struct am_pair {
    uint64_t user_id;
    uint32_t idx;
} am_pair;

static int am_pair_cmp(const void *a, const void *b)
{
    const am_pair *x = a, *y = b;
    if (x->user_id != y->user_id)
        return x->user_id < y->user_id ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* first[i] = the index of the first occurrence of user_ids[i]. */
static void am_find_duplicates(am_op *o)
{
    if (o->n <= 1) {
        o->first[0] = 0;
        return;
    }
    am_pair *pairs = rs_arena_alloc(&o->s->loop.arena, o->n * sizeof(am_pair));
    for (uint32_t i = 0; i < o->n; i++) {
        pairs[i].user_id = o->user_ids[i];
        pairs[i].idx = i;
    }
    qsort(pairs, o->n, sizeof(am_pair), am_pair_cmp);
    uint32_t lead = pairs[0].idx;
    o->first[lead] = lead;
    for (uint32_t i = 1; i < o->n; i++) {
        if (pairs[i].user_id != pairs[i - 1].user_id)
            lead = pairs[i].idx;
        o->first[pairs[i].idx] = lead;
    }
}

static void am_reply(am_op *o)
{
    rs_server *s = o->s;
    uint32_t *counts = rs_arena_alloc(&s->loop.arena, o->n * sizeof(uint32_t));
    uint32_t nfailed = 0;
    rs_status worst = RS_OK;
    for (uint32_t i = 0; i < o->n; i++) {
        uint32_t f = o->first[i];
        counts[i] = o->counts[f];
        if (f == i && o->status[i] != RS_OK) {
            if (nfailed++ == 0)
                worst = (rs_status)o->status[i];
        }
    }
    Readstates__V1__AddMentionsResponse am = READSTATES__V1__ADD_MENTIONS_RESPONSE__INIT;
    am.n_mention_counts = o->n;
    am.mention_counts = counts;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS;
    resp.add_mentions = &am;
    const char *msg = NULL;
    if (nfailed > 0) {
        /* Name the failed users (up to 32) so the caller can retry them. */
        size_t cap = 160 + 21 * 32;
        char *buf = rs_arena_alloc(&s->loop.arena, cap);
        int len = snprintf(buf, cap, "add_mentions failed (%s) for %u of %u users, user_ids",
                           rs_status_name(worst), nfailed, o->n);
        uint32_t listed = 0;
        for (uint32_t i = 0; i < o->n && listed < 32; i++) {
            if (o->first[i] != i || o->status[i] == RS_OK)
                continue;
            len += snprintf(buf + len, cap - (size_t)len, "%s%llu", listed ? "," : " ",
                            (unsigned long long)o->user_ids[i]);
            listed++;
        }
        if (nfailed > listed)
            snprintf(buf + len, cap - (size_t)len, " and %u more", nfailed - listed);
        msg = buf;
    }
    dispatch_reply(s, o->sink, RS_METHOD_ADD_MENTIONS, o->req_id, o->start_ns, worst, msg,
                   &resp);
}

/* One less to wait for; the last one answers. */
static void am_countdown(am_op *o)
{
    if (--o->remaining > 0)
        return;
    rs_server *s = o->s;
    dispatch_arena_enter(s);
    am_reply(o);
    am_finish(o);
    dispatch_arena_leave(s);
}

/* One distinct user is finished (applied or failed). */
static void am_sub_done(am_sub *sub, rs_status st)
{
    am_op *o = sub->op;
    o->status[sub->idx] = (uint8_t)st;
    if (st != RS_OK)
        o->counts[sub->idx] = 0;
    am_countdown(o);
}

static void am_committed(rs_waiter *w, rs_user *u, rs_status st)
{
    (void)u;
    am_sub *sub = w->arg;
    engine_release(sub->op->s->loop.engine, sub->u);
    am_sub_done(sub, st);
}

static void am_apply(am_sub *sub, rs_user *u)
{
    am_op *o = sub->op;
    rs_engine *e = o->s->loop.engine;
    sub->u = u;
    uint32_t cnt = 0;
    bool applied = false;
    rs_status st = engine_write_allowed(e, u);
    if (st == RS_OK) {
        st = engine_add_mentions(e, u, o->channel_id, o->message_id, o->count, &cnt, &applied);
    } else {
        /* A mention in a message already read changes nothing: answer it. */
        rs_state cur;
        bool found = engine_state(u, o->channel_id, &cur);
        if (o->message_id <= (found ? cur.last_message_id : 0)) {
            cnt = found ? cur.mention_count : 0;
            st = RS_OK;
        }
    }
    if (st == RS_OK) {
        o->counts[sub->idx] = cnt;
        if (applied) {
            sub->w.fn = am_committed;
            st = engine_commit(e, u, &sub->w);
            if (st == RS_PENDING)
                return;
        }
    }
    engine_release(e, u);
    am_sub_done(sub, st);
}

static void am_acquired(rs_waiter *w, rs_user *u, rs_status st)
{
    am_sub *sub = w->arg;
    if (st == RS_OK && u != NULL)
        am_apply(sub, u);
    else
        am_sub_done(sub, st == RS_OK ? RS_ERR_INTERNAL : st);
}

void dispatch_add_mentions(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                           uint64_t start_ns)
{
    if (dispatch_fleet_add_mentions(s, sink, req, start_ns))
        return; /* users owned by other nodes: asked there */
    const Readstates__V1__AddMentionsRequest *a = req->add_mentions;
    am_op *o = am_get(s, (uint32_t)a->n_user_ids);
    o->s = s;
    o->sink = sink;
    o->req_id = req->id;
    o->start_ns = start_ns;
    o->channel_id = a->channel_id;
    o->message_id = a->message_id;
    o->count = a->count == 0 ? 1 : a->count;
    memcpy(o->user_ids, a->user_ids, o->n * sizeof(uint64_t));
    am_find_duplicates(o);
    o->remaining = 1; /* held while starting, so nothing replies under us */
    for (uint32_t i = 0; i < o->n; i++) {
        if (o->first[i] != i)
            continue;
        am_sub *sub = &o->subs[i];
        memset(sub, 0, sizeof(*sub));
        sub->op = o;
        sub->idx = i;
        sub->w.fn = am_acquired;
        sub->w.arg = sub;
        sub->w.user_id = o->user_ids[i];
        o->remaining++;
        rs_user *u = NULL;
        rs_status st = engine_acquire(s->loop.engine, o->user_ids[i], &sub->w, &u);
        if (st == RS_OK)
            am_apply(sub, u);
        else if (st != RS_PENDING)
            am_sub_done(sub, st);
    }
    if (o->remaining > 1) {
        /* Some users wait on storage: the op outlives this call. */
        struct rs_dispatch *d = s->loop.dispatch;
        o->detached = true;
        rs_sink_ref(sink);
        RS_DLIST_PUSH(d->am_pending, o, prev, next);
    }
    am_countdown(o); /* drop the starting hold */
}

void dispatch_mentions_destroy(rs_server *s)
{
    struct rs_dispatch *d = s->loop.dispatch;
    /* Calls still waiting when the engine is gone are dropped unanswered. */
    while (d->am_pending != NULL) {
        am_op *o = d->am_pending;
        d->am_pending = o->next;
        rs_sink_unref(o->sink);
        free(o);
    }
    free(d->am_spare);
    d->am_spare = NULL;
}
