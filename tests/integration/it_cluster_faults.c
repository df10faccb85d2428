/*
 * it_cluster_faults.c: the Redis Cluster store (--redis-cluster) against
 * the cluster's redirections and errors, one at a time and on purpose:
 *
 * - ASK is handled as ASK: a slot MIGRATING on its owner and IMPORTING on
 *   another primary, users of that slot absent on the owner: their loads
 *   and write-through writes succeed through ASKING on the target, land
 *   there, the ask counter rises and no MOVED is counted (the table was not
 *   patched: a patched slot would send the next command to the target
 *   without ASKING, and the target would answer MOVED); once the slot is
 *   assigned to the target, the old owner's MOVED is followed and counted.
 * - TRYAGAIN is not fatal: two users of one slot flushed in one EVALSHA
 *   while the slot migrates, one key on each side: Redis answers TRYAGAIN
 *   until the migration ends; write-behind clients see only OK, the store
 *   counts TRYAGAIN, and once the key has moved and the slot is assigned
 *   both users land (shutdown exits 0 with nothing unflushed).
 * - NOSCRIPT: SCRIPT FLUSH on every primary; the next merges of a
 *   write-behind and a write-through server land (write-through answers
 *   OK), and both count NOSCRIPT.
 * - A node that answers MOVED to itself for every key (a fake Redis node
 *   here: a real one cannot be made to loop): a load gets UNAVAILABLE
 *   within twice --redis-timeout-ms, redirect_loops_total rises, the log
 *   says event=redis_cluster_redirect_loop, the fake node sees at most one
 *   CLUSTER SLOTS a second, and readstated's CPU stays low (no busy loop).
 * - Seeds that all refuse connections: calls get UNAVAILABLE at once,
 *   /readyz says 503, CPU stays low, and each address is logged
 *   redis_connect_failed once at warn, its retries at debug.
 * - One primary killed (the others keep serving: full coverage off):
 *   write-through acks of the users of the live primaries keep answering
 *   OK at once while those of the dead one get UNAVAILABLE at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "cluster_rig.h"
#include "http_test_client.h"
#include "rs_slot.h"

#define M_MOVED       "readstates_redis_cluster_redirects_total{kind=\"moved\"}"
#define M_ASK         "readstates_redis_cluster_redirects_total{kind=\"ask\"}"
#define M_TRYAGAIN    "readstates_redis_cluster_redirects_total{kind=\"tryagain\"}"
#define M_NOSCRIPT    "readstates_redis_cluster_redirects_total{kind=\"noscript\"}"
#define M_LOOPS       "readstates_redis_cluster_redirect_loops_total"
#define M_DEADLINE    "readstates_redis_cluster_deadline_failures_total"
#define M_DIRTY       "readstates_dirty_users"
#define M_COVERED     "readstates_redis_cluster_slots_covered"
#define CPU_MAX_SHARE 0.30 /* of one core, over a quiet stretch */

static double metric(const rs_test_server *srv, const char *series)
{
    return ht_metric(srv->http_port, series);
}

static bool server_clean(void *arg)
{
    return metric(arg, M_DIRTY) == 0;
}

static bool table_loaded(void *arg)
{
    return metric(arg, M_COVERED) == 16384;
}

/* A reply to a command sent to node i directly, checked to be no error. */
static void node_cmd_ok(const rs_test_redis *r, int i, const char *fmt, ...)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_ERROR)
        fail_msg("node%d: %s: %s", i, fmt, reply->str);
    freeReplyObject(reply);
    redisFree(c);
}

static long long node_int(const rs_test_redis *r, int i, const char *fmt, ...)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_non_null(reply);
    if (reply->type != REDIS_REPLY_INTEGER)
        fail_msg("node%d: %s: not an integer (%s)", i, fmt,
                 reply->str != NULL ? reply->str : "?");
    long long v = reply->integer;
    freeReplyObject(reply);
    redisFree(c);
    return v;
}

/* A user after `from` whose key lives in slot. */
static uint64_t user_in_slot(uint32_t slot, uint64_t from)
{
    for (uint64_t u = from + 1; u < from + 10 * RS_SLOTS * 8; u++)
        if (rs_user_slot(u) == slot)
            return u;
    fail_msg("no user in slot %u", slot);
    return 0;
}

/* The stored last_message_id of (user, channel), read through the cluster
 * (0 if absent). */
