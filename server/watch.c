/*
 * watch.c: push every applied change to the connections that watch a user.
 *
 *   buckets[h(user_id)] -> watch_user{user_id} -> watch_user ...   (hnext)
 *                              │ head
 *                              v
 *            watch_entry(sink A, req id) <-> watch_entry(sink B, req id)
 *                    │ snext/sprev                     (unext/uprev: per user)
 *   sink A->watches: entry(user 1) <-> entry(user 7) <-> ...  (per sink)
 *
 * Each entry is on two lists: its user's watchers and its sink's watches,
 * so closing a connection drops its watches in O(its watches), and a change
 * reaches the watchers of its user in O(watchers).
 *
 * Delivery promise (at most once, in order):
 * - The change hook runs synchronously in the order the cache applies
 *   changes, and each event is encoded into the watcher's output buffer at
 *   once, so a user's events leave in version order.
 * - A watcher whose output buffer passes --max-output is disconnected (the
 *   connection's reply path does it, conn.c); other watchers are not
 *   affected. Events are never queued elsewhere or retried: a client that
 *   reconnects reads the current states with GetReadStates and compares
 *   versions.
 * - An event is sent for a change once it is applied in memory, which in
 *   write-through can be before Redis acknowledged it.
 *
 * Invariants
 * - A watch_user exists exactly while it has at least one entry.
 * - A sink watches a user at most once; a second Watch of the same user on
 *   the same sink keeps the entry and takes the newer request id.
 * - RS_USER_WATCHED on a cached user means "may be watched": the hook
 *   confirms with a probe and clears stale bits. With an empty registry the
 *   hook returns after one flag test and one compare.
 * - The table doubles when users outnumber buckets. That rehash is
 *   O(watched users), not O(cache); it happens log2(watched users) times.
 */
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "rs_common.h"
#include "rs_list.h"
#include "server.h"
#include "siphash.h"

struct watch_user {
    uint64_t user_id;
    watch_user *hnext;
    watch_entry *head; /* watchers */
    uint32_t n;
};

struct watch_entry {
    watch_user *wu;
    rs_sink *sink;
    uint64_t req_id;
    watch_entry *uprev, *unext; /* the user's watchers */
    watch_entry *sprev, *snext; /* the sink's watches */
};

#define WATCH_INITIAL_BUCKETS 64

void watch_init(rs_watch_registry *w, const uint64_t key[2])
{
    memset(w, 0, sizeof(*w));
    w->key[0] = key[0];
    w->key[1] = key[1];
    w->nbuckets = WATCH_INITIAL_BUCKETS;
    w->buckets = rs_xcalloc(w->nbuckets, sizeof(*w->buckets), "watch");
}

void watch_destroy(rs_watch_registry *w)
{
    for (size_t i = 0; i < w->nbuckets && w->buckets != NULL; i++) {
        watch_user *wu = w->buckets[i];
        while (wu != NULL) {
            watch_user *next = wu->hnext;
            watch_entry *e = wu->head;
            while (e != NULL) {
                watch_entry *en = e->unext;
                free(e);
                e = en;
            }
            free(wu);
            wu = next;
        }
    }
    free(w->buckets);
    memset(w, 0, sizeof(*w));
}

static size_t watch_slot(const rs_watch_registry *w, uint64_t user_id)
{
    return (size_t)(siphash24_u64(w->key, user_id) & (w->nbuckets - 1));
}

static watch_user *watch_find(const rs_watch_registry *w, uint64_t user_id)
{
    for (watch_user *wu = w->buckets[watch_slot(w, user_id)]; wu != NULL; wu = wu->hnext)
        if (wu->user_id == user_id)
            return wu;
    return NULL;
}

bool watch_has_user(const rs_watch_registry *w, uint64_t user_id)
{
    return w->nusers > 0 && watch_find(w, user_id) != NULL;
}

static void watch_grow(rs_watch_registry *w)
{
    size_t old_n = w->nbuckets;
    watch_user **old = w->buckets;
    w->nbuckets = old_n * 2;
    w->buckets = rs_xcalloc(w->nbuckets, sizeof(*w->buckets), "watch");
    for (size_t i = 0; i < old_n; i++) {
        watch_user *wu = old[i];
        while (wu != NULL) {
            watch_user *next = wu->hnext;
            size_t slot = watch_slot(w, wu->user_id);
            wu->hnext = w->buckets[slot];
            w->buckets[slot] = wu;
            wu = next;
        }
    }
    free(old);
}

