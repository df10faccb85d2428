/*
 * watch.h: the Watch registry, user_id -> the sinks (connections) that
 * watch that user, each with the id of the Watch request to answer under.
 *
 * See watch.c for the delivery promise. The registry is its own hash table,
 * so a watched user need not be cached; cached users that are watched carry
 * RS_USER_WATCHED so that the change hook can skip everyone else with one
 * flag test while nobody watches, and with a hash probe otherwise.
 */
#ifndef RS_WATCH_H
#define RS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

typedef struct rs_server rs_server;
typedef struct rs_sink rs_sink;
typedef struct watch_user watch_user;
typedef struct watch_entry watch_entry;

typedef struct rs_watch_registry {
    watch_user **buckets; /* chained; nbuckets is a power of two */
    size_t nbuckets;
    size_t nusers;   /* watched users */
    size_t nentries; /* (sink, user) pairs */
    uint64_t key[2]; /* SipHash key: ids come from clients */
} rs_watch_registry;

/* An empty registry keyed with key[2] (random). Aborts on out of memory. */
void watch_init(rs_watch_registry *w, const uint64_t key[2]);
/* Free every entry (sinks' lists are not touched: call after they are gone,
 * or after watch_remove_sink on each). */
void watch_destroy(rs_watch_registry *w);

/* Watch user_id on a streaming sink under request id req_id. Watching a
 * user the sink already watches only updates the id (the latest Watch
 * request's id wins). Returns true when the pair is new. Aborts on out of
 * memory. */
bool watch_add(rs_server *s, rs_sink *sink, uint64_t user_id, uint64_t req_id);

/* Drop all of a sink's watches: O(its watches). */
void watch_remove_sink(rs_server *s, rs_sink *sink);

/* Close (sink->ops->close) every sink watching a user for which pred is
 * true: a fleet node's users that moved to another node. */
void watch_close_users(rs_server *s, bool (*pred)(void *arg, uint64_t user_id), void *arg);

/* Whether anyone watches user_id. */
bool watch_has_user(const rs_watch_registry *w, uint64_t user_id);

/* The engine's change hook (engine_set_change_hook(e, watch_on_change, s)):
 * sends a ReadStateEvent to every watcher of u. */
void watch_on_change(void *ctx, rs_user *u, const rs_state *st, bool deleted);

#endif /* RS_WATCH_H */
