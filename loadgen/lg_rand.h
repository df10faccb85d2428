/*
 * lg_rand.h: deterministic randomness for the load generator.
 *
 * xoshiro256** seeded through splitmix64 (one 64-bit seed gives the whole
 * state), and a bounded Zipf sampler using rejection-inversion (Hörmann and
 * Derflinger, 1996): O(1) memory and expected O(1) time per draw for any
 * number of ranks, exact distribution P(k) ~ 1 / k^s over k = 1..n.
 *
 *   seed --splitmix64--> s[0..3] --xoshiro256**--> u64 --> double [0,1)
 *                                                    \--> zipf rank 1..n
 */
#ifndef LG_RAND_H
#define LG_RAND_H

#include <stdint.h>

typedef struct lg_rng {
    uint64_t s[4];
} lg_rng;

/* One step of splitmix64: advances *state and returns the next output. */
uint64_t lg_splitmix64(uint64_t *state);
/* Seed a generator; the same seed always gives the same sequence. */
void lg_rng_seed(lg_rng *r, uint64_t seed);
uint64_t lg_rng_next(lg_rng *r);
/* Uniform double in [0, 1). */
double lg_rng_double(lg_rng *r);
/* Uniform integer in [0, n); n > 0. */
uint64_t lg_rng_below(lg_rng *r, uint64_t n);

typedef struct lg_zipf {
    uint64_t n; /* ranks 1..n */
    double s;   /* exponent; 0 means uniform */
    double h_x1;
    double h_n;
    double sv;
} lg_zipf;

/* Prepare a sampler over 1..n (n >= 1) with exponent s >= 0.
 * Returns 0, or -1 on bad arguments. */
int lg_zipf_init(lg_zipf *z, uint64_t n, double s);
/* A rank in 1..n; rank 1 is the most frequent. */
uint64_t lg_zipf_next(const lg_zipf *z, lg_rng *r);

#endif /* LG_RAND_H */
