/*
 * bench_flush.c: a measurement (not a test) of the Redis persistence path,
 * on the engine directly against a real redis-server on a loopback port:
 *
 *   1. flush throughput: U users x S states made dirty in the cache, then
 *      engine_shutdown flushes them all through one connection (pipelined
 *      EVALSHA merges); reports states/s and users/s.
 *   2. cold-load latency: a fresh engine (empty cache) acquires each user
 *      once, one load at a time; reports p50/p99/max of HGETALL + parse.
 *   3. coalesced concurrent loads: all users requested at once; reports
 *      loads/s.
 *
 * usage: bench_flush [users] [states_per_user] [flush_batch]
 * (defaults 20000 10 256). Starts its own redis-server (tests/support).
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "rs_testsupport.h"

typedef struct bench {
    struct event_base *base;
    rs_test_redis redis;
    rs_log log;
    int done;
    uint64_t unflushed;
    uint64_t fired; /* waiters completed (all-at-once loads) */
} bench;

typedef struct bwait {
    rs_waiter w;
    int fired;
    rs_status st;
    rs_user *u;
} bwait;

static void bwait_fn(rs_waiter *w, rs_user *u, rs_status st)
{
    bwait *b = (bwait *)w;
    b->fired++;
    b->st = st;
    b->u = u;
    if (w->arg != NULL)
        ((bench *)w->arg)->fired++;
}

static rs_engine *bench_engine(bench *b, uint32_t batch)
{
    rs_engine_config cfg;
    engine_config_defaults(&cfg);
    cfg.redis_host = "127.0.0.1";
    cfg.redis_port = b->redis.port;
    cfg.flush_batch = batch;
    cfg.flush_interval_ms = 3600000; /* nothing goes before engine_shutdown */
    cfg.dirty_budget = (size_t)4 << 30;
    cfg.redis_timeout_ms = 10000;
    cfg.shutdown_timeout_ms = 120000;
    cfg.cache.seed[0] = 7;
    cfg.log = &b->log;
    rs_engine *e = engine_new(b->base, &cfg);
    if (e == NULL) {
        fprintf(stderr, "engine_new failed\n");
        exit(1);
    }
    long long end = rs_mono_ms() + 5000;
    while (!engine_ready(e) && rs_mono_ms() < end)
        event_base_loop(b->base, EVLOOP_ONCE);
    if (!engine_ready(e)) {
        fprintf(stderr, "redis not reachable\n");
        exit(1);
    }
    return e;
}

static void done_fn(void *arg, uint64_t unflushed)
{
    bench *b = arg;
    b->done = 1;
    b->unflushed = unflushed;
}

static rs_user *acquire_one(bench *b, rs_engine *e, uint64_t id)
{
    bwait w;
    memset(&w, 0, sizeof(w));
    w.w.fn = bwait_fn;
    rs_user *u = NULL;
    rs_status st = engine_acquire(e, id, &w.w, &u);
    if (st == RS_PENDING) {
        while (!w.fired)
            event_base_loop(b->base, EVLOOP_ONCE);
        st = w.st;
        u = w.u;
    }
    if (st != RS_OK) {
        fprintf(stderr, "acquire %llu: %s\n", (unsigned long long)id, rs_status_name(st));
        exit(1);
    }
    return u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_flush_throughput(bench *b, uint64_t users, uint32_t states, uint32_t batch)
{
    rs_engine *e = bench_engine(b, batch);
    rs_cache *c = engine_cache(e);
    /* Users are new: insert them through acquire (each loads an empty hash). */
    for (uint64_t id = 1; id <= users; id++) {
        rs_user *u = acquire_one(b, e, id);
        rs_state out;
        bool applied;
        for (uint32_t s = 1; s <= states; s++)
            cache_ack(c, u, s, id * 1000 + s, s % 3, &out, &applied);
        engine_release(e, u);
    }
    uint64_t dirty = engine_stats(e)->dirty_users;
    uint64_t t0 = rs_now_ns();
    b->done = 0;
    engine_shutdown(e, done_fn, b);
    while (!b->done)
        event_base_loop(b->base, EVLOOP_ONCE);
    double secs = (double)(rs_now_ns() - t0) / 1e9;
    const rs_engine_stats *st = engine_stats(e);
    printf("flush: users=%llu states=%llu batch=%u dirty_users_at_start=%llu time=%.3fs "
           "states_per_s=%.0f users_per_s=%.0f batches=%llu unflushed=%llu\n",
           (unsigned long long)users, (unsigned long long)st->flushed_states, batch,
           (unsigned long long)dirty, secs, (double)st->flushed_states / secs,
           (double)users / secs, (unsigned long long)st->flush_batches,
           (unsigned long long)b->unflushed);
    engine_free(e);
}

static void bench_cold_loads(bench *b, uint64_t users)
{
    rs_engine *e = bench_engine(b, 256);
    uint64_t n = users < 5000 ? users : 5000;
    uint64_t *lat = malloc(n * sizeof(*lat));
    if (lat == NULL)
        exit(1);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = rs_now_ns();
        rs_user *u = acquire_one(b, e, 1 + i * (users / n));
        lat[i] = rs_now_ns() - t0;
        engine_release(e, u);
    }
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("cold load (one at a time): n=%llu p50=%.1fus p99=%.1fus max=%.1fus\n",
           (unsigned long long)n, lat[n / 2] / 1e3, lat[(n * 99) / 100] / 1e3,
           lat[n - 1] / 1e3);
    free(lat);
    engine_free(e);

    /* All at once: loads pipelined on the one connection. */
    e = bench_engine(b, 256);
    bwait *w = calloc(users, sizeof(*w));
    if (w == NULL)
        exit(1);
    uint64_t t0 = rs_now_ns();
    b->fired = 0;
    for (uint64_t i = 0; i < users; i++) {
        w[i].w.fn = bwait_fn;
        w[i].w.arg = b;
        rs_user *u = NULL;
        rs_status st = engine_acquire(e, i + 1, &w[i].w, &u);
        if (st == RS_OK) {
            w[i].fired = 1;
            w[i].u = u;
            b->fired++;
        } else if (st != RS_PENDING) {
            fprintf(stderr, "acquire: %s\n", rs_status_name(st));
            exit(1);
        }
    }
    while (b->fired < users)
        event_base_loop(b->base, EVLOOP_ONCE);
    double secs = (double)(rs_now_ns() - t0) / 1e9;
    for (uint64_t i = 0; i < users; i++)
        if (w[i].u != NULL)
            engine_release(e, w[i].u);
    printf("cold load (all at once): users=%llu time=%.3fs loads_per_s=%.0f\n",
           (unsigned long long)users, secs, (double)users / secs);
    free(w);
    engine_free(e);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a write to a Redis that just died */
    uint64_t users = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    uint32_t states = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 10;
    uint32_t batch = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 256;
    if (users == 0 || states == 0 || batch == 0) {
        fprintf(stderr, "usage: bench_flush [users] [states_per_user] [flush_batch]\n");
        return 2;
    }
    bench b;
    memset(&b, 0, sizeof(b));
    b.log.min = RS_LOG_WARN;
    b.base = event_base_new();
    if (b.base == NULL || rs_test_redis_start(&b.redis) != 0) {
        fprintf(stderr, "cannot start redis-server\n");
        return 1;
    }
    bench_flush_throughput(&b, users, states, batch);
    bench_cold_loads(&b, users);
    rs_test_redis_cleanup(&b.redis);
    event_base_free(b.base);
    return 0;
}
