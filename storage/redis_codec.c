/*
 * redis_codec.c: loads and merges in Redis's dialect (redis_codec.h).
 */
#include "redis_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"
#include "stored_value.h"

#define STORE_ARG_MAX 72 /* one key, decimal field or value, with room to spare */

/* The load: HGETALL, unless the hash has more fields than a user may have
 * (ARGV[1] = max_states + 2, for _v and _o): then only its field count, so
 * an oversized hash never crosses the wire nor gets parsed on the loop. A
 * wrong-type key answers its error. In a fleet, ARGV[2] is the ring
 * generation the loading node owns the user under: the load claims the
 * user (raises _o to it, creating the hash if need be) unless _o is already
 * higher, in which case a newer owner has it and the load answers
 * "FENCED <_o>" (a _o that is not canonical is left to the strict parser,
 * which refuses the user). One round trip, as a plain HGETALL was; Redis
 * keeps the compiled script (by its SHA1) after the first EVAL. */
static const char load_lua_script[] =
    "local n = redis.pcall('HLEN', KEYS[1])\n"
    "if type(n) ~= 'number' then return n end\n"
    "if n > tonumber(ARGV[1]) then return n end\n"
    "local g = ARGV[2]\n"
    "if g then\n"
    "  local o = redis.pcall('HGET', KEYS[1], '_o')\n"
    "  local canon = o and string.find(o, '^[1-9]%d*$') and #o <= 20\n"
    "  if canon and (#o > #g or (#o == #g and o > g)) then\n"
    "    return redis.error_reply('FENCED ' .. o)\n"
    "  end\n"
    "  if not o or (canon and o ~= g) then redis.pcall('HSET', KEYS[1], '_o', g) end\n"
    "end\n"
    "return redis.pcall('HGETALL', KEYS[1])\n";

/* Refuse a load: the hash failed the check (what: why, in s->what). */
static void load_refused(redis_codec *s, rs_store_loaded *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void load_refused(redis_codec *s, rs_store_loaded *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->what, sizeof(s->what), fmt, ap);
    va_end(ap);
    out->result = RS_STORE_INVALID;
    out->what = s->what;
}

/* No usable reply: an error (the caller retries). Not said while closing:
 * every request then completes without a reply. */
static void load_failed(redis_codec *s, uint64_t user_id, const char *reason, const char *error,
                        bool quiet, rs_store_loaded *out)
{
    out->result = RS_STORE_ERROR;
    if (quiet)
        return;
    RS_LOG(s->log, RS_LOG_WARN, "redis_load_failed", "user_id=%llu reason=%s error=\"%s\"",
           (unsigned long long)user_id, reason, error);
}

/* Decode the load's reply. Every field goes through the strict parser
 * (stored_value.h); the first one that fails refuses the whole user, so
 * nothing of an invalid hash is served nor written over. */
void redis_codec_load_decode(redis_codec *s, uint64_t user_id, const redisReply *r, bool quiet,
                             rs_store_loaded *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t limit = s->max_states;
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        load_refused(s, out, "the key is not a hash (WRONGTYPE)");
        return;
    }
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        load_refused(s, out,
                     "it has %lld fields, more than --max-states-per-user (%u) "
                     "channels, _v and _o",
                     r->integer, limit);
        return;
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "FENCED ", 7) == 0) {
        /* A newer owner claimed the user: this node's ring is stale. */
        snprintf(s->what, sizeof(s->what), "owned under ring generation %s", r->str + 7);
        out->result = RS_STORE_FENCED;
        out->what = s->what;
        return;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        load_failed(s, user_id, r == NULL ? "no_reply" : "bad_reply",
                    r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : "", quiet, out);
        return;
    }
    size_t need = r->elements / 2;
    if (need > (size_t)limit + 2) { /* grew between HLEN and HGETALL: cannot, but checked */
        load_refused(s, out,
                     "it has %zu fields, more than --max-states-per-user (%u) "
                     "channels, _v and _o",
                     need, limit);
        return;
    }
    if (need > s->load_cap) {
        rs_state *n = rs_xrealloc(s->load_buf, need * sizeof(*n), "redis codec");
        s->load_buf = n;
        s->load_cap = need;
    }
    size_t n = 0;
    uint64_t version = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            load_failed(s, user_id, "bad_reply", "", quiet, out);
            return;
        }
        sv_field sf;
        switch (sv_parse_field(f->str, f->len, v->str, v->len, &sf)) {
        case SV_VERSION: version = sf.version; break;
        case SV_OWNER: out->owner = sf.owner; break;
        case SV_STATE: s->load_buf[n++] = sf.state; break;
        default: {
            char qf[48], qv[96];
            load_refused(s, out, "field %s = %s: %s",
                         sv_quote(f->str, f->len, 32, qf, sizeof(qf)),
                         sv_quote(v->str, v->len, 64, qv, sizeof(qv)), sf.why);
            return;
        }
        }
    }
    out->result = RS_STORE_OK;
    out->version = version;
    out->states = s->load_buf;
    out->nstates = n;
}

