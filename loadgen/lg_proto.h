/*
 * lg_proto.h: the load generator's side of the wire protocol.
 *
 * Encoding packs a Request for an lg_op directly into an evbuffer (frame
 * header + payload in one reserved extent). Scanning reads just the id and
 * the status code out of a Response payload without building structs:
 *
 *   Response { 1: id (varint) | 2: Status { 1: code (varint) } | 10..17: skipped }
 */
#ifndef LG_PROTO_H
#define LG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "lg_work.h"

struct evbuffer;

/* Append one request frame for op with request id `id` to out.
 * Returns 0, or -1 when the evbuffer cannot grow. */
int lg_encode_request(const lg_op *op, uint64_t id, struct evbuffer *out);

/* Read the id and status code (0 when absent) of a Response payload.
 * Returns 0, or -1 on malformed protobuf. */
int lg_scan_response(const uint8_t *p, size_t n, uint64_t *id, uint32_t *code);

#endif /* LG_PROTO_H */
