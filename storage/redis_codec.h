/*
 * redis_codec.h: what the engine's loads and merges are in Redis's
 * dialect, shared by both Redis stores (store_redis.c, store_cluster.c):
 *
 *   load(id)   EVAL <load script> 1 readstates:{id} <max_states + 1>
 *              [<owner generation>] (HGETALL unless the hash has too many
 *              fields; in a fleet, the owner claim first) ──> every
 *              field through the strict parser (stored_value.h) into a
 *              reused buffer ──> states and _v | INVALID (why) | ERROR
 *   merge(users[0..k))
 *              EVALSHA <merge sha> k readstates:{id1}..{idk}
 *                <version> <n> <channel> <value>... per user (merge_lua.h),
 *              formatted straight from each user's state array into one
 *              reused argument buffer (nothing per state is allocated)
 *              (<version>@<generation> in a fleet)
 *              ──> one outcome per user: an integer (applied), a
 *              STORED_INVALID or WRONGTYPE error (INVALID), FENCED (a newer
 *              owner has the user), another error (ERROR); an error or no
 *              reply for the call fails all k
 *
 * A codec owns scratch buffers only: decoded results are valid until the
 * codec's next decode. No I/O here.
 */
#ifndef RS_REDIS_CODEC_H
#define RS_REDIS_CODEC_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_log.h"
#include "store.h"

#define REDIS_CODEC_WHAT_MAX 256

typedef struct redis_codec {
    uint32_t max_states; /* a user's channels at most (a larger hash is refused) */
    const rs_log *log;
    const char **argv; /* the last command built */
    size_t *argvlen;
    size_t argcap;
    char *arg_buf;
    size_t arg_cap;
    rs_state *load_buf;
    size_t load_cap;
    rs_store_outcome *outcomes;
    size_t outcomes_cap;
    char load_max[24]; /* max_states + 2 (_v and _o), for the load script */
    char gen[24];      /* the last load's owner generation */
    char key[48];      /* the last load's key */
    char what[REDIS_CODEC_WHAT_MAX];
} redis_codec;

void redis_codec_init(redis_codec *c, uint32_t max_states, const rs_log *log);
void redis_codec_fini(redis_codec *c);

/* readstates:{<user_id>}; returns snprintf's result. */
int redis_codec_key(uint64_t user_id, char *buf, size_t size);

/* The arguments of a load of user_id, in c->argv/c->argvlen (valid until
 * the next build); owner_gen > 0 claims the user for that ring generation
 * (a fleet node). Returns argc. */
int redis_codec_load_args(redis_codec *c, uint64_t user_id, uint64_t owner_gen);

/* The arguments of one merge call of users[0..n) with the merge script's
 * sha, in c->argv/c->argvlen. Returns argc. Also makes room for n
 * outcomes, so a decode never moves them while a callback reads them. */
int redis_codec_merge_args(redis_codec *c, const char *sha, const rs_store_user *users,
                           uint32_t n);

/* Decode a load's reply (NULL: no reply) into out; quiet: do not log a
 * failure (shutting down). */
void redis_codec_load_decode(redis_codec *c, uint64_t user_id, const redisReply *reply,
                             bool quiet, rs_store_loaded *out);

/* Decode the reply to one merge call of n users (NULL: no reply): one
 * outcome per user in codec memory. */
const rs_store_outcome *redis_codec_merge_decode(redis_codec *c, uint32_t n,
                                                 const redisReply *reply);

/* The fleet's ring (rs_ring.h): HMGET readstates:ring generation nodes
 * ranges. */
extern const char *const redis_codec_ring_argv[5];
extern const size_t redis_codec_ring_argvlen[5];

/* Its reply: true with the three fields (NULL when absent; valid while the
 * reply is), false when the reply is not that. */
bool redis_codec_ring_decode(const redisReply *r, const char **generation, const char **nodes,
                             const char **ranges);

#endif /* RS_REDIS_CODEC_H */
