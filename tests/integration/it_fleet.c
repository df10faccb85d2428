/*
 * it_fleet.c: readstated nodes in a fleet (--node-id) on one real
 * redis-server, the ring written into Redis with its compare-and-set script
 * (rs_ring.h), every call made through the real client library.
 *
 *   test_same_answers_through_any_node
 *       one sequence of calls covering every rule of the contract (Ack
 *       forward-only, SetReadState and MANUAL, BulkAck, AddMentions over
 *       users of several owners in request order, GetReadStates, Delete,
 *       versions, bad arguments) answered by a lone readstated, by a fleet
 *       node that owns none of the users, and by one that owns some: the
 *       three transcripts are the expected one, line for line; Redis then
 *       holds the same hashes for both (plus the owner's claim _o in the
 *       fleet); GetRing through every node; every node stops cleanly.
 *   test_stale_owner_write_through / test_stale_owner_write_behind
 *       node a keeps ring generation 1 (it owns everything; it reads the
 *       ring once a minute) while b owns everything in generation 2 and
 *       claims a user a has cached: a's next write is refused in Redis.
 *       Write-through: a answers UNAVAILABLE and Redis keeps b's states.
 *       Write-behind: a acknowledged, its flush is dropped and counted
 *       (log, metrics, shutdown exit 1 with fenced_states) and Redis keeps
 *       b's states. Either way a then no longer serves the user.
 *   test_fenced_node_reads_ring_again
 *       the same in write-behind; once fenced, a knows its ring is stale
 *       (fleet.h, fleet_refresh_now) and reads it at once, so calls for the
 *       user go to b within seconds, not after a's minute.
 *   test_owner_errors_and_unreachable_owner
 *       an owner's INTERNAL for a hash that does not parse reaches the
 *       caller unchanged through any node; a stopped owner (SIGSTOP) gives
 *       UNAVAILABLE within --forward-timeout-ms and a dead one (kill -9)
 *       at once, both naming the owner's node id.
 *   test_forwarded_call_not_bounced
 *       two nodes whose rings disagree (each thinks the other owns the
 *       user): the call is forwarded once and answered UNAVAILABLE naming
 *       both nodes; the forwarding node reads the ring at once and then
 *       serves the user itself.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "persist_util.h"
#include "rs_ring.h"
#include "rs_slot.h"

#define FL_NODES      5
#define FL_TIMEOUT_MS 10000
#define FL_LINE       512
#define FL_STEPS      64

#define it_ok(c, expr)                                                                         \
    do {                                                                                       \
        rs_status it_st_ = (expr);                                                             \
        if (it_st_ != RS_OK)                                                                   \
            fail_msg("%s -> %s (%s)", #expr, rs_status_name(it_st_), rs_client_errmsg(c));     \
    } while (0)

/* ---- fixture: one Redis, up to FL_NODES readstated ------------------------------ */

typedef struct fl_ctx {
    rs_test_redis redis;
    rs_test_server node[FL_NODES];
    const char *name[FL_NODES];
    rs_ring *ring;         /* the test's ring (ring_new) */
    rs_client *clients[8]; /* the test's connections (fl_client) */
    size_t nclients;
    bool passed;
} fl_ctx;

static void fl_close_clients(fl_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nclients; i++)
        rs_client_close(ctx->clients[i]);
    ctx->nclients = 0;
}

static int fl_setup(void **state)
{
    fl_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL || rs_test_redis_start(&ctx->redis) != 0) {
        free(ctx);
        return -1;
    }
    *state = ctx;
    return 0;
}

/* Whatever a test left running goes down here; a failed test's node logs
 * are printed. */
static int fl_teardown(void **state)
{
    fl_ctx *ctx = *state;
    fl_close_clients(ctx);
    free(ctx->ring);
    for (int i = 0; i < FL_NODES; i++) {
        if (ctx->node[i].proc.pid == 0)
            continue;
        if (!ctx->passed)
            rs_proc_dump_log(&ctx->node[i].proc, ctx->name[i], stderr, 6000);
        rs_test_server_cleanup(&ctx->node[i]);
    }
    rs_test_redis_cleanup(&ctx->redis);
    free(ctx);
    return 0;
}

/* Start node i as fleet node `id` (NULL: a lone readstated, no --node-id) on
 * the fixture's Redis: HTTP on, flushes every 100 ms, the ring read every
 * 100 ms, then `extra` (later flags win). */
static void fl_start(fl_ctx *ctx, int i, const char *id, const char *const *extra)
{
    const char *args[RS_TEST_SERVER_MAX_ARGS];
    size_t n = 0;
    args[n++] = "--flush-interval-ms";
    args[n++] = "100";
    if (id != NULL) {
        args[n++] = "--node-id";
        args[n++] = id;
        args[n++] = "--ring-refresh-ms";
        args[n++] = "100";
    }
    for (size_t k = 0; extra != NULL && extra[k] != NULL && n + 1 < RS_ARRAY_LEN(args); k++)
        args[n++] = extra[k];
    args[n] = NULL;
    ctx->name[i] = id != NULL ? id : "single";
    if (pu_server_start(&ctx->node[i], &ctx->redis, args) != 0)
        fail_msg("could not start readstated %s", ctx->name[i]);
}

static rs_client *fl_connect(const rs_test_server *srv)
{
    rs_client *c = pu_connect(srv);
    if (c == NULL)
        fail_msg("could not connect to port %d", srv->port);
    rs_client_set_timeout(c, FL_TIMEOUT_MS);
    return c;
}

/* A connection the fixture closes (fl_close_clients, or the teardown). */
static rs_client *fl_client(fl_ctx *ctx, const rs_test_server *srv)
{
    assert_true(ctx->nclients < RS_ARRAY_LEN(ctx->clients));
    rs_client *c = fl_connect(srv);
    ctx->clients[ctx->nclients++] = c;
    return c;
}

#define FWD_OUT "readstates_fleet_forwarded_total{direction=\"out\"}"
#define FWD_IN  "readstates_fleet_forwarded_total{direction=\"in\"}"

/* A metric of srv (a name with its labels), or fail. */
static long long metric(const rs_test_server *srv, const char *name)
{
    double v = pu_metric(srv, name);
    if (v < 0)
        fail_msg("no metric %s on port %d", name, srv->http_port);
    return (long long)v;
}

/* ---- the ring ------------------------------------------------------------------- */

/* The test's ring (freed by the teardown). */
static rs_ring *ring_new(fl_ctx *ctx)
{
    assert_null(ctx->ring);
    ctx->ring = calloc(1, sizeof(*ctx->ring));
    assert_non_null(ctx->ring);
    return ctx->ring;
}

static void ring_add(rs_ring *r, const char *id, int port)
{
    char entry[128], err[200];
    snprintf(entry, sizeof(entry), "%s=127.0.0.1:%d", id, port);
    if (rs_ring_add_node(r, entry, err, sizeof(err)) < 0)
        fail_msg("ring node %s: %s", entry, err);
}

/* Every slot to node `owner`. */
static void ring_all_to(rs_ring *r, uint16_t owner)
{
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        r->owner[sl] = owner;
}

/* Write r through the compare-and-set script, expecting generation
 * `expected` in Redis; returns the new generation. */
