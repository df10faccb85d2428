/*
 * bench_cache_memory.c: accounted bytes per read state for the published
 * bar (1,000,000 states over 100,000 users, 10 per user, created one by one
 * by acks). Not a test: it prints numbers and asserts nothing. It also
 * prints this process's RSS growth per state under the malloc it is linked
 * with (tcmalloc in the default build) and, with tcmalloc, the allocator's
 * own view; the server's RSS is measured separately.
 *
 *   bench_cache_memory [users] [states_per_user] [round|user]
 *
 * "round" (default) acks channel 1 for every user, then channel 2, ...: every
 * state array grows through every size class while all users are live, the
 * allocator's worst case. "user" fills one user at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "rs_common.h"

#ifdef RS_HAVE_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#endif

/* Resident bytes of this process, or 0 if unknown. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    unsigned long size = 0, resident = 0;
    int got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return got == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void print_allocator(const char *when, uint64_t states)
{
#ifdef RS_HAVE_TCMALLOC
    static const char *const props[] = {"generic.current_allocated_bytes", "generic.heap_size",
                                        "tcmalloc.pageheap_free_bytes",
                                        "tcmalloc.pageheap_unmapped_bytes"};
    printf("tcmalloc_%s", when);
    for (size_t i = 0; i < RS_ARRAY_LEN(props); i++) {
        size_t v = 0;
        MallocExtension_GetNumericProperty(props[i], &v);
        printf(" %s=%zu", strchr(props[i], '.') + 1, v);
    }
    printf("\n");
#else
    (void)when;
#endif
    (void)states;
}

static int ack_one(rs_cache *c, uint64_t id, uint64_t ch)
{
    rs_user *u = cache_lookup(c, id);
    if (u == NULL)
        u = cache_insert(c, id);
    rs_state out;
    bool applied;
    if (cache_ack(c, u, ch * 1000003u, 1000 + ch, 0, &out, &applied) != RS_OK || !applied) {
        fprintf(stderr, "ack failed\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t users = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    uint64_t per_user = argc > 2 ? strtoull(argv[2], NULL, 10) : 10;
    bool by_user = argc > 3 && strcmp(argv[3], "user") == 0;
    rs_cache_config cfg = {0};
    cfg.seed[0] = 0x5eed;
    cfg.seed[1] = 0xfeed;
    rs_cache *c = cache_new(&cfg);
    if (c == NULL) {
        fprintf(stderr, "cache_new failed\n");
        return 1;
    }
    uint64_t rss0 = rss_bytes();
    uint64_t t0 = rs_now_ns();
    for (uint64_t a = 1; a <= (by_user ? users : per_user); a++)
        for (uint64_t b = 1; b <= (by_user ? per_user : users); b++)
            if (ack_one(c, by_user ? a : b, by_user ? b : a) != 0)
                return 1;
    uint64_t t1 = rs_now_ns();
    uint64_t rss1 = rss_bytes();
    const rs_cache_stats *st = cache_stats(c);
    double n = st->states ? (double)st->states : 1.0;
    printf("order=%s users=%llu states=%llu bytes=%llu bytes_per_state=%.2f "
           "sizeof_user=%zu insert_ns_per_state=%.0f rss_growth_per_state=%.2f\n",
           by_user ? "user" : "round", (unsigned long long)st->users,
           (unsigned long long)st->states, (unsigned long long)st->bytes, (double)st->bytes / n,
           sizeof(rs_user), (double)(t1 - t0) / n, ((double)rss1 - (double)rss0) / n);
    print_allocator("after", st->states);
#ifdef RS_HAVE_TCMALLOC
    /* What a server that hands free pages back (as tcmalloc does gradually
     * by itself) would hold. */
    MallocExtension_ReleaseFreeMemory();
    printf("rss_growth_per_state_after_release=%.2f\n",
           ((double)rss_bytes() - (double)rss0) / n);
#endif
    cache_free(c);
    return 0;
}