static uint64_t stored_msg(const rs_test_redis *r, uint64_t user, uint64_t channel)
{
    redisReply *reply =
        rs_test_redis_command(r, "HGET readstates:{%llu} %llu", (unsigned long long)user,
                              (unsigned long long)channel);
    assert_non_null(reply);
    uint64_t msg = 0;
    if (reply->type == REDIS_REPLY_STRING) {
        unsigned long long v, m;
        assert_int_equal(sscanf(reply->str, "%llu:%llu:", &v, &m), 2);
        msg = m;
    } else if (reply->type != REDIS_REPLY_NIL) {
        fail_msg("HGET readstates:{%llu}: %s", (unsigned long long)user,
                 reply->str != NULL ? reply->str : "?");
    }
    freeReplyObject(reply);
    return msg;
}

/* Every node: slot belongs to node `to`. */
static void assign_slot(const rs_test_redis *r, uint32_t slot, int to)
{
    char id[64];
    assert_int_equal(rs_test_redis_node_id(r, to, id, sizeof(id)), 0);
    node_cmd_ok(r, to, "CLUSTER SETSLOT %u NODE %s", slot, id);
    for (int i = 0; i < rs_test_redis_node_count(r); i++)
        if (i != to)
            node_cmd_ok(r, i, "CLUSTER SETSLOT %u NODE %s", slot, id);
}

static void start_migration(const rs_test_redis *r, uint32_t slot, int src, int dst)
{
    char src_id[64], dst_id[64];
    assert_int_equal(rs_test_redis_node_id(r, src, src_id, sizeof(src_id)), 0);
    assert_int_equal(rs_test_redis_node_id(r, dst, dst_id, sizeof(dst_id)), 0);
    node_cmd_ok(r, dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, src_id);
    node_cmd_ok(r, src, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst_id);
}

/* ---- ASK ------------------------------------------------------------------- */

static void test_ask_handled_as_ask(void **state)
{
    (void)state;
    rs_test_redis r;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    const char *flags[] = {"--durability", "write-through", NULL};
    assert_int_equal(pu_server_start(&srv, &r, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    assert_true(rs_poll_until(table_loaded, &srv, 10000));

    uint64_t u = 4100001, v = user_in_slot(rs_user_slot(u), u);
    uint32_t slot = rs_user_slot(u);
    int src = rs_test_redis_slot_node(&r, (int)slot);
    assert_true(src >= 0);
    int dst = (src + 1) % RS_TEST_REDIS_CLUSTER_NODES;
    /* A user elsewhere, written before: the table is warm. */
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, 17, 1, 5, 0, &res), RS_OK);
    double moved0 = metric(&srv, M_MOVED), ask0 = metric(&srv, M_ASK);
    assert_true(moved0 >= 0 && ask0 >= 0);

    start_migration(&r, slot, src, dst);
    /* Load (EVAL on the owner: -ASK, then ASKING + EVAL on the target). */
    rs_client_states got;
    assert_int_equal(rs_client_get(c, u, NULL, 0, &got), RS_OK);
    assert_int_equal(got.n, 0);
    rs_client_states_free(&got);
    /* Write-through writes: each merge answered -ASK by the owner. */
    for (uint64_t m = 1; m <= 5; m++) {
        rs_status st = rs_client_ack(c, u, 1, 100 + m, 0, &res);
        if (st != RS_OK)
            fail_msg("ack during migration: %s", rs_client_errmsg(c));
        st = rs_client_ack(c, v, 2, 200 + m, 0, &res);
        if (st != RS_OK)
            fail_msg("ack during migration: %s", rs_client_errmsg(c));
    }
    double ask1 = metric(&srv, M_ASK), moved1 = metric(&srv, M_MOVED);
    printf("# ask: slot %u node%d -> node%d: ask %+g moved %+g\n", slot, src, dst, ask1 - ask0,
           moved1 - moved0);
    /* 2 loads + 10 merges, each asked once. */
    assert_true(ask1 - ask0 >= 12);
    assert_true(moved1 == moved0);
    /* They landed on the target, not on the owner. */
    assert_int_equal(node_int(&r, dst, "CLUSTER COUNTKEYSINSLOT %u", slot), 2);
    assert_int_equal(node_int(&r, src, "CLUSTER COUNTKEYSINSLOT %u", slot), 0);

    /* The slot is the target's now: the old owner says MOVED, followed. */
    assign_slot(&r, slot, dst);
    assert_int_equal(rs_client_ack(c, u, 1, 300, 0, &res), RS_OK);
    assert_true(res.applied);
    double moved2 = metric(&srv, M_MOVED);
    printf("# ask: after the slot moved: moved %+g\n", moved2 - moved1);
    assert_true(moved2 > moved1);
    assert_int_equal(stored_msg(&r, u, 1), 300);
    assert_int_equal(stored_msg(&r, v, 2), 205);

    rs_client_close(c);
    assert_true(cu_server_stop_clean(&srv));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&r);
}

