/*
 * req_decode.h: a direct decoder for the hottest Request (Ack), giving
 * exactly what protobuf-c's unpack gives, or declining.
 *
 * protobuf-c unpacks through its descriptors and allocates the Request and
 * its AckRequest in the arena. An Ack frame is a handful of varints: this
 * reads them into two structs the caller owns. It takes only the plain
 * shapes (one-byte tags, each field at most once, no unknown fields, every
 * varint protobuf-c would read the same); anything else is declined and
 * protobuf-c decodes it (or rejects it) as before.
 * tests/server/test_req_decode.c checks it against protobuf-c on many
 * random and mangled frames.
 */
#ifndef RS_REQ_DECODE_H
#define RS_REQ_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "readstates.pb-c.h"

/* Decode payload (len bytes) as an Ack Request into *req and *ack (req->ack
 * points at ack). Returns true with both filled as protobuf-c would fill
 * them, or false, with *req and *ack unspecified, when the payload is not
 * a plain Ack Request: then use protobuf-c. Nothing is allocated. */
bool req_decode_ack(const uint8_t *payload, size_t len, Readstates__V1__Request *req,
                    Readstates__V1__AckRequest *ack);

#endif /* RS_REQ_DECODE_H */
