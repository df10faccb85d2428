/*
 * cluster_slots.h: the two things a Redis Cluster tells a client about
 * where keys live, parsed (no I/O; fuzzed by tests/fuzz/fuzz_cluster.c):
 *
 *   CLUSTER SLOTS   [[start, end, [host, port, id, ...], replica...], ...]
 *                   ──> ranges of slots and the primary serving each
 *   a redirection   "MOVED <slot> <host>:<port>" | "ASK <slot> <host>:<port>"
 *                   ──> kind, slot, endpoint
 *
 * An empty host or "?" (a node that does not know its own address) means
 * "the node that answered": the caller's host is used instead.
 */
#ifndef RS_CLUSTER_SLOTS_H
#define RS_CLUSTER_SLOTS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_HOST_MAX 64

typedef struct cluster_range {
    uint16_t start, end; /* inclusive */
    char host[CLUSTER_HOST_MAX];
    int port;
} cluster_range;

/* Parse a CLUSTER SLOTS reply into out[0..cap); asked_host replaces an
 * empty or unknown host. Returns the number of ranges, or -1 when the reply
 * is not a slot table (an error reply, a malformed entry, a slot out of
 * range, more than cap ranges); *why says what. */
long cluster_slots_parse(const redisReply *r, const char *asked_host, cluster_range *out,
                         size_t cap, const char **why);

typedef enum cluster_redirect_kind {
    CLUSTER_NO_REDIRECT,
    CLUSTER_MOVED,
    CLUSTER_ASK,
} cluster_redirect_kind;

typedef struct cluster_redirect {
    cluster_redirect_kind kind;
    uint16_t slot;
    char host[CLUSTER_HOST_MAX];
    int port;
} cluster_redirect;

/* Parse an error reply's text. Returns MOVED or ASK with out filled, or
 * CLUSTER_NO_REDIRECT when the text is neither (or malformed). */
cluster_redirect_kind cluster_redirect_parse(const char *err, size_t len,
                                             const char *asked_host, cluster_redirect *out);

#endif /* RS_CLUSTER_SLOTS_H */
