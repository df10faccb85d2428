/*
 * rs_client_rpc.c: one blocking function per RPC, on top of rs_client_call.
 *
 * Each builds its Request on the stack (borrowing the caller's arrays: the
 * request is only read while it is encoded), waits for the Response with
 * its id, checks the status and the result kind, and copies the result into
 * caller-friendly structs:
 *
 *   rs_client_ack(...) ─> Request{ack} ─> rs_client_call ─> Response{ack}
 *                                                             │ copy
 *                                            rs_client_ack_result <──┘
 *
 * A refused request returns the server's code with "CODE: message" in
 * rs_client_errmsg; a result of the wrong kind (or a mention list not
 * aligned with the users) is RS_ERR_INTERNAL, not sticky.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_client.h"
#include "rs_client_int.h"

static void state_from_pb(const Readstates__V1__ReadState *s, rs_client_state *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return;
    out->channel_id = s->channel_id;
    out->last_message_id = s->last_message_id;
    out->mention_count = s->mention_count;
    out->flags = s->flags;
    out->version = s->version;
}

/* Copy n protobuf states into out->states (malloc'd). Returns 0 or -1. */
static int states_from_pb(Readstates__V1__ReadState *const *states, size_t n,
                          rs_client_states *out)
{
    out->states = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    out->states = calloc(n, sizeof(*out->states));
    if (out->states == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        state_from_pb(states[i], &out->states[i]);
    out->n = n;
    return 0;
}

void rs_client_states_free(rs_client_states *s)
{
    if (s == NULL)
        return;
    free(s->states);
    memset(s, 0, sizeof(*s));
}

static const char *result_name(Readstates__V1__Response__ResultCase rc)
{
    switch (rc) {
    case READSTATES__V1__RESPONSE__RESULT_PING: return "ping";
    case READSTATES__V1__RESPONSE__RESULT_ACK: return "ack";
    case READSTATES__V1__RESPONSE__RESULT_SET: return "set";
    case READSTATES__V1__RESPONSE__RESULT_BULK_ACK: return "bulk_ack";
    case READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS: return "add_mentions";
    case READSTATES__V1__RESPONSE__RESULT_GET: return "get";
    case READSTATES__V1__RESPONSE__RESULT_DELETE: return "delete";
    case READSTATES__V1__RESPONSE__RESULT_EVENT: return "event";
    case READSTATES__V1__RESPONSE__RESULT_AUTH: return "auth";
    case READSTATES__V1__RESPONSE__RESULT_GET_RING: return "get_ring";
    default: return "none";
    }
}

/*
 * Send req, wait for its response, and check its status and result kind.
 * Returns RS_OK with *out (free with rs_client_response_free), or the
 * failure (with *out NULL and the message noted).
 */
static rs_status call_expect(rs_client *c, Readstates__V1__Request *req,
                             Readstates__V1__Response__ResultCase want,
                             Readstates__V1__Response **out)
{
    Readstates__V1__Response *resp = NULL;
    *out = NULL;
    rs_status st = rs_client_call(c, req, &resp);
    if (st != RS_OK)
        return st;
    st = rs_client_response_status(resp);
    if (st != RS_OK) {
        rs_client_note(c, "%s: %s", rs_status_name(st),
                       resp->status->message != NULL ? resp->status->message : "");
        rs_client_response_free(resp);
        return st;
    }
    if (resp->result_case != want) {
        rs_client_note(c, "INTERNAL: expected a %s result, got %s", result_name(want),
                       result_name(resp->result_case));
        rs_client_response_free(resp);
        return RS_ERR_INTERNAL;
    }
    *out = resp;
    return RS_OK;
}

rs_status rs_client_auth(rs_client *c, const char *token)
{
    Readstates__V1__AuthRequest auth = READSTATES__V1__AUTH_REQUEST__INIT;
    auth.token = (char *)(token != NULL ? token : "");
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_AUTH;
    req.auth = &auth;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_AUTH, &resp);
    if (st != RS_OK)
        return st;
    rs_client_response_free(resp);
    return RS_OK;
}

static bool token_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* s trimmed of blanks into out. Returns 1, 0 when nothing is left, or -1
 * (reason in out) when it does not fit. */