/* ---- TRYAGAIN ----------------------------------------------------------------- */

static bool tryagain_seen(void *arg)
{
    return metric(arg, M_TRYAGAIN) > 0;
}

/* Two pipelined acks, both answered. */
static void ack_pair(rs_client *c, uint64_t a, uint64_t b, uint64_t msg)
{
    uint64_t users[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        ack.user_id = users[i];
        ack.channel_id = 1;
        ack.message_id = msg;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
        assert_int_equal(rs_client_send(c, &req), RS_OK);
    }
    assert_int_equal(rs_client_flush(c), RS_OK);
    for (int i = 0; i < 2; i++) {
        Readstates__V1__Response *resp = NULL;
        assert_int_equal(rs_client_recv(c, &resp, 5000), RS_OK);
        if (rs_client_response_status(resp) != RS_OK)
            fail_msg("ack during migration: %s", resp->status->message);
        rs_client_response_free(resp);
    }
}

static void test_tryagain_not_fatal(void **state)
{
    (void)state;
    rs_test_redis r;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    const char *flags[] = {"--flush-interval-ms", "300", NULL};
    assert_int_equal(pu_server_start(&srv, &r, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    assert_true(rs_poll_until(table_loaded, &srv, 10000));

    uint64_t a = 4200001, b = user_in_slot(rs_user_slot(a), a);
    uint32_t slot = rs_user_slot(a);
    int src = rs_test_redis_slot_node(&r, (int)slot);
    assert_true(src >= 0);
    int dst = (src + 1) % RS_TEST_REDIS_CLUSTER_NODES;
    /* a's key is on the owner; b has none yet. */
    rs_client_ack_result res;
    assert_int_equal(rs_client_ack(c, a, 1, 10, 0, &res), RS_OK);
    assert_true(rs_poll_until(server_clean, &srv, 5000));
    assert_int_equal(node_int(&r, src, "CLUSTER COUNTKEYSINSLOT %u", slot), 1);

    start_migration(&r, slot, src, dst);
    /* Both dirty in one flush: one EVALSHA with both keys, one of them on
     * each side of the migration: TRYAGAIN (Redis 7.0: -ASK from the owner,
     * then -TRYAGAIN from the target for the key it lacks). */
    uint64_t msg = 20;
    long long t0 = rs_mono_ms();
    while (metric(&srv, M_TRYAGAIN) <= 0 && rs_mono_ms() - t0 < 10000) {
        ack_pair(c, a, b, msg++);
        rs_poll_until(tryagain_seen, &srv, 1000);
    }
    double tryagain = metric(&srv, M_TRYAGAIN);
    printf("# tryagain: %g after %llu rounds of two acks\n", tryagain,
           (unsigned long long)(msg - 20));
    assert_true(tryagain > 0);
    /* Writes keep being accepted meanwhile (write-behind), for a second. */
    for (int i = 0; i < 10; i++) {
        ack_pair(c, a, b, msg++);
        rs_sleep_ms(100);
    }
    uint64_t last = msg - 1;
    assert_true(metric(&srv, M_DIRTY) > 0);

    /* The migration ends: a's key moves, the slot is assigned. */
    redisContext *cs = rs_test_redis_connect_node(&r, src);
    assert_non_null(cs);
    redisReply *reply =
        redisCommand(cs, "MIGRATE 127.0.0.1 %d %s 0 5000 KEYS readstates:{%llu}",
                     r.nodes[dst].port, "", (unsigned long long)a);
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_ERROR)
        fail_msg("MIGRATE: %s", reply->str);
    freeReplyObject(reply);
    redisFree(cs);
    assign_slot(&r, slot, dst);
    t0 = rs_mono_ms();
    assert_true(rs_poll_until(server_clean, &srv, 10000));
    printf("# tryagain: clean %lld ms after the slot was assigned; tryagain=%g "
           "deadline_failures=%g moved=%g ask=%g\n",
           rs_mono_ms() - t0, metric(&srv, M_TRYAGAIN), metric(&srv, M_DEADLINE),
           metric(&srv, M_MOVED), metric(&srv, M_ASK));
    assert_int_equal(stored_msg(&r, a, 1), last);
    assert_int_equal(stored_msg(&r, b, 1), last);
    assert_int_equal(node_int(&r, dst, "CLUSTER COUNTKEYSINSLOT %u", slot), 2);

    rs_client_close(c);
    assert_true(cu_server_stop_clean(&srv));
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&r);
}

