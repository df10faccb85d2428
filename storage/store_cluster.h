/*
 * store_cluster.h: the store of store.h on a Redis Cluster. hiredis 0.14.1
 * has no cluster support, so the routing is ours, after hiredis-cluster's
 * asynchronous design: a slot table (16384 entries: the primary serving
 * each slot), one redis_conn per primary, the table refreshed from CLUSTER
 * SLOTS without blocking the loop, and redirections followed per request.
 * The commands are the single store's (redis_codec.h); a merge call is one
 * EVALSHA per hash slot (Redis refuses keys of several slots in one call).
 *
 * What an operator can count on:
 * - MOVED: the slot is patched, the command resent to the new primary and a
 *   refresh scheduled (at most one a second, one at a time). ASK: ASKING
 *   and the command back to back on the target's connection; the table is
 *   not touched. TRYAGAIN and CLUSTERDOWN: resent after a backoff (10 ms
 *   doubling to 200 ms). NOSCRIPT: SCRIPT LOAD then the command again on
 *   that connection. At most 5 redirections and the request timeout per
 *   request: past either, the request fails (a load: UNAVAILABLE; a merge:
 *   the users stay dirty and go again).
 * - A slot whose primary is unreachable: a load fails at once, and so does
 *   a merge (the engine retries it a moment later, by which time the table
 *   may point at a replica that took over); only before the first table,
 *   or when redirected to a node still connecting, does a request wait (up
 *   to the request timeout).
 * - A timeout or a lost connection is "not known": merges are idempotent
 *   by version, so the users stay dirty and are merged again.
 * - Failover: every user merged on a primary in the last
 *   remerge_window_ms before it stopped serving its slots (it died and a
 *   replica took over, or it was demoted) is handed to cfg.remerge, so the
 *   engine merges it again on the new primary (a merge the dead primary
 *   acknowledged but never replicated is not lost while the user is in the
 *   cache). With wait_replicas N, each merge is followed by WAIT N and
 *   counts as applied only once N replicas have it.
 */
#ifndef RS_STORE_CLUSTER_H
#define RS_STORE_CLUSTER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_log.h"
#include "store.h"

/* Merge user_id again (its merge may have been lost in a failover). */
typedef void (*rs_store_remerge_fn)(void *ctx, uint64_t user_id);

typedef struct store_cluster_config {
    const char *seeds;    /* HOST:PORT[,HOST:PORT...]; copied */
    const char *password; /* as for one Redis; copied */
    const char *user;
    uint32_t timeout_ms; /* per request, end to end (redirections included) */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t max_states;
    uint32_t wait_replicas;     /* > 0: WAIT after each merge */
    uint32_t remerge_window_ms; /* 0: 5000 */
    const rs_log *log;
    rs_store_remerge_fn remerge;
    void *remerge_ctx;
} store_cluster_config;

/* Parse a seed list; returns the number of seeds, or -1 (why in err). */
int store_cluster_parse_seeds(const char *seeds, char *err, size_t errlen);

rs_store *store_cluster_new(struct event_base *base, const store_cluster_config *cfg,
                            rs_store_state_fn state_fn, void *ctx);

/* The cluster store behind s, or NULL when s is another store. */
const struct store_cluster *store_cluster_of(const rs_store *s);

typedef struct store_cluster_stats {
    uint64_t moved, ask, tryagain, clusterdown, noscript;
    uint64_t retries;           /* sends after the first, for any reason */
    uint64_t redirect_caps;     /* requests failed at the redirection cap */
    uint64_t deadline_fails;    /* requests failed at their deadline */
    uint64_t wait_short_fails;  /* merges failed fast: their primary lacks replicas for WAIT */
    uint64_t unreachable_fails; /* merges failed fast: their primary is unreachable */
    uint64_t refreshes, refresh_errors;
    uint64_t failovers;      /* primaries seen losing their slots while down or demoted */
    uint64_t remerged_users; /* users handed back to the engine after a failover */
    uint64_t merge_calls;    /* EVALSHAs sent (one per slot group) */
    uint64_t merge_call_users;
    uint64_t group_calls[4];    /* EVALSHAs of 1, 2-4, 5-16, 17+ users */
    uint64_t table_age_ms;      /* since the last successful refresh (0: none yet) */
    uint32_t slots_covered;     /* slots with a primary in the table */
    uint32_t slots_unreachable; /* slots without a primary that is up */
    uint32_t nodes;
    size_t parked;
} store_cluster_stats;

void store_cluster_get_stats(const struct store_cluster *c, store_cluster_stats *out);

typedef struct store_cluster_node {
    char addr[80]; /* host:port */
    bool up;
    uint32_t slots; /* slots it serves in the table */
    size_t pending;
    uint64_t replies, latency_ns, errors, timeouts, reconnects;
    uint64_t moved_to; /* MOVED that pointed here */
} store_cluster_node;

/* The nodes the store knows (primaries and seeds), in a stable order. */
size_t store_cluster_node_count(const struct store_cluster *c);
void store_cluster_node_at(const struct store_cluster *c, size_t i, store_cluster_node *out);

/* The slot ranges without a reachable primary, as "a-b,c,..." (at most
 * size bytes; "" when every slot is served). Returns how many slots. */
uint32_t store_cluster_unreachable(const struct store_cluster *c, char *buf, size_t size);

#endif /* RS_STORE_CLUSTER_H */
