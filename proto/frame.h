/*
 * frame.h: the I/O-free frame codec of the readstates wire protocol.
 *
 * A frame is a 4-byte unsigned big-endian length N followed by N bytes of
 * protobuf (a Request from clients, a Response from the server):
 *
 *   +--------+--------+--------+--------+------------------------+
 *   |          N (big-endian u32)       |  N bytes of protobuf   |
 *   +--------+--------+--------+--------+------------------------+
 *
 * Sizes are checked from the header before protobuf sees a byte: N = 0 and
 * N > max are errors (the server closes that connection). Nothing here reads
 * or writes a socket: callers feed bytes and take frames, the way hiredis's
 * redisReader works, so the server, the client, the load generator, the
 * tests and the fuzzers share one codec.
 */
#ifndef RS_FRAME_H
#define RS_FRAME_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "readstates.pb-c.h"

#define FRAME_HEADER_LEN           4
#define FRAME_REQUEST_MAX_DEFAULT  (64u * 1024u)         /* server's request limit */
#define FRAME_RESPONSE_MAX_DEFAULT (16u * 1024u * 1024u) /* clients' response limit */

typedef enum frame_result {
    FRAME_OK,          /* a whole frame is available */
    FRAME_NEED_MORE,   /* not enough bytes yet */
    FRAME_ERR_EMPTY,   /* N = 0 */
    FRAME_ERR_TOO_BIG, /* N > max */
    FRAME_RESULT_MAX
} frame_result;

/* Human-readable name of a result, for logs and errors. */
const char *frame_result_name(frame_result r);

/* Read a header: on FRAME_OK, *len is N. Errors as above. */
frame_result frame_parse_header(const uint8_t hdr[FRAME_HEADER_LEN], uint32_t max,
                                uint32_t *len);

/* Write the header for an N-byte payload. */
void frame_put_header(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len);

/* Look at a contiguous buffer: on FRAME_OK, the frame's payload is
 * buf[FRAME_HEADER_LEN .. FRAME_HEADER_LEN + *len) and it occupies
 * FRAME_HEADER_LEN + *len bytes. */
frame_result frame_peek(const uint8_t *buf, size_t avail, uint32_t max, uint32_t *len);

/*
 * A growable reader for programs without an evbuffer: feed bytes, take
 * frames. Payload pointers stay valid until the next feed or free.
 */
typedef struct frame_reader {
    uint8_t *buf;
    size_t len; /* bytes held */
    size_t pos; /* start of unread bytes */
    size_t cap;
    uint32_t max;     /* largest payload accepted */
    frame_result err; /* sticky error (FRAME_OK while healthy) */
} frame_reader;

void frame_reader_init(frame_reader *r, uint32_t max);
void frame_reader_free(frame_reader *r);
/* Append bytes. Returns 0, or -1 on out of memory. */
int frame_reader_feed(frame_reader *r, const void *data, size_t n);
/* Take the next frame: FRAME_OK sets payload/len; FRAME_NEED_MORE; or a
 * sticky error. */
frame_result frame_reader_next(frame_reader *r, const uint8_t **payload, uint32_t *len);

/* Packed size of a message plus its header. */
size_t frame_size(const ProtobufCMessage *msg);
/* Write header + packed message into out (frame_size(msg) bytes); returns the
 * bytes written. Fails (returns 0) if the payload exceeds UINT32_MAX. */
size_t frame_encode(const ProtobufCMessage *msg, uint8_t *out);

/* Decode a payload; allocator NULL means protobuf-c's default (malloc).
 * Returns NULL on bytes that are not a valid message. */
Readstates__V1__Request *frame_decode_request(const uint8_t *payload, size_t len,
                                              ProtobufCAllocator *alloc);
Readstates__V1__Response *frame_decode_response(const uint8_t *payload, size_t len,
                                                ProtobufCAllocator *alloc);

#endif /* RS_FRAME_H */
