/*
 * store_redis.h: one asynchronous Redis connection on the server's event
 * base (hiredis async + its libevent adapter), with what hiredis 0.14.1
 * lacks: per-request timeouts, reconnection with capped exponential backoff,
 * AUTH (with an ACL user when one is configured)/SELECT and SCRIPT LOAD of
 * the merge script on every connect.
 *
 *          connect ok + AUTH/SELECT/SCRIPT LOAD ok
 *   DOWN ──> CONNECTING ───────────────────────────> UP
 *    ^            │ error / timeout                  │ error, EOF, timeout
 *    └── backoff ─┴──────────────────────────────────┘
 *        (50 ms doubling to 2 s; reset when UP)
 *
 * Contract: a command is accepted only while UP. Every accepted command
 * completes exactly once through its callback: with the reply, or with NULL
 * when it cannot be known to have been executed (disconnect, timeout,
 * shutdown). A request timeout drops the whole connection (replies come in
 * order, so everything behind a stuck request is stuck too); all pending
 * requests then complete with NULL and the store reconnects.
 */
#ifndef RS_STORE_REDIS_H
#define RS_STORE_REDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_log.h"

typedef struct store_redis store_redis;

typedef enum store_state {
    STORE_DOWN,
    STORE_CONNECTING,
    STORE_UP,
    STORE_STATE_MAX
} store_state;

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
    const rs_log *log;
} store_redis_config;

/* Counters kept by the store (the engine copies them into its stats). */
typedef struct store_redis_stats {
    uint64_t reconnects; /* successful connects after the first */
    uint64_t errors;     /* error replies, dropped connections, timeouts */
    uint64_t connects;   /* successful connects */
    uint64_t timeouts;   /* requests that timed out */
} store_redis_stats;

/* reply is NULL when the command is not known to have run. The reply is
 * owned by hiredis and valid only during the call. */
typedef void (*store_reply_fn)(void *arg, const redisReply *reply);

/* Called whenever the store goes UP (up = true) or leaves UP. */
typedef void (*store_state_fn)(void *ctx, bool up);

/* Create the store and start connecting. Returns NULL on out of memory.
 * state_fn may be NULL. */
store_redis *store_redis_new(struct event_base *base, const store_redis_config *cfg,
                             store_state_fn state_fn, void *ctx);

/* Drop the connection and free the store. Pending commands complete with
 * NULL during the call: callers that must not see them mark themselves
 * closing first. */
void store_redis_free(store_redis *s);

store_state store_redis_state(const store_redis *s);
bool store_redis_up(const store_redis *s);
const store_redis_stats *store_redis_get_stats(const store_redis *s);

/* Send one command (argv/argvlen as in redisCommandArgv). Returns 0 when
 * accepted (fn runs exactly once, later, from the event loop), -1 when the
 * store is not UP or hiredis refused it (fn never runs). */
int store_redis_command(store_redis *s, int argc, const char **argv, const size_t *argvlen,
                        store_reply_fn fn, void *arg);

/* EVALSHA of the merge script: argv[0..nkeys) are the script's keys
 * (KEYS[1..nkeys]) and argv[nkeys..argc) its arguments (ARGV[1], ...), see
 * merge_lua.h. A NOSCRIPT error triggers a SCRIPT LOAD and is passed to fn
 * as the (error) reply: the caller retries. Same return contract as
 * store_redis_command. */
int store_redis_merge(store_redis *s, int nkeys, int argc, const char **argv,
                      const size_t *argvlen, store_reply_fn fn, void *arg);

/* Requests sent and not yet completed. */
size_t store_redis_pending(const store_redis *s);

#endif /* RS_STORE_REDIS_H */
