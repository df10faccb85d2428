/*
 * lg_work.h: the workload: which call to make next, for whom, with which ids.
 *
 * Each draw picks a method from the mix (percentages), a user (Zipf over the
 * hot users, or a fresh "cold" user never seen before with probability
 * cold_pct), one of that user's channels, and message ids that rise with
 * time so acks move cursors forward. Ids are Discord-style snowflakes:
 *
 *   63          22 21     17 16    12 11        0
 *   +-------------+---------+--------+-----------+
 *   | ms since    | worker  | process| sequence  |
 *   | 2015-01-01  |         |        |           |
 *   +-------------+---------+--------+-----------+
 *
 * Hot users live at fixed 2016 timestamps (rank r -> one id, stable across
 * runs, so a fill and a later run agree); cold users are fresh snowflakes
 * from the wall clock with their own worker bits, disjoint from hot ids and
 * from any earlier run. An lg_op is a plain value: targets encode it.
 */
#ifndef LG_WORK_H
#define LG_WORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lg_rand.h"

#define LG_DISCORD_EPOCH_MS 1420070400000ull
#define LG_LIST_MAX         100 /* entries per bulk ack / mention fan-out */

typedef enum lg_method {
    LG_ACK,
    LG_GET_ONE,
    LG_GET_ALL,
    LG_BULK_ACK,
    LG_MENTIONS,
    LG_SET,
    LG_PING, /* no work in the server: the floor of framing, loopback, wake-ups */
    LG_METHOD_MAX
} lg_method;

/* "ack", "get_one", "get_all", "bulk_ack", "mentions", "set", "ping". */
const char *lg_method_name(lg_method m);
/* Method by name; returns LG_METHOD_MAX if unknown. */
lg_method lg_method_parse(const char *s);

typedef struct lg_op {
    lg_method method;
    uint64_t user_id;
    uint64_t channel_id;
    uint64_t message_id;
    uint32_t mention_count;
    uint32_t n;                     /* entries in list (bulk ack, mentions) */
    uint64_t list[LG_LIST_MAX];     /* bulk ack: channel ids; mentions: user ids */
    uint64_t list_msg[LG_LIST_MAX]; /* bulk ack: message ids */
} lg_op;

typedef struct lg_work_cfg {
    double mix[LG_METHOD_MAX]; /* percent per method, sums to 100 */
    uint64_t users;            /* hot users, ranks 1..users */
    uint32_t channels;         /* channels per user */
    double zipf_s;             /* skew over users; 0 = uniform */
    double cold_pct;           /* share of requests for never-seen users */
    uint64_t seed;
    uint32_t bulk_size;     /* entries per bulk ack */
    uint32_t mention_users; /* users per AddMentions */
} lg_work_cfg;

typedef struct lg_snowflake {
    uint64_t last;
    uint32_t worker; /* 10 bits of worker + process */
} lg_snowflake;

typedef struct lg_work {
    lg_work_cfg cfg;
    lg_rng rng;
    lg_zipf zipf;
    double cum[LG_METHOD_MAX]; /* cumulative mix in [0, 1] */
    lg_snowflake msg;          /* message ids */
    lg_snowflake cold;         /* cold user ids */
    uint64_t fill_rank;        /* fill: next user rank */
    uint32_t fill_chan;        /* fill: next channel index */
} lg_work;

/* Defaults: ack 90 / get_one 10, 100000 users x 20 channels, s = 0.99. */
void lg_work_cfg_default(lg_work_cfg *cfg);
/* Check and prepare. Returns 0, or -1 with a message in err. */
int lg_work_init(lg_work *w, const lg_work_cfg *cfg, char *err, size_t errlen);
/* Draw the next request at wall time now_ms. */
void lg_work_next(lg_work *w, uint64_t now_ms, lg_op *op);
/* Fill mode: the next bulk ack covering users 1..users x channels 0..channels-1
 * in order, up to LG_LIST_MAX entries each. Returns false when all are done. */
bool lg_work_fill_next(lg_work *w, uint64_t users, uint32_t channels, uint64_t now_ms,
                       lg_op *op);

/* Next strictly increasing snowflake at wall time now_ms. */
uint64_t lg_snowflake_next(lg_snowflake *sf, uint64_t now_ms);
/* The id of hot user rank r (1-based) and of that user's channel c. */
uint64_t lg_user_id(uint64_t rank);
uint64_t lg_channel_id(uint64_t user_key, uint32_t c);

#endif /* LG_WORK_H */
