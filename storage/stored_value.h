/*
 * stored_value.h: the one strict parser for what readstates keeps in Redis
 * (DESIGN.md "Storage in Redis"). I/O-free: bytes in, a parsed field or the
 * reason it was refused out.
 *
 * A user's hash readstates:{<user_id>} holds only
 *   _v            the user's version: a canonical decimal in [0, 2^64-1]
 *   _o            in a fleet, the ring generation of the user's latest
 *                 owner claim: a canonical decimal in [0, 2^64-1]
 *   <channel_id>  a canonical decimal in [1, 2^64-1], whose value is
 *                 <version>:<last_message_id>:<mention_count>:<flags>
 *                 version, last_message_id in [0, 2^64-1], mention_count in
 *                 [0, 2^32-1], flags in [0, RS_STATE_PROTO_FLAGS]
 * where a canonical decimal is one or more ASCII digits without sign,
 * spaces or a leading zero (except "0" itself). Anything else is refused,
 * never read leniently: "0005" is not 5 (the merge script compares
 * versions as decimal strings by length, so it would rank "0005" above
 * "6"), and a number past its type's range is not wrapped or clamped.
 *
 * The merge script (merge.lua) applies the same rules to the values it
 * reads before it compares them.
 */
#ifndef RS_STORED_VALUE_H
#define RS_STORED_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* Parse s[0..len) as a canonical decimal no larger than max. Returns 0 with
 * *out set, or -1. */
int sv_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);

typedef enum sv_kind {
    SV_VERSION, /* the field _v: out->version */
    SV_OWNER,   /* the field _o: out->owner */
    SV_STATE,   /* a channel field: out->state */
    SV_INVALID  /* out->why says what is wrong */
} sv_kind;

typedef struct sv_field {
    sv_kind kind;
    uint64_t version; /* SV_VERSION */
    uint64_t owner;   /* SV_OWNER */
    rs_state state;   /* SV_STATE (flags within RS_STATE_PROTO_FLAGS) */
    const char *why;  /* SV_INVALID: a static description */
} sv_field;

/* Parse one field of a user's hash (name and value as Redis returned them;
 * neither needs a terminating NUL). Returns out->kind. */
sv_kind sv_parse_field(const char *name, size_t nlen, const char *val, size_t vlen,
                       sv_field *out);

/* Copy up to max bytes of s into buf (bufsize > 0) as printable ASCII
 * inside double quotes: '"' and '\\' escaped, other bytes outside 0x20..0x7e
 * as \xHH, "..." appended when cut. For logs and error messages naming a
 * stored field or value. Returns buf. */
char *sv_quote(const char *s, size_t len, size_t max, char *buf, size_t bufsize);

#endif /* RS_STORED_VALUE_H */