static uint64_t ring_write(const rs_test_redis *redis, uint64_t expected, const rs_ring *r)
{
    static char nodes[16384], ranges[16384];
    assert_true(rs_ring_format_nodes(r, nodes, sizeof(nodes)) > 0);
    assert_true(rs_ring_format_ranges(r, ranges, sizeof(ranges)) > 0);
    redisReply *rep =
        rs_test_redis_command(redis, "EVAL %s 1 %s %llu %s %s", rs_ring_cas_script, RS_RING_KEY,
                              (unsigned long long)expected, nodes, ranges);
    assert_non_null(rep);
    /* The new generation, as a string (the script returns tostring). */
    if (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_INTEGER)
        fail_msg("ring write: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "no generation");
    uint64_t gen = rep->type == REDIS_REPLY_INTEGER ? (uint64_t)rep->integer
                                                    : strtoull(rep->str, NULL, 10);
    freeReplyObject(rep);
    assert_int_equal(gen, expected + 1);
    return gen;
}

/* GetRing through srv: the response (free it), or NULL on a transport
 * error. */
static Readstates__V1__Response *get_ring(const rs_test_server *srv)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", srv->port, 3000, err, sizeof(err));
    if (c == NULL)
        return NULL;
    Readstates__V1__GetRingRequest gr = READSTATES__V1__GET_RING_REQUEST__INIT;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_GET_RING;
    req.get_ring = &gr;
    Readstates__V1__Response *resp = NULL;
    if (rs_client_call(c, &req, &resp) != RS_OK)
        resp = NULL;
    rs_client_close(c);
    return resp;
}

typedef struct gen_wait {
    const rs_test_server *srv;
    uint64_t gen;
} gen_wait;

static bool node_at_gen(void *arg)
{
    gen_wait *w = arg;
    Readstates__V1__Response *resp = get_ring(w->srv);
    bool ok = resp != NULL && rs_client_response_status(resp) == RS_OK &&
              resp->result_case == READSTATES__V1__RESPONSE__RESULT_GET_RING &&
              resp->get_ring->generation == w->gen;
    rs_client_response_free(resp);
    return ok;
}

static void wait_gen(const rs_test_server *srv, uint64_t gen)
{
    gen_wait w = {srv, gen};
    if (!rs_poll_until(node_at_gen, &w, FL_TIMEOUT_MS))
        fail_msg("node on port %d did not take ring generation %llu", srv->port,
                 (unsigned long long)gen);
}

/* The generation srv answers in GetRing (0: none yet). */
static uint64_t node_gen(const rs_test_server *srv)
{
    Readstates__V1__Response *resp = get_ring(srv);
    assert_non_null(resp);
    uint64_t gen = rs_client_response_status(resp) == RS_OK &&
                           resp->result_case == READSTATES__V1__RESPONSE__RESULT_GET_RING
                       ? resp->get_ring->generation
                       : 0;
    rs_client_response_free(resp);
    return gen;
}

/* The first user id >= from whose slot node `owner` owns in r. */
static uint64_t user_of(const rs_ring *r, uint16_t owner, uint64_t from)
{
    for (uint64_t u = from; u < from + 1000000; u++)
        if (r->owner[rs_user_slot(u)] == owner)
            return u;
    fail_msg("no user for node %u", owner);
    return 0;
}

/* ---- logs and Redis ------------------------------------------------------------- */

/* The value of key=<value> on the last log line of srv with event=<event>,
 * or -1 when there is none. */
static long long log_field(const rs_test_server *srv, const char *event, const char *key)
{
    char *log = rs_read_file(srv->proc.stderr_path, NULL);
    if (log == NULL)
        return -1;
    char ev[128], k[128];
    snprintf(ev, sizeof(ev), " event=%s ", event);
    snprintf(k, sizeof(k), " %s=", key);
    long long v = -1;
    for (char *line = log; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        if (strstr(line, ev) != NULL) {
            const char *f = strstr(line, k);
            if (f != NULL)
                v = strtoll(f + strlen(k), NULL, 10);
        }
        line = end != NULL ? end + 1 : NULL;
    }
    free(log);
    return v;
}

/* How many log lines of srv hold both needles. */
static int log_lines(const rs_test_server *srv, const char *a, const char *b)
{
    char *log = rs_read_file(srv->proc.stderr_path, NULL);
    if (log == NULL)
        return 0;
    int count = 0;
    for (char *line = log; line != NULL && *line != '\0';) {
        char *end = strchr(line, '\n');
        if (end != NULL)
            *end = '\0';
        count += strstr(line, a) != NULL && strstr(line, b) != NULL;
        line = end != NULL ? end + 1 : NULL;
    }
    free(log);
    return count;
}

typedef struct log_wait {
    const rs_test_server *srv;
    const char *a, *b;
} log_wait;

static bool log_has(void *arg)
{
    log_wait *w = arg;
    return log_lines(w->srv, w->a, w->b) > 0;
}

/* HGET readstates:{u} field into out ("" when missing). */
static void redis_field(const rs_test_redis *redis, uint64_t u, const char *field, char *out,
                        size_t len)
{
    redisReply *r =
        rs_test_redis_command(redis, "HGET readstates:{%llu} %s", (unsigned long long)u, field);
    assert_non_null(r);
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING)
        snprintf(out, len, "%s", r->str);
    else if (r->type != REDIS_REPLY_NIL)
        fail_msg("HGET readstates:{%llu} %s: %s", (unsigned long long)u, field,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A user's whole hash as sorted "field=value" lines, without _o. */
static char *redis_hash_text(const rs_test_redis *redis, uint64_t u)
{
    redisReply *r =
        rs_test_redis_command(redis, "HGETALL readstates:{%llu}", (unsigned long long)u);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    size_t n = r->elements / 2;
    char **pairs = calloc(n + 1, sizeof(*pairs));
    assert_non_null(pairs);
    size_t k = 0, total = 1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "_o") == 0)
            continue;
        size_t len = strlen(r->element[i]->str) + strlen(r->element[i + 1]->str) + 3;
        pairs[k] = malloc(len);
        assert_non_null(pairs[k]);
        snprintf(pairs[k], len, "%s=%s\n", r->element[i]->str, r->element[i + 1]->str);
        total += len;
        k++;
    }
    freeReplyObject(r);
    qsort(pairs, k, sizeof(*pairs), cmp_str);
    char *text = calloc(1, total);
    assert_non_null(text);
    for (size_t i = 0; i < k; i++) {
        strcat(text, pairs[i]);
        free(pairs[i]);
    }
    free(pairs);
    return text;
}

typedef struct field_wait {
    const rs_test_redis *redis;
    uint64_t user;
    const char *field;
    const char *want;
} field_wait;

static bool field_is(void *arg)
{
    field_wait *w = arg;
    char got[256];
    redis_field(w->redis, w->user, w->field, got, sizeof(got));
    return strcmp(got, w->want) == 0;
}

static void wait_field(const rs_test_redis *redis, uint64_t u, const char *field,
                       const char *want)
{
    field_wait w = {redis, u, field, want};
    if (!rs_poll_until(field_is, &w, FL_TIMEOUT_MS)) {
        char got[256];
        redis_field(redis, u, field, got, sizeof(got));
        fail_msg("readstates:{%llu} %s is '%s', want '%s'", (unsigned long long)u, field, got,
                 want);
    }
}

/* SIGTERM; the node must exit with `code` and say unflushed_states=0 and
 * fenced_states=<fenced> in its event=engine_shutdown line. */