static watch_user *watch_user_get(rs_watch_registry *w, uint64_t user_id)
{
    watch_user *wu = watch_find(w, user_id);
    if (wu != NULL)
        return wu;
    if (w->nusers >= w->nbuckets)
        watch_grow(w);
    wu = rs_xcalloc(1, sizeof(*wu), "watch");
    wu->user_id = user_id;
    size_t slot = watch_slot(w, user_id);
    wu->hnext = w->buckets[slot];
    w->buckets[slot] = wu;
    w->nusers++;
    return wu;
}

static void watch_user_drop(rs_server *s, watch_user *wu)
{
    rs_watch_registry *w = &s->loop.watch;
    watch_user **pp = &w->buckets[watch_slot(w, wu->user_id)];
    while (*pp != wu)
        pp = &(*pp)->hnext;
    *pp = wu->hnext;
    w->nusers--;
    /* Nobody watches this user any more: let its changes skip the probe. */
    engine_set_watched(s->loop.engine, wu->user_id, false);
    free(wu);
}

bool watch_add(rs_server *s, rs_sink *sink, uint64_t user_id, uint64_t req_id)
{
    rs_watch_registry *w = &s->loop.watch;
    watch_user *wu = watch_user_get(w, user_id);
    /* A user has few watchers (its own sessions), so walking them is cheap;
     * a sink may watch thousands of users, so we never walk those here. */
    for (watch_entry *e = wu->head; e != NULL; e = e->unext) {
        if (e->sink == sink) {
            e->req_id = req_id;
            return false;
        }
    }
    watch_entry *e = rs_xcalloc(1, sizeof(*e), "watch");
    e->wu = wu;
    e->sink = sink;
    e->req_id = req_id;
    RS_DLIST_PUSH(wu->head, e, uprev, unext);
    wu->n++;
    RS_DLIST_PUSH(sink->watches, e, sprev, snext);
    sink->nwatches++;
    w->nentries++;
    s->proc.metrics.watchers++;
    engine_set_watched(s->loop.engine, user_id, true);
    return true;
}

void watch_remove_sink(rs_server *s, rs_sink *sink)
{
    watch_entry *e = sink->watches;
    sink->watches = NULL;
    sink->nwatches = 0;
    while (e != NULL) {
        watch_entry *next = e->snext;
        watch_user *wu = e->wu;
        RS_DLIST_REMOVE(wu->head, e, uprev, unext);
        wu->n--;
        s->loop.watch.nentries--;
        s->proc.metrics.watchers--;
        free(e);
        if (wu->head == NULL)
            watch_user_drop(s, wu);
        e = next;
    }
}

void watch_close_users(rs_server *s, bool (*pred)(void *arg, uint64_t user_id), void *arg)
{
    rs_watch_registry *w = &s->loop.watch;
    for (size_t i = 0; i < w->nbuckets; i++)
        for (watch_user *wu = w->buckets[i]; wu != NULL; wu = wu->hnext) {
            if (!pred(arg, wu->user_id))
                continue;
            /* closing is deferred to the reaper: the lists stay put */
            for (watch_entry *e = wu->head; e != NULL; e = e->unext)
                if (e->sink->ops->close != NULL)
                    e->sink->ops->close(e->sink, "fleet_ring_changed");
        }
}

void watch_on_change(void *ctx, rs_user *u, const rs_state *st, bool deleted)
{
    rs_server *s = ctx;
    if ((u->bits & RS_USER_WATCHED) == 0 && s->loop.watch.nusers == 0)
        return;
    watch_user *wu = s->loop.watch.nusers > 0 ? watch_find(&s->loop.watch, u->user_id) : NULL;
    if (wu == NULL) {
        u->bits &= (uint8_t)~RS_USER_WATCHED; /* stale "may be watched" */
        return;
    }
    u->bits |= RS_USER_WATCHED; /* a watched user that was (re)cached */

    Readstates__V1__ReadState state = READSTATES__V1__READ_STATE__INIT;
    state.channel_id = st->channel_id;
    state.last_message_id = st->last_message_id;
    state.mention_count = st->mention_count;
    state.flags = st->flags & RS_STATE_PROTO_FLAGS;
    state.version = st->version;
    Readstates__V1__ReadStateEvent ev = READSTATES__V1__READ_STATE_EVENT__INIT;
    ev.user_id = u->user_id;
    ev.state = &state;
    ev.deleted = deleted;
    ev.user_version = u->version;
    Readstates__V1__Status ok = READSTATES__V1__STATUS__INIT;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.status = &ok;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_EVENT;
    resp.event = &ev;
    /* A reply may close its (slow) connection; closing is deferred to the
     * reaper, so this list does not change under us. */
    for (watch_entry *e = wu->head; e != NULL; e = e->unext) {
        resp.id = e->req_id;
        e->sink->ops->reply(e->sink, &resp);
        s->proc.metrics.events_sent++;
    }
}
