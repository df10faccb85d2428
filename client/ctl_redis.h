/*
 * ctl_redis.h: readstatectl's blocking Redis connection, for the commands
 * that read or write what the fleet keeps in Redis (the slot table,
 * readstates:ring). One Redis (--redis HOST:PORT) or a Redis Cluster
 * (--redis-cluster SEEDS): in a cluster a command about one key goes to
 * whichever node answered last and follows the cluster's redirections:
 *
 *   command ──> node ──"MOVED <slot> <host>:<port>"──> reconnect there, resend
 *                    ──"ASK <slot> <host>:<port>"────> ASKING + resend there
 *                    ──"TRYAGAIN ..."────────────────> resend after 50 ms
 *
 * at most CTL_REDIS_MAX_REDIRECTS redirections (and as many TRYAGAINs) per
 * command. MOVED moves the connection (the key lives there now); ASK does
 * not (the slot is only migrating). hiredis 0.14's blocking API: a
 * connection and every command wait at most timeout_ms.
 */
#ifndef CTL_REDIS_H
#define CTL_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define CTL_REDIS_MAX_REDIRECTS 5
#define CTL_REDIS_ERRLEN        512
#define CTL_REDIS_HOST_MAX      256

typedef struct ctl_redis_opts {
    const char *addr;     /* --redis HOST:PORT, or NULL */
    const char *seeds;    /* --redis-cluster HOST:PORT[,HOST:PORT...], or NULL */
    const char *user;     /* ACL user (AUTH user password), or NULL */
    const char *password; /* AUTH password, or NULL */
    int db;               /* SELECT db (one Redis only; 0: none sent) */
    int timeout_ms;       /* connect and per command */
} ctl_redis_opts;

typedef struct ctl_redis {
    ctl_redis_opts opts;
    redisContext *ctx; /* the node commands go to first */
    char host[CTL_REDIS_HOST_MAX];
    int port;
    bool cluster;
    char err[CTL_REDIS_ERRLEN]; /* the last failure, "" if none */
} ctl_redis;

/* Connect to the Redis (the first seed that answers, in a cluster) and
 * authenticate. Returns 0, or -1 with r->err set (close r anyway). */
int ctl_redis_open(ctl_redis *r, const ctl_redis_opts *opts);

/* One command about one key (or none): in a cluster it is routed by the
 * redirections above. Returns the reply (free with freeReplyObject; it may
 * be an error reply other than a redirection), or NULL with r->err set (a
 * connection or I/O failure, or too many redirections). */
redisReply *ctl_redis_command(ctl_redis *r, int argc, const char **argv, const size_t *argvlen);

/* "127.0.0.1:6379" or "cluster 127.0.0.1:7000,..." for messages. */
const char *ctl_redis_where(const ctl_redis *r);

void ctl_redis_close(ctl_redis *r);

#endif /* CTL_REDIS_H */
