/*
 * lg_work.c: the workload generator, see lg_work.h.
 *
 * Channel ids: user u's channel c is global channel (u * 131 + c) mod 2^20,
 * so a user's channels are distinct (channels <= 2^20) and overlap with
 * other users' the way guild channels do.
 */
#include "lg_work.h"

#include <stdio.h>
#include <string.h>

#define HOT_USER_MS   31536000000ull /* 2016-01-01 relative to the epoch */
#define CHANNEL_MS    12960000000ull /* mid-2015 */
#define CHANNEL_SPAN  (1u << 20)
#define COLD_WORKER   0x3ffu
#define LG_MIN_(a, b) ((a) < (b) ? (a) : (b))

static const char *const method_names_[LG_METHOD_MAX] = {
    "ack", "get_one", "get_all", "bulk_ack", "mentions", "set", "ping",
};

const char *lg_method_name(lg_method m)
{
    return m < LG_METHOD_MAX ? method_names_[m] : "unknown";
}

lg_method lg_method_parse(const char *s)
{
    for (int m = 0; m < LG_METHOD_MAX; m++)
        if (strcmp(s, method_names_[m]) == 0)
            return (lg_method)m;
    return LG_METHOD_MAX;
}

void lg_work_cfg_default(lg_work_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->mix[LG_ACK] = 90;
    cfg->mix[LG_GET_ONE] = 10;
    cfg->users = 100000;
    cfg->channels = 20;
    cfg->zipf_s = 0.99;
    cfg->cold_pct = 0;
    cfg->seed = 1;
    cfg->bulk_size = 10;
    cfg->mention_users = 3;
}

uint64_t lg_snowflake_next(lg_snowflake *sf, uint64_t now_ms)
{
    uint64_t ms = now_ms > LG_DISCORD_EPOCH_MS ? now_ms - LG_DISCORD_EPOCH_MS : 0;
    uint64_t id = (ms << 22) | ((uint64_t)(sf->worker & 0x3ffu) << 12);
    if (id <= sf->last)
        id = sf->last + 1; /* same millisecond: next sequence number */
    sf->last = id;
    return id;
}

uint64_t lg_user_id(uint64_t rank)
{
    return ((HOT_USER_MS + rank) << 22) | ((rank * 0x9e37u) & 0xfffu);
}

uint64_t lg_channel_id(uint64_t user_key, uint32_t c)
{
    uint64_t g = (user_key * 131u + c) % CHANNEL_SPAN;
    return ((CHANNEL_MS + g) << 22) | 1u;
}

int lg_work_init(lg_work *w, const lg_work_cfg *cfg, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->cfg = *cfg;
    double sum = 0;
    for (int m = 0; m < LG_METHOD_MAX; m++) {
        if (cfg->mix[m] < 0) {
            snprintf(err, errlen, "mix: negative share for %s", method_names_[m]);
            return -1;
        }
        sum += cfg->mix[m];
        w->cum[m] = sum;
    }
    if (sum < 99.999 || sum > 100.001) {
        snprintf(err, errlen, "mix: shares add up to %g, not 100", sum);
        return -1;
    }
    for (int m = 0; m < LG_METHOD_MAX; m++)
        w->cum[m] /= sum;
    w->cum[LG_METHOD_MAX - 1] = 1.0;
    if (cfg->users == 0 || cfg->channels == 0 || cfg->channels > CHANNEL_SPAN) {
        snprintf(err, errlen, "users and channels per user must be >= 1 (channels <= %u)",
                 CHANNEL_SPAN);
        return -1;
    }
    if (cfg->cold_pct < 0 || cfg->cold_pct > 100) {
        snprintf(err, errlen, "cold share must be 0..100");
        return -1;
    }
    if (cfg->bulk_size == 0 || cfg->bulk_size > LG_LIST_MAX || cfg->mention_users == 0 ||
        cfg->mention_users > LG_LIST_MAX) {
        snprintf(err, errlen, "bulk size and mention users must be 1..%d", LG_LIST_MAX);
        return -1;
    }
    if (lg_zipf_init(&w->zipf, cfg->users, cfg->zipf_s) != 0) {
        snprintf(err, errlen, "zipf exponent must be 0..100");
        return -1;
    }
    lg_rng_seed(&w->rng, cfg->seed);
    w->msg.worker = (uint32_t)(cfg->seed & 0x3ffu);
    if (w->msg.worker == COLD_WORKER)
        w->msg.worker = 0;
    w->cold.worker = COLD_WORKER;
    w->fill_rank = 1;
    return 0;
}

