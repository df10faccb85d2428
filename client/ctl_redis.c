/*
 * ctl_redis.c: readstatectl's blocking Redis connection (ctl_redis.h). A
 * command line tool sends a handful of commands, so this is the simplest
 * thing that follows a cluster: one blocking hiredis context, replaced when
 * a MOVED says the key lives elsewhere, and a throwaway one for an ASK. The
 * redirections are parsed by storage/cluster_slots.c, as the server's
 * cluster store parses them.
 */
#include "ctl_redis.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster_slots.h"
#include "rs_common.h"

#define CTL_REDIS_TRYAGAIN_MS 50

static void redis_err(ctl_redis *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void redis_err(ctl_redis *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

static struct timeval redis_tv(int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    return tv;
}

/* host:port for messages ("[v6]:port" for IPv6). */
static void redis_addr_text(const char *host, int port, char *buf, size_t len)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* A command that must answer +OK (AUTH, SELECT). Returns 0, or -1 with
 * r->err set. */
static int redis_expect_ok(ctl_redis *r, redisContext *c, const char *what, int argc,
                           const char **argv)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (rep == NULL) {
        redis_err(r, "%s: %s", what, c->errstr[0] != '\0' ? c->errstr : "no reply");
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        redis_err(r, "%s: %s", what, rep->str);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

/* A connected, authenticated context to host:port, or NULL with r->err
 * set. */
static redisContext *redis_connect(ctl_redis *r, const char *host, int port)
{
    char where[CTL_REDIS_HOST_MAX + 16];
    redis_addr_text(host, port, where, sizeof(where));
    redisContext *c = redisConnectWithTimeout(host, port, redis_tv(r->opts.timeout_ms));
    if (c == NULL) {
        redis_err(r, "redis %s: cannot allocate a connection", where);
        return NULL;
    }
    if (c->err != 0) {
        redis_err(r, "redis %s: %s", where, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, redis_tv(r->opts.timeout_ms));
    char what[CTL_REDIS_HOST_MAX + 64];
    if (r->opts.password != NULL) {
        snprintf(what, sizeof(what), "redis %s: AUTH", where);
        const char *auth_user[] = {"AUTH", r->opts.user, r->opts.password};
        const char *auth[] = {"AUTH", r->opts.password};
        int rc = r->opts.user != NULL ? redis_expect_ok(r, c, what, 3, auth_user)
                                      : redis_expect_ok(r, c, what, 2, auth);
        if (rc != 0) {
            redisFree(c);
            return NULL;
        }
    }
    if (!r->cluster && r->opts.db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->opts.db);
        snprintf(what, sizeof(what), "redis %s: SELECT %s", where, db);
        const char *sel[] = {"SELECT", db};
        if (redis_expect_ok(r, c, what, 2, sel) != 0) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* Make the current connection the one to host:port. Returns 0 or -1. */
static int redis_move(ctl_redis *r, const char *host, int port)
{
    redisContext *c = redis_connect(r, host, port);
    if (c == NULL)
        return -1;
    if (r->ctx != NULL)
        redisFree(r->ctx);
    r->ctx = c;
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    return 0;
}

int ctl_redis_open(ctl_redis *r, const ctl_redis_opts *opts)
{
    memset(r, 0, sizeof(*r));
    r->opts = *opts;
    if (r->opts.timeout_ms <= 0)
        r->opts.timeout_ms = 5000;
    r->cluster = opts->seeds != NULL;
    char host[CTL_REDIS_HOST_MAX];
    int port;
    if (!r->cluster) {
        if (rs_parse_hostport(opts->addr, host, sizeof(host), &port) != 0 || port == 0) {
            redis_err(r, "--redis %s is not HOST:PORT", opts->addr != NULL ? opts->addr : "");
            return -1;
        }
        return redis_move(r, host, port);
    }
    /* The first seed that answers; the messages of those that did not are
     * joined so the last error names them all. */
    char tried[CTL_REDIS_ERRLEN] = "";
    size_t used = 0;
    for (const char *p = opts->seeds; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char seed[CTL_REDIS_HOST_MAX + 8];
        if (len == 0 || len >= sizeof(seed)) {
            redis_err(r, "--redis-cluster %s: an empty or overlong seed", opts->seeds);
            return -1;
        }
        memcpy(seed, p, len);
        seed[len] = '\0';
        if (rs_parse_hostport(seed, host, sizeof(host), &port) != 0 || port == 0) {
            redis_err(r, "--redis-cluster: seed '%s' is not HOST:PORT", seed);
            return -1;
        }
        if (redis_move(r, host, port) == 0)
            return 0;
        int w = snprintf(tried + used, sizeof(tried) - used, "%s%s", used ? "; " : "", r->err);
        if (w > 0 && (size_t)w < sizeof(tried) - used)
            used += (size_t)w;
        p += len;
        if (*p == ',')
            p++;
    }
    if (used == 0) {
        redis_err(r, "--redis-cluster: no seed given");
        return -1;
    }
    redis_err(r, "no seed of the cluster answers: %s", tried);
    return -1;
}

static void redis_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The command on c (connected to host:port), after ASKING when ask. NULL
 * with r->err set on an I/O failure. */
static redisReply *redis_send(ctl_redis *r, redisContext *c, const char *host, int port,
                              bool ask, int argc, const char **argv, const size_t *argvlen)
{
    char where[CTL_REDIS_HOST_MAX + 16];
    redis_addr_text(host, port, where, sizeof(where));
    if (ask) {
        redisAppendCommand(c, "ASKING");
        redisAppendCommandArgv(c, argc, argv, argvlen);
        redisReply *asking = NULL, *rep = NULL;
        if (redisGetReply(c, (void **)&asking) != REDIS_OK || asking == NULL ||
            redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) {
            if (asking != NULL)
                freeReplyObject(asking);
            redis_err(r, "redis %s: %s", where, c->errstr[0] != '\0' ? c->errstr : "no reply");
            return NULL;
        }
        freeReplyObject(asking);
        return rep;
    }
    redisReply *rep = redisCommandArgv(c, argc, argv, argvlen);
    if (rep == NULL)
        redis_err(r, "redis %s: %s", where, c->errstr[0] != '\0' ? c->errstr : "no reply");
    return rep;
}

redisReply *ctl_redis_command(ctl_redis *r, int argc, const char **argv, const size_t *argvlen)
{
    r->err[0] = '\0';
    if (r->ctx == NULL) {
        redis_err(r, "redis: not connected");
        return NULL;
    }
    int redirects = 0, tryagain = 0;
    redisContext *ask_ctx = NULL; /* the ASK target, for one send */
    cluster_redirect to = {0};
    for (;;) {
        redisReply *rep =
            ask_ctx != NULL
                ? redis_send(r, ask_ctx, to.host, to.port, true, argc, argv, argvlen)
                : redis_send(r, r->ctx, r->host, r->port, false, argc, argv, argvlen);
        if (ask_ctx != NULL) {
            redisFree(ask_ctx);
            ask_ctx = NULL;
        }
        if (rep == NULL || rep->type != REDIS_REPLY_ERROR || !r->cluster)
            return rep;
        cluster_redirect_kind kind = cluster_redirect_parse(rep->str, rep->len, r->host, &to);
        if (kind == CLUSTER_NO_REDIRECT) {
            if (strncmp(rep->str, "TRYAGAIN", 8) != 0 || tryagain == CTL_REDIS_MAX_REDIRECTS)
                return rep;
            tryagain++;
            freeReplyObject(rep);
            redis_sleep_ms(CTL_REDIS_TRYAGAIN_MS);
            continue;
        }
        if (redirects == CTL_REDIS_MAX_REDIRECTS) {
            redis_err(r, "redis cluster: more than %d redirections, the last: %s",
                      CTL_REDIS_MAX_REDIRECTS, rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        redirects++;
        freeReplyObject(rep);
        if (kind == CLUSTER_MOVED) {
            if (redis_move(r, to.host, to.port) != 0)
                return NULL;
        } else if ((ask_ctx = redis_connect(r, to.host, to.port)) == NULL) {
            return NULL;
        }
    }
}

const char *ctl_redis_where(const ctl_redis *r)
{
    return r->cluster ? r->opts.seeds : r->opts.addr;
}

void ctl_redis_close(ctl_redis *r)
{
    if (r->ctx != NULL)
        redisFree(r->ctx);
    r->ctx = NULL;
}
