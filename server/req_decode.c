/*
 * req_decode.c: Ack Requests read without protobuf-c's descriptor walk
 * (see req_decode.h).
 *
 *   Request    { 1: id varint, 11: ack LEN { 1: user_id, 2: channel_id,
 *                                            3: message_id, 4: mention_count } }
 *
 * Invariants (what keeps the result equal to protobuf-c's):
 * - only one-byte tags of known fields with their own wire type; any other
 *   tag (unknown fields, other calls, wrong wire types) declines;
 * - each field at most once (protobuf-c lets the last one win, and merges
 *   a repeated submessage: declined rather than imitated);
 * - varints of at most 10 bytes, the tenth at most 1 (a uint64 protobuf-c
 *   reads the same way); mention_count (uint32) only up to UINT32_MAX; a
 *   length prefix of at most 5 bytes (protobuf-c reads no longer one);
 * - the ack submessage's length lies within the payload; fields absent
 *   keep their proto3 default, 0.
 */
#include "req_decode.h"

#include <string.h>

typedef struct req_cursor {
    const uint8_t *p;
    const uint8_t *end;
} req_cursor;

/* One varint of at most max bytes; false when it is cut off, longer, or
 * not read alike by protobuf-c. */
static bool req_varint(req_cursor *c, unsigned max, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < max; i++) {
        if (c->p == c->end)
            return false;
        uint8_t b = *c->p++;
        if (i == 9 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The AckRequest body [p, end). */
static bool req_ack_body(req_cursor *c, Readstates__V1__AckRequest *ack)
{
    unsigned seen = 0;
    while (c->p < c->end) {
        uint8_t tag = *c->p++;
        unsigned field = tag >> 3;
        if ((tag & 7) != 0 || field < 1 || field > 4 || (seen & (1u << field)))
            return false;
        seen |= 1u << field;
        uint64_t v = 0;
        if (!req_varint(c, 10, &v))
            return false;
        switch (field) {
        case 1: ack->user_id = v; break;
        case 2: ack->channel_id = v; break;
        case 3: ack->message_id = v; break;
        default:
            if (v > UINT32_MAX)
                return false;
            ack->mention_count = (uint32_t)v;
            break;
        }
    }
    return true;
}

bool req_decode_ack(const uint8_t *payload, size_t len, Readstates__V1__Request *req,
                    Readstates__V1__AckRequest *ack)
{
    static const Readstates__V1__Request req_init = READSTATES__V1__REQUEST__INIT;
    static const Readstates__V1__AckRequest ack_init = READSTATES__V1__ACK_REQUEST__INIT;
    req_cursor c = {payload, payload + len};
    bool have_id = false, have_ack = false;
    *req = req_init;
    *ack = ack_init;
    while (c.p < c.end) {
        uint8_t tag = *c.p++;
        if (tag == ((1 << 3) | 0) && !have_id) { /* id, varint */
            have_id = true;
            if (!req_varint(&c, 10, &req->id))
                return false;
        } else if (tag == ((11 << 3) | 2) && !have_ack) { /* ack, length-delimited */
            have_ack = true;
            uint64_t n = 0;
            if (!req_varint(&c, 5, &n) || n > (uint64_t)(c.end - c.p))
                return false;
            req_cursor sub = {c.p, c.p + n};
            if (!req_ack_body(&sub, ack))
                return false;
            c.p = sub.end;
        } else {
            return false;
        }
    }
    if (!have_ack)
        return false;
    req->call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req->ack = ack;
    return true;
}
