/*
 * gc_force_boehm.c: gc_force.h in the garbage-collected build
 * (READSTATES_GC=boehm): a persistent libevent timer that forces a full
 * collection of the collector's heap, the whole cache, every interval.
 *
 *   event loop ── ... requests ... ──[timer: rs_gc_collect]── ... requests
 *                                      |<-- duration_ns -->|
 *                                      requests wait here: the spike
 *
 * The collection runs on the event loop's own thread, so while it marks,
 * no request is read or answered: a stop-the-world pause as the clients see
 * it. Each collection is timed here (monotonic clock around GC_gcollect)
 * and logged as event=gc_forced with its wall-clock start, which is how the
 * spike replay places it on the load generator's time axis.
 *
 * Invariants: at most one timer per handle; the handle owns its event and
 * the caller owns the handle (rs_gc_force_stop frees both).
 */
#include "gc_force.h"

#include <stdio.h>
#include <stdlib.h>

#include "alloc_gc.h"
#include "rs_common.h"

struct rs_gc_force {
    struct event *timer;
    const rs_log *log;
    uint32_t interval_s;
    rs_gc_force_stats stats;
};

bool rs_gc_force_enabled(void)
{
    return true;
}

int rs_gc_force_configure(rs_cache_config *cc, const rs_log *log)
{
    const rs_allocator *a = rs_allocator_gc();
    if (a == NULL) {
        RS_LOG(log, RS_LOG_ERROR, "gc_setup_failed",
               "reason=\"the collector runs incrementally (GC_ENABLE_INCREMENTAL?); "
               "the comparison needs a full stop-the-world mark\"");
        return -1;
    }
    cc->alloc = a;
    RS_LOG(log, RS_LOG_INFO, "gc_allocator", "allocator=%s", a->name);
    return 0;
}

static void gc_force_fire_(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_gc_force *g = arg;
    uint64_t start_ms = rs_wall_ms();
    rs_gc_collection c;
    if (rs_gc_collect(&c) != 0) {
        RS_LOG(g->log, RS_LOG_WARN, "gc_force_skipped", "reason=\"collector refused\"");
        return;
    }
    g->stats.collections++;
    g->stats.last_ns = c.duration_ns;
    g->stats.total_ns += c.duration_ns;
    if (c.duration_ns > g->stats.max_ns)
        g->stats.max_ns = c.duration_ns;
    RS_LOG(g->log, RS_LOG_INFO, "gc_forced",
           "start_unix_ms=%llu duration_ms=%.3f duration_ns=%llu heap_bytes=%zu "
           "free_bytes=%zu gc_no=%llu markers=%d",
           (unsigned long long)start_ms, (double)c.duration_ns / 1e6,
           (unsigned long long)c.duration_ns, c.heap_bytes, c.free_bytes,
           (unsigned long long)c.gc_no, c.markers);
}

rs_gc_force *rs_gc_force_start(struct event_base *base, uint32_t interval_s, const rs_log *log)
{
    if (interval_s == 0) {
        RS_LOG(log, RS_LOG_INFO, "gc_force_off", "interval_s=0");
        return NULL;
    }
    rs_gc_force *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        fprintf(stderr, "readstated: out of memory\n");
        abort();
    }
    g->log = log;
    g->interval_s = interval_s;
    g->timer = event_new(base, -1, EV_PERSIST, gc_force_fire_, g);
    if (g->timer == NULL) {
        fprintf(stderr, "readstated: out of memory\n");
        abort();
    }
    struct timeval tv = {.tv_sec = (time_t)interval_s, .tv_usec = 0};
    event_add(g->timer, &tv);
    RS_LOG(log, RS_LOG_INFO, "gc_force_started", "interval_s=%u collector=boehm", interval_s);
    return g;
}

void rs_gc_force_stop(rs_gc_force *g)
{
    if (g == NULL)
        return;
    event_free(g->timer);
    RS_LOG(g->log, RS_LOG_INFO, "gc_force_stopped",
           "collections=%llu max_ms=%.3f total_ms=%.3f",
           (unsigned long long)g->stats.collections, (double)g->stats.max_ns / 1e6,
           (double)g->stats.total_ns / 1e6);
    free(g);
}

rs_gc_force_stats rs_gc_force_get_stats(const rs_gc_force *g)
{
    rs_gc_force_stats st = {0};
    if (g != NULL)
        st = g->stats;
    return st;
}