/* ---- NOSCRIPT ------------------------------------------------------------------- */

#define NS_USERS 30

static void test_noscript_after_script_flush(void **state)
{
    (void)state;
    rs_test_redis r;
    rs_test_server wb, wt;
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    const char *wb_flags[] = {"--flush-interval-ms", "100", NULL};
    const char *wt_flags[] = {"--durability", "write-through", NULL};
    assert_int_equal(pu_server_start(&wb, &r, wb_flags), 0);
    assert_int_equal(pu_server_start(&wt, &r, wt_flags), 0);
    rs_client *cb = pu_connect(&wb), *ct = pu_connect(&wt);
    assert_non_null(cb);
    assert_non_null(ct);
    rs_client_ack_result res;
    for (uint64_t u = 1; u <= NS_USERS; u++) {
        assert_int_equal(rs_client_ack(cb, 4300000 + u, 1, 10, 0, &res), RS_OK);
        assert_int_equal(rs_client_ack(ct, 4400000 + u, 1, 10, 0, &res), RS_OK);
    }
    assert_true(rs_poll_until(server_clean, &wb, 5000));
    assert_int_equal(metric(&wb, M_NOSCRIPT), 0);
    assert_int_equal(metric(&wt, M_NOSCRIPT), 0);

    /* One server at a time: a SCRIPT LOAD by either puts the script back
     * on that node for both. */
    assert_int_equal(rs_test_redis_command_all(&r, NULL, "SCRIPT FLUSH"), 0);
    for (uint64_t u = 1; u <= NS_USERS; u++)
        assert_int_equal(rs_client_ack(cb, 4300000 + u, 1, 20, 0, &res), RS_OK);
    assert_true(rs_poll_until(server_clean, &wb, 5000));
    assert_int_equal(rs_test_redis_command_all(&r, NULL, "SCRIPT FLUSH"), 0);
    for (uint64_t u = 1; u <= NS_USERS; u++) {
        rs_status st = rs_client_ack(ct, 4400000 + u, 1, 20, 0, &res);
        if (st != RS_OK)
            fail_msg("write-through ack after SCRIPT FLUSH: %s", rs_client_errmsg(ct));
    }
    double ns_wb = metric(&wb, M_NOSCRIPT), ns_wt = metric(&wt, M_NOSCRIPT);
    printf("# noscript: write-behind %g, write-through %g\n", ns_wb, ns_wt);
    /* Once per primary (its first merge after the flush), at least. */
    assert_true(ns_wb >= RS_TEST_REDIS_CLUSTER_NODES);
    assert_true(ns_wt >= RS_TEST_REDIS_CLUSTER_NODES);
    for (uint64_t u = 1; u <= NS_USERS; u++) {
        assert_int_equal(stored_msg(&r, 4300000 + u, 1), 20);
        assert_int_equal(stored_msg(&r, 4400000 + u, 1), 20);
    }
    rs_client_close(cb);
    rs_client_close(ct);
    assert_true(cu_server_stop_clean(&wb));
    assert_true(cu_server_stop_clean(&wt));
    rs_test_server_cleanup(&wb);
    rs_test_server_cleanup(&wt);
    rs_test_redis_cleanup(&r);
}

/* ---- a node that loops MOVED to itself ---------------------------------------- */

#define FAKE_MAX_CONNS 16

typedef struct fake_conn {
    int fd;
    char *buf;
    size_t len, cap;
} fake_conn;

typedef struct fake_node {
    int lfd, port;
    int stop[2];
    pthread_t th;
    fake_conn conns[FAKE_MAX_CONNS];
    atomic_long slots_cmds, script_cmds, moved_replies, other_cmds, accepted;
} fake_node;