static int token_put(const char *s, size_t len, char *out, size_t outlen)
{
    while (len > 0 && token_blank(*s)) {
        s++;
        len--;
    }
    while (len > 0 && token_blank(s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (len >= outlen) {
        snprintf(out, outlen, "token too long (max %zu bytes)", outlen > 0 ? outlen - 1 : 0);
        return -1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 1;
}

int rs_client_token(const char *token, const char *token_file, char *out, size_t outlen)
{
    if (token != NULL)
        return token_put(token, strlen(token), out, outlen);
    if (token_file != NULL) {
        FILE *f = fopen(token_file, "r");
        if (f == NULL) {
            snprintf(out, outlen, "%s: %s", token_file, strerror(errno));
            return -1;
        }
        char line[8192];
        int rc = 0;
        while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
            const char *p = line;
            while (token_blank(*p))
                p++;
            if (*p == '\0' || *p == '#')
                continue;
            rc = token_put(p, strlen(p), out, outlen);
        }
        fclose(f);
        if (rc == 0)
            snprintf(out, outlen, "%s: no token in the file", token_file);
        return rc != 0 ? rc : -1;
    }
    const char *env = getenv("READSTATES_TOKEN");
    if (env != NULL && env[0] != '\0')
        return token_put(env, strlen(env), out, outlen);
    return 0;
}

rs_status rs_client_ping(rs_client *c, uint64_t *server_time_ms, char *version,
                         size_t versionlen)
{
    Readstates__V1__PingRequest ping = READSTATES__V1__PING_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_PING;
    req.ping = &ping;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_PING, &resp);
    if (st != RS_OK)
        return st;
    if (server_time_ms != NULL)
        *server_time_ms = resp->ping->server_time_ms;
    if (version != NULL && versionlen > 0)
        snprintf(version, versionlen, "%s",
                 resp->ping->server_version != NULL ? resp->ping->server_version : "");
    rs_client_response_free(resp);
    return RS_OK;
}

static rs_status ack_like(rs_client *c, bool set, uint64_t user_id, uint64_t channel_id,
                          uint64_t message_id, uint32_t mention_count,
                          rs_client_ack_result *out)
{
    Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
    Readstates__V1__SetReadStateRequest sr = READSTATES__V1__SET_READ_STATE_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    if (set) {
        sr.user_id = user_id;
        sr.channel_id = channel_id;
        sr.message_id = message_id;
        sr.mention_count = mention_count;
        req.call_case = READSTATES__V1__REQUEST__CALL_SET;
        req.set = &sr;
    } else {
        ack.user_id = user_id;
        ack.channel_id = channel_id;
        ack.message_id = message_id;
        ack.mention_count = mention_count;
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
    }
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req,
                               set ? READSTATES__V1__RESPONSE__RESULT_SET
                                   : READSTATES__V1__RESPONSE__RESULT_ACK,
                               &resp);
    if (st != RS_OK)
        return st;
    const Readstates__V1__AckResponse *r = set ? resp->set : resp->ack;
    if (out != NULL) {
        state_from_pb(r->state, &out->state);
        out->applied = r->applied;
        out->user_version = r->user_version;
    }
    rs_client_response_free(resp);
    return RS_OK;
}

rs_status rs_client_ack(rs_client *c, uint64_t user_id, uint64_t channel_id,
                        uint64_t message_id, uint32_t mention_count, rs_client_ack_result *out)
{
    return ack_like(c, false, user_id, channel_id, message_id, mention_count, out);
}

rs_status rs_client_set(rs_client *c, uint64_t user_id, uint64_t channel_id,
                        uint64_t message_id, uint32_t mention_count, rs_client_ack_result *out)
{
    return ack_like(c, true, user_id, channel_id, message_id, mention_count, out);
}

rs_status rs_client_bulk_ack(rs_client *c, uint64_t user_id, const rs_client_ack_entry *entries,
                             size_t n, rs_client_states *out)
{
    Readstates__V1__AckEntry *ents = calloc(n > 0 ? n : 1, sizeof(*ents));
    Readstates__V1__AckEntry **ptrs = calloc(n > 0 ? n : 1, sizeof(*ptrs));
    if (ents == NULL || ptrs == NULL) {
        free(ents);
        free(ptrs);
        rs_client_note(c, "INTERNAL: out of memory");
        return RS_ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        readstates__v1__ack_entry__init(&ents[i]);
        ents[i].channel_id = entries[i].channel_id;
        ents[i].message_id = entries[i].message_id;
        ptrs[i] = &ents[i];
    }
    Readstates__V1__BulkAckRequest bulk = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    bulk.user_id = user_id;
    bulk.n_entries = n;
    bulk.entries = ptrs;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
    req.bulk_ack = &bulk;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_BULK_ACK, &resp);
    free(ents);
    free(ptrs);
    if (st != RS_OK)
        return st;
    if (out != NULL) {
        if (states_from_pb(resp->bulk_ack->states, resp->bulk_ack->n_states, out) != 0)
            st = RS_ERR_INTERNAL;
        out->applied = resp->bulk_ack->applied;
        out->user_version = resp->bulk_ack->user_version;
    }
    rs_client_response_free(resp);
    return st;
}

