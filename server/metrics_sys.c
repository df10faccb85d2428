/*
 * metrics_sys.c: process figures from /proc/self and the allocator's own
 * figures, for metrics_render.h.
 *
 * The allocator variant is chosen once, here: tcmalloc's MallocExtension
 * when the build links tcmalloc (RS_HAVE_TCMALLOC), nothing otherwise.
 */
#include "metrics_render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifdef RS_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>

static uint64_t tc_prop(const char *name)
{
    size_t v = 0;
    return MallocExtension_GetNumericProperty(name, &v) ? (uint64_t)v : 0;
}

void metrics_alloc_read(rs_alloc_stats *out)
{
    out->available = true;
    out->allocated_bytes = tc_prop("generic.current_allocated_bytes");
    out->heap_bytes = tc_prop("generic.heap_size");
    out->free_bytes = tc_prop("tcmalloc.pageheap_free_bytes");
    out->unmapped_bytes = tc_prop("tcmalloc.pageheap_unmapped_bytes");
    out->thread_cache_bytes = tc_prop("tcmalloc.current_total_thread_cache_bytes");
}
#else
void metrics_alloc_read(rs_alloc_stats *out)
{
    memset(out, 0, sizeof(*out));
}
#endif

/* Seconds since the epoch at boot, from /proc/stat's btime; 0 if unknown. */
static uint64_t boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return 0;
    char line[256];
    unsigned long long bt = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

int metrics_proc_read(rs_proc_stats *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip past the last
     * ')'; the fields after it start at field 3 (state). */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    int got = sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                     "%*d %*d %llu %llu %lld",
                     &utime, &stime, &start, &vsize, &rss);
    if (got != 5)
        return -1;
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tck <= 0 || page <= 0)
        return -1;
    out->cpu_seconds = (double)(utime + stime) / (double)tck;
    out->vsize_bytes = vsize;
    out->rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    uint64_t bt = boot_time_s();
    out->start_time_s = bt > 0 ? (double)bt + (double)start / (double)tck : 0;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    out->ok = true;
    return 0;
}