static void fake_reply(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, text, len);
        if (k <= 0 && errno != EINTR)
            return;
        if (k > 0) {
            text += k;
            len -= (size_t)k;
        }
    }
}

static void fake_say(int fd, const char *fmt, ...)
{
    char out[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    if (n > 0)
        fake_reply(fd, out, (size_t)n);
}

/* One command from buf[0..len): its arguments (at most 8 kept). Returns
 * the bytes it took, 0 if incomplete, -1 if it is not RESP. */
static long fake_parse(const char *buf, size_t len, const char **argv, size_t *lens, int *argc)
{
    const char *end = buf + len, *p = buf;
    if (len == 0)
        return 0;
    if (*p != '*')
        return -1;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL)
        return 0;
    long n = strtol(p + 1, NULL, 10);
    p = nl + 1;
    *argc = 0;
    for (long i = 0; i < n; i++) {
        if (p >= end)
            return 0;
        if (*p != '$')
            return -1;
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return 0;
        long l = strtol(p + 1, NULL, 10);
        p = nl + 1;
        if (l < 0 || end - p < l + 2)
            return 0;
        if (*argc < 8) {
            argv[*argc] = p;
            lens[*argc] = (size_t)l;
            (*argc)++;
        }
        p += l + 2;
    }
    return (long)(p - buf);
}

static bool arg_is(const char *a, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(a, word, len) == 0;
}

static void fake_command(fake_node *f, int fd, const char **argv, const size_t *lens, int argc)
{
    if (argc >= 2 && arg_is(argv[0], lens[0], "CLUSTER") && arg_is(argv[1], lens[1], "SLOTS")) {
        atomic_fetch_add(&f->slots_cmds, 1);
        fake_say(fd,
                 "*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$40\r\n"
                 "%040d\r\n",
                 f->port, 7);
    } else if (argc >= 2 && arg_is(argv[0], lens[0], "SCRIPT")) {
        atomic_fetch_add(&f->script_cmds, 1);
        fake_say(fd, "$40\r\n%s\r\n", "0123456789abcdef0123456789abcdef01234567");
    } else if (argc >= 1 && arg_is(argv[0], lens[0], "PING")) {
        atomic_fetch_add(&f->other_cmds, 1);
        fake_say(fd, "+PONG\r\n");
    } else if (argc >= 1 &&
               (arg_is(argv[0], lens[0], "AUTH") || arg_is(argv[0], lens[0], "SELECT") ||
                arg_is(argv[0], lens[0], "CLIENT") || arg_is(argv[0], lens[0], "READONLY") ||
                arg_is(argv[0], lens[0], "ASKING") || arg_is(argv[0], lens[0], "CLUSTER"))) {
        atomic_fetch_add(&f->other_cmds, 1);
        fake_say(fd, "+OK\r\n");
    } else if (argc >= 1 && arg_is(argv[0], lens[0], "ROLE")) {
        atomic_fetch_add(&f->other_cmds, 1);
        fake_say(fd, "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    } else {
        /* EVAL / EVALSHA script numkeys key ...: MOVED to ourselves. */
        uint32_t slot = argc >= 4 ? rs_key_slot(argv[3], lens[3]) : 0;
        atomic_fetch_add(&f->moved_replies, 1);
        fake_say(fd, "-MOVED %u 127.0.0.1:%d\r\n", slot, f->port);
    }
}

static void fake_close(fake_conn *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void fake_read(fake_node *f, fake_conn *c)
{
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap == 0 ? 65536 : c->cap * 2;
        char *nb = realloc(c->buf, cap);
        if (nb == NULL) {
            fake_close(c);
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    ssize_t k = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (k <= 0) {
        if (k < 0 && errno == EINTR)
            return;
        fake_close(c);
        return;
    }
    c->len += (size_t)k;
    for (;;) {
        const char *argv[8];
        size_t lens[8];
        int argc = 0;
        long used = fake_parse(c->buf, c->len, argv, lens, &argc);
        if (used < 0) {
            fake_close(c);
            return;
        }
        if (used == 0)
            return;
        fake_command(f, c->fd, argv, lens, argc);
        memmove(c->buf, c->buf + used, c->len - (size_t)used);
        c->len -= (size_t)used;
    }
}

static void *fake_main(void *arg)
{
    fake_node *f = arg;
    for (;;) {
        struct pollfd pfd[FAKE_MAX_CONNS + 2];
        int map[FAKE_MAX_CONNS + 2];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = f->stop[0], .events = POLLIN};
        map[n++] = -2;
        pfd[n] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < FAKE_MAX_CONNS; i++)
            if (f->conns[i].fd >= 0) {
                pfd[n] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
                map[n++] = i;
            }
        if (poll(pfd, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents != 0)
            break;
        if (pfd[1].revents & POLLIN) {
            int fd = accept(f->lfd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < FAKE_MAX_CONNS && slot < 0 && fd >= 0; i++)
                if (f->conns[i].fd < 0)
                    slot = i;
            if (slot >= 0) {
                f->conns[slot].fd = fd;
                atomic_fetch_add(&f->accepted, 1);
            } else if (fd >= 0) {
                close(fd);
            }
        }
        for (int k = 2; k < n; k++)
            if (pfd[k].revents != 0 && f->conns[map[k]].fd == pfd[k].fd)
                fake_read(f, &f->conns[map[k]]);
    }
    for (int i = 0; i < FAKE_MAX_CONNS; i++)
        if (f->conns[i].fd >= 0)
            fake_close(&f->conns[i]);
    return NULL;
}

static void fake_start(fake_node *f)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < FAKE_MAX_CONNS; i++)
        f->conns[i].fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pipe(f->stop), 0);
    assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake_node *f)
{
    assert_int_equal(write(f->stop[1], "x", 1), 1);
    pthread_join(f->th, NULL);
    close(f->stop[0]);
    close(f->stop[1]);
    close(f->lfd);
}

