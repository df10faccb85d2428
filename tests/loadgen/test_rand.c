/*
 * test_rand.c: the rejection-inversion Zipf sampler and the PRNG.
 *
 * Frequencies of every rank are compared with the theoretical
 * k^-s / H(n, s) within 5 standard deviations of a binomial count; draws
 * never leave 1..n; the same seed gives the same sequence.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lg_rand.h"

#define DRAWS 1000000

static void check_freqs_(uint64_t n, double s, uint64_t seed)
{
    lg_zipf z;
    lg_rng r;
    assert_int_equal(lg_zipf_init(&z, n, s), 0);
    lg_rng_seed(&r, seed);
    uint64_t *count = calloc(n + 1, sizeof(*count));
    assert_non_null(count);
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = lg_zipf_next(&z, &r);
        assert_true(k >= 1 && k <= n);
        count[k]++;
    }
    double hsum = 0;
    for (uint64_t k = 1; k <= n; k++)
        hsum += pow((double)k, -s);
    for (uint64_t k = 1; k <= n; k++) {
        double p = pow((double)k, -s) / hsum;
        double expect = p * DRAWS;
        double sigma = sqrt(DRAWS * p * (1 - p));
        double diff = fabs((double)count[k] - expect);
        if (diff > 5 * sigma + 2)
            fail_msg("n=%llu s=%g rank %llu: got %llu expected %.1f (sigma %.1f)",
                     (unsigned long long)n, s, (unsigned long long)k,
                     (unsigned long long)count[k], expect, sigma);
    }
    free(count);
}

static void test_zipf_s1(void **state)
{
    (void)state;
    check_freqs_(100, 1.0, 11);
}

static void test_zipf_s08(void **state)
{
    (void)state;
    check_freqs_(1000, 0.8, 12);
}

static void test_zipf_s12(void **state)
{
    (void)state;
    check_freqs_(50, 1.2, 13);
}

static void test_zipf_uniform(void **state)
{
    (void)state;
    check_freqs_(20, 0.0, 14);
}

static void test_zipf_large_bounded(void **state)
{
    (void)state;
    /* a million users: bounded and the head has the right weight */
    const uint64_t n = 1000000;
    lg_zipf z;
    lg_rng r;
    assert_int_equal(lg_zipf_init(&z, n, 0.99), 0);
    lg_rng_seed(&r, 15);
    uint64_t ones = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = lg_zipf_next(&z, &r);
        assert_true(k >= 1 && k <= n);
        ones += (k == 1);
    }
    double hsum = 0;
    for (uint64_t k = 1; k <= n; k++)
        hsum += pow((double)k, -0.99);
    double p = 1.0 / hsum;
    assert_true(fabs((double)ones - p * DRAWS) < 5 * sqrt(DRAWS * p * (1 - p)));
    /* n = 1 always gives 1 */
    assert_int_equal(lg_zipf_init(&z, 1, 1.0), 0);
    assert_int_equal(lg_zipf_next(&z, &r), 1);
    assert_int_equal(lg_zipf_init(&z, 0, 1.0), -1);
    assert_int_equal(lg_zipf_init(&z, 10, -1.0), -1);
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    lg_rng a, b;
    lg_rng_seed(&a, 42);
    lg_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(lg_rng_next(&a), lg_rng_next(&b));
    lg_rng_seed(&b, 43);
    assert_true(lg_rng_next(&a) != lg_rng_next(&b));
    for (int i = 0; i < 100000; i++) {
        double d = lg_rng_double(&a);
        assert_true(d >= 0.0 && d < 1.0);
        assert_true(lg_rng_below(&a, 7) < 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zipf_s1),
        cmocka_unit_test(test_zipf_s08),
        cmocka_unit_test(test_zipf_s12),
        cmocka_unit_test(test_zipf_uniform),
        cmocka_unit_test(test_zipf_large_bounded),
        cmocka_unit_test(test_rng_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
