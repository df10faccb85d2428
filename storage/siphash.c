/*
 * siphash.c: SipHash-2-4, written from the paper ("SipHash: a fast
 * short-input PRF", 2012).
 *
 * State: four 64-bit words v0..v3 initialised from the key. Each 8-byte
 * little-endian message word m is absorbed as v3 ^= m, two SipRounds,
 * v0 ^= m. The last word carries the remaining bytes and len << 56. Then
 * v2 ^= 0xff, four SipRounds, and the hash is v0 ^ v1 ^ v2 ^ v3.
 */
#include "siphash.h"

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state;

static inline void sip_round(sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = ROTL64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = ROTL64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = ROTL64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = ROTL64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = ROTL64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = ROTL64(s->v2, 32);
}

static inline void sip_init(sip_state *s, const uint64_t k[2])
{
    s->v0 = k[0] ^ 0x736f6d6570736575ull;
    s->v1 = k[1] ^ 0x646f72616e646f6dull;
    s->v2 = k[0] ^ 0x6c7967656e657261ull;
    s->v3 = k[1] ^ 0x7465646279746573ull;
}

static inline void sip_absorb(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static inline uint64_t sip_final(sip_state *s)
{
    s->v2 ^= 0xff;
    sip_round(s);
    sip_round(s);
    sip_round(s);
    sip_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t siphash24(const uint64_t k[2], const void *data, size_t len)
{
    const unsigned char *p = data;
    sip_state s;
    sip_init(&s, k);
    size_t full = len - (len % 8);
    for (size_t i = 0; i < full; i += 8)
        sip_absorb(&s, load_le64(p + i));
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++)
        last |= (uint64_t)p[full + i] << (8 * i);
    sip_absorb(&s, last);
    return sip_final(&s);
}

uint64_t siphash24_u64(const uint64_t k[2], uint64_t v)
{
    sip_state s;
    sip_init(&s, k);
    sip_absorb(&s, v);
    sip_absorb(&s, (uint64_t)8 << 56);
    return sip_final(&s);
}