static void test_moved_loop(void **state)
{
    (void)state;
    fake_node fake;
    fake_start(&fake);
    char seeds[64];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d", fake.port);
    const char *args[] = {"--redis-cluster", seeds, "--redis-timeout-ms", "1000", NULL};
    rs_test_server_opts opts = {.args = args, .http = true};
    rs_test_server srv;
    assert_int_equal(rs_test_server_start_opts(&srv, &opts), 0);
    assert_true(rs_poll_until(table_loaded, &srv, 10000));
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    /* A load: MOVED, MOVED, ... past the cap, then UNAVAILABLE. */
    long long t0 = rs_mono_ms();
    rs_client_states got;
    rs_status st = rs_client_get(c, 4500001, NULL, 0, &got);
    long long took = rs_mono_ms() - t0;
    printf("# moved loop: load answered %s in %lld ms (\"%s\"), %ld MOVED sent\n",
           rs_status_name(st), took, rs_client_errmsg(c), atomic_load(&fake.moved_replies));
    assert_true(pu_server_said(c, st, RS_ERR_UNAVAILABLE));
    assert_true(took < 2000);
    assert_true(metric(&srv, M_LOOPS) >= 1);
    assert_true(cu_log_count(&srv, "event=redis_cluster_redirect_loop", NULL) >= 1);
    /* The cap: 5 redirections, so 6 sends per request. */
    assert_true(atomic_load(&fake.moved_replies) <= 6);

    /* Two seconds of it: a load every 100 ms. No busy loop: little CPU, a
     * bounded number of commands, at most about one CLUSTER SLOTS a second. */
    double cpu0 = cu_cpu_seconds(srv.proc.pid);
    long slots0 = atomic_load(&fake.slots_cmds), moved0 = atomic_load(&fake.moved_replies);
    long long w0 = rs_mono_ms();
    int unavailable = 0, requests = 0;
    while (rs_mono_ms() - w0 < 2000) {
        st = rs_client_get(c, 4500002 + (uint64_t)requests, NULL, 0, &got);
        requests++;
        unavailable += pu_server_said(c, st, RS_ERR_UNAVAILABLE);
        if (st == RS_OK)
            rs_client_states_free(&got);
        rs_sleep_ms(100);
    }
    double secs = (double)(rs_mono_ms() - w0) / 1000.0;
    double cpu = cu_cpu_seconds(srv.proc.pid) - cpu0;
    long slots = atomic_load(&fake.slots_cmds) - slots0;
    long moved = atomic_load(&fake.moved_replies) - moved0;
    printf("# moved loop: %d loads in %.1f s, %d UNAVAILABLE; readstated CPU %.3f s (%.0f%% "
           "of a core); %ld MOVED and %ld CLUSTER SLOTS; loops counted %g\n",
           requests, secs, unavailable, cpu, 100 * cpu / secs, moved, slots,
           metric(&srv, M_LOOPS));
    assert_int_equal(unavailable, requests);
    assert_true(cpu >= 0 && cpu / secs < CPU_MAX_SHARE);
    assert_true(moved <= 6L * requests);
    assert_true(slots <= 4);
    /* The loop is logged at most once a second, as an error. */
    long loop_lines = cu_log_count(&srv, "event=redis_cluster_redirect_loop", NULL);
    assert_true(loop_lines >= 1 && loop_lines <= 4);
    assert_int_equal(
        cu_log_count(&srv, "event=redis_cluster_redirect_loop", "level=error", NULL),
        loop_lines);

    rs_client_close(c);
    int ws = 0;
    rs_test_server_stop(&srv, 30000, &ws);
    rs_test_server_cleanup(&srv);
    fake_stop(&fake);
}

