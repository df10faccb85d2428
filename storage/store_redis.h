/*
 * store_redis.h: the store of store.h on one Redis: one connection
 * (redis_conn.h: per-request timeouts, reconnection with capped exponential
 * backoff, AUTH/SELECT and SCRIPT LOAD of the merge script on every
 * connect) speaking the commands of redis_codec.h (the key format
 * readstates:{<user_id>}, the load script, the merge script's argument
 * layout, the decoding of replies).
 *
 *          connect ok + AUTH/SELECT/SCRIPT LOAD ok
 *   DOWN ──> CONNECTING ───────────────────────────> UP
 *    ^            │ error / timeout                  │ error, EOF, timeout
 *    └── backoff ─┴──────────────────────────────────┘
 *        (50 ms doubling to 2 s; reset when UP)
 *
 * Contract (store.h): a load or merge is accepted only while UP. Every
 * accepted one completes exactly once through its callback: with the
 * decoded reply, or with RS_STORE_ERROR when it cannot be known to have
 * been executed (disconnect, timeout, shutdown). A request timeout drops
 * the whole connection (replies come in order, so everything behind a stuck
 * request is stuck too); all pending requests then complete with an error
 * and the store reconnects.
 */
#ifndef RS_STORE_REDIS_H
#define RS_STORE_REDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redis_conn.h"
#include "rs_log.h"
#include "store.h"

typedef struct store_redis_config {
    const char *host; /* copied */
    int port;
    const char *password; /* NULL or empty: no AUTH; copied */
    const char *user;     /* Redis 6 ACL user, sent as AUTH user password; NULL or empty:
                             AUTH password (the default user); copied */
    int db;
    uint32_t timeout_ms;     /* per request and for the connect handshake */
    uint32_t backoff_min_ms; /* 0 means 50 */
    uint32_t backoff_max_ms; /* 0 means 2000 */
    uint32_t max_states;     /* a user's channels at most (a larger hash is refused) */
    const rs_log *log;
} store_redis_config;

/* Create the store and start connecting. Returns NULL on out of memory.
 * state_fn may be NULL. */
rs_store *store_redis_new(struct event_base *base, const store_redis_config *cfg,
                          rs_store_state_fn state_fn, void *ctx);

store_state store_redis_state(const rs_store *s);

/* Requests sent and not yet completed. */
size_t store_redis_pending(const rs_store *s);

/* Test hooks (tests/fuzz/fuzz_redis_reply.c): reply as the answer to a load
 * of user_id, or to one merge call of n users, nothing sent: decoded as a
 * real reply is and handed to fn. */
void store_redis_load_inject(rs_store *s, uint64_t user_id, const redisReply *reply,
                             rs_store_load_fn fn, void *arg);
void store_redis_merge_inject(rs_store *s, uint32_t n, const redisReply *reply,
                              rs_store_merge_fn fn, void *arg);

#endif /* RS_STORE_REDIS_H */
