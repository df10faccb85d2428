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
 *   Watch of a user owned elsewhere ──> UNIMPLEMENTED (not relayed yet)
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
    case FLEET_NO_RING:
        dispatch_errorf(s, sink, m, req->id, start_ns, RS_ERR_UNAVAILABLE,
                        "this node has not read the fleet's ring yet");
        return true;
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
        dispatch_errorf(s, sink, RS_METHOD_ADD_MENTIONS, req->id, start_ns, RS_ERR_UNAVAILABLE,
                        "this node has not read the fleet's ring yet");
        return true;
    }
    bool all_local = true;
    const rs_ring_node *owner;
    for (size_t i = 0; i < a->n_user_ids && all_local; i++)
        all_local = fleet_route_user(s->loop.fleet, a->user_ids[i], &owner) == FLEET_LOCAL;
    if (all_local)
        return false;
    if (req->id & PEER_ID_FORWARDED) { /* parts come to their owners only */
        s->loop.fleet_stats.misrouted_in++;
        fleet_refresh_now(s->loop.fleet);
        dispatch_errorf(s, sink, RS_METHOD_ADD_MENTIONS, req->id, start_ns, RS_ERR_UNAVAILABLE,
                        "forwarded to node %s, which does not own all of its users in ring "
                        "generation %llu (the rings differ for a moment: retry)",
                        fleet_node_id(s->loop.fleet), (unsigned long long)ring->generation);
        return true;
    }
    /* One part per owner, in the order owners first appear. */
    uint32_t n = (uint32_t)a->n_user_ids;
    uint16_t *node_of = rs_xmalloc(n * sizeof(*node_of), "add mentions");
    uint32_t nparts = 0;
    uint16_t seen[RS_RING_NODES_MAX];
    for (uint32_t i = 0; i < n; i++) {
        node_of[i] = ring->owner[rs_user_slot(a->user_ids[i])];
        bool known = false;
        for (uint32_t k = 0; k < nparts && !known; k++)
            known = seen[k] == node_of[i];
        if (!known)
            seen[nparts++] = node_of[i];
    }
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

/* Watch of users owned elsewhere is not relayed yet: said plainly. */
bool dispatch_fleet_watch(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                          uint64_t start_ns)
{
    if (s->loop.fleet == NULL)
        return false;
    const Readstates__V1__WatchRequest *w = req->watch;
    const rs_ring_node *owner;
    for (size_t i = 0; i < w->n_user_ids; i++) {
        fleet_route r = fleet_route_user(s->loop.fleet, w->user_ids[i], &owner);
        if (r == FLEET_LOCAL)
            continue;
        dispatch_errorf(s, sink, RS_METHOD_WATCH, req->id, start_ns,
                        r == FLEET_NO_RING ? RS_ERR_UNAVAILABLE : RS_ERR_UNIMPLEMENTED,
                        r == FLEET_NO_RING ? "this node has not read the fleet's ring yet"
                                           : "user %llu is owned by node %s (%s:%d): watch it "
                                             "there (Watch is not relayed between nodes yet)",
                        (unsigned long long)w->user_ids[i], owner != NULL ? owner->id : "?",
                        owner != NULL ? owner->host : "", owner != NULL ? owner->port : 0);
        return true;
    }
    return false;
}

/* ---- GetRing ------------------------------------------------------------------ */

/* The ring in use; a node outside a fleet answers a ring of itself alone
 * (generation 0, every slot), so ring-aware clients work against it too. */
void dispatch_get_ring(rs_server *s, rs_sink *sink, const Readstates__V1__Request *req,
                       uint64_t start_ns)
{
    const rs_ring *ring = s->loop.fleet != NULL ? fleet_ring(s->loop.fleet) : NULL;
    if (s->loop.fleet != NULL && ring == NULL) {
        dispatch_errorf(s, sink, RS_METHOD_GET_RING, req->id, start_ns, RS_ERR_UNAVAILABLE,
                        "this node has not read the fleet's ring yet");
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