static void stop_node(fl_ctx *ctx, int i, int code, long long fenced)
{
    int ws = 0;
    assert_int_equal(rs_test_server_stop(&ctx->node[i], 30000, &ws), 0);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != code)
        fail_msg("%s: exit status %d, want exit code %d", ctx->name[i], ws, code);
    assert_int_equal(log_field(&ctx->node[i], "engine_shutdown", "unflushed_states"), 0);
    assert_int_equal(log_field(&ctx->node[i], "engine_shutdown", "fenced_states"), fenced);
}

/* ---- one call, answered as a line of text --------------------------------------- */

typedef struct fl_buf {
    char s[FL_LINE];
    size_t n;
} fl_buf;

static void bprintf(fl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void bprintf(fl_buf *b, const char *fmt, ...)
{
    if (b->n + 1 >= sizeof(b->s))
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
    va_end(ap);
    if (w > 0)
        b->n = RS_MIN(b->n + (size_t)w, sizeof(b->s) - 1);
}

static void bstate(fl_buf *b, const Readstates__V1__ReadState *s)
{
    if (s == NULL) {
        bprintf(b, "-");
        return;
    }
    bprintf(b, "%llu:%llu:%u:%u@%llu", (unsigned long long)s->channel_id,
            (unsigned long long)s->last_message_id, s->mention_count, s->flags,
            (unsigned long long)s->version);
}

static void bstates(fl_buf *b, Readstates__V1__ReadState *const *s, size_t n)
{
    bprintf(b, "[");
    for (size_t i = 0; i < n; i++) {
        bprintf(b, "%s", i ? " " : "");
        bstate(b, s[i]);
    }
    bprintf(b, "]");
}

/* "<CODE> <message>" for a refusal, else "OK <result>". */
static void render(fl_buf *b, const Readstates__V1__Response *r)
{
    rs_status st = rs_client_response_status(r);
    if (st != RS_OK) {
        bprintf(b, "%s %s", rs_status_name(st),
                r->status != NULL && r->status->message != NULL ? r->status->message : "");
        return;
    }
    bprintf(b, "OK ");
    switch (r->result_case) {
    case READSTATES__V1__RESPONSE__RESULT_ACK:
    case READSTATES__V1__RESPONSE__RESULT_SET: {
        const Readstates__V1__AckResponse *a =
            r->result_case == READSTATES__V1__RESPONSE__RESULT_ACK ? r->ack : r->set;
        bstate(b, a->state);
        bprintf(b, " applied=%d uv=%llu", a->applied ? 1 : 0,
                (unsigned long long)a->user_version);
        break;
    }
    case READSTATES__V1__RESPONSE__RESULT_BULK_ACK:
        bstates(b, r->bulk_ack->states, r->bulk_ack->n_states);
        bprintf(b, " applied=%u uv=%llu", r->bulk_ack->applied,
                (unsigned long long)r->bulk_ack->user_version);
        break;
    case READSTATES__V1__RESPONSE__RESULT_ADD_MENTIONS:
        bprintf(b, "[");
        for (size_t i = 0; i < r->add_mentions->n_mention_counts; i++)
            bprintf(b, "%s%u", i ? " " : "", r->add_mentions->mention_counts[i]);
        bprintf(b, "]");
        break;
    case READSTATES__V1__RESPONSE__RESULT_GET:
        bstates(b, r->get->states, r->get->n_states);
        bprintf(b, " uv=%llu", (unsigned long long)r->get->user_version);
        break;
    case READSTATES__V1__RESPONSE__RESULT_DELETE:
        bprintf(b, "deleted=%u uv=%llu", r->delete_->deleted,
                (unsigned long long)r->delete_->user_version);
        break;
    default: bprintf(b, "result %d", (int)r->result_case); break;
    }
}

/* Send req and render the response (or the transport error). */
static void call_line(rs_client *c, Readstates__V1__Request *req, fl_buf *b)
{
    Readstates__V1__Response *resp = NULL;
    req->id = 0;
    rs_status st = rs_client_call(c, req, &resp);
    if (st != RS_OK) {
        bprintf(b, "TRANSPORT %s %s", rs_status_name(st), rs_client_errmsg(c));
        return;
    }
    render(b, resp);
    rs_client_response_free(resp);
}

static void req_ack(Readstates__V1__Request *req, Readstates__V1__AckRequest *a, uint64_t u,
                    uint64_t ch, uint64_t msg, uint32_t mc)
{
    readstates__v1__request__init(req);
    readstates__v1__ack_request__init(a);
    a->user_id = u;
    a->channel_id = ch;
    a->message_id = msg;
    a->mention_count = mc;
    req->call_case = READSTATES__V1__REQUEST__CALL_ACK;
    req->ack = a;
}

/* ---- the same answers through any node ------------------------------------------ */

/* Logical users: A B C D E (E is never written). */
enum { UA, UB, UC, UD, UE, NUSERS };
static const char user_names[NUSERS] = {'A', 'B', 'C', 'D', 'E'};

typedef struct transcript {
    char line[FL_STEPS][FL_LINE + 80];
    size_t n;
} transcript;

typedef struct seq {
    rs_client *c;
    const uint64_t *u; /* real ids of A..E */
    transcript *t;
} seq;

static void record(seq *q, const char *label, const fl_buf *b)
{
    assert_true(q->t->n < FL_STEPS);
    snprintf(q->t->line[q->t->n++], sizeof(q->t->line[0]), "%s -> %s", label, b->s);
}

static void s_ack(seq *q, bool set, int user, uint64_t ch, uint64_t msg, uint32_t mc)
{
    Readstates__V1__Request req;
    Readstates__V1__AckRequest a;
    Readstates__V1__SetReadStateRequest s;
    if (set) {
        readstates__v1__request__init(&req);
        readstates__v1__set_read_state_request__init(&s);
        s.user_id = q->u[user];
        s.channel_id = ch;
        s.message_id = msg;
        s.mention_count = mc;
        req.call_case = READSTATES__V1__REQUEST__CALL_SET;
        req.set = &s;
    } else {
        req_ack(&req, &a, q->u[user], ch, msg, mc);
    }
    fl_buf b = {.n = 0};
    call_line(q->c, &req, &b);
    char label[64];
    snprintf(label, sizeof(label), "%s %c %llu %llu %u", set ? "set" : "ack", user_names[user],
             (unsigned long long)ch, (unsigned long long)msg, mc);
    record(q, label, &b);
}

/* pairs: channel, message, ... */
static void s_bulk(seq *q, int user, const uint64_t *pairs, size_t n)
{
    Readstates__V1__AckEntry e[8], *pe[8];
    assert_true(n <= 8);
    char label[64] = "";
    int at = snprintf(label, sizeof(label), "bulk %c", user_names[user]);
    for (size_t i = 0; i < n; i++) {
        readstates__v1__ack_entry__init(&e[i]);
        e[i].channel_id = pairs[2 * i];
        e[i].message_id = pairs[2 * i + 1];
        pe[i] = &e[i];
        at += snprintf(label + at, sizeof(label) - (size_t)at, " %llu:%llu",
                       (unsigned long long)pairs[2 * i], (unsigned long long)pairs[2 * i + 1]);
    }
    Readstates__V1__BulkAckRequest ba = READSTATES__V1__BULK_ACK_REQUEST__INIT;
    ba.user_id = q->u[user];
    ba.n_entries = n;
    ba.entries = pe;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_BULK_ACK;
    req.bulk_ack = &ba;
    fl_buf b = {.n = 0};
    call_line(q->c, &req, &b);
    record(q, label, &b);
}

/* users: logical users, or -1 for the id 0 */
static void s_mentions(seq *q, uint64_t ch, uint64_t msg, uint32_t count, const int *users,
                       size_t n)
{
    uint64_t ids[8];
    assert_true(n <= 8);
    char label[64];
    int at = snprintf(label, sizeof(label), "mentions %llu %llu x%u", (unsigned long long)ch,
                      (unsigned long long)msg, count);
    for (size_t i = 0; i < n; i++) {
        ids[i] = users[i] >= 0 ? q->u[users[i]] : 0;
        at += snprintf(label + at, sizeof(label) - (size_t)at, " %c",
                       users[i] >= 0 ? user_names[users[i]] : '0');
    }
    Readstates__V1__AddMentionsRequest am = READSTATES__V1__ADD_MENTIONS_REQUEST__INIT;
    am.channel_id = ch;
    am.message_id = msg;
    am.count = count;
    am.n_user_ids = n;
    am.user_ids = ids;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_ADD_MENTIONS;
    req.add_mentions = &am;
    fl_buf b = {.n = 0};
    call_line(q->c, &req, &b);
    record(q, label, &b);
}

static void s_get(seq *q, int user, const uint64_t *channels, size_t n)
{
    char label[64];
    int at = snprintf(label, sizeof(label), "get %c", user_names[user]);
    for (size_t i = 0; i < n; i++)
        at += snprintf(label + at, sizeof(label) - (size_t)at, " %llu",
                       (unsigned long long)channels[i]);
    Readstates__V1__GetReadStatesRequest g = READSTATES__V1__GET_READ_STATES_REQUEST__INIT;
    g.user_id = q->u[user];
    g.n_channel_ids = n;
    g.channel_ids = (uint64_t *)channels;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_GET;
    req.get = &g;
    fl_buf b = {.n = 0};
    call_line(q->c, &req, &b);
    record(q, label, &b);
}

static void s_delete(seq *q, int user, const uint64_t *channels, size_t n, bool all)
{
    char label[64];
    int at = snprintf(label, sizeof(label), "delete %c%s", user_names[user], all ? " all" : "");
    for (size_t i = 0; i < n; i++)
        at += snprintf(label + at, sizeof(label) - (size_t)at, " %llu",
                       (unsigned long long)channels[i]);
    Readstates__V1__DeleteReadStatesRequest d =
        READSTATES__V1__DELETE_READ_STATES_REQUEST__INIT;
    d.user_id = q->u[user];
    d.n_channel_ids = n;
    d.channel_ids = (uint64_t *)channels;
    d.all = all;
    Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
    req.call_case = READSTATES__V1__REQUEST__CALL_DELETE;
    req.delete_ = &d;
    fl_buf b = {.n = 0};
    call_line(q->c, &req, &b);
    record(q, label, &b);
}

/* The sequence; `expected` below is what the contract says each call
 * answers. */
static void run_sequence(seq *q)
{
    /* Ack: forward-only; older and equal change nothing; message 0 never
     * applies. */
    s_ack(q, false, UA, 7, 100, 2);
    s_ack(q, false, UA, 7, 50, 9);
    s_ack(q, false, UA, 7, 100, 9);
    s_ack(q, false, UA, 7, 101, 0);
    s_ack(q, false, UA, 8, 0, 0);
    /* SetReadState: backwards, MANUAL; identical is a no-op; an Ack clears
     * MANUAL; a set to 0 makes an unread state. */
    s_ack(q, true, UA, 7, 90, 4);
    s_ack(q, true, UA, 7, 90, 4);
    s_ack(q, false, UA, 7, 95, 0);
    s_ack(q, true, UA, 9, 0, 0);
    /* BulkAck in order. */
    const uint64_t bulk[] = {1, 10, 2, 5, 1, 8, 1, 12, 3, 0, 2, 5};
    s_bulk(q, UB, bulk, RS_ARRAY_LEN(bulk) / 2);
    /* AddMentions over users of several owners: counts in request order,
     * none for a message already read. */
    s_ack(q, false, UC, 7, 200, 0);
    const int m1[] = {UA, UB, UC, UD};
    s_mentions(q, 7, 150, 3, m1, RS_ARRAY_LEN(m1));
    const int m2[] = {UD, UC, UA};
    s_mentions(q, 7, 150, 0, m2, RS_ARRAY_LEN(m2));
    /* GetReadStates: all, some (sorted, missing left out). */
    s_get(q, UA, NULL, 0);
    const uint64_t some[] = {9, 999, 7};
    s_get(q, UA, some, RS_ARRAY_LEN(some));
    s_get(q, UB, NULL, 0);
    /* DeleteReadStates: some, nothing, all; the version bumps once. */
    const uint64_t del[] = {2, 999};
    s_delete(q, UB, del, RS_ARRAY_LEN(del), false);
    s_delete(q, UB, del, 1, false);
    s_delete(q, UB, NULL, 0, true);
    s_get(q, UB, NULL, 0);
    s_ack(q, false, UB, 2, 1, 0);
    s_get(q, UD, NULL, 0);
    s_get(q, UE, NULL, 0);
    /* A mention in message 0 counts nothing and makes no state. */
    const int m3[] = {UB, UE};
    s_mentions(q, 7, 0, 4, m3, RS_ARRAY_LEN(m3));
    s_get(q, UE, NULL, 0);
    /* Versions rise by one per applied change. */
    for (uint64_t i = 1; i <= 5; i++)
        s_ack(q, false, UC, 8, i, 0);
    s_get(q, UC, NULL, 0);
    /* Bad arguments: refused, nothing changed. */
    s_ack(q, false, UA, 0, 5, 0);
    const int m4[] = {UA, -1};
    s_mentions(q, 7, 10, 1, m4, RS_ARRAY_LEN(m4));
    const uint64_t bad_bulk[] = {4, 4, 0, 1};
    s_bulk(q, UA, bad_bulk, 2);
    s_get(q, UA, NULL, 0);
}

/* States are channel:last_message:mentions:flags@version. */
static const char *const expected[] = {
    "ack A 7 100 2 -> OK 7:100:2:0@1 applied=1 uv=1",
    "ack A 7 50 9 -> OK 7:100:2:0@1 applied=0 uv=1",
    "ack A 7 100 9 -> OK 7:100:2:0@1 applied=0 uv=1",
    "ack A 7 101 0 -> OK 7:101:0:0@2 applied=1 uv=2",
    "ack A 8 0 0 -> OK 8:0:0:0@0 applied=0 uv=2",
    "set A 7 90 4 -> OK 7:90:4:1@3 applied=1 uv=3",
    "set A 7 90 4 -> OK 7:90:4:1@3 applied=0 uv=3",
    "ack A 7 95 0 -> OK 7:95:0:0@4 applied=1 uv=4",
    "set A 9 0 0 -> OK 9:0:0:1@5 applied=1 uv=5",
    "bulk B 1:10 2:5 1:8 1:12 3:0 2:5 -> OK [1:10:0:0@1 2:5:0:0@2 1:10:0:0@1 1:12:0:0@3 "
    "3:0:0:0@0 2:5:0:0@2] applied=3 uv=3",
    "ack C 7 200 0 -> OK 7:200:0:0@1 applied=1 uv=1",
    "mentions 7 150 x3 A B C D -> OK [3 3 0 3]",
    "mentions 7 150 x0 D C A -> OK [4 0 4]",
    "get A -> OK [7:95:4:0@7 9:0:0:1@5] uv=7",
    "get A 9 999 7 -> OK [7:95:4:0@7 9:0:0:1@5] uv=7",
    "get B -> OK [1:12:0:0@3 2:5:0:0@2 7:0:3:0@4] uv=4",
    "delete B 2 999 -> OK deleted=1 uv=5",
    "delete B 2 -> OK deleted=0 uv=5",
    "delete B all -> OK deleted=2 uv=6",
    "get B -> OK [] uv=6",
    "ack B 2 1 0 -> OK 2:1:0:0@7 applied=1 uv=7",
    "get D -> OK [7:0:4:0@2] uv=2",
    "get E -> OK [] uv=0",
    "mentions 7 0 x4 B E -> OK [0 0]",
    "get E -> OK [] uv=0",
    "ack C 8 1 0 -> OK 8:1:0:0@2 applied=1 uv=2",
    "ack C 8 2 0 -> OK 8:2:0:0@3 applied=1 uv=3",
    "ack C 8 3 0 -> OK 8:3:0:0@4 applied=1 uv=4",
    "ack C 8 4 0 -> OK 8:4:0:0@5 applied=1 uv=5",
    "ack C 8 5 0 -> OK 8:5:0:0@6 applied=1 uv=6",
    "get C -> OK [7:200:0:0@1 8:5:0:0@6] uv=6",
    "ack A 0 5 0 -> INVALID_ARGUMENT ack.channel_id must be non-zero",
    "mentions 7 10 x1 A 0 -> INVALID_ARGUMENT add_mentions.user_ids[1] must be non-zero",
    "bulk A 4:4 0:1 -> INVALID_ARGUMENT bulk_ack.entries[1].channel_id must be non-zero",
    "get A -> OK [7:95:4:0@7 9:0:0:1@5] uv=7",
};

/* The user versions the sequence leaves (A..D). */
static const uint64_t final_versions[] = {7, 7, 6, 2};

static void check_transcript(const char *who, const transcript *t)
{
    size_t want = RS_ARRAY_LEN(expected);
    int bad = 0;
    for (size_t i = 0; i < t->n && i < want; i++)
        if (strcmp(t->line[i], expected[i]) != 0) {
            printf("# %s, call %zu:\n#   got  %s\n#   want %s\n", who, i + 1, t->line[i],
                   expected[i]);
            bad++;
        }
    if (t->n != want)
        fail_msg("%s: %zu answers, want %zu", who, t->n, want);
    if (bad > 0)
        fail_msg("%s: %d answers differ from the contract's", who, bad);
}

/* Two transcripts, answer by answer. */
static void check_same(const char *a_name, const transcript *a, const char *b_name,
                       const transcript *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->line[i], b->line[i]) != 0)
            fail_msg("call %zu: %s answered\n  %s\nand %s\n  %s", i + 1, a_name, a->line[i],
                     b_name, b->line[i]);
}

