/*
 * bench_cache_memory.c: accounted bytes per read state for the published
 * bar (1,000,000 states over 100,000 users, 10 per user, created one by one
 * by acks). Not a test: it prints numbers and asserts nothing. Process RSS
 * through the server is measured separately.
 *
 *   bench_cache_memory [users] [states_per_user]
 */
#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "rs_common.h"

int main(int argc, char **argv)
{
    uint64_t users = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    uint64_t per_user = argc > 2 ? strtoull(argv[2], NULL, 10) : 10;
    rs_cache_config cfg = {0};
    cfg.seed[0] = 0x5eed;
    cfg.seed[1] = 0xfeed;
    rs_cache *c = cache_new(&cfg);
    if (c == NULL) {
        fprintf(stderr, "cache_new failed\n");
        return 1;
    }
    uint64_t t0 = rs_now_ns();
    /* Round-robin over users, as acks arrive in practice: each state is
     * created by its own ack and each user's array grows one step at a time. */
    for (uint64_t ch = 1; ch <= per_user; ch++) {
        for (uint64_t id = 1; id <= users; id++) {
            rs_user *u = cache_lookup(c, id);
            if (u == NULL)
                u = cache_insert(c, id);
            rs_state out;
            bool applied;
            if (cache_ack(c, u, ch * 1000003u, 1000 + ch, 0, &out, &applied) != RS_OK ||
                !applied) {
                fprintf(stderr, "ack failed\n");
                return 1;
            }
        }
    }
    uint64_t t1 = rs_now_ns();
    const rs_cache_stats *st = cache_stats(c);
    printf("users=%llu states=%llu bytes=%llu bytes_per_state=%.2f bytes_per_user=%.1f "
           "sizeof_user=%zu insert_ns_per_state=%.0f\n",
           (unsigned long long)st->users, (unsigned long long)st->states,
           (unsigned long long)st->bytes, st->states ? (double)st->bytes / st->states : 0.0,
           st->users ? (double)st->bytes / st->users : 0.0, sizeof(rs_user),
           st->states ? (double)(t1 - t0) / st->states : 0.0);
    cache_free(c);
    return 0;
}
