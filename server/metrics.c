/* metrics.c: recording side of metrics.h. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

/* 1-2-5 per decade, 1 us .. 10 s: from a cache hit (a few us) to a slow
 * Redis load, histogram_quantile lands in the bucket of the true quantile,
 * whose upper bound is at most 2.5 times its lower one. Each literal is the
 * double nearest its decimal value: the one latency_ns / 1e9 gives for
 * exactly that many ns, and the one "%g" prints back exactly, as Prometheus
 * parses it ("1e-06" .. "10"). */
const double rs_metrics_bucket_bounds[RS_METRICS_NBUCKETS] = {
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3,
    5e-3, 1e-2, 2e-2, 5e-2, 0.1,  0.2,  0.5,  1.0,  2.0,  5.0,  10.0,
};

int metrics_init(rs_metrics *m)
{
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        m->second[i] = malloc(sizeof(rs_hist));
        if (m->second[i] == NULL) {
            metrics_destroy(m);
            return -1;
        }
        rs_hist_reset(m->second[i]);
    }
    for (int b = 0; b < RS_METRICS_NBUCKETS; b++)
        m->bucket_ns[b] = (uint64_t)(rs_metrics_bucket_bounds[b] * 1e9 + 0.5);
    m->bucket_ns[RS_METRICS_NBUCKETS] = UINT64_MAX;
    for (int bits = 0; bits <= 64; bits++) {
        uint64_t least = bits == 0 ? 0 : (uint64_t)1 << (bits - 1);
        int b = 0;
        while (m->bucket_ns[b] < least)
            b++;
        m->bucket_by_bits[bits] = (uint8_t)b;
    }
    return 0;
}

void metrics_destroy(rs_metrics *m)
{
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        free(m->second[i]);
        m->second[i] = NULL;
    }
}

void metrics_record(rs_metrics *m, rs_method method, rs_status st, uint64_t latency_ns)
{
    if ((unsigned)method >= RS_METHOD_MAX)
        method = RS_METHOD_INVALID;
    rs_method_metrics *mm = &m->method[method];
    unsigned code = (unsigned)st < RS_METRICS_NCODES ? (unsigned)st : RS_ERR_INTERNAL;
    mm->by_code[code]++;
    mm->count++;
    double secs = (double)latency_ns / 1e9;
    mm->sum_seconds += secs;
    /* Prometheus's le: the first bound >= the latency. Its bit length picks
     * a bucket, one comparison the next: no loop, no branch. */
    int bits = 64 - __builtin_clzll(latency_ns | 1);
    unsigned b = m->bucket_by_bits[bits];
    b += latency_ns > m->bucket_ns[b];
    mm->buckets[b]++;
    rs_hist_record(m->second[method], latency_ns);
}