/* ---- no reachable seed ------------------------------------------------------------ */

static void test_no_reachable_seed(void **state)
{
    (void)state;
    int p1 = rs_free_port(), p2 = rs_free_port();
    assert_true(p1 > 0 && p2 > 0 && p1 != p2);
    char seeds[64], a1[32], a2[32];
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    snprintf(a1, sizeof(a1), "addr=127.0.0.1:%d ", p1);
    snprintf(a2, sizeof(a2), "addr=127.0.0.1:%d ", p2);
    const char *args[] = {"--redis-cluster", seeds, "--log-level", "debug", NULL};
    rs_test_server_opts opts = {.args = args, .http = true};
    rs_test_server srv;
    assert_int_equal(rs_test_server_start_opts(&srv, &opts), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);

    double cpu0 = cu_cpu_seconds(srv.proc.pid);
    long long w0 = rs_mono_ms();
    int requests = 0, unavailable = 0;
    long long worst = 0;
    while (rs_mono_ms() - w0 < 2500) {
        long long t0 = rs_mono_ms();
        rs_client_states got;
        rs_client_ack_result res;
        rs_status st = requests % 2 == 0
                           ? rs_client_get(c, 4600001 + (uint64_t)requests, NULL, 0, &got)
                           : rs_client_ack(c, 4600001 + (uint64_t)requests, 1, 1, 0, &res);
        worst = RS_MAX(worst, rs_mono_ms() - t0);
        requests++;
        unavailable += pu_server_said(c, st, RS_ERR_UNAVAILABLE);
        if (st == RS_OK && requests % 2 == 1)
            rs_client_states_free(&got);
        rs_sleep_ms(100);
    }
    double secs = (double)(rs_mono_ms() - w0) / 1000.0;
    double cpu = cu_cpu_seconds(srv.proc.pid) - cpu0;
    ht_response resp;
    assert_int_equal(ht_get(srv.http_port, "/readyz", &resp), 0);
    printf("# no seed: %d calls, %d UNAVAILABLE, slowest %lld ms; CPU %.3f s in %.1f s; "
           "/readyz %d %s",
           requests, unavailable, worst, cpu, secs, resp.status, resp.body);
    assert_int_equal(unavailable, requests);
    assert_true(worst < 1000);
    assert_int_equal(resp.status, 503);
    assert_true(strncmp(resp.body, "not ready", 9) == 0);
    ht_response_free(&resp);
    assert_true(cpu >= 0 && cpu / secs < CPU_MAX_SHARE);

    /* Each address: once at warn, its retries at debug. */
    const char *addrs[2] = {a1, a2};
    for (int i = 0; i < 2; i++) {
        long warn =
            cu_log_count(&srv, "event=redis_connect_failed", "level=warn", addrs[i], NULL);
        long debug =
            cu_log_count(&srv, "event=redis_connect_failed", "level=debug", addrs[i], NULL);
        printf("# no seed: %s redis_connect_failed warn=%ld debug=%ld\n", addrs[i], warn,
               debug);
        assert_int_equal(warn, 1);
        assert_true(debug >= 1);
        /* Backed off: a handful of attempts, not one per loop turn. */
        assert_true(debug < 30);
    }
    rs_client_close(c);
    rs_test_server_cleanup(&srv);
}

/* ---- a dead primary and the users of the others ---------------------------------- */

