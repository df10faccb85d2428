/*
 * resp_encode.h: a direct encoder for the hottest Responses (Ack and
 * SetReadState answers), byte for byte what protobuf-c packs.
 *
 * protobuf-c's generic packer walks the descriptors twice or more per
 * answer (get_packed_size for the frame header, then pack, which sizes
 * each submessage again). This one computes the size once from the five
 * fixed fields and writes the varints straight out. Anything else (other
 * results, unknown fields, a negative enum) is left to protobuf-c.
 * tests/server/test_resp_encode.c checks it against protobuf-c on many
 * random Responses.
 */
#ifndef RS_RESP_ENCODE_H
#define RS_RESP_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "readstates.pb-c.h"

/* The sizes resp_encode_plan works out once, for resp_encode. */
typedef struct resp_plan {
    size_t len;        /* the whole Response, packed */
    size_t state_len;  /* its ReadState's body */
    size_t ack_len;    /* its AckResponse's body */
    size_t status_len; /* its Status's body */
} resp_plan;

/* Whether resp is one this encoder writes; if so plan->len is its packed
 * size (the same as protobuf_c_message_get_packed_size). false: use
 * protobuf-c. */
bool resp_encode_plan(const Readstates__V1__Response *resp, resp_plan *plan);

/* Write resp (one resp_encode_plan accepted, with that plan) into out,
 * which has room for plan->len bytes. Returns the bytes written
 * (plan->len). */
size_t resp_encode(const Readstates__V1__Response *resp, const resp_plan *plan, uint8_t *out);

#endif /* RS_RESP_ENCODE_H */