static void check_get_ring(const rs_test_server *srv, const char *who, uint64_t gen,
                           const rs_ring *ring)
{
    Readstates__V1__Response *resp = get_ring(srv);
    assert_non_null(resp);
    assert_int_equal(rs_client_response_status(resp), RS_OK);
    assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_GET_RING);
    const Readstates__V1__GetRingResponse *g = resp->get_ring;
    assert_int_equal(g->generation, gen);
    assert_int_equal(g->n_nodes, ring->nnodes);
    for (size_t i = 0; i < g->n_nodes; i++) {
        char addr[300];
        snprintf(addr, sizeof(addr), "%s:%d", ring->nodes[i].host, ring->nodes[i].port);
        assert_string_equal(g->nodes[i]->node_id, ring->nodes[i].id);
        assert_string_equal(g->nodes[i]->address, addr);
    }
    /* The ranges cover 0-16383 in order, without gaps or overlaps, and say
     * what the ring says. */
    uint32_t next = 0;
    for (size_t i = 0; i < g->n_ranges; i++) {
        const Readstates__V1__SlotRange *r = g->ranges[i];
        if (r->first_slot != next || r->last_slot < r->first_slot || r->node >= g->n_nodes)
            fail_msg("%s: range %zu is %u-%u=%u after slot %u", who, i, r->first_slot,
                     r->last_slot, r->node, next);
        for (uint32_t sl = r->first_slot; sl <= r->last_slot; sl++)
            assert_int_equal(ring->owner[sl], r->node);
        next = r->last_slot + 1;
    }
    assert_int_equal(next, RS_SLOTS);
    rs_client_response_free(resp);
}

