/*
 * http_parse.h: the HTTP/1.1 request framing of the HTTP port, I/O-free
 * (bytes in, a parsed head and a decoded body out), so the fuzzer drives
 * exactly what the server runs.
 *
 *   bytes ──http_head_end──> head length (CRLF CRLF found, within the limit)
 *         ──http_head_parse (a private copy, split in place)──> http_head
 *              method, target (path + query), version, headers,
 *              body framing: none | Content-Length N | chunked
 *         ──http_chunked_decode (resumable)──> body bytes
 *
 * Strict where leniency is a known attack (RFC 9112): a request with both
 * Content-Length and Transfer-Encoding, two different Content-Lengths, a
 * Transfer-Encoding other than `chunked`, a header without a colon or with
 * whitespace before it, or a bare CR is refused with 400 (501 for an unknown
 * transfer coding, 505 for a version other than HTTP/1.x).
 */
#ifndef RS_HTTP_PARSE_H
#define RS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADER_FIELDS 100

typedef struct http_header {
    const char *name;  /* NUL-terminated, as sent (compare case-insensitively) */
    const char *value; /* NUL-terminated, surrounding whitespace removed */
} http_header;

typedef enum http_body_framing {
    HTTP_BODY_NONE,
    HTTP_BODY_LENGTH,
    HTTP_BODY_CHUNKED
} http_body_framing;

typedef struct http_head {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* the target up to '?' */
    const char *query;  /* after '?', or NULL */
    int minor;          /* HTTP/1.<minor> */
    http_header headers[HTTP_MAX_HEADER_FIELDS];
    size_t nheaders;
    http_body_framing framing;
    uint64_t content_length; /* HTTP_BODY_LENGTH */
    bool keep_alive;         /* after this request (version and Connection) */
    bool expect_continue;    /* Expect: 100-continue */
} http_head;

/* Where the head ends in data[0..len): the length including the blank
 * line (CRLF CRLF, or LF LF) when complete; 0 when more bytes are needed
 * and the head still fits in max bytes; -1 when it does not. */
long http_head_end(const char *data, size_t len, size_t max);

/* Parse a complete head of len bytes (as http_head_end measured it) held
 * in buf, which it modifies in place and which must outlive out (and hold
 * len + 1 bytes). Returns 0, or the HTTP status to answer: 400, 431 (more
 * than HTTP_MAX_HEADER_FIELDS headers), 501 or 505. */
int http_head_parse(char *buf, size_t len, http_head *out);

/* The value of header `name` (case-insensitive), or NULL. */
const char *http_head_get(const http_head *h, const char *name);

/* A chunked body's decoder: zero it before the first call. */
typedef struct http_chunked {
    int state;
    uint64_t left;     /* bytes left in the current chunk (or its size line) */
    uint64_t total;    /* body bytes produced so far */
    uint32_t overhead; /* chunk-extension and trailer bytes so far */
} http_chunked;

/* Chunk extensions and trailers are read and dropped; more than this many
 * bytes of them in one body is refused (they cost work and carry nothing
 * the server uses). */
#define HTTP_CHUNK_OVERHEAD_MAX 8192u

/*
 * Decode up to len bytes of a chunked body from src, writing body bytes to
 * dst (at most dst_cap). Returns the number of src bytes consumed: all of
 * them, unless the body ended inside them (*done is then set: the last
 * chunk and the trailers are read) or dst filled up (call again with more
 * room). *out_len receives the bytes written. Returns -1 on a malformed
 * body (a bad size line, a missing CRLF, a size over 2^62, more than
 * HTTP_CHUNK_OVERHEAD_MAX bytes of extensions and trailers). The caller
 * checks d->total against its body limit.
 */
long http_chunked_decode(http_chunked *d, const char *src, size_t len, uint8_t *dst,
                         size_t dst_cap, size_t *out_len, bool *done);

#endif /* RS_HTTP_PARSE_H */
