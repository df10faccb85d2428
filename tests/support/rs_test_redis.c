/*
 * rs_test_redis.c: a real redis-server for integration tests.
 *
 * Redis cannot report a port it picked itself (--port 0 disables TCP), so
 * the port is chosen here: bind 127.0.0.1:0, read the port, close, start
 * Redis on it; if another process took it meanwhile Redis exits, and we
 * retry with a new port. Readiness is "answers PING", polled with a
 * blocking hiredis client, bounded in time.
 *
 *   rs_test_redis_start ─> free port ─> redis-server --port P --dir D ─> PING
 *   rs_test_redis_stop / kill9 ─> (port P and dir D kept) ─> restart ─> PING
 *
 * The data directory survives stop and restart (append-only file,
 * everysec), so restart tests see what Redis persisted.
 */
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "rs_testsupport.h"

#ifndef RS_TEST_REDIS_SERVER
#define RS_TEST_REDIS_SERVER ""
#endif

#define REDIS_START_TRIES     5
#define REDIS_READY_MS        10000
#define REDIS_STOP_MS         10000
#define REDIS_CONNECT_TIMEOUT 500

static void pick_binary(rs_test_redis *r)
{
    const char *bin = getenv("REDIS_SERVER");
    if (bin == NULL || bin[0] == '\0')
        bin = RS_TEST_REDIS_SERVER;
    if (bin[0] == '\0')
        bin = "redis-server";
    snprintf(r->bin, sizeof(r->bin), "%s", bin);
}

void *rs_test_redis_connect(const rs_test_redis *r)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = REDIS_CONNECT_TIMEOUT * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (c == NULL)
        return NULL;
    if (c->err != 0) {
        redisFree(c);
        return NULL;
    }
    struct timeval io = {.tv_sec = 5, .tv_usec = 0};
    redisSetTimeout(c, io);
    return c;
}

bool rs_test_redis_ping(const rs_test_redis *r)
{
    redisContext *c = rs_test_redis_connect(r);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "PING");
    bool ok =
        reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

/* Poll condition: Redis answers, or its process is gone (stop polling). */
static bool ready_or_dead(void *arg)
{
    rs_test_redis *r = arg;
    return !rs_proc_alive(&r->proc) || rs_test_redis_ping(r);
}

/* Start once on r->port and r->dir. Returns 0 when it answers PING. */
static int start_once(rs_test_redis *r)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    const char *argv[] = {r->bin,      "--port",        port,       "--bind",
                          "127.0.0.1", "--save",        "",         "--appendonly",
                          "yes",       "--appendfsync", "everysec", "--dir",
                          r->dir,      "--daemonize",   "no",       "--protected-mode",
                          "yes",       "--loglevel",    "notice",   NULL};
    if (rs_proc_start(argv, NULL, &r->proc) != 0)
        return -1;
    if (rs_poll_until(ready_or_dead, r, REDIS_READY_MS) && rs_proc_alive(&r->proc))
        return 0;
    rs_proc_stop(&r->proc, SIGKILL, 5000, NULL);
    return -1;
}

int rs_test_redis_start(rs_test_redis *r)
{
    memset(r, 0, sizeof(*r));
    pick_binary(r);
    if (rs_tmpdir_create("redis", r->dir, sizeof(r->dir)) != 0)
        return -1;
    for (int attempt = 0; attempt < REDIS_START_TRIES; attempt++) {
        r->port = rs_free_port();
        if (r->port <= 0)
            continue;
        if (start_once(r) == 0)
            return 0;
        fprintf(stderr, "rs_test_redis_start: attempt %d on port %d failed\n", attempt + 1,
                r->port);
        rs_proc_dump_log(&r->proc, "redis", stderr, 2048);
        rs_proc_cleanup(&r->proc);
    }
    rs_tmpdir_remove(r->dir);
    r->dir[0] = '\0';
    return -1;
}

int rs_test_redis_stop(rs_test_redis *r)
{
    if (r->proc.pid <= 0)
        return 0;
    int rc = rs_proc_stop(&r->proc, SIGTERM, REDIS_STOP_MS, NULL);
    return rc == 0 ? 0 : -1;
}

void rs_test_redis_kill9(rs_test_redis *r)
{
    if (r->proc.pid > 0)
        rs_proc_kill9(&r->proc);
}

int rs_test_redis_restart(rs_test_redis *r)
{
    if (rs_proc_alive(&r->proc))
        rs_test_redis_stop(r);
    rs_proc_cleanup(&r->proc);
    /* The old socket may linger briefly; Redis uses SO_REUSEADDR, but retry
     * a few times on the same port in case the first bind loses a race. */
    for (int attempt = 0; attempt < REDIS_START_TRIES; attempt++) {
        if (start_once(r) == 0)
            return 0;
        rs_proc_dump_log(&r->proc, "redis", stderr, 2048);
        rs_proc_cleanup(&r->proc);
        rs_sleep_ms(100 * (attempt + 1));
    }
    fprintf(stderr, "rs_test_redis_restart: cannot restart on port %d\n", r->port);
    return -1;
}

char *rs_test_redis_addr(const rs_test_redis *r, char *buf, size_t len)
{
    snprintf(buf, len, "127.0.0.1:%d", r->port);
    return buf;
}

void rs_test_redis_cleanup(rs_test_redis *r)
{
    if (r->proc.pid > 0 && rs_proc_alive(&r->proc))
        rs_test_redis_stop(r);
    rs_proc_cleanup(&r->proc);
    rs_tmpdir_remove(r->dir);
    memset(r, 0, sizeof(*r));
}
