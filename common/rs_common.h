/*
 * rs_common.h: status codes, time helpers and small macros shared by every
 * part of readstates (server, storage, client, load generator, tests).
 *
 * Status codes use the numbers of the wire protocol's `Code` enum, so a
 * status travels from the cache to a Response without a mapping table.
 * Internal outcomes that never reach the wire are negative.
 */
#ifndef RS_COMMON_H
#define RS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum rs_status {
    RS_PENDING = -1, /* internal: completion comes later through a callback */
    RS_OK = 0,
    RS_ERR_INVALID = 3,
    RS_ERR_DEADLINE = 4,
    RS_ERR_NOT_FOUND = 5,
    RS_ERR_EXHAUSTED = 8,
    RS_ERR_UNIMPLEMENTED = 12,
    RS_ERR_INTERNAL = 13,
    RS_ERR_UNAVAILABLE = 14,
    RS_ERR_UNAUTHENTICATED = 16, /* tokens are on: no valid token (yet) */
    RS_STATUS_MAX
} rs_status;

/* The protocol's name of a status ("OK", "INVALID_ARGUMENT", ...). */
const char *rs_status_name(rs_status st);

/* Lower-case name used by Connect/Twirp ("invalid_argument", ...). */
const char *rs_status_rpc_name(rs_status st);

#define RS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RS_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define RS_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* Monotonic clock in nanoseconds. */
static inline uint64_t rs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall clock in milliseconds since the Unix epoch. */
static inline uint64_t rs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* Parse a size such as "512MiB", "1GiB", "64KiB", "100000" into bytes.
 * Returns 0 on success, -1 on a malformed value. */
int rs_parse_size(const char *s, size_t *out);

/* Parse a decimal unsigned 64-bit integer; the whole string must be digits.
 * Returns 0 on success, -1 otherwise. */
int rs_parse_u64(const char *s, uint64_t *out);

/* Split "host:port" (or "[v6]:port"); host is copied into buf.
 * Returns 0 on success, -1 on a malformed address. */
int rs_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* The one out-of-memory path: the process cannot go on without the object
 * (an event, a connection, a buffer), so it says what it was allocating
 * and aborts (a core for the operator, and no half-built state served). */
__attribute__((noreturn)) void rs_oom(const char *what);
/* malloc/calloc that never return NULL (rs_oom(what) instead). */
void *rs_xmalloc(size_t n, const char *what);
void *rs_xcalloc(size_t n, size_t size, const char *what);
void *rs_xrealloc(void *p, size_t n, const char *what);
/* p itself, or rs_oom(what) when p is NULL: for constructors such as
 * event_new or evbuffer_new. */
static inline void *rs_xcheck(void *p, const char *what)
{
    if (p == NULL)
        rs_oom(what);
    return p;
}

/* Write "<port>\n" to path atomically (temp file + rename), so a reader
 * never sees a partial file. Returns 0, or -1 with errno set. */
int rs_write_port_file(const char *path, int port);

#define RS_VERSION_STRING "0.1.0"

#endif /* RS_COMMON_H */