/* A lone readstated, and fleet nodes n0 n1 n2 with an even
 * split; the sequence through the lone one, through n0 with users of n1 and
 * n2 only (n0 owns none of them), and through n1 with users of all three
 * (n1's own part of an AddMentions included). */
static void test_same_answers_through_any_node(void **state)
{
    fl_ctx *ctx = *state;
    long long t0 = rs_mono_ms();
    fl_start(ctx, 0, "n0", NULL);
    fl_start(ctx, 1, "n1", NULL);
    fl_start(ctx, 2, "n2", NULL);
    fl_start(ctx, 3, NULL, NULL);
    /* Until a first ring, a fleet node answers UNAVAILABLE. */
    Readstates__V1__Response *gr = get_ring(&ctx->node[0]);
    assert_non_null(gr);
    assert_int_equal(rs_client_response_status(gr), RS_ERR_UNAVAILABLE);
    rs_client_response_free(gr);
    rs_ring *ring = ring_new(ctx);
    ring_add(ring, "n0", ctx->node[0].port);
    ring_add(ring, "n1", ctx->node[1].port);
    ring_add(ring, "n2", ctx->node[2].port);
    rs_ring_split_even(ring);
    uint64_t gen = ring_write(&ctx->redis, 0, ring);
    for (int i = 0; i < 3; i++)
        wait_gen(&ctx->node[i], gen);

    /* Users: the lone node's from 1000; through n0 owners n1 n2 n1 n2 n1;
     * through n1 owners n0 n1 n2 n1 n0. */
    uint64_t lone[NUSERS], via0[NUSERS], via1[NUSERS];
    const uint16_t own0[NUSERS] = {1, 2, 1, 2, 1}, own1[NUSERS] = {0, 1, 2, 1, 0};
    uint64_t from0 = 2000, from1 = 3000;
    for (int i = 0; i < NUSERS; i++) {
        lone[i] = 1000 + (uint64_t)i;
        via0[i] = user_of(ring, own0[i], from0);
        from0 = via0[i] + 1;
        via1[i] = user_of(ring, own1[i], from1);
        from1 = via1[i] + 1;
    }

    static transcript t_lone, t_via0, t_via1;
    memset(&t_lone, 0, sizeof(t_lone));
    memset(&t_via0, 0, sizeof(t_via0));
    memset(&t_via1, 0, sizeof(t_via1));
    seq q = {fl_client(ctx, &ctx->node[3]), lone, &t_lone};
    run_sequence(&q);
    q = (seq){fl_client(ctx, &ctx->node[0]), via0, &t_via0};
    run_sequence(&q);
    q = (seq){fl_client(ctx, &ctx->node[1]), via1, &t_via1};
    run_sequence(&q);
    fl_close_clients(ctx);

    check_same("the lone node", &t_lone, "n0 (owning none of the users)", &t_via0);
    check_same("the lone node", &t_lone, "n1 (owning some of the users)", &t_via1);
    check_transcript("the lone node", &t_lone);
    /* n0 forwarded every valid call: 29 for one user, and each of the 3
     * AddMentions in 2 parts (n1's users, n2's); the 3 bad ones were refused
     * where they arrived. Every forwarded call arrived once somewhere (n1's
     * own part of its AddMentions included), none was misrouted or failed. */
    assert_int_equal(metric(&ctx->node[0], FWD_OUT), 35);
    long long out = 0, in = 0;
    for (int i = 0; i < 3; i++) {
        out += metric(&ctx->node[i], FWD_OUT);
        in += metric(&ctx->node[i], FWD_IN);
        assert_int_equal(metric(&ctx->node[i], "readstates_fleet_misrouted_total"), 0);
        assert_int_equal(metric(&ctx->node[i], "readstates_fleet_forward_failures_total"), 0);
    }
    assert_int_equal(in, out);

    /* The states went where they belong: in Redis, the fleet's hashes are the
     * lone node's, plus the owner's claim under generation 1. */
    char gen_text[32];
    snprintf(gen_text, sizeof(gen_text), "%llu", (unsigned long long)gen);
    for (int i = UA; i <= UD; i++) {
        char v[32], o[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)final_versions[i]);
        wait_field(&ctx->redis, lone[i], "_v", v);
        wait_field(&ctx->redis, via0[i], "_v", v);
        wait_field(&ctx->redis, via1[i], "_v", v);
        redis_field(&ctx->redis, lone[i], "_o", o, sizeof(o));
        assert_string_equal(o, "");
        redis_field(&ctx->redis, via0[i], "_o", o, sizeof(o));
        assert_string_equal(o, gen_text);
        redis_field(&ctx->redis, via1[i], "_o", o, sizeof(o));
        assert_string_equal(o, gen_text);
        char *want = redis_hash_text(&ctx->redis, lone[i]);
        char *got0 = redis_hash_text(&ctx->redis, via0[i]);
        char *got1 = redis_hash_text(&ctx->redis, via1[i]);
        assert_string_equal(got0, want);
        assert_string_equal(got1, want);
        free(want);
        free(got0);
        free(got1);
    }

    /* GetRing through every node: generation 1, three nodes, every slot. */
    check_get_ring(&ctx->node[0], "n0", gen, ring);
    check_get_ring(&ctx->node[1], "n1", gen, ring);
    check_get_ring(&ctx->node[2], "n2", gen, ring);
    /* Outside a fleet: a ring of the lone node alone, generation 0. */
    Readstates__V1__Response *lr = get_ring(&ctx->node[3]);
    assert_non_null(lr);
    assert_int_equal(rs_client_response_status(lr), RS_OK);
    assert_int_equal(lr->get_ring->generation, 0);
    assert_int_equal(lr->get_ring->n_nodes, 1);
    assert_int_equal(lr->get_ring->n_ranges, 1);
    assert_int_equal(lr->get_ring->ranges[0]->first_slot, 0);
    assert_int_equal(lr->get_ring->ranges[0]->last_slot, RS_SLOTS - 1);
    rs_client_response_free(lr);

    /* Every node stops cleanly, nothing left unflushed. */
    for (int i = 0; i < 4; i++)
        stop_node(ctx, i, 0, 0);
    printf("# same answers through any node: %lld ms\n", rs_mono_ms() - t0);
    ctx->passed = true;
}

