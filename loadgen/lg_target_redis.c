/*
 * lg_target_redis.c: the redis:// baseline, the same workload straight on
 * Redis the way a team would build it without readstated.
 *
 * Data model (the service's own format, so either side can read the
 * other's data): one hash per user, key readstates:{<user_id>}, field
 * <channel_id> = "<version>:<last_message_id>:<mention_count>:<flags>",
 * field _v = the user's version.
 *
 *   ack       EVALSHA ack   1 key  channel message mentions   (forward-only)
 *   bulk_ack  EVALSHA bulk  1 key  n ch1 msg1 ch2 msg2 ...
 *   mentions  EVALSHA ment  n key1..keyn  channel message count
 *   set       EVALSHA set   1 key  channel message mentions   (MANUAL flag)
 *   get_one   HGET key channel
 *   get_all   HGETALL key
 *
 * Scripts compare message ids as decimal strings (length, then bytes): Lua
 * numbers are doubles and would round 64-bit snowflakes. They are loaded
 * once with SCRIPT LOAD over a short blocking connection before the run.
 * hiredis async (libevent adapter) carries the load; privdata is the slot
 * index, the connection is the context's data (NULL once we close it, so
 * the callbacks hiredis runs while freeing are ignored).
 */
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_engine.h"

enum { SCRIPT_ACK, SCRIPT_BULK, SCRIPT_MENTIONS, SCRIPT_SET, SCRIPT_MAX };

/* newer(a, b): is decimal string a greater than decimal string b */
#define LUA_NEWER                                                                              \
    "local function newer(a, b) if #a ~= #b then return #a > #b end return a > b end\n"
#define LUA_PARSE                                                                              \
    "local function parse(f) if not f then return '0', '0', 0, 0 end\n"                        \
    "  local v, m, c, fl = string.match(f, '^(%d+):(%d+):(%d+):(%d+)$')\n"                     \
    "  if not v then return '0', '0', 0, 0 end\n"                                              \
    "  return v, m, tonumber(c), tonumber(fl) end\n"

static const char *const scripts_[SCRIPT_MAX] = {
    /* ack: KEYS[1] user; ARGV channel, message, mentions */
    LUA_NEWER LUA_PARSE
    "local _, last = parse(redis.call('HGET', KEYS[1], ARGV[1]))\n"
    "if not newer(ARGV[2], last) then return 0 end\n"
    "local v = redis.call('HINCRBY', KEYS[1], '_v', 1)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], v .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':0')\n"
    "return 1\n",
    /* bulk ack: KEYS[1] user; ARGV n, then channel/message pairs */
    LUA_NEWER LUA_PARSE "local applied = 0\n"
                        "for i = 1, tonumber(ARGV[1]) do\n"
                        "  local ch, msg = ARGV[2 * i], ARGV[2 * i + 1]\n"
                        "  local _, last = parse(redis.call('HGET', KEYS[1], ch))\n"
                        "  if newer(msg, last) then\n"
                        "    local v = redis.call('HINCRBY', KEYS[1], '_v', 1)\n"
                        "    redis.call('HSET', KEYS[1], ch, v .. ':' .. msg .. ':0:0')\n"
                        "    applied = applied + 1\n"
                        "  end\n"
                        "end\n"
                        "return applied\n",
    /* mentions: KEYS users; ARGV channel, message, count */
    LUA_NEWER LUA_PARSE
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local _, last, cnt, fl = parse(redis.call('HGET', k, ARGV[1]))\n"
    "  if newer(ARGV[2], last) then\n"
    "    cnt = math.min(cnt + tonumber(ARGV[3]), 4294967295)\n"
    "    local v = redis.call('HINCRBY', k, '_v', 1)\n"
    "    redis.call('HSET', k, ARGV[1], v .. ':' .. last .. ':' .. cnt .. ':' .. fl)\n"
    "  end\n"
    "  out[i] = cnt\n"
    "end\n"
    "return out\n",
    /* set (manual mark unread): KEYS[1] user; ARGV channel, message, mentions */
    LUA_PARSE
    "local _, last, cnt, fl = parse(redis.call('HGET', KEYS[1], ARGV[1]))\n"
    "if last == ARGV[2] and cnt == tonumber(ARGV[3]) and fl % 2 == 1 then return 0 end\n"
    "local v = redis.call('HINCRBY', KEYS[1], '_v', 1)\n"
    "redis.call('HSET', KEYS[1], ARGV[1], v .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':1')\n"
    "return 1\n",
};

