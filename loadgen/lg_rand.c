/*
 * lg_rand.c: xoshiro256**, splitmix64 and the Zipf sampler, see lg_rand.h.
 *
 * Rejection-inversion: the integral H of h(x) = x^-s maps a uniform draw
 * between H(n + 1/2) and H(3/2) - 1 back to a real x; rounding gives a
 * candidate k that is accepted when the draw falls under h(k) inside the
 * cell of k. The constant sv lets most candidates skip the exact test.
 */
#include "lg_rand.h"

#include <math.h>

uint64_t lg_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void lg_rng_seed(lg_rng *r, uint64_t seed)
{
    uint64_t st = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = lg_splitmix64(&st);
}

static inline uint64_t rnd_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t lg_rng_next(lg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rnd_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rnd_rotl(s[3], 45);
    return result;
}

double lg_rng_double(lg_rng *r)
{
    return (double)(lg_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t lg_rng_below(lg_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the bias is below 2^-64 * n, fine here. */
    return (uint64_t)(((unsigned __int128)lg_rng_next(r) * n) >> 64);
}

/* log1p(x)/x, stable near 0 */
static double rnd_helper1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x / 2.0;
}

/* expm1(x)/x, stable near 0 */
static double rnd_helper2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x / 2.0;
}

static double rnd_zh(const lg_zipf *z, double x)
{
    return exp(-z->s * log(x));
}

static double rnd_zh_int(const lg_zipf *z, double x)
{
    double lx = log(x);
    return rnd_helper2((1.0 - z->s) * lx) * lx;
}

static double rnd_zh_int_inv(const lg_zipf *z, double x)
{
    double t = x * (1.0 - z->s);
    if (t < -1.0)
        t = -1.0;
    return exp(rnd_helper1(t) * x);
}

int lg_zipf_init(lg_zipf *z, uint64_t n, double s)
{
    if (n == 0 || !(s >= 0.0) || s > 100.0)
        return -1;
    z->n = n;
    z->s = s;
    z->h_x1 = rnd_zh_int(z, 1.5) - 1.0;
    z->h_n = rnd_zh_int(z, (double)n + 0.5);
    z->sv = 2.0 - rnd_zh_int_inv(z, rnd_zh_int(z, 2.5) - rnd_zh(z, 2.0));
    return 0;
}

uint64_t lg_zipf_next(const lg_zipf *z, lg_rng *r)
{
    if (z->n == 1)
        return 1;
    if (z->s == 0.0)
        return 1 + lg_rng_below(r, z->n);
    /* Acceptance is above 50% for every s, so 64 rounds failing has
     * probability < 2^-64; the bound keeps the loop finite regardless. */
    for (int round = 0; round < 64; round++) {
        double u = z->h_n + lg_rng_double(r) * (z->h_x1 - z->h_n);
        double x = rnd_zh_int_inv(z, u);
        double kd = floor(x + 0.5);
        uint64_t k;
        if (kd < 1.0)
            k = 1;
        else if (kd > (double)z->n)
            k = z->n;
        else
            k = (uint64_t)kd;
        if ((double)k - x <= z->sv ||
            u >= rnd_zh_int(z, (double)k + 0.5) - rnd_zh(z, (double)k))
            return k;
    }
    return 1;
}
