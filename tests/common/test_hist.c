/*
 * test_hist.c: rs_hist against exact percentiles of sorted arrays.
 *
 * For uniform, exponential and bimodal samples, every reported percentile
 * must be within 1% of the exact order statistic sorted[ceil(p*n)-1]; merging
 * per-window histograms must equal recording everything into one.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_hist.h"

#define N_SAMPLES 200000

static const double pcts_[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

/* A local splitmix64 so the test does not depend on the load generator. */
static uint64_t next_(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unit_(uint64_t *st)
{
    return (double)(next_(st) >> 11) * 0x1.0p-53;
}

static int cmp_u64_(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t exact_(const uint64_t *sorted, size_t n, double p)
{
    double want = p / 100.0 * (double)n;
    size_t rank = (size_t)ceil(want);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void check_(uint64_t *v, size_t n)
{
    rs_hist *h = malloc(sizeof(*h));
    assert_non_null(h);
    rs_hist_reset(h);
    for (size_t i = 0; i < n; i++)
        rs_hist_record(h, v[i]);
    qsort(v, n, sizeof(*v), cmp_u64_);
    assert_int_equal(h->total, n);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[n - 1]);
    for (size_t i = 0; i < sizeof(pcts_) / sizeof(pcts_[0]); i++) {
        uint64_t want = exact_(v, n, pcts_[i]);
        uint64_t got = rs_hist_percentile(h, pcts_[i]);
        double err = fabs((double)got - (double)want) / (double)(want ? want : 1);
        if (err > 0.01)
            fail_msg("p%g: got %llu want %llu (err %.4f)", pcts_[i], (unsigned long long)got,
                     (unsigned long long)want, err);
    }
    free(h);
}

static void test_uniform(void **state)
{
    (void)state;
    uint64_t st = 1;
    uint64_t *v = malloc(N_SAMPLES * sizeof(*v));
    assert_non_null(v);
    /* 1 us .. 10 ms in ns */
    for (size_t i = 0; i < N_SAMPLES; i++)
        v[i] = 1000 + (uint64_t)(unit_(&st) * 10e6);
    check_(v, N_SAMPLES);
    free(v);
}

static void test_exponential(void **state)
{
    (void)state;
    uint64_t st = 2;
    uint64_t *v = malloc(N_SAMPLES * sizeof(*v));
    assert_non_null(v);
    /* mean 200 us, long tail */
    for (size_t i = 0; i < N_SAMPLES; i++)
        v[i] = 1 + (uint64_t)(-log(1.0 - unit_(&st)) * 200e3);
    check_(v, N_SAMPLES);
    free(v);
}

static void test_bimodal(void **state)
{
    (void)state;
    uint64_t st = 3;
    uint64_t *v = malloc(N_SAMPLES * sizeof(*v));
    assert_non_null(v);
    /* 98% around 100 us, 2% around 2 s (a GC-like stall) */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        if (unit_(&st) < 0.98)
            v[i] = 80000 + (uint64_t)(unit_(&st) * 40000);
        else
            v[i] = 1800000000ull + (uint64_t)(unit_(&st) * 400e6);
    }
    check_(v, N_SAMPLES);
    free(v);
}

static void test_small_values_exact(void **state)
{
    (void)state;
    /* below 256 every value has its own bucket */
    for (uint64_t v = 0; v < 256; v++) {
        assert_int_equal(rs_hist_index(v), v);
        assert_int_equal(rs_hist_bucket_low((uint32_t)v), v);
        assert_int_equal(rs_hist_bucket_high((uint32_t)v), v);
    }
}

static void test_buckets_contiguous(void **state)
{
    (void)state;
    /* buckets tile the range without gaps, each within 1% of its low end */
    for (uint32_t i = 1; i < RS_HIST_BUCKETS; i++) {
        assert_int_equal(rs_hist_bucket_low(i), rs_hist_bucket_high(i - 1) + 1);
        uint64_t lo = rs_hist_bucket_low(i), hi = rs_hist_bucket_high(i);
        assert_true((double)(hi - lo) <= 0.01 * (double)lo + 1e-9);
        assert_int_equal(rs_hist_index(lo), i);
        assert_int_equal(rs_hist_index(hi), i);
    }
    assert_int_equal(rs_hist_bucket_high(RS_HIST_BUCKETS - 1), RS_HIST_MAX_VALUE);
    assert_int_equal(rs_hist_index(UINT64_MAX), RS_HIST_BUCKETS - 1);
}

static void test_merge_equals_single(void **state)
{
    (void)state;
    rs_hist *one = malloc(sizeof(*one));
    rs_hist *parts = malloc(10 * sizeof(*parts));
    rs_hist *merged = malloc(sizeof(*merged));
    assert_non_null(one);
    assert_non_null(parts);
    assert_non_null(merged);
    rs_hist_reset(one);
    rs_hist_reset(merged);
    for (int i = 0; i < 10; i++)
        rs_hist_reset(&parts[i]);
    uint64_t st = 4;
    for (int i = 0; i < 100000; i++) {
        uint64_t v = (uint64_t)(-log(1.0 - unit_(&st)) * 1e6);
        rs_hist_record(one, v);
        rs_hist_record(&parts[next_(&st) % 10], v);
    }
    for (int i = 0; i < 10; i++)
        rs_hist_merge(merged, &parts[i]);
    assert_int_equal(merged->total, one->total);
    assert_int_equal(merged->min, one->min);
    assert_int_equal(merged->max, one->max);
    assert_memory_equal(merged->counts, one->counts, sizeof(one->counts));
    for (size_t i = 0; i < sizeof(pcts_) / sizeof(pcts_[0]); i++)
        assert_int_equal(rs_hist_percentile(merged, pcts_[i]),
                         rs_hist_percentile(one, pcts_[i]));
    assert_true(fabs(rs_hist_mean(merged) - rs_hist_mean(one)) < 1e-6 * rs_hist_mean(one));
    /* merging an empty histogram changes nothing */
    rs_hist_reset(&parts[0]);
    rs_hist_merge(merged, &parts[0]);
    assert_int_equal(merged->min, one->min);
    free(one);
    free(parts);
    free(merged);
}

static void test_empty_and_record_n(void **state)
{
    (void)state;
    rs_hist h;
    rs_hist_reset(&h);
    assert_int_equal(rs_hist_percentile(&h, 50), 0);
    assert_int_equal(rs_hist_percentile(&h, 100), 0);
    assert_true(rs_hist_mean(&h) == 0.0);
    rs_hist_record_n(&h, 1000, 99);
    rs_hist_record(&h, 5000000000ull);
    assert_int_equal(h.total, 100);
    assert_int_equal(rs_hist_percentile(&h, 99), rs_hist_bucket_high(rs_hist_index(1000)));
    assert_int_equal(rs_hist_percentile(&h, 99.5), 5000000000ull);
    assert_int_equal(rs_hist_percentile(&h, 100), 5000000000ull);
    /* beyond the range: clamped into the top bucket but max stays exact */
    rs_hist_record(&h, RS_HIST_MAX_VALUE * 4);
    assert_int_equal(h.max, RS_HIST_MAX_VALUE * 4);
    assert_int_equal(rs_hist_percentile(&h, 100), RS_HIST_MAX_VALUE * 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_values_exact),
        cmocka_unit_test(test_buckets_contiguous),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_exponential),
        cmocka_unit_test(test_bimodal),
        cmocka_unit_test(test_merge_equals_single),
        cmocka_unit_test(test_empty_and_record_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