static lg_method wk_pick_method(lg_work *w)
{
    double u = lg_rng_double(&w->rng);
    for (int m = 0; m < LG_METHOD_MAX; m++)
        if (u < w->cum[m] && w->cfg.mix[m] > 0)
            return (lg_method)m;
    for (int m = LG_METHOD_MAX - 1; m >= 0; m--)
        if (w->cfg.mix[m] > 0)
            return (lg_method)m;
    return LG_ACK;
}

static void wk_fill_mentions(lg_work *w, lg_op *op)
{
    op->list[0] = op->user_id;
    op->n = 1;
    uint32_t want = w->cfg.mention_users;
    if ((uint64_t)want > w->cfg.users + 1)
        want = (uint32_t)(w->cfg.users + 1);
    /* distinct users; a bounded number of tries */
    for (int tries = 0; op->n < want && tries < 8 * LG_LIST_MAX; tries++) {
        uint64_t id = lg_user_id(lg_zipf_next(&w->zipf, &w->rng));
        bool dup = false;
        for (uint32_t i = 0; i < op->n; i++)
            dup |= (op->list[i] == id);
        if (!dup)
            op->list[op->n++] = id;
    }
}

void lg_work_next(lg_work *w, uint64_t now_ms, lg_op *op)
{
    op->method = wk_pick_method(w);
    uint64_t key;
    if (w->cfg.cold_pct > 0 && lg_rng_double(&w->rng) * 100.0 < w->cfg.cold_pct) {
        op->user_id = lg_snowflake_next(&w->cold, now_ms);
        key = op->user_id >> 12;
    } else {
        key = lg_zipf_next(&w->zipf, &w->rng);
        op->user_id = lg_user_id(key);
    }
    uint32_t c = (uint32_t)lg_rng_below(&w->rng, w->cfg.channels);
    op->channel_id = lg_channel_id(key, c);
    op->message_id = 0;
    op->mention_count = 0;
    op->n = 0;
    switch (op->method) {
    case LG_ACK: op->message_id = lg_snowflake_next(&w->msg, now_ms); break;
    case LG_GET_ONE:
    case LG_GET_ALL:
    case LG_PING: break;
    case LG_BULK_ACK: {
        uint32_t n = LG_MIN_(w->cfg.bulk_size, w->cfg.channels);
        for (uint32_t i = 0; i < n; i++) {
            op->list[i] = lg_channel_id(key, (c + i) % w->cfg.channels);
            op->list_msg[i] = lg_snowflake_next(&w->msg, now_ms);
        }
        op->n = n;
        break;
    }
    case LG_MENTIONS:
        op->message_id = lg_snowflake_next(&w->msg, now_ms);
        op->mention_count = 1;
        wk_fill_mentions(w, op);
        break;
    case LG_SET: {
        /* a manual "mark unread" somewhere in the last minute */
        uint64_t back = lg_rng_below(&w->rng, 60000);
        uint64_t ms = now_ms > back ? now_ms - back : now_ms;
        lg_snowflake tmp = {0, w->msg.worker};
        op->message_id = lg_snowflake_next(&tmp, ms);
        op->mention_count = (uint32_t)lg_rng_below(&w->rng, 4);
        break;
    }
    default: break;
    }
}

bool lg_work_fill_next(lg_work *w, uint64_t users, uint32_t channels, uint64_t now_ms,
                       lg_op *op)
{
    if (w->fill_rank > users || channels == 0)
        return false;
    op->method = LG_BULK_ACK;
    op->user_id = lg_user_id(w->fill_rank);
    op->channel_id = 0;
    op->message_id = 0;
    op->mention_count = 0;
    op->n = 0;
    while (op->n < LG_LIST_MAX && w->fill_chan < channels) {
        op->list[op->n] = lg_channel_id(w->fill_rank, w->fill_chan);
        op->list_msg[op->n] = lg_snowflake_next(&w->msg, now_ms);
        op->n++;
        w->fill_chan++;
    }
    if (w->fill_chan >= channels) {
        w->fill_chan = 0;
        w->fill_rank++;
    }
    return true;
}