typedef struct redis_target {
    char sha[SCRIPT_MAX][41];
} redis_target;

static int rd_redis_prepare(lg_engine *e, char *err, size_t errlen)
{
    redis_target *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->target_data = t;
    struct timeval tv = {(time_t)e->cfg.connect_s, 0};
    if (tv.tv_sec < 1)
        tv.tv_sec = 1;
    redisContext *rc = redisConnectWithTimeout(e->cfg.host, e->cfg.port, tv);
    if (rc == NULL || rc->err) {
        snprintf(err, errlen, "redis %s:%d: %s", e->cfg.host, e->cfg.port,
                 rc ? rc->errstr : "out of memory");
        if (rc)
            redisFree(rc);
        return -1;
    }
    int rcode = 0;
    for (int i = 0; i < SCRIPT_MAX && rcode == 0; i++) {
        redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", scripts_[i]);
        if (r == NULL || r->type != REDIS_REPLY_STRING || r->len != 40) {
            snprintf(err, errlen, "redis SCRIPT LOAD failed: %s",
                     r == NULL ? rc->errstr : (r->type == REDIS_REPLY_ERROR ? r->str : "?"));
            rcode = -1;
        } else {
            memcpy(t->sha[i], r->str, 40);
            t->sha[i][40] = '\0';
        }
        if (r)
            freeReplyObject(r);
    }
    redisFree(rc);
    return rcode;
}

static void rd_redis_connect_cb(const redisAsyncContext *ac, int status)
{
    lg_conn *c = ac->data;
    if (c == NULL)
        return;
    if (status != REDIS_OK) {
        c->rac = NULL; /* hiredis frees the context after this callback */
        lg_engine_on_conn_error(c, ac->errstr);
        return;
    }
    lg_engine_on_ready(c);
}

static void rd_redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    lg_conn *c = ac->data;
    if (c == NULL)
        return;
    c->rac = NULL;
    lg_engine_on_conn_error(c, ac->err ? ac->errstr : "closed by peer");
}

static int rd_redis_connect(lg_conn *c)
{
    redisAsyncContext *ac = redisAsyncConnect(c->eng->cfg.host, c->eng->cfg.port);
    if (ac == NULL)
        return -1;
    if (ac->err) {
        redisAsyncFree(ac);
        return -1;
    }
    ac->data = c;
    c->rac = ac;
    if (redisLibeventAttach(ac, c->eng->base) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        c->rac = NULL;
        return -1;
    }
    redisAsyncSetConnectCallback(ac, rd_redis_connect_cb);
    redisAsyncSetDisconnectCallback(ac, rd_redis_disconnect_cb);
    return 0;
}

static void rd_redis_close(lg_conn *c)
{
    redisAsyncContext *ac = c->rac;
    if (ac == NULL)
        return;
    c->rac = NULL;
    ac->data = NULL; /* the callbacks hiredis runs while freeing are ignored */
    redisAsyncFree(ac);
}

static void rd_redis_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    lg_conn *c = ac->data;
    if (c == NULL)
        return;
    uint32_t slot = (uint32_t)(uintptr_t)privdata;
    redisReply *reply = r;
    int st = LG_ST_OK;
    if (reply == NULL)
        st = LG_ST_CONN;
    else if (reply->type == REDIS_REPLY_ERROR)
        st = LG_ST_REDIS_ERR;
    lg_engine_on_answer(c, slot, st);
}

