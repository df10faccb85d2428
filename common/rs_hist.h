/*
 * rs_hist.h: a log-linear latency histogram in the style of HdrHistogram.
 *
 * Values are unsigned 64-bit (nanoseconds by convention). Each power of two
 * is split into RS_HIST_SUB linear sub-buckets, so any value from 1 ns to
 * RS_HIST_MAX_VALUE (about 18 minutes) is kept within 1% relative error;
 * larger values are clamped to the top bucket (and still counted in max).
 *
 *   bucket index = magnitude * RS_HIST_SUB + sub-bucket
 *   [0,1,..,127 | 128..255 (step 1) | 256..510 (step 2) | 512..1020 (step 4) | ...]
 *
 * A histogram is a fixed-size plain struct: record is a few instructions and
 * no allocation; merging adds bucket counts, so per-second histograms merge
 * into totals exactly.
 */
#ifndef RS_HIST_H
#define RS_HIST_H

#include <stdbool.h>
#include <stdint.h>

#define RS_HIST_SUB_BITS  7
#define RS_HIST_SUB       (1u << RS_HIST_SUB_BITS) /* 128 sub-buckets */
#define RS_HIST_MAX_BITS  40                       /* values up to 2^40 ns */
#define RS_HIST_MAX_VALUE ((1ull << RS_HIST_MAX_BITS) - 1)
#define RS_HIST_BUCKETS   ((RS_HIST_MAX_BITS - RS_HIST_SUB_BITS + 1) * RS_HIST_SUB)

typedef struct rs_hist {
    uint64_t total; /* values recorded */
    uint64_t min;   /* UINT64_MAX while empty */
    uint64_t max;
    double sum;
    uint32_t counts[RS_HIST_BUCKETS];
} rs_hist;

void rs_hist_reset(rs_hist *h);
void rs_hist_record(rs_hist *h, uint64_t v);
void rs_hist_record_n(rs_hist *h, uint64_t v, uint32_t n);
/* dst += src */
void rs_hist_merge(rs_hist *dst, const rs_hist *src);
/* The value at percentile p (0..100]: the highest value equivalent to the
 * bucket holding the ceil(p/100 * total)-th value; max for p = 100;
 * 0 when empty. */
uint64_t rs_hist_percentile(const rs_hist *h, double p);
double rs_hist_mean(const rs_hist *h);
/* Bucket helpers (exposed for tests and for exporting). */
uint32_t rs_hist_index(uint64_t v);
uint64_t rs_hist_bucket_low(uint32_t idx);
uint64_t rs_hist_bucket_high(uint32_t idx);

#endif /* RS_HIST_H */
