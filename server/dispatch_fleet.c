/*
 * dispatch_fleet.c: dispatch in a fleet (fleet.h): calls for users this
 * node does not own go to their owner over the framed protocol (peer.h)
 * and the owner's answer is relayed as is; GetRing.
 *
 *   one-user call (Ack, SetReadState, BulkAck, GetReadStates, Delete)
 *     owner here ──> the local path (dispatch.c)
 *     owner there ──> peers_call(owner, request) ──> its Response, status
 *                     and message unchanged, under the caller's id
 *     no ring yet ──> UNAVAILABLE
 *   AddMentions whose users have several owners
 *     ──> one AddMentions per owner (this node's own part goes to its own
 *         address too, so every part is answered the same way) ──> the
 *         counts put back in the request's order; the status is the first
 *         failed part's code, its message names the failed users
 *   Watch of users owned elsewhere ──> a Watch at each owner (peer.h
 *     streams), events relayed under the caller's id; a lost stream or a
 *     ring change closes the caller's connection (it watches again)
 *
 * A call that arrived forwarded (its id has PEER_ID_FORWARDED) is never
 * forwarded again: a node that does not own its user answers UNAVAILABLE
 * and reads the ring at once, so two nodes that disagree about the ring
 * cannot bounce a call between them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_int.h"
#include "fleet.h"
#include "peer.h"
#include "rs_list.h"
#include "watch.h"

/* One forwarded call waiting for its owner's answer. */
typedef struct fwd_call {
    rs_server *s;
    rs_sink *sink;
    rs_method method;
    uint64_t req_id;
    uint64_t start_ns;
    char owner[RS_RING_ID_MAX + 1];
} fwd_call;

static uint64_t request_user(const Readstates__V1__Request *req)
{
    switch (req->call_case) {
    case READSTATES__V1__REQUEST__CALL_ACK: return req->ack->user_id;
    case READSTATES__V1__REQUEST__CALL_SET: return req->set->user_id;
    case READSTATES__V1__REQUEST__CALL_BULK_ACK: return req->bulk_ack->user_id;
    case READSTATES__V1__REQUEST__CALL_GET: return req->get->user_id;
    case READSTATES__V1__REQUEST__CALL_DELETE: return req->delete_->user_id;
    default: return 0;
    }
}

/* The owners of users[0..n) in the order they first appear, into seen[];
 * skip (may be -1) is an owner left out (this node, for Watch). Returns how
 * many. */
static uint32_t owners_in_order(const rs_ring *ring, const uint64_t *users, size_t n, int skip,
                                uint16_t *seen)
{
    uint32_t nparts = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t node = ring->owner[rs_user_slot(users[i])];
        if ((int)node == skip)
            continue;
        bool known = false;
        for (uint32_t k = 0; k < nparts && !known; k++)
            known = seen[k] == node;
        if (!known)
            seen[nparts++] = node;
    }
    return nparts;
}

/* No ring read yet: nothing can be routed. */
static void refuse_no_ring(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                           uint64_t start_ns)
{
    dispatch_errorf(s, sink, m, req_id, start_ns, RS_ERR_UNAVAILABLE,
                    "this node has not read the fleet's ring yet");
}

/* A forwarded call over several users that this node does not all own:
 * the forwarding node's ring differs from ours. Read ours again; retry. */
static void refuse_misrouted(rs_server *s, rs_sink *sink, rs_method m, uint64_t req_id,
                             uint64_t start_ns, uint64_t generation)
{
    s->loop.fleet_stats.misrouted_in++;
    fleet_refresh_now(s->loop.fleet);
    dispatch_errorf(s, sink, m, req_id, start_ns, RS_ERR_UNAVAILABLE,
                    "forwarded to node %s, which does not own all of its users in ring "
                    "generation %llu (the rings differ for a moment: retry)",
                    fleet_node_id(s->loop.fleet), (unsigned long long)generation);
}

