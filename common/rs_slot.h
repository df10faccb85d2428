/*
 * rs_slot.h: Redis Cluster's key slots, computed exactly as Redis computes
 * them (CRC16-XMODEM of the key's hash tag, mod 16384), so that readstated
 * can route a user's key to the Redis primary that owns it and line a
 * fleet node's users up with those slots.
 *
 * The hash tag: if the key holds a '{' followed later by a '}' with at
 * least one byte between them, only the bytes between the first '{' and
 * the first '}' after it are hashed; otherwise the whole key is. A user's
 * key, readstates:{<user_id>}, hashes <user_id> in decimal.
 */
#ifndef RS_SLOT_H
#define RS_SLOT_H

#include <stddef.h>
#include <stdint.h>

#define RS_SLOTS 16384u

/* CRC16-XMODEM (polynomial 0x1021, initial 0), the one Redis Cluster uses. */
uint16_t rs_crc16(const void *buf, size_t len);

/* The slot of a key (hash tag rules above). */
uint32_t rs_key_slot(const void *key, size_t len);

/* The slot of user_id's key (readstates:{<user_id>}). */
uint32_t rs_user_slot(uint64_t user_id);

#endif /* RS_SLOT_H */
