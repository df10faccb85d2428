/*
 * grpc_wire.h: the byte formats of the enveloped RPC protocols on the HTTP
 * port, I/O-free so tests and the fuzzer drive exactly what the server
 * runs:
 *
 *   envelope   [flags:1][length:4 big-endian][message]   gRPC, gRPC-Web,
 *              Connect streaming (flags: 0x01 compressed, 0x80 gRPC-Web
 *              trailers, 0x02 Connect end of stream)
 *   grpc-timeout     "<1..8 digits><H|M|S|m|u|n>"
 *   grpc-message     percent-encoded UTF-8 (RFC 3986 unreserved kept)
 *   gRPC-Web text    base64 of the binary body, possibly in padded chunks
 */
#ifndef RS_GRPC_WIRE_H
#define RS_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRPC_ENV_HEADER      5
#define GRPC_FLAG_COMPRESSED 0x01u
#define GRPC_FLAG_END_STREAM 0x02u /* Connect streaming: the end-of-stream message */
#define GRPC_FLAG_TRAILERS   0x80u /* gRPC-Web: the trailers */

/* The next envelope in data[0..len): returns the bytes it takes (header +
 * message), 0 when more bytes are needed, -1 when its declared length is
 * over max. *flags, *msg and *msglen describe it. */
long grpc_env_next(const uint8_t *data, size_t len, size_t max, uint8_t *flags,
                   const uint8_t **msg, size_t *msglen);

/* Write an envelope header for a message of len bytes into out[5]. */
void grpc_env_header(uint8_t out[GRPC_ENV_HEADER], uint8_t flags, uint32_t len);

/* A grpc-timeout value as nanoseconds (saturating). Returns 0, or -1 when
 * it is not the format above. */
int grpc_timeout_parse(const char *v, uint64_t *ns);

/* Percent-encode text for grpc-message into out (always NUL-terminated;
 * cut at a character boundary of the encoding when it does not fit). */
void grpc_message_encode(const char *text, char *out, size_t outlen);

/* Decode base64 (standard alphabet; '=' padding may end each 4-character
 * group, so padded chunks may follow one another) from in[0..n) into out
 * (at least n / 4 * 3 + 3 bytes). Returns the bytes written, or -1 on a
 * character outside the alphabet or a bad group. */
long grpc_base64_decode(const char *in, size_t n, uint8_t *out);

/* Encode n bytes as padded base64 into out (at least (n + 2) / 3 * 4 + 1
 * bytes, NUL-terminated). Returns the characters written. */
size_t grpc_base64_encode(const uint8_t *in, size_t n, char *out);

#endif /* RS_GRPC_WIRE_H */