static void fwd_reply(void *arg, const Readstates__V1__Response *resp, const char *why)
{
    fwd_call *f = arg;
    rs_server *s = f->s;
    s->loop.fleet_stats.forwarded_out++;
    if (resp == NULL) {
        s->loop.fleet_stats.forward_failures++;
        dispatch_errorf(s, f->sink, f->method, f->req_id, f->start_ns, RS_ERR_UNAVAILABLE,
                        "the user's owner, node %s, did not answer: %s", f->owner,
                        why != NULL ? why : "no reply");
    } else {
        /* The owner's answer as it is: its status, message and result. */
        Readstates__V1__Response copy = *resp;
        rs_status st = resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
        const char *msg = resp->status != NULL && resp->status->message != NULL &&
                                  resp->status->message[0] != '\0'
                              ? resp->status->message
                              : NULL;
        if (st == RS_ERR_UNAVAILABLE)
            fleet_refresh_now(s->loop.fleet); /* maybe the ring moved */
        dispatch_reply(s, f->sink, f->method, f->req_id, f->start_ns, st, msg, &copy);
    }
    rs_sink_unref(f->sink);
    free(f);
}

static void forward_to(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                       rs_method m, uint64_t start_ns, const rs_ring_node *owner)
{
    fwd_call *f = rs_xcalloc(1, sizeof(*f), "forwarded call");
    f->s = s;
    f->sink = sink;
    f->method = m;
    f->req_id = req->id;
    f->start_ns = start_ns;
    snprintf(f->owner, sizeof(f->owner), "%s", owner->id);
    rs_sink_ref(sink);
    peers_call(s->loop.peers, owner->host, owner->port, req, fwd_reply, f);
}

bool dispatch_fleet_route(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          rs_method m, uint64_t start_ns)
{
    if (s->loop.fleet == NULL)
        return false;
    uint64_t user = request_user(req);
    if (user == 0)
        return false;
    const rs_ring_node *owner;
    switch (fleet_route_user(s->loop.fleet, user, &owner)) {
    case FLEET_LOCAL: return false;
    case FLEET_NO_RING: refuse_no_ring(s, sink, m, req->id, start_ns); return true;
    case FLEET_REMOTE: break;
    }
    if (req->id & PEER_ID_FORWARDED) {
        /* Forwarded here by a node that thinks this one owns the user. */
        s->loop.fleet_stats.misrouted_in++;
        fleet_refresh_now(s->loop.fleet);
        dispatch_errorf(s, sink, m, req->id, start_ns, RS_ERR_UNAVAILABLE,
                        "user %llu: forwarded to node %s, but node %s owns it in ring "
                        "generation %llu (the rings differ for a moment: retry)",
                        (unsigned long long)user, fleet_node_id(s->loop.fleet), owner->id,
                        (unsigned long long)fleet_stats(s->loop.fleet)->generation);
        return true;
    }
    forward_to(s, sink, req, m, start_ns, owner);
    return true;
}

/* ---- AddMentions over several owners ---------------------------------------- */

typedef struct am_fan am_fan;

typedef struct am_part {
    am_fan *fan;
    uint32_t node; /* ring node index */
    uint32_t n;
    uint32_t *idx; /* positions in the request */
} am_part;

struct am_fan {
    rs_server *s;
    rs_sink *sink;
    uint64_t req_id;
    uint64_t start_ns;
    uint32_t n;
    uint64_t *users;
    uint32_t *counts;
    uint32_t remaining;
    rs_status worst;
    char msg[512];
    size_t msglen;
    uint32_t nparts;
    am_part parts[];
};