/* Argument vectors live on the stack; numbers are printed into one buffer. */
#define ARGS_MAX (8 + 2 * LG_LIST_MAX)

typedef struct argv_buf {
    const char *argv[ARGS_MAX];
    size_t len[ARGS_MAX];
    int argc;
    char nums[ARGS_MAX * 24];
    size_t used;
} argv_buf;

static void rd_arg_str(argv_buf *a, const char *s, size_t n)
{
    a->argv[a->argc] = s;
    a->len[a->argc] = n;
    a->argc++;
}

static void rd_arg_u64(argv_buf *a, uint64_t v)
{
    char *p = a->nums + a->used;
    int n = snprintf(p, 24, "%llu", (unsigned long long)v);
    a->used += (size_t)n + 1;
    rd_arg_str(a, p, (size_t)n);
}

static void rd_arg_key(argv_buf *a, uint64_t user)
{
    char *p = a->nums + a->used;
    int n = snprintf(p, 40, "readstates:{%llu}", (unsigned long long)user);
    a->used += (size_t)n + 1;
    rd_arg_str(a, p, (size_t)n);
}

static void rd_build_argv(const redis_target *t, const lg_op *op, argv_buf *a)
{
    a->argc = 0;
    a->used = 0;
    switch (op->method) {
    case LG_GET_ONE:
        rd_arg_str(a, "HGET", 4);
        rd_arg_key(a, op->user_id);
        rd_arg_u64(a, op->channel_id);
        break;
    case LG_GET_ALL:
        rd_arg_str(a, "HGETALL", 7);
        rd_arg_key(a, op->user_id);
        break;
    case LG_PING: rd_arg_str(a, "PING", 4); break;
    case LG_BULK_ACK:
        rd_arg_str(a, "EVALSHA", 7);
        rd_arg_str(a, t->sha[SCRIPT_BULK], 40);
        rd_arg_str(a, "1", 1);
        rd_arg_key(a, op->user_id);
        rd_arg_u64(a, op->n);
        for (uint32_t i = 0; i < op->n; i++) {
            rd_arg_u64(a, op->list[i]);
            rd_arg_u64(a, op->list_msg[i]);
        }
        break;
    case LG_MENTIONS:
        rd_arg_str(a, "EVALSHA", 7);
        rd_arg_str(a, t->sha[SCRIPT_MENTIONS], 40);
        rd_arg_u64(a, op->n);
        for (uint32_t i = 0; i < op->n; i++)
            rd_arg_key(a, op->list[i]);
        rd_arg_u64(a, op->channel_id);
        rd_arg_u64(a, op->message_id);
        rd_arg_u64(a, op->mention_count ? op->mention_count : 1);
        break;
    case LG_ACK:
    case LG_SET:
    default:
        rd_arg_str(a, "EVALSHA", 7);
        rd_arg_str(a, t->sha[op->method == LG_SET ? SCRIPT_SET : SCRIPT_ACK], 40);
        rd_arg_str(a, "1", 1);
        rd_arg_key(a, op->user_id);
        rd_arg_u64(a, op->channel_id);
        rd_arg_u64(a, op->message_id);
        rd_arg_u64(a, op->mention_count);
        break;
    }
}

static void rd_redis_send(lg_conn *c, const lg_op *op, uint32_t slot)
{
    const redis_target *t = c->eng->target_data;
    argv_buf a;
    rd_build_argv(t, op, &a);
    if (c->rac == NULL ||
        redisAsyncCommandArgv(c->rac, rd_redis_reply_cb, (void *)(uintptr_t)slot, a.argc,
                              a.argv, a.len) != REDIS_OK) {
        /* the context is going away: fail the connection (and this slot) */
        lg_engine_on_conn_error(c, "redis command refused");
    }
}

const lg_target_ops lg_target_redis_ops = {
    .scheme = "redis",
    .prepare = rd_redis_prepare,
    .release = NULL,
    .connect = rd_redis_connect,
    .send = rd_redis_send,
    .flush = NULL,
    .close = rd_redis_close,
};