#define HOL_USERS  90
#define HOL_USER0  4700000
#define HOL_MAX_MS 300 /* a healthy write-through ack, with another primary dead */

static void test_dead_primary_does_not_stall_others(void **state)
{
    (void)state;
    rs_test_redis r;
    rs_test_server srv;
    assert_int_equal(rs_test_redis_start_cluster(&r), 0);
    /* The two other primaries keep serving their slots. */
    assert_int_equal(
        rs_test_redis_command_all(&r, NULL, "CONFIG SET cluster-require-full-coverage no"), 0);
    const char *flags[] = {"--durability", "write-through", NULL};
    assert_int_equal(pu_server_start(&srv, &r, flags), 0);
    rs_client *c = pu_connect(&srv);
    assert_non_null(c);
    int owner[HOL_USERS];
    rs_client_ack_result res;
    for (int i = 0; i < HOL_USERS; i++) {
        uint64_t u = HOL_USER0 + (uint64_t)i;
        owner[i] = rs_test_redis_slot_node(&r, (int)rs_user_slot(u));
        assert_true(owner[i] >= 0);
        assert_int_equal(rs_client_ack(c, u, 1, 1, 0, &res), RS_OK);
    }

    const int victim = 1;
    assert_int_equal(rs_test_redis_kill9_node(&r, victim), 0);
    long long t_kill = rs_mono_ms();
    uint64_t msg = 2;
    long healthy_ok = 0, healthy_failed = 0, dead_unavailable = 0, dead_other = 0;
    long long worst = 0, worst_at = 0;
    int rounds = 0;
    char first_failure[256] = "";
    while (rs_mono_ms() - t_kill < 3000) {
        long long sent_at = rs_mono_ms();
        for (int i = 0; i < HOL_USERS; i++) {
            Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
            ack.user_id = HOL_USER0 + (uint64_t)i;
            ack.channel_id = 1;
            ack.message_id = msg;
            Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
            req.id = (1ull << 36) + (uint64_t)rounds * HOL_USERS + (uint64_t)i;
            req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
            req.ack = &ack;
            assert_int_equal(rs_client_send(c, &req), RS_OK);
        }
        assert_int_equal(rs_client_flush(c), RS_OK);
        for (int k = 0; k < HOL_USERS; k++) {
            Readstates__V1__Response *resp = NULL;
            assert_int_equal(rs_client_recv(c, &resp, 5000), RS_OK);
            long long took = rs_mono_ms() - sent_at;
            int i = (int)((resp->id - (1ull << 36)) % HOL_USERS);
            rs_status st = rs_client_response_status(resp);
            if (owner[i] != victim) {
                if (st == RS_OK) {
                    healthy_ok++;
                } else {
                    healthy_failed++;
                    if (first_failure[0] == '\0')
                        snprintf(first_failure, sizeof(first_failure), "%s %s",
                                 rs_status_name(st), resp->status->message);
                }
                if (took > worst) {
                    worst = took;
                    worst_at = sent_at - t_kill;
                }
            } else if (st == RS_ERR_UNAVAILABLE) {
                dead_unavailable++;
            } else {
                dead_other++;
            }
            rs_client_response_free(resp);
        }
        msg++;
        rounds++;
        rs_sleep_ms(10);
    }
    printf("# dead primary node%d, %d rounds of %d write-through acks in 3 s: users of the "
           "live primaries %ld OK, %ld failed (%s), slowest %lld ms (round sent %lld ms after "
           "the kill); users of the dead one %ld UNAVAILABLE, %ld other\n",
           victim, rounds, HOL_USERS, healthy_ok, healthy_failed, first_failure, worst,
           worst_at, dead_unavailable, dead_other);
    rig_print_counters(NULL, &srv, "counters");
    assert_int_equal(healthy_failed, 0);
    assert_true(worst < HOL_MAX_MS);
    assert_int_equal(dead_other, 0);

    rs_client_close(c);
    int ws = 0;
    rs_test_server_stop(&srv, 30000, &ws);
    rs_test_server_cleanup(&srv);
    rs_test_redis_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ask_handled_as_ask),
        cmocka_unit_test(test_tryagain_not_fatal),
        cmocka_unit_test(test_noscript_after_script_flush),
        cmocka_unit_test(test_moved_loop),
        cmocka_unit_test(test_no_reachable_seed),
        cmocka_unit_test(test_dead_primary_does_not_stall_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
