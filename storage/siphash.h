/*
 * siphash.h: SipHash-2-4 (Aumasson and Bernstein), a keyed hash for hash
 * tables whose keys come from clients. With a secret random key an attacker
 * cannot choose ids that collide on purpose.
 */
#ifndef RS_SIPHASH_H
#define RS_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of `len` bytes at `data` under the 128-bit key (k[0], k[1]);
 * k[0] and k[1] are the key's two little-endian 64-bit halves. Returns the
 * 64-bit hash. */
uint64_t siphash24(const uint64_t k[2], const void *data, size_t len);

/* SipHash-2-4 of the 8 little-endian bytes of `v`: equal to siphash24() on
 * those bytes, without the byte loop. Returns the 64-bit hash. */
uint64_t siphash24_u64(const uint64_t k[2], uint64_t v);

#endif /* RS_SIPHASH_H */
