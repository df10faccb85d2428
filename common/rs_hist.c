/*
 * rs_hist.c: the log-linear latency histogram, see rs_hist.h.
 *
 * Index layout. Values below 2 * RS_HIST_SUB are their own bucket. A value
 * v >= 256 with highest set bit k is shifted right by s = k - 7, which leaves
 * a "mantissa" in [128, 256); the bucket is s * 128 + mantissa:
 *
 *   v:    0 .. 255 | 256 .. 511 | 512 .. 1023 | ... | 2^39 .. 2^40-1
 *   step: 1          2            4                   2^32
 *   idx:  0 .. 255 | 256 .. 383 | 384 .. 511  | ... | .. 4351
 *
 * so one bucket spans at most 1/128 of its lower bound (< 1% error). The same
 * formula with s = 0 covers 128 .. 255, and values below 128 map to
 * themselves, so there is no special case beyond v < 256.
 *
 * Invariants: total == sum of counts; min/max are the exact extremes of the
 * recorded values (before clamping); percentiles never leave [min, max].
 */
#include "rs_hist.h"

#include <string.h>

void rs_hist_reset(rs_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

uint32_t rs_hist_index(uint64_t v)
{
    if (v > RS_HIST_MAX_VALUE)
        v = RS_HIST_MAX_VALUE;
    if (v < 2u * RS_HIST_SUB)
        return (uint32_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v);
    unsigned s = k - RS_HIST_SUB_BITS;
    return (uint32_t)(s * RS_HIST_SUB + (uint32_t)(v >> s));
}

uint64_t rs_hist_bucket_low(uint32_t idx)
{
    if (idx < 2u * RS_HIST_SUB)
        return idx;
    unsigned s = (idx >> RS_HIST_SUB_BITS) - 1u;
    return (uint64_t)(RS_HIST_SUB + (idx & (RS_HIST_SUB - 1u))) << s;
}

uint64_t rs_hist_bucket_high(uint32_t idx)
{
    if (idx < 2u * RS_HIST_SUB)
        return idx;
    unsigned s = (idx >> RS_HIST_SUB_BITS) - 1u;
    return rs_hist_bucket_low(idx) + (1ull << s) - 1u;
}

void rs_hist_record_n(rs_hist *h, uint64_t v, uint32_t n)
{
    if (n == 0)
        return;
    h->counts[rs_hist_index(v)] += n;
    h->total += n;
    h->sum += (double)v * (double)n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void rs_hist_record(rs_hist *h, uint64_t v)
{
    rs_hist_record_n(h, v, 1);
}

void rs_hist_merge(rs_hist *dst, const rs_hist *src)
{
    if (src->total == 0)
        return;
    for (uint32_t i = 0; i < RS_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t rs_hist_percentile(const rs_hist *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p >= 100.0)
        return h->max;
    if (p < 0.0)
        p = 0.0;
    /* rank of the wanted value, 1-based: ceil(p/100 * total), at least 1 */
    double want = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < RS_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = rs_hist_bucket_high(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

double rs_hist_mean(const rs_hist *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}
