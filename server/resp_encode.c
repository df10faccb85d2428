/*
 * resp_encode.c: Ack/SetReadState Responses packed without protobuf-c's
 * descriptor walk (see resp_encode.h).
 *
 *   Response   { 1: id varint, 2: status LEN, 11|12: ack|set LEN }
 *     Status      { 1: code varint, 2: message LEN }
 *     AckResponse { 1: state LEN, 2: applied varint, 3: user_version varint }
 *       ReadState { 1: channel_id, 2: last_message_id, 3: mention_count,
 *                   4: flags, 5: version (all varints) }
 *
 * Invariants (protobuf-c's proto3 rules, which the test pins down):
 * - fields go out in field-number order; a scalar equal to 0 (a bool
 *   false, a string NULL or empty) is left out; a submessage is written
 *   when its pointer is set, even when it is empty;
 * - every tag here is below 128, so it takes one byte;
 * - a message with unknown fields, a negative status code (a 10-byte
 *   varint) or a result other than ack/set is not ours: protobuf-c packs it.
 */
#include "resp_encode.h"

#include <string.h>

enum {
    RESP_TAG_VARINT = 0,
    RESP_TAG_LEN = 2,
};

#define RESP_TAG(field, wire) ((uint8_t)(((field) << 3) | (wire)))

/* Bytes of v as a varint: 7 bits a byte (bit length by clz, no loop). */
static size_t resp_varint_size(uint64_t v)
{
    unsigned bits = 64u - (unsigned)__builtin_clzll(v | 1);
    return (bits + 6) / 7;
}

static uint8_t *resp_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Tag plus varint, or nothing for 0. */
static size_t resp_field_varint_size(uint64_t v)
{
    return v != 0 ? 1 + resp_varint_size(v) : 0;
}

static uint8_t *resp_put_field_varint(uint8_t *p, unsigned field, uint64_t v)
{
    if (v == 0)
        return p;
    *p++ = RESP_TAG(field, RESP_TAG_VARINT);
    return resp_put_varint(p, v);
}

/* Tag, length, then body of `len` bytes. */
static size_t resp_field_len_size(size_t len)
{
    return 1 + resp_varint_size(len) + len;
}

static size_t resp_state_size(const Readstates__V1__ReadState *st)
{
    return resp_field_varint_size(st->channel_id) +
           resp_field_varint_size(st->last_message_id) +
           resp_field_varint_size(st->mention_count) + resp_field_varint_size(st->flags) +
           resp_field_varint_size(st->version);
}

static size_t resp_message_len(const Readstates__V1__Status *status)
{
    return status->message != NULL ? strlen(status->message) : 0;
}

static size_t resp_status_size(const Readstates__V1__Status *status)
{
    size_t msg = resp_message_len(status);
    return resp_field_varint_size((uint64_t)status->code) +
           (msg > 0 ? resp_field_len_size(msg) : 0);
}

/* The ack or set answer of resp, or NULL when the result is another. */
static const Readstates__V1__AckResponse *resp_ack_of(const Readstates__V1__Response *resp)
{
    switch (resp->result_case) {
    case READSTATES__V1__RESPONSE__RESULT_ACK: return resp->ack;
    case READSTATES__V1__RESPONSE__RESULT_SET: return resp->set;
    default: return NULL;
    }
}

bool resp_encode_plan(const Readstates__V1__Response *resp, resp_plan *plan)
{
    const Readstates__V1__AckResponse *ack = resp_ack_of(resp);
    if (ack == NULL || resp->base.n_unknown_fields != 0 || ack->base.n_unknown_fields != 0 ||
        (ack->state != NULL && ack->state->base.n_unknown_fields != 0))
        return false;
    const Readstates__V1__Status *status = resp->status;
    if (status != NULL && (status->base.n_unknown_fields != 0 || (int)status->code < 0))
        return false;
    plan->state_len = ack->state != NULL ? resp_state_size(ack->state) : 0;
    plan->ack_len = (ack->state != NULL ? resp_field_len_size(plan->state_len) : 0) +
                    (ack->applied ? 2 : 0) + resp_field_varint_size(ack->user_version);
    plan->status_len = status != NULL ? resp_status_size(status) : 0;
    plan->len = resp_field_varint_size(resp->id) +
                (status != NULL ? resp_field_len_size(plan->status_len) : 0) +
                resp_field_len_size(plan->ack_len);
    return true;
}

static uint8_t *resp_put_state(uint8_t *p, const Readstates__V1__ReadState *st)
{
    p = resp_put_field_varint(p, 1, st->channel_id);
    p = resp_put_field_varint(p, 2, st->last_message_id);
    p = resp_put_field_varint(p, 3, st->mention_count);
    p = resp_put_field_varint(p, 4, st->flags);
    return resp_put_field_varint(p, 5, st->version);
}

static uint8_t *resp_put_ack(uint8_t *p, const Readstates__V1__AckResponse *ack,
                             const resp_plan *plan)
{
    if (ack->state != NULL) {
        *p++ = RESP_TAG(1, RESP_TAG_LEN);
        p = resp_put_varint(p, plan->state_len);
        p = resp_put_state(p, ack->state);
    }
    if (ack->applied) {
        *p++ = RESP_TAG(2, RESP_TAG_VARINT);
        *p++ = 1;
    }
    return resp_put_field_varint(p, 3, ack->user_version);
}

static uint8_t *resp_put_status(uint8_t *p, const Readstates__V1__Status *status)
{
    p = resp_put_field_varint(p, 1, (uint64_t)status->code);
    size_t msg = resp_message_len(status);
    if (msg > 0) {
        *p++ = RESP_TAG(2, RESP_TAG_LEN);
        p = resp_put_varint(p, msg);
        memcpy(p, status->message, msg);
        p += msg;
    }
    return p;
}

size_t resp_encode(const Readstates__V1__Response *resp, const resp_plan *plan, uint8_t *out)
{
    const Readstates__V1__AckResponse *ack = resp_ack_of(resp);
    uint8_t *p = resp_put_field_varint(out, 1, resp->id);
    if (resp->status != NULL) {
        *p++ = RESP_TAG(2, RESP_TAG_LEN);
        p = resp_put_varint(p, plan->status_len);
        p = resp_put_status(p, resp->status);
    }
    unsigned field = resp->result_case == READSTATES__V1__RESPONSE__RESULT_ACK ? 11 : 12;
    *p++ = RESP_TAG(field, RESP_TAG_LEN);
    p = resp_put_varint(p, plan->ack_len);
    p = resp_put_ack(p, ack, plan);
    return (size_t)(p - out);
}
