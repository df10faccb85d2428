/* lg_proto.c: request encoding and response scanning, see lg_proto.h. */
#include "lg_proto.h"

#include <event2/buffer.h>
#include <string.h>

#include "frame.h"

/* ---- encoding -------------------------------------------------------- */

typedef struct enc_scratch {
    Readstates__V1__Request req;
    Readstates__V1__AckRequest ack;
    Readstates__V1__SetReadStateRequest set;
    Readstates__V1__BulkAckRequest bulk;
    Readstates__V1__AckEntry entries[LG_LIST_MAX];
    Readstates__V1__AckEntry *entry_ptrs[LG_LIST_MAX];
    Readstates__V1__AddMentionsRequest mentions;
    Readstates__V1__GetReadStatesRequest get;
    Readstates__V1__PingRequest ping;
    uint64_t ids[LG_LIST_MAX];
} enc_scratch;

static void pb_build(const lg_op *op, uint64_t id, enc_scratch *s)
{
    readstates__v1__request__init(&s->req);
    s->req.id = id;
    switch (op->method) {
    case LG_ACK:
        readstates__v1__ack_request__init(&s->ack);
        s->ack.user_id = op->user_id;
        s->ack.channel_id = op->channel_id;
        s->ack.message_id = op->message_id;
        s->ack.mention_count = op->mention_count;
        s->req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        s->req.ack = &s->ack;
        break;
    case LG_SET:
        readstates__v1__set_read_state_request__init(&s->set);
        s->set.user_id = op->user_id;
        s->set.channel_id = op->channel_id;
        s->set.message_id = op->message_id;
        s->set.mention_count = op->mention_count;
        s->req.call_case = READSTATES__V1__REQUEST__CALL_SET;
        s->req.set = &s->set;
        break;
    case LG_BULK_ACK:
        readstates__v1__bulk_ack_request__init(&s->bulk);
        s->bulk.user_id = op->user_id;
        for (uint32_t i = 0; i < op->n && i < LG_LIST_MAX; i++) {
            readstates__v1__ack_entry__init(&s->entries[i]);
            s->entries[i].channel_id = op->list[i];
            s->entries[i].message_id = op->list_msg[i];
            s->entry_ptrs[i] = &s->entries[i];
        }
        s->bulk.n_entries = op->n;
        s->bulk.entries = s->entry_ptrs;
        s->req.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
        s->req.bulk_ack = &s->bulk;
        break;
    case LG_MENTIONS:
        readstates__v1__add_mentions_request__init(&s->mentions);
        s->mentions.channel_id = op->channel_id;
        s->mentions.message_id = op->message_id;
        memcpy(s->ids, op->list, op->n * sizeof(op->list[0]));
        s->mentions.n_user_ids = op->n;
        s->mentions.user_ids = s->ids;
        s->mentions.count = op->mention_count;
        s->req.call_case = READSTATES__V1__REQUEST__CALL_ADD_MENTIONS;
        s->req.add_mentions = &s->mentions;
        break;
    case LG_PING:
        readstates__v1__ping_request__init(&s->ping);
        s->req.call_case = READSTATES__V1__REQUEST__CALL_PING;
        s->req.ping = &s->ping;
        break;
    case LG_GET_ONE:
    case LG_GET_ALL:
    default:
        readstates__v1__get_read_states_request__init(&s->get);
        s->get.user_id = op->user_id;
        if (op->method == LG_GET_ONE) {
            s->ids[0] = op->channel_id;
            s->get.n_channel_ids = 1;
            s->get.channel_ids = s->ids;
        }
        s->req.call_case = READSTATES__V1__REQUEST__CALL_GET;
        s->req.get = &s->get;
        break;
    }
}

int lg_encode_request(const lg_op *op, uint64_t id, struct evbuffer *out)
{
    enc_scratch s;
    pb_build(op, id, &s);
    size_t n = readstates__v1__request__get_packed_size(&s.req);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)(FRAME_HEADER_LEN + n), &v, 1) < 1 ||
        v.iov_len < FRAME_HEADER_LEN + n)
        return -1;
    uint8_t *p = v.iov_base;
    frame_put_header(p, (uint32_t)n);
    readstates__v1__request__pack(&s.req, p + FRAME_HEADER_LEN);
    v.iov_len = FRAME_HEADER_LEN + n;
    return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : -1;
}

/* ---- scanning -------------------------------------------------------- */

static int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Skip a field of wire type wt; returns 0 or -1. */
static int pb_skip(const uint8_t **pp, const uint8_t *end, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0: return pb_varint(pp, end, &v);
    case 1:
        if (end - *pp < 8)
            return -1;
        *pp += 8;
        return 0;
    case 2:
        if (pb_varint(pp, end, &v) != 0 || v > (uint64_t)(end - *pp))
            return -1;
        *pp += v;
        return 0;
    case 5:
        if (end - *pp < 4)
            return -1;
        *pp += 4;
        return 0;
    default: return -1;
    }
}

static int pb_scan_status(const uint8_t *p, const uint8_t *end, uint32_t *code)
{
    while (p < end) {
        uint64_t key, v;
        if (pb_varint(&p, end, &key) != 0)
            return -1;
        if (key == ((1u << 3) | 0u)) {
            if (pb_varint(&p, end, &v) != 0)
                return -1;
            *code = (uint32_t)v;
        } else if (pb_skip(&p, end, (unsigned)(key & 7u)) != 0) {
            return -1;
        }
    }
    return 0;
}

int lg_scan_response(const uint8_t *p, size_t n, uint64_t *id, uint32_t *code)
{
    const uint8_t *end = p + n;
    *id = 0;
    *code = 0;
    while (p < end) {
        uint64_t key, v;
        if (pb_varint(&p, end, &key) != 0)
            return -1;
        if (key == ((1u << 3) | 0u)) {
            if (pb_varint(&p, end, &v) != 0)
                return -1;
            *id = v;
        } else if (key == ((2u << 3) | 2u)) {
            if (pb_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return -1;
            if (pb_scan_status(p, p + v, code) != 0)
                return -1;
            p += v;
        } else if (pb_skip(&p, end, (unsigned)(key & 7u)) != 0) {
            return -1;
        }
    }
    return 0;
}