static void am_fan_note(am_fan *fan, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void am_fan_note(am_fan *fan, const char *fmt, ...)
{
    if (fan->msglen + 1 >= sizeof(fan->msg))
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(fan->msg + fan->msglen, sizeof(fan->msg) - fan->msglen, fmt, ap);
    va_end(ap);
    if (w > 0)
        fan->msglen = RS_MIN(fan->msglen + (size_t)w, sizeof(fan->msg) - 1);
}

static void am_fan_done(am_fan *fan)
{
    rs_server *s = fan->s;
    Readstates__V1__AddMentionsResponse am = READSTATES__V1__ADD_MENTIONS_RESPONSE__INIT;
    am.n_mention_counts = fan->n;
    am.mention_counts = fan->counts;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS;
    resp.add_mentions = &am;
    dispatch_reply(s, fan->sink, RS_METHOD_ADD_MENTIONS, fan->req_id, fan->start_ns, fan->worst,
                   fan->worst != RS_OK ? fan->msg : NULL, &resp);
    rs_sink_unref(fan->sink);
    for (uint32_t i = 0; i < fan->nparts; i++)
        free(fan->parts[i].idx);
    free(fan->counts);
    free(fan->users);
    free(fan);
}

static void am_part_reply(void *arg, const Readstates__V1__Response *resp, const char *why)
{
    am_part *part = arg;
    am_fan *fan = part->fan;
    const rs_ring *ring = fleet_ring(fan->s->loop.fleet);
    const char *node =
        ring != NULL && part->node < ring->nnodes ? ring->nodes[part->node].id : "?";
    fan->s->loop.fleet_stats.forwarded_out++;
    rs_status st = RS_OK;
    const char *detail = why;
    if (resp == NULL) {
        st = RS_ERR_UNAVAILABLE;
        fan->s->loop.fleet_stats.forward_failures++;
    } else {
        st = resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
        detail = resp->status != NULL ? resp->status->message : NULL;
        if (resp->result_case == READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS &&
            resp->add_mentions->n_mention_counts == part->n)
            for (uint32_t i = 0; i < part->n; i++)
                fan->counts[part->idx[i]] = resp->add_mentions->mention_counts[i];
        else if (st == RS_OK)
            st = RS_ERR_INTERNAL; /* an answer that does not fit the question */
    }
    if (st != RS_OK) {
        if (fan->worst == RS_OK)
            fan->worst = st;
        am_fan_note(fan, "%snode %s, users", fan->msglen ? "; " : "", node);
        for (uint32_t i = 0; i < part->n; i++)
            am_fan_note(fan, " %llu", (unsigned long long)fan->users[part->idx[i]]);
        am_fan_note(fan, ": %s", detail != NULL && detail[0] ? detail : rs_status_name(st));
    }
    if (--fan->remaining == 0)
        am_fan_done(fan);
}

bool dispatch_fleet_add_mentions(rs_server *s, rs_sink *sink,
                                 const Readstates__V1__Request *req, uint64_t start_ns)
{
    if (s->loop.fleet == NULL)
        return false;
    const Readstates__V1__AddMentionsRequest *a = req->add_mentions;
    const rs_ring *ring = fleet_ring(s->loop.fleet);
    if (ring == NULL) {
        refuse_no_ring(s, sink, RS_METHOD_ADD_MENTIONS, req->id, start_ns);
        return true;
    }
    bool all_local = true;
    const rs_ring_node *owner;
    for (size_t i = 0; i < a->n_user_ids && all_local; i++)
        all_local = fleet_route_user(s->loop.fleet, a->user_ids[i], &owner) == FLEET_LOCAL;
    if (all_local)
        return false;
    if (req->id & PEER_ID_FORWARDED) { /* parts come to their owners only */
        refuse_misrouted(s, sink, RS_METHOD_ADD_MENTIONS, req->id, start_ns, ring->generation);
        return true;
    }
    /* One part per owner, in the order owners first appear. */
    uint32_t n = (uint32_t)a->n_user_ids;
    uint16_t *node_of = rs_xmalloc(n * sizeof(*node_of), "add mentions");
    for (uint32_t i = 0; i < n; i++)
        node_of[i] = ring->owner[rs_user_slot(a->user_ids[i])];
    uint16_t seen[RS_RING_NODES_MAX];
    uint32_t nparts = owners_in_order(ring, a->user_ids, n, -1, seen);
    am_fan *fan = rs_xcalloc(1, sizeof(*fan) + nparts * sizeof(am_part), "add mentions");
    fan->s = s;
    fan->sink = sink;
    fan->req_id = req->id;
    fan->start_ns = start_ns;
    fan->n = n;
    fan->users = rs_xmalloc(n * sizeof(*fan->users), "add mentions");
    memcpy(fan->users, a->user_ids, n * sizeof(*fan->users));
    fan->counts = rs_xcalloc(n, sizeof(*fan->counts), "add mentions");
    fan->nparts = nparts;
    fan->remaining = nparts;
    rs_sink_ref(sink);
    uint64_t *ids = rs_xmalloc(n * sizeof(*ids), "add mentions");
    for (uint32_t k = 0; k < nparts; k++) {
        am_part *part = &fan->parts[k];
        part->fan = fan;
        part->node = seen[k];
        part->idx = rs_xmalloc(n * sizeof(*part->idx), "add mentions");
        for (uint32_t i = 0; i < n; i++)
            if (node_of[i] == seen[k]) {
                ids[part->n] = a->user_ids[i];
                part->idx[part->n++] = i;
            }
        Readstates__V1__AddMentionsRequest sub = *a;
        sub.n_user_ids = part->n;
        sub.user_ids = ids;
        Readstates__V1__Request r = *req;
        r.add_mentions = &sub;
        const rs_ring_node *to = &ring->nodes[seen[k]];
        peers_call(s->loop.peers, to->host, to->port, &r, am_part_reply, part);
    }
    free(ids);
    free(node_of);
    return true;
}

/* ---- Watch over several owners ------------------------------------------------ */

/* A Watch whose users other nodes own: one stream per owner (a Watch of
 * its users there, on a connection of its own), their events relayed to
 * the client under its request's id. Events of a user come from its one
 * owner over one ordered stream: per-user version order holds. The client
 * is answered once every owner accepted (then this node's own users are
 * watched here too); a part refused before that fails the Watch with the
 * owner's status. A stream lost after that, or a ring change that moves a
 * watched user, closes the client's connection: as after any watch
 * disconnection, it reconnects, reads the current states and watches
 * again (at the new owners). */
typedef struct relay_part {
    struct fleet_relay *r;
    peer_stream *st;
    char owner[RS_RING_ID_MAX + 1];
    uint32_t n;
    uint64_t *users;
} relay_part;

typedef struct fleet_relay {
    rs_server *s;
    rs_sink *sink;
    uint64_t req_id;
    uint64_t start_ns;
    uint32_t nparts, accepted;
    bool answered;
    size_t nlocal;
    uint64_t *local;
    struct fleet_relay *prev, *next;
    relay_part parts[];
} fleet_relay;

static void relay_end(fleet_relay *r)
{
    rs_server *s = r->s;
    for (uint32_t i = 0; i < r->nparts; i++) {
        peers_stream_close(r->parts[i].st);
        r->parts[i].st = NULL;
        free(r->parts[i].users);
    }
    RS_DLIST_REMOVE(s->loop.relays, r, prev, next);
    s->loop.fleet_stats.relays_open--;
    rs_sink_unref(r->sink);
    free(r->local);
    free(r);
}

static void relay_part_event(void *arg, const Readstates__V1__Response *resp, const char *why)
{
    relay_part *part = arg;
    fleet_relay *r = part->r;
    rs_server *s = r->s;
    if (resp == NULL) {  /* the stream is gone */
        part->st = NULL; /* closed by the peer part: nothing to close */
        if (!r->answered) {
            r->answered = true;
            dispatch_errorf(s, r->sink, RS_METHOD_WATCH, r->req_id, r->start_ns,
                            RS_ERR_UNAVAILABLE, "watching the users node %s owns: %s",
                            part->owner, why != NULL ? why : "no answer");
        } else if (r->sink->ops->close != NULL) {
            r->sink->ops->close(r->sink, "watch_relay_lost");
        }
        relay_end(r);
        return;
    }
    if (resp->result_case == READSTATES__V1__RESPONSE__RESULT_EVENT) {
        if (!r->answered)
            return; /* cannot come before the acceptance; dropped if it did */
        Readstates__V1__Response copy = *resp;
        copy.id = r->req_id;
        r->sink->ops->reply(r->sink, &copy);
        s->proc.metrics.events_sent++;
        s->loop.fleet_stats.relayed_events++;
        return;
    }
    if (r->answered)
        return;
    rs_status st = resp->status != NULL ? (rs_status)resp->status->code : RS_OK;
    if (st != RS_OK) { /* the owner refused it: its answer, unchanged */
        r->answered = true;
        Readstates__V1__Response copy = *resp;
        const char *msg = resp->status->message != NULL && resp->status->message[0] != '\0'
                              ? resp->status->message
                              : NULL;
        dispatch_reply(s, r->sink, RS_METHOD_WATCH, r->req_id, r->start_ns, st, msg, &copy);
        relay_end(r);
        return;
    }
    if (++r->accepted < r->nparts)
        return;
    /* every owner accepted: this node's own users, then the answer */
    for (size_t i = 0; i < r->nlocal; i++)
        watch_add(s, r->sink, r->local[i], r->req_id);
    r->answered = true;
    Readstates__V1__Response ok = READSTATES__V1__RESPONSE__INIT;
    dispatch_reply(s, r->sink, RS_METHOD_WATCH, r->req_id, r->start_ns, RS_OK, NULL, &ok);
}

bool dispatch_fleet_watch(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          uint64_t start_ns)
{
    if (s->loop.fleet == NULL)
        return false;
    const Readstates__V1__WatchRequest *w = req->watch;
    const rs_ring *ring = fleet_ring(s->loop.fleet);
    if (ring == NULL) {
        refuse_no_ring(s, sink, RS_METHOD_WATCH, req->id, start_ns);
        return true;
    }
    const rs_ring_node *owner;
    size_t nremote = 0;
    for (size_t i = 0; i < w->n_user_ids; i++)
        nremote += fleet_route_user(s->loop.fleet, w->user_ids[i], &owner) == FLEET_REMOTE;
    if (nremote == 0)
        return false; /* all here: the local path */
    if (req->id & PEER_ID_FORWARDED) {
        refuse_misrouted(s, sink, RS_METHOD_WATCH, req->id, start_ns, ring->generation);
        return true;
    }
    if ((uint64_t)sink->nwatches + w->n_user_ids > s->proc.cfg.max_watches) {
        dispatch_errorf(s, sink, RS_METHOD_WATCH, req->id, start_ns, RS_ERR_EXHAUSTED,
                        "the connection watches %u users; %zu more would pass the limit of %u",
                        sink->nwatches, w->n_user_ids, s->proc.cfg.max_watches);
        return true;
    }
    /* one part per remote owner, in the order owners first appear */
    uint16_t seen[RS_RING_NODES_MAX];
    uint32_t nparts = owners_in_order(ring, w->user_ids, w->n_user_ids,
                                      rs_ring_find(ring, fleet_node_id(s->loop.fleet)), seen);
    fleet_relay *r = rs_xcalloc(1, sizeof(*r) + nparts * sizeof(relay_part), "watch relay");
    r->s = s;
    r->sink = sink;
    r->req_id = req->id;
    r->start_ns = start_ns;
    r->nparts = nparts;
    r->local = rs_xmalloc(w->n_user_ids * sizeof(*r->local), "watch relay");
    for (size_t i = 0; i < w->n_user_ids; i++)
        if (fleet_route_user(s->loop.fleet, w->user_ids[i], &owner) == FLEET_LOCAL)
            r->local[r->nlocal++] = w->user_ids[i];
    rs_sink_ref(sink);
    RS_DLIST_PUSH(s->loop.relays, r, prev, next);
    s->loop.fleet_stats.relays_open++;
    for (uint32_t k = 0; k < nparts; k++) {
        relay_part *part = &r->parts[k];
        part->r = r;
        snprintf(part->owner, sizeof(part->owner), "%s", ring->nodes[seen[k]].id);
        part->users = rs_xmalloc(w->n_user_ids * sizeof(*part->users), "watch relay");
        for (size_t i = 0; i < w->n_user_ids; i++)
            if (ring->owner[rs_user_slot(w->user_ids[i])] == seen[k] &&
                fleet_route_user(s->loop.fleet, w->user_ids[i], &owner) == FLEET_REMOTE)
                part->users[part->n++] = w->user_ids[i];
    }
    /* Streams open after the parts are complete: a stream that fails at
     * once reports from the loop, never inside this call. */
    for (uint32_t k = 0; k < nparts; k++) {
        relay_part *part = &r->parts[k];
        Readstates__V1__WatchRequest sub = *w;
        sub.n_user_ids = part->n;
        sub.user_ids = part->users;
        Readstates__V1__Request q = *req;
        q.watch = &sub;
        const rs_ring_node *to = &ring->nodes[seen[k]];
        part->st =
            peers_stream_open(s->loop.peers, to->host, to->port, &q, relay_part_event, part);
    }
    return true;
}

void dispatch_fleet_sink_gone(rs_server *s, rs_sink *sink)
{
    fleet_relay *r = s->loop.relays;
    while (r != NULL) {
        fleet_relay *next = r->next;
        if (r->sink == sink)
            relay_end(r);
        r = next;
    }
}

static bool dispatch_fleet_not_local(void *arg, uint64_t user_id)
{
    rs_server *s = arg;
    const rs_ring_node *owner;
    return fleet_route_user(s->loop.fleet, user_id, &owner) != FLEET_LOCAL;
}

void dispatch_fleet_ring_changed(rs_server *s)
{
    /* relayed watches: their users may have moved; the clients watch again */
    fleet_relay *r = s->loop.relays;
    while (r != NULL) {
        fleet_relay *next = r->next;
        if (r->sink->ops->close != NULL)
            r->sink->ops->close(r->sink, "fleet_ring_changed");
        relay_end(r);
        r = next;
    }
    /* local watches of users this node no longer owns */
    watch_close_users(s, dispatch_fleet_not_local, s);
}

/* ---- GetRing ------------------------------------------------------------------ */

/* The ring in use; a node outside a fleet answers a ring of itself alone
 * (generation 0, every slot), so ring-aware clients work against it too. */
void dispatch_get_ring(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                       uint64_t start_ns)
{
    const rs_ring *ring = s->loop.fleet != NULL ? fleet_ring(s->loop.fleet) : NULL;
    if (s->loop.fleet != NULL && ring == NULL) {
        refuse_no_ring(s, sink, RS_METHOD_GET_RING, req->id, start_ns);
        return;
    }
    size_t nnodes = ring != NULL ? ring->nnodes : 1, nranges = 0;
    if (ring != NULL) {
        for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
            nranges += sl == 0 || ring->owner[sl] != ring->owner[sl - 1];
    } else {
        nranges = 1;
    }
    Readstates__V1__RingNode *nodes = rs_arena_alloc(&s->loop.arena, nnodes * sizeof(*nodes));
    Readstates__V1__RingNode **pnodes =
        rs_arena_alloc(&s->loop.arena, nnodes * sizeof(*pnodes));
    Readstates__V1__SlotRange *ranges =
        rs_arena_alloc(&s->loop.arena, nranges * sizeof(*ranges));
    Readstates__V1__SlotRange **pranges =
        rs_arena_alloc(&s->loop.arena, nranges * sizeof(*pranges));
    for (size_t i = 0; i < nnodes; i++) {
        readstates__v1__ring_node__init(&nodes[i]);
        pnodes[i] = &nodes[i];
        if (ring != NULL) {
            const rs_ring_node *n = &ring->nodes[i];
            nodes[i].node_id = (char *)n->id;
            nodes[i].address = dispatch_sprintf(s, strchr(n->host, ':') ? "[%s]:%d" : "%s:%d",
                                                n->host, n->port);
        } else {
            char host[RS_ADDR_MAX];
            int port = 0;
            if (rs_parse_hostport(s->proc.cfg.listen, host, sizeof(host), &port) != 0)
                snprintf(host, sizeof(host), "127.0.0.1");
            nodes[i].node_id = "";
            nodes[i].address = dispatch_sprintf(s, strchr(host, ':') ? "[%s]:%d" : "%s:%d",
                                                host, s->loop.port);
        }
    }
    size_t k = 0;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++) {
        if (sl > 0 && (ring == NULL || ring->owner[sl] == ring->owner[sl - 1])) {
            ranges[k - 1].last_slot = sl;
            continue;
        }
        readstates__v1__slot_range__init(&ranges[k]);
        ranges[k].first_slot = sl;
        ranges[k].last_slot = sl;
        ranges[k].node = ring != NULL ? ring->owner[sl] : 0;
        pranges[k] = &ranges[k];
        k++;
    }
    Readstates__V1__GetRingResponse gr = READSTATES__V1__GET_RING_RESPONSE__INIT;
    gr.generation = ring != NULL ? ring->generation : 0;
    gr.n_nodes = nnodes;
    gr.nodes = pnodes;
    gr.n_ranges = nranges;
    gr.ranges = pranges;
    Readstates__V1__Response resp = READSTATES__V1__RESPONSE__INIT;
    resp.result_case = READSTATES__V1__RESPONSE__RESULT_GET_RING;
    resp.get_ring = &gr;
    dispatch_reply(s, sink, RS_METHOD_GET_RING, req->id, start_ns, RS_OK, NULL, &resp);
}