rs_status rs_client_add_mentions(rs_client *c, uint64_t channel_id, uint64_t message_id,
                                 const uint64_t *user_ids, size_t n, uint32_t count,
                                 uint32_t *counts_out)
{
    Readstates__V1__AddMentionsRequest am = READSTATES__V1__ADD_MENTIONS_REQUEST__INIT;
    am.channel_id = channel_id;
    am.message_id = message_id;
    am.n_user_ids = n;
    am.user_ids = (uint64_t *)user_ids;
    am.count = count;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_ADD_MENTIONS;
    req.add_mentions = &am;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS, &resp);
    if (st != RS_OK)
        return st;
    if (resp->add_mentions->n_mention_counts != n) {
        rs_client_note(c, "INTERNAL: %zu mention counts for %zu users",
                       resp->add_mentions->n_mention_counts, n);
        st = RS_ERR_INTERNAL;
    } else if (counts_out != NULL && n > 0) {
        memcpy(counts_out, resp->add_mentions->mention_counts, n * sizeof(*counts_out));
    }
    rs_client_response_free(resp);
    return st;
}

rs_status rs_client_get(rs_client *c, uint64_t user_id, const uint64_t *channel_ids, size_t n,
                        rs_client_states *out)
{
    Readstates__V1__GetReadStatesRequest get = READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
    get.user_id = user_id;
    get.n_channel_ids = n;
    get.channel_ids = (uint64_t *)channel_ids;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_GET;
    req.get = &get;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_GET, &resp);
    if (st != RS_OK)
        return st;
    if (out != NULL) {
        if (states_from_pb(resp->get->states, resp->get->n_states, out) != 0)
            st = RS_ERR_INTERNAL;
        out->applied = 0;
        out->user_version = resp->get->user_version;
    }
    rs_client_response_free(resp);
    return st;
}

rs_status rs_client_delete(rs_client *c, uint64_t user_id, const uint64_t *channel_ids,
                           size_t n, bool all, uint32_t *deleted, uint64_t *user_version)
{
    Readstates__V1__DeleteReadStatesRequest del =
        READSTATES__V1__DELETE_READ_STATES_REQUEST__INIT;
    del.user_id = user_id;
    del.n_channel_ids = n;
    del.channel_ids = (uint64_t *)channel_ids;
    del.all = all;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_DELETE;
    req.delete_ = &del;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_DELETE, &resp);
    if (st != RS_OK)
        return st;
    if (deleted != NULL)
        *deleted = resp->delete_->deleted;
    if (user_version != NULL)
        *user_version = resp->delete_->user_version;
    rs_client_response_free(resp);
    return RS_OK;
}

/* The GetRing answer into out: every node's address HOST:PORT, the ranges
 * in slot order from 0 to the last slot, each index a node. Returns 0, or -1
 * with why set. */
static int ring_from_response(const Readstates__V1__GetRingResponse *gr, rs_ring *out,
                              const char **why)
{
    memset(out, 0, sizeof(*out));
    out->generation = gr->generation;
    if (gr->n_nodes == 0 || gr->n_nodes > RS_RING_NODES_MAX) {
        *why = "no nodes, or too many";
        return -1;
    }
    for (size_t i = 0; i < gr->n_nodes; i++) {
        const Readstates__V1__RingNode *n = gr->nodes[i];
        rs_ring_node *rn = &out->nodes[i];
        const char *id = n->node_id != NULL ? n->node_id : "";
        if (strlen(id) > RS_RING_ID_MAX) {
            *why = "a node id longer than 64 bytes";
            return -1;
        }
        snprintf(rn->id, sizeof(rn->id), "%s", id);
        if (rs_parse_hostport(n->address, rn->host, sizeof(rn->host), &rn->port) != 0 ||
            rn->port == 0) {
            *why = "a node address that is not HOST:PORT";
            return -1;
        }
    }
    out->nnodes = gr->n_nodes;
    uint32_t next = 0;
    for (size_t i = 0; i < gr->n_ranges; i++) {
        const Readstates__V1__SlotRange *r = gr->ranges[i];
        if (r->first_slot != next || r->last_slot < r->first_slot || r->last_slot >= RS_SLOTS ||
            r->node >= gr->n_nodes) {
            *why = "ranges that do not cover the slots in order, or name no node";
            return -1;
        }
        for (uint32_t sl = r->first_slot; sl <= r->last_slot; sl++)
            out->owner[sl] = (uint16_t)r->node;
        next = r->last_slot + 1;
    }
    if (next != RS_SLOTS) {
        *why = "ranges that leave slots without a node";
        return -1;
    }
    return 0;
}

rs_status rs_client_get_ring(rs_client *c, rs_ring *out)
{
    Readstates__V1__GetRingRequest gr = READSTATES__V1__GET_RING_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_GET_RING;
    req.get_ring = &gr;
    Readstates__V1__Response *resp;
    rs_status st = call_expect(c, &req, READSTATES__V1__RESPONSE__RESULT_GET_RING, &resp);
    if (st != RS_OK)
        return st;
    const char *why = NULL;
    if (ring_from_response(resp->get_ring, out, &why) != 0) {
        rs_client_note(c, "INTERNAL: the server's ring is not valid: %s", why);
        st = RS_ERR_INTERNAL;
    }
    rs_client_response_free(resp);
    return st;
}