/* The merge script refused the user's stored hash (or the key is not a
 * hash): what is wrong, or NULL for any other outcome. */
static const char *stored_refusal(const redisReply *r)
{
    static const char prefix[] = "STORED_INVALID ";
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return NULL;
    if (strncmp(r->str, "WRONGTYPE", 9) == 0)
        return "the key is not a hash (WRONGTYPE)";
    if (strncmp(r->str, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    const char *what = strstr(r->str, " field "); /* after the key */
    return what != NULL ? what + 1 : r->str + sizeof(prefix) - 1;
}

static void outcomes_space(redis_codec *s, size_t n)
{
    if (n <= s->outcomes_cap)
        return;
    size_t cap = RS_MAX(n, s->outcomes_cap * 2);
    rs_store_outcome *o = rs_xrealloc(s->outcomes, cap * sizeof(*o), "redis codec");
    s->outcomes = o;
    s->outcomes_cap = cap;
}

/* Decode the reply to one merge call of n users into s->outcomes: an array
 * with one entry per user, or an error (NOSCRIPT, a script error) or NULL
 * (not known to have run) that fails every user of the call. */
const rs_store_outcome *redis_codec_merge_decode(redis_codec *s, uint32_t n,
                                                 const redisReply *reply)
{
    outcomes_space(s, n);
    bool whole = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == n;
    if (reply != NULL && !whole)
        RS_LOG(s->log, RS_LOG_WARN, "redis_flush_failed", "users=%u error=\"%s\"", n,
               reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    for (uint32_t i = 0; i < n; i++) {
        const redisReply *r = whole ? reply->element[i] : NULL;
        rs_store_outcome *o = &s->outcomes[i];
        o->what = NULL;
        if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
            o->result = RS_STORE_OK;
        } else if (r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
                   strncmp(r->str, "FENCED ", 7) == 0) {
            o->result = RS_STORE_FENCED; /* a newer owner claimed the user */
            o->what = r->str;
        } else if ((o->what = stored_refusal(r)) != NULL) {
            o->result = RS_STORE_INVALID;
        } else {
            o->result = RS_STORE_ERROR;
            if (r != NULL)
                o->what = r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply";
        }
    }
    return s->outcomes;
}

/* Room for nargs arguments of at most STORE_ARG_MAX bytes each. */
static char *arg_space(redis_codec *s, size_t nargs)
{
    if (nargs > s->argcap) {
        size_t cap = RS_MAX(nargs, s->argcap * 2);
        const char **nv = rs_xrealloc(s->argv, cap * sizeof(*nv), "redis codec");
        s->argv = nv;
        size_t *nl = rs_xrealloc(s->argvlen, cap * sizeof(*nl), "redis codec");
        s->argvlen = nl;
        s->argcap = cap;
    }
    size_t bytes = nargs * STORE_ARG_MAX;
    if (bytes > s->arg_cap) {
        size_t cap = RS_MAX(bytes, s->arg_cap * 2);
        char *b = rs_xrealloc(s->arg_buf, cap, "redis codec");
        s->arg_buf = b;
        s->arg_cap = cap;
    }
    return s->arg_buf;
}

/* Write v in decimal at p; returns the end. (snprintf was a tenth of the
 * flush path's time.) */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* The stored value of a state: <version>:<last_message_id>:<mentions>:<flags>,
 * or -<version> for a delete (the merge script's tombstone). */
static char *put_value(char *p, const rs_state *st)
{
    if (!rs_state_live(st)) {
        *p++ = '-';
        return put_u64(p, st->version);
    }
    p = put_u64(p, st->version);
    *p++ = ':';
    p = put_u64(p, st->last_message_id);
    *p++ = ':';
    p = put_u64(p, st->mention_count);
    *p++ = ':';
    return put_u64(p, st->flags & RS_STATE_PROTO_FLAGS);
}

/* One EVALSHA of the merge script for users[0..n) (merge_lua.h):
 *   EVALSHA <sha> n readstates:{id}... then per user <version> <count>
 *   and <channel_id> <value> per state newer than its flushed_version. */
int redis_codec_merge_args(redis_codec *s, const char *sha, const rs_store_user *users,
                           uint32_t n)
{
    size_t nargs = 3;
    for (uint32_t i = 0; i < n; i++)
        nargs += store_merge_units(users[i].nstates);
    char *p = arg_space(s, nargs);
    size_t k = 0;
#define STORE_ARG(end_)                                                                        \
    do {                                                                                       \
        s->argv[k] = p;                                                                        \
        s->argvlen[k++] = (size_t)((end_)-p);                                                  \
        p = (end_);                                                                            \
    } while (0)
    s->argv[k] = "EVALSHA";
    s->argvlen[k++] = 7;
    s->argv[k] = sha;
    s->argvlen[k++] = strlen(sha);
    STORE_ARG(put_u64(p, n));
    static const char prefix[] = "readstates:{";
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, prefix, sizeof(prefix) - 1);
        char *end = put_u64(p + sizeof(prefix) - 1, users[i].user->user_id);
        *end++ = '}';
        STORE_ARG(end);
    }
    for (uint32_t i = 0; i < n; i++) {
        const rs_user *u = users[i].user;
        char *end = put_u64(p, u->version);
        if (users[i].owner_gen != 0) { /* the fleet's fence (merge_lua.h) */
            *end++ = '@';
            end = put_u64(end, users[i].owner_gen);
        }
        STORE_ARG(end);
        STORE_ARG(put_u64(p, users[i].nstates));
        for (uint32_t j = 0; j < u->nslots; j++) {
            const rs_slot *slot = cache_slot_at(u, j);
            if (!cache_slot_unflushed(u, slot))
                continue;
            rs_state st;
            cache_slot_read(u, slot, &st);
            STORE_ARG(put_u64(p, st.channel_id));
            STORE_ARG(put_value(p, &st));
        }
    }
#undef STORE_ARG
    /* Sized now, not while a reply is decoded: a call never holds more
     * users than the largest built, so s->outcomes stays put while a
     * callback reads it. */
    outcomes_space(s, n);
    return (int)k;
}

int redis_codec_key(uint64_t user_id, char *buf, size_t size)
{
    return snprintf(buf, size, "readstates:{%llu}", (unsigned long long)user_id);
}

int redis_codec_load_args(redis_codec *s, uint64_t user_id, uint64_t owner_gen)
{
    arg_space(s, 6);
    int klen = redis_codec_key(user_id, s->key, sizeof(s->key));
    s->argv[0] = "EVAL";
    s->argvlen[0] = 4;
    s->argv[1] = load_lua_script;
    s->argvlen[1] = sizeof(load_lua_script) - 1;
    s->argv[2] = "1";
    s->argvlen[2] = 1;
    s->argv[3] = s->key;
    s->argvlen[3] = (size_t)klen;
    s->argv[4] = s->load_max;
    s->argvlen[4] = strlen(s->load_max);
    if (owner_gen == 0)
        return 5;
    char *end = put_u64(s->gen, owner_gen);
    s->argv[5] = s->gen;
    s->argvlen[5] = (size_t)(end - s->gen);
    return 6;
}

void redis_codec_init(redis_codec *s, uint32_t max_states, const rs_log *log)
{
    memset(s, 0, sizeof(*s));
    s->max_states = max_states;
    s->log = log;
    snprintf(s->load_max, sizeof(s->load_max), "%llu", (unsigned long long)max_states + 2);
}

void redis_codec_fini(redis_codec *s)
{
    free(s->argv);
    free(s->argvlen);
    free(s->arg_buf);
    free(s->load_buf);
    free(s->outcomes);
    memset(s, 0, sizeof(*s));
}

const char *const redis_codec_ring_argv[5] = {"HMGET", "readstates:ring", "generation", "nodes",
                                              "ranges"};
const size_t redis_codec_ring_argvlen[5] = {5, 15, 10, 5, 6};

bool redis_codec_ring_decode(const redisReply *r, const char **generation, const char **nodes,
                             const char **ranges)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return false;
    const char **out[3] = {generation, nodes, ranges};
    for (int i = 0; i < 3; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_NIL)
            *out[i] = NULL;
        else if (e->type == REDIS_REPLY_STRING)
            *out[i] = e->str;
        else
            return false;
    }
    return true;
}