/* ---- a node with a stale ring --------------------------------------------------- */

typedef struct reread_wait {
    rs_client *c;
    uint64_t user;
    uint64_t version;
} reread_wait;

/* A Get of the user through the client's node answers the owner's state. */
static bool forwarded_to_owner(void *arg)
{
    reread_wait *w = arg;
    rs_client_states got;
    if (rs_client_get(w->c, w->user, NULL, 0, &got) != RS_OK)
        return false;
    bool ok = got.user_version == w->version;
    rs_client_states_free(&got);
    return ok;
}

/* Node a (index 0) owns every slot in generation 1 and reads the ring once a
 * minute; node b (index 1) reads it every 100 ms. Generation 2 gives b
 * everything; b claims user u, which a still holds, and writes it; then a
 * writes u under generation 1, in a way that would move a cursor back if it
 * landed: a's states for u carry higher versions than b's. With reread, a
 * must read the ring again once it has been fenced. */
static void stale_owner(fl_ctx *ctx, bool write_through, bool reread)
{
    long long t0 = rs_mono_ms();
    const char *mode = write_through ? "write-through" : "write-behind";
    const char *b_args[] = {"--durability", mode, NULL};
    fl_start(ctx, 1, "b", b_args);
    int port_a = rs_free_port();
    assert_true(port_a > 0);
    char listen_a[64];
    snprintf(listen_a, sizeof(listen_a), "127.0.0.1:%d", port_a);
    rs_ring *ring = ring_new(ctx);
    ring_add(ring, "a", port_a);
    ring_add(ring, "b", ctx->node[1].port);
    ring_all_to(ring, 0);
    uint64_t g1 = ring_write(&ctx->redis, 0, ring);
    const char *a_args[] = {"--durability",      mode,    "--listen", listen_a,
                            "--ring-refresh-ms", "60000", NULL};
    fl_start(ctx, 0, "a", a_args);
    assert_int_equal(ctx->node[0].port, port_a);
    wait_gen(&ctx->node[0], g1);
    wait_gen(&ctx->node[1], g1);

    const uint64_t u = 4242;
    char key_o[32];
    rs_client *ca = fl_client(ctx, &ctx->node[0]);
    rs_client *cb = fl_client(ctx, &ctx->node[1]);
    rs_client_ack_result r;
    it_ok(ca, rs_client_ack(ca, u, 1, 100, 0, &r));
    assert_int_equal(r.user_version, 1);
    it_ok(ca, rs_client_ack(ca, u, 2, 50, 0, &r));
    assert_int_equal(r.user_version, 2);
    wait_field(&ctx->redis, u, "1", "1:100:0:0");
    wait_field(&ctx->redis, u, "2", "2:50:0:0");
    snprintf(key_o, sizeof(key_o), "%llu", (unsigned long long)g1);
    wait_field(&ctx->redis, u, "_o", key_o);
    /* b forwards u to its owner a. */
    rs_client_states got;
    it_ok(cb, rs_client_get(cb, u, NULL, 0, &got));
    assert_int_equal(got.user_version, 2);
    rs_client_states_free(&got);

    /* Generation 2: b owns everything; a does not read it. */
    ring_all_to(ring, 1);
    uint64_t g2 = ring_write(&ctx->redis, g1, ring);
    wait_gen(&ctx->node[1], g2);
    assert_int_equal(node_gen(&ctx->node[0]), g1); /* the premise: a is stale */

    /* b loads u (claiming it under generation 2) and writes it. */
    it_ok(cb, rs_client_ack(cb, u, 1, 200, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.state.version, 3);
    assert_int_equal(r.user_version, 3);
    wait_field(&ctx->redis, u, "1", "3:200:0:0");
    snprintf(key_o, sizeof(key_o), "%llu", (unsigned long long)g2);
    wait_field(&ctx->redis, u, "_o", key_o);

    /* a, still under generation 1, writes u from its cached copy: channel 2
     * at version 3, channel 1 back to 150 at version 4. */
    const rs_client_ack_entry entries[] = {{2, 60}, {1, 150}};
    rs_status st = rs_client_bulk_ack(ca, u, entries, RS_ARRAY_LEN(entries), &got);
    if (write_through) {
        /* Not acknowledged: Redis refused it. */
        if (!pu_server_said(ca, st, RS_ERR_UNAVAILABLE))
            fail_msg("a's fenced write-through write answered %s (%s), want UNAVAILABLE",
                     rs_status_name(st), rs_client_errmsg(ca));
    } else {
        /* Acknowledged from memory; its flush is refused. */
        it_ok(ca, st);
        assert_int_equal(got.applied, 2);
        assert_int_equal(got.user_version, 4);
        rs_client_states_free(&got);
    }
    /* Either way a logs the user it dropped and the states with it. */
    char uid[64];
    snprintf(uid, sizeof(uid), "user_id=%llu ", (unsigned long long)u);
    log_wait lw = {&ctx->node[0], "event=fleet_fenced ", uid};
    assert_true(rs_poll_until(log_has, &lw, FL_TIMEOUT_MS));
    assert_int_equal(log_lines(&ctx->node[0], "event=fleet_fenced ", uid), 1);
    assert_int_equal(log_field(&ctx->node[0], "fleet_fenced", "dropped_states"), 2);

    /* Redis holds b's states: nothing of a's write landed, no cursor moved
     * back, b's claim stands. */
    char f[64];
    redis_field(&ctx->redis, u, "1", f, sizeof(f));
    assert_string_equal(f, "3:200:0:0");
    redis_field(&ctx->redis, u, "2", f, sizeof(f));
    assert_string_equal(f, "2:50:0:0");
    redis_field(&ctx->redis, u, "_v", f, sizeof(f));
    assert_string_equal(f, "3");
    redis_field(&ctx->redis, u, "_o", f, sizeof(f));
    assert_string_equal(f, key_o);
    /* Every acknowledged write is there (a's two, b's), and b goes on. */
    it_ok(cb, rs_client_get(cb, u, NULL, 0, &got));
    assert_int_equal(got.n, 2);
    assert_int_equal(got.states[0].last_message_id, 200);
    assert_int_equal(got.states[1].last_message_id, 50);
    assert_int_equal(got.user_version, 3);
    rs_client_states_free(&got);
    it_ok(cb, rs_client_ack(cb, u, 1, 300, 0, &r));
    assert_int_equal(r.user_version, 4);
    wait_field(&ctx->redis, u, "1", "4:300:0:0");

    /* a does not serve u any more, neither its dropped copy nor as an owner:
     * a load under generation 1 is refused too (UNAVAILABLE), or, once a has
     * read the ring again, the call goes to b. */
    st = rs_client_get(ca, u, NULL, 0, &got);
    if (st == RS_OK) {
        if (node_gen(&ctx->node[0]) != g2)
            fail_msg("a served u under ring generation %llu after b claimed it under %llu",
                     (unsigned long long)node_gen(&ctx->node[0]), (unsigned long long)g2);
        assert_int_equal(got.user_version, 4);
        assert_int_equal(got.states[0].last_message_id, 300);
        rs_client_states_free(&got);
    } else if (!pu_server_said(ca, st, RS_ERR_UNAVAILABLE)) {
        fail_msg("a's read of u after the fence: %s", rs_client_errmsg(ca));
    }
    printf("# %s: a's read of the fenced user: %s\n", mode,
           st == RS_OK ? "OK (b's state)" : rs_client_errmsg(ca));
    if (reread) {
        /* a was told its view is stale (FENCED): it reads the ring at once,
         * not a minute later, and from then on sends u to b. */
        reread_wait rw = {ca, u, 4};
        bool served = rs_poll_until(forwarded_to_owner, &rw, 3000);
        printf("# %s: a's ring after the fence: generation %llu\n", mode,
               (unsigned long long)node_gen(&ctx->node[0]));
        if (!served)
            fail_msg("3 s after its write was fenced, a still answers '%s' for u and uses "
                     "ring generation %llu (generation %llu is in Redis)",
                     rs_client_errmsg(ca), (unsigned long long)node_gen(&ctx->node[0]),
                     (unsigned long long)g2);
    }

    /* The counters say the same as the log. */
    assert_int_equal(metric(&ctx->node[0], "readstates_fleet_fenced_users_total"), 1);
    assert_int_equal(metric(&ctx->node[0], "readstates_fleet_fenced_states_total"), 2);
    assert_int_equal(metric(&ctx->node[1], "readstates_fleet_fenced_states_total"), 0);

    fl_close_clients(ctx);
    /* a's dropped states did not land: fenced_states=2 in its shutdown line;
     * in write-behind they had been acknowledged (exit 1), in write-through
     * none was (exit 0); b is clean. */
    stop_node(ctx, 0, write_through ? 0 : 1, 2);
    stop_node(ctx, 1, 0, 0);
    printf("# stale owner, %s: %lld ms\n", mode, rs_mono_ms() - t0);
    ctx->passed = true;
}

static void test_stale_owner_write_through(void **state)
{
    stale_owner(*state, true, false);
}

static void test_stale_owner_write_behind(void **state)
{
    stale_owner(*state, false, false);
}

/* After a refusal for FENCED the node's ring is stale (fleet.h,
 * fleet_refresh_now): it reads the ring again at once. */
static void test_fenced_node_reads_ring_again(void **state)
{
    stale_owner(*state, false, true);
}

/* ---- errors --------------------------------------------------------------------- */

/* One call through srv's node: its status and message. */
static rs_status call_status(const rs_test_server *srv, Readstates__V1__Request *req, char *msg,
                             size_t len)
{
    rs_client *c = fl_connect(srv);
    Readstates__V1__Response *resp = NULL;
    req->id = 0;
    rs_status st = rs_client_call(c, req, &resp);
    if (st != RS_OK) {
        snprintf(msg, len, "transport: %s", rs_client_errmsg(c));
        rs_client_close(c);
        return RS_ERR_INTERNAL;
    }
    st = rs_client_response_status(resp);
    snprintf(msg, len, "%s",
             resp->status != NULL && resp->status->message != NULL ? resp->status->message
                                                                   : "");
    rs_client_response_free(resp);
    rs_client_close(c);
    return st;
}

static rs_status ack_status(const rs_test_server *srv, uint64_t u, uint64_t ch, uint64_t msg,
                            char *out, size_t len)
{
    Readstates__V1__Request req;
    Readstates__V1__AckRequest a;
    req_ack(&req, &a, u, ch, msg, 0);
    return call_status(srv, &req, out, len);
}

static void test_owner_errors_and_unreachable_owner(void **state)
{
    fl_ctx *ctx = *state;
    long long t0 = rs_mono_ms();
    const char *args[] = {"--forward-timeout-ms", "1000", NULL};
    fl_start(ctx, 0, "n0", args);
    fl_start(ctx, 1, "n1", args);
    fl_start(ctx, 2, "n2", args);
    rs_ring *ring = ring_new(ctx);
    ring_add(ring, "n0", ctx->node[0].port);
    ring_add(ring, "n1", ctx->node[1].port);
    ring_add(ring, "n2", ctx->node[2].port);
    rs_ring_split_even(ring);
    uint64_t gen = ring_write(&ctx->redis, 0, ring);
    for (int i = 0; i < 3; i++)
        wait_gen(&ctx->node[i], gen);

    /* A stored hash that does not parse: the owner refuses it (INTERNAL,
     * naming the key and the field); every node answers the owner's words. */
    uint64_t v = user_of(ring, 1, 5000);
    redisReply *rep = rs_test_redis_command(&ctx->redis, "HSET readstates:{%llu} _v 0005",
                                            (unsigned long long)v);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    freeReplyObject(rep);
    char owner_msg[512], msg[512], key[64];
    snprintf(key, sizeof(key), "readstates:{%llu}", (unsigned long long)v);
    assert_int_equal(ack_status(&ctx->node[1], v, 1, 10, owner_msg, sizeof(owner_msg)),
                     RS_ERR_INTERNAL);
    printf("# the owner's refusal: %s\n", owner_msg);
    assert_non_null(strstr(owner_msg, key));
    assert_non_null(strstr(owner_msg, "_v"));
    for (int i = 0; i < 3; i += 2) {
        assert_int_equal(ack_status(&ctx->node[i], v, 1, 10, msg, sizeof(msg)),
                         RS_ERR_INTERNAL);
        assert_string_equal(msg, owner_msg);
    }
    /* A bad argument is refused where it arrives, with the field named. */
    assert_int_equal(ack_status(&ctx->node[0], v, 0, 10, msg, sizeof(msg)), RS_ERR_INVALID);
    assert_string_equal(msg, "ack.channel_id must be non-zero");

    /* An owner that stops answering (SIGSTOP): UNAVAILABLE within the
     * forward timeout, naming it; then a dead one (kill -9). */
    uint64_t w = user_of(ring, 2, 6000), x = user_of(ring, 1, 7000);
    assert_int_equal(ack_status(&ctx->node[0], w, 1, 10, msg, sizeof(msg)), RS_OK);
    assert_int_equal(kill(ctx->node[2].proc.pid, SIGSTOP), 0);
    long long t = rs_mono_ms();
    rs_status st = ack_status(&ctx->node[0], w, 1, 11, msg, sizeof(msg));
    long long took = rs_mono_ms() - t;
    printf("# owner stopped: %s in %lld ms: %s\n", rs_status_name(st), took, msg);
    assert_int_equal(st, RS_ERR_UNAVAILABLE);
    assert_non_null(strstr(msg, "node n2"));
    assert_true(took <= 1000 + 1500);
    /* The other owners are unaffected. */
    assert_int_equal(ack_status(&ctx->node[0], x, 1, 10, msg, sizeof(msg)), RS_OK);

    assert_int_equal(rs_proc_kill9(&ctx->node[2].proc), 0);
    for (int i = 0; i < 2; i++) {
        t = rs_mono_ms();
        st = ack_status(&ctx->node[i], w, 1, 12, msg, sizeof(msg));
        took = rs_mono_ms() - t;
        printf("# owner dead, through n%d: %s in %lld ms: %s\n", i, rs_status_name(st), took,
               msg);
        assert_int_equal(st, RS_ERR_UNAVAILABLE);
        assert_non_null(strstr(msg, "node n2"));
        assert_true(took <= 1000 + 1500);
    }
    assert_int_equal(ack_status(&ctx->node[0], x, 1, 11, msg, sizeof(msg)), RS_OK);

    stop_node(ctx, 0, 0, 0);
    stop_node(ctx, 1, 0, 0);
    printf("# owner errors and unreachable owner: %lld ms\n", rs_mono_ms() - t0);
    ctx->passed = true;
}

/* Nodes p (index 0, reads the ring once a minute) and q (index 1): p keeps
 * generation 1, where q owns everything; q takes generation 2, where p
 * does. */
static void test_forwarded_call_not_bounced(void **state)
{
    fl_ctx *ctx = *state;
    long long t0 = rs_mono_ms();
    fl_start(ctx, 1, "q", NULL);
    int port_p = rs_free_port();
    assert_true(port_p > 0);
    char listen_p[64];
    snprintf(listen_p, sizeof(listen_p), "127.0.0.1:%d", port_p);
    rs_ring *ring = ring_new(ctx);
    ring_add(ring, "p", port_p);
    ring_add(ring, "q", ctx->node[1].port);
    ring_all_to(ring, 1);
    uint64_t g1 = ring_write(&ctx->redis, 0, ring);
    const char *p_args[] = {"--listen", listen_p, "--ring-refresh-ms", "60000", NULL};
    fl_start(ctx, 0, "p", p_args);
    assert_int_equal(ctx->node[0].port, port_p);
    wait_gen(&ctx->node[0], g1);
    ring_all_to(ring, 0);
    uint64_t g2 = ring_write(&ctx->redis, g1, ring);
    wait_gen(&ctx->node[1], g2);
    assert_int_equal(node_gen(&ctx->node[0]), g1); /* the premise: p is stale */

    /* p forwards to q, which does not forward it back. */
    const uint64_t u = 9001;
    char msg[512];
    long long t = rs_mono_ms();
    rs_status st = ack_status(&ctx->node[0], u, 1, 10, msg, sizeof(msg));
    long long took = rs_mono_ms() - t;
    printf("# rings disagree: %s in %lld ms: %s\n", rs_status_name(st), took, msg);
    assert_int_equal(st, RS_ERR_UNAVAILABLE);
    assert_non_null(strstr(msg, "node p"));
    assert_non_null(strstr(msg, "node q"));
    assert_true(took < 1000);
    assert_int_equal(metric(&ctx->node[1], "readstates_fleet_misrouted_total"), 1);
    assert_int_equal(metric(&ctx->node[0], "readstates_fleet_misrouted_total"), 0);
    /* Forwarded once, by p; q answered without forwarding it again. */
    assert_int_equal(metric(&ctx->node[0], FWD_OUT), 1);
    assert_int_equal(metric(&ctx->node[1], FWD_IN), 1);
    assert_int_equal(metric(&ctx->node[1], FWD_OUT), 0);
    assert_int_equal(metric(&ctx->node[0], FWD_IN), 0);

    /* p reads the ring at once (not a minute later) and serves u itself. */
    wait_gen(&ctx->node[0], g2);
    rs_client *cp = fl_client(ctx, &ctx->node[0]);
    rs_client *cq = fl_client(ctx, &ctx->node[1]);
    rs_client_ack_result r;
    it_ok(cp, rs_client_ack(cp, u, 1, 10, 0, &r));
    assert_true(r.applied);
    assert_int_equal(r.user_version, 1);
    rs_client_states got;
    it_ok(cq, rs_client_get(cq, u, NULL, 0, &got));
    assert_int_equal(got.n, 1);
    assert_int_equal(got.states[0].last_message_id, 10);
    rs_client_states_free(&got);
    fl_close_clients(ctx);

    stop_node(ctx, 0, 0, 0);
    stop_node(ctx, 1, 0, 0);
    printf("# forwarded call not bounced: %lld ms\n", rs_mono_ms() - t0);
    ctx->passed = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_answers_through_any_node, fl_setup,
                                        fl_teardown),
        cmocka_unit_test_setup_teardown(test_stale_owner_write_through, fl_setup, fl_teardown),
        cmocka_unit_test_setup_teardown(test_stale_owner_write_behind, fl_setup, fl_teardown),
        cmocka_unit_test_setup_teardown(test_fenced_node_reads_ring_again, fl_setup,
                                        fl_teardown),
        cmocka_unit_test_setup_teardown(test_owner_errors_and_unreachable_owner, fl_setup,
                                        fl_teardown),
        cmocka_unit_test_setup_teardown(test_forwarded_call_not_bounced, fl_setup, fl_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
