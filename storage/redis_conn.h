/*
 * redis_conn.h: one asynchronous connection to one Redis server on the
 * engine's event base (hiredis async + its libevent adapter), with what
 * hiredis 0.14.1 lacks: per-request timeouts, reconnection with capped
 * exponential backoff, and a handshake on every connect (AUTH, with an ACL
 * user when one is configured; SELECT; SCRIPT LOAD of a script). Both
 * stores use it: store_redis.c holds one, store_cluster.c one per primary.
 *
 *          connect ok + AUTH/SELECT/SCRIPT LOAD ok
 *   DOWN ──> CONNECTING ───────────────────────────> UP
 *    ^            │ error / timeout                  │ error, EOF, timeout
 *    └── backoff ─┴──────────────────────────────────┘
 *        (50 ms doubling to 2 s; reset when UP)
 *
 * Contract: a send is accepted only while the context exists (UP, or
 * CONNECTING: hiredis then queues it behind the handshake). Every accepted
 * send completes exactly once through its callback, from the event loop and
 * never inside the send: with the reply, or with NULL when it cannot be
 * known to have run (disconnect, timeout, free). A request timeout drops the
 * whole connection (replies come in order, so everything behind a stuck
 * request is stuck too); every pending request then completes with NULL and
 * the connection reconnects. The connection never calls its owner back
 * except through those callbacks and the state callback (not while
 * freeing).
 */
#ifndef RS_REDIS_CONN_H
#define RS_REDIS_CONN_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_log.h"

typedef struct redis_conn redis_conn;

typedef enum store_state {
    STORE_DOWN,
    STORE_CONNECTING,
    STORE_UP,
    STORE_STATE_MAX
} store_state;

typedef struct redis_conn_config {
    const char *host; /* copied */
    int port;
    const char *password;    /* NULL or empty: no AUTH; copied */
    const char *user;        /* ACL user (AUTH user password); NULL or empty: AUTH password */
    int db;                  /* SELECT when not 0 */
    uint32_t timeout_ms;     /* per request and for the connect handshake; 0: 1000 */
    uint32_t backoff_min_ms; /* 0 means 50 */
    uint32_t backoff_max_ms; /* 0 means 2000 */
    const char *script;      /* SCRIPT LOAD'ed on every connect (part of UP); not copied */
    const rs_log *log;
} redis_conn_config;

/* Exactly once per accepted send; reply NULL: not known to have run. */
typedef void (*redis_conn_reply_fn)(void *arg, const redisReply *reply);

/* The connection became up (true) or stopped being up (false). */
typedef void (*redis_conn_state_fn)(void *ctx, redis_conn *c, bool up);

typedef struct redis_conn_stats {
    uint64_t errors;     /* error replies, dropped connections, timeouts */
    uint64_t reconnects; /* successful connects after the first */
    uint64_t connects;   /* successful connects */
    uint64_t timeouts;   /* requests that timed out */
    uint64_t replies;    /* replies to sends (not the handshake) */
    uint64_t latency_ns; /* their summed time from send to reply */
} redis_conn_stats;

/* Create the connection and start connecting. NULL on out of memory.
 * state_fn may be NULL. */
redis_conn *redis_conn_new(struct event_base *base, const redis_conn_config *cfg,
                           redis_conn_state_fn state_fn, void *ctx);

/* Send one command (argv form, or already formatted RESP). Returns 0 when
 * accepted (fn runs exactly once later) or -1 (no context; fn never runs). */
int redis_conn_send(redis_conn *c, int argc, const char **argv, const size_t *argvlen,
                    redis_conn_reply_fn fn, void *arg);
int redis_conn_send_formatted(redis_conn *c, const char *cmd, size_t len,
                              redis_conn_reply_fn fn, void *arg);

/* The server answered NOSCRIPT: SCRIPT LOAD the script again (once at a
 * time; a send that follows goes after it on the same connection). */
void redis_conn_reload_script(redis_conn *c);

/* Drop the connection now (every pending request completes with NULL) and
 * reconnect after the backoff. */
void redis_conn_drop(redis_conn *c, const char *why);

bool redis_conn_up(const redis_conn *c);
/* Up, or its first connection since creation still under way with nothing
 * failed yet: a send then waits behind the handshake instead of failing a
 * request that arrives in the server's first milliseconds. */
bool redis_conn_may_send(const redis_conn *c);
store_state redis_conn_state(const redis_conn *c);
size_t redis_conn_pending(const redis_conn *c);
const redis_conn_stats *redis_conn_get_stats(const redis_conn *c);
const char *redis_conn_sha(const redis_conn *c); /* the script's SHA1 once loaded, else "" */
const char *redis_conn_host(const redis_conn *c);
int redis_conn_port(const redis_conn *c);

/* Drop the connection and free it: pending requests complete with NULL
 * during the call (the state callback is not called). */
void redis_conn_free(redis_conn *c);

#endif /* RS_REDIS_CONN_H */
