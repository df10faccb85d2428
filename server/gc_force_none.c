/*
 * gc_force_none.c: gc_force.h in the normal build. There is no collector:
 * the cache keeps the default allocator and nothing is ever forced.
 */
#include "gc_force.h"

bool rs_gc_force_enabled(void)
{
    return false;
}

int rs_gc_force_configure(rs_cache_config *cc, const rs_log *log)
{
    (void)cc;
    (void)log;
    return 0;
}

rs_gc_force *rs_gc_force_start(struct event_base *base, uint32_t interval_s, const rs_log *log)
{
    (void)base;
    (void)interval_s;
    (void)log;
    return NULL;
}

void rs_gc_force_stop(rs_gc_force *g)
{
    (void)g;
}

rs_gc_force_stats rs_gc_force_get_stats(const rs_gc_force *g)
{
    (void)g;
    rs_gc_force_stats st = {0};
    return st;
}
