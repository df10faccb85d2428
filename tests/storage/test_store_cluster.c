/*
 * test_store_cluster.c: the Redis Cluster store (store_cluster.h, behind
 * store.h) driven directly on a libevent base against a real Redis Cluster
 * of three primaries (rs_test_redis_start_cluster), without the engine.
 * Each case starts its own cluster, so slot moves, migrations and killed
 * nodes never leak into the next one:
 *
 * - loads and merges round trip for users on all three primaries, read
 *   back from the node that owns each user's slot;
 * - one merge call of users of several slots, two of them sharing a slot:
 *   one callback, the outcomes in the caller's order, one EVALSHA per slot
 *   (merge_calls, merge_call_users, group_calls);
 * - fn never runs inside load or merge: checked after every call, and for
 *   a merge whose every group fails inside the call (primaries short of
 *   replicas for WAIT), and for a merge asked for while the store is freed;
 * - an invalid stored hash refuses that user alone, named by field;
 * - NOSCRIPT after SCRIPT FLUSH on every primary: the script is loaded
 *   again and the merge lands in the same call;
 * - MOVED after a slot is moved by hand (SETSLOT IMPORTING/MIGRATING,
 *   MIGRATE, SETSLOT NODE): the table is patched, the request lands on the
 *   new owner, and a refresh follows;
 * - ASK while a slot is migrating: a new user lands on the importing node
 *   and the table is not touched;
 * - a primary killed: its users are refused at once (store_user_up false,
 *   the unreachable slot range named) while the store stays up, and they
 *   load again once it is back;
 * - store_free completes every pending load and merge with an error;
 * - seeds that are all closed ports: down, loads refused, the loop idle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "rs_slot.h"
#include "rs_testsupport.h"
#include "store_cluster.h"
#include "store_tuser.h"

#define MAX_STATES 16
#define NODES      RS_TEST_REDIS_CLUSTER_NODES
#define TIMEOUT_MS 2000

typedef struct fixture {
    rs_test_redis redis;
    struct event_base *base;
    rs_store *s;
    rs_log log;
    int ups, downs;                /* state callbacks */
    signed char owner[RS_SLOTS];   /* node index serving each slot (-1: none) */
    uint32_t lo[NODES], hi[NODES]; /* each node's slot range */
    char id[NODES][48];            /* CLUSTER MYID of each node */
} fixture;

/* What one load delivered (copied out: the result lives during fn only). */
typedef struct loadrec {
    int fired;
    rs_store_result result;
    uint64_t version;
    size_t nstates;
    rs_state states[MAX_STATES];
    char what[256];
} loadrec;

#define MAX_CALL 8

typedef struct mergerec {
    int fired;
    uint32_t n;
    rs_store_outcome out[MAX_CALL];
    char what[MAX_CALL][256];
    /* test_merge_from_callback_during_free: a merge asked for inside fn */
    rs_store *again_store;
    const rs_store_user *again_users;
    struct mergerec *again;
    int again_rc;
    int again_fired_at_return;
} mergerec;

static void state_fn(void *ctx, bool up)
{
    fixture *f = ctx;
    if (up)
        f->ups++;
    else
        f->downs++;
}

static void load_fn(void *arg, const rs_store_loaded *r)
{
    loadrec *l = arg;
    l->fired++;
    l->result = r->result;
    l->version = r->version;
    l->nstates = r->nstates;
    if (r->result == RS_STORE_OK && r->nstates <= MAX_STATES && r->nstates > 0)
        memcpy(l->states, r->states, r->nstates * sizeof(*r->states));
    if (r->what != NULL)
        snprintf(l->what, sizeof(l->what), "%s", r->what);
}

static void merge_fn(void *arg, const rs_store_outcome *out, uint32_t n)
{
    mergerec *m = arg;
    m->fired++;
    m->n = n;
    for (uint32_t i = 0; i < n && i < MAX_CALL; i++) {
        m->out[i] = out[i];
        m->what[i][0] = '\0';
        if (out[i].what != NULL)
            snprintf(m->what[i], sizeof(m->what[i]), "%s", out[i].what);
        m->out[i].what = NULL;
    }
    if (m->again != NULL) {
        memset(m->again, 0, sizeof(*m->again));
        m->again_rc = store_merge(m->again_store, m->again_users, 1, merge_fn, m->again);
        m->again_fired_at_return = m->again->fired;
        m->again = NULL;
    }
}

static bool store_is_up(void *arg)
{
    return store_up(((fixture *)arg)->s);
}

static bool load_fired(void *arg)
{
    return ((loadrec *)arg)->fired > 0;
}

static bool merge_fired(void *arg)
{
    return ((mergerec *)arg)->fired > 0;
}

/* Run the loop until cond holds or timeout_ms passes. */
static bool run_until(fixture *f, bool (*cond)(void *), void *arg, int timeout_ms)
{
    long long end = rs_mono_ms() + timeout_ms;
    while (!cond(arg)) {
        if (rs_mono_ms() > end)
            return false;
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        if (!cond(arg))
            rs_sleep_ms(1);
    }
    return true;
}

/* Run the loop for ms milliseconds. */
static void run_for(fixture *f, int ms)
{
    long long end = rs_mono_ms() + ms;
    while (rs_mono_ms() < end) {
        event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        rs_sleep_ms(1);
    }
}

static const struct store_cluster *cl(const fixture *f)
{
    const struct store_cluster *c = store_cluster_of(f->s);
    assert_non_null(c);
    return c;
}

static store_cluster_stats stats(const fixture *f)
{
    store_cluster_stats st;
    store_cluster_get_stats(cl(f), &st);
    return st;
}

/* ---- the cluster, from the test's side -------------------------------------- */

/* One command on node i itself (no routing); the caller frees the reply. */
static redisReply *node_command(fixture *f, int i, const char *fmt, ...)
{
    redisContext *c = rs_test_redis_connect_node(&f->redis, i);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

/* The same, and it must not be an error reply. */
static void node_ok(fixture *f, int i, const char *fmt, ...)
{
    redisContext *c = rs_test_redis_connect_node(&f->redis, i);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("node%d: %s: %s", i, fmt, r->str);
    freeReplyObject(r);
}

/* A keyed command routed by the test support; not an error reply. */
static void routed_ok(fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = rs_test_redis_vcommand(&f->redis, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s: %s", fmt, r->str);
    freeReplyObject(r);
}

/* A stored field of user_id's hash, routed, or "" when absent. */
static void hget(fixture *f, uint64_t user_id, const char *field, char *out, size_t len)
{
    redisReply *r = rs_test_redis_command(&f->redis, "HGET readstates:{%llu} %s",
                                          (unsigned long long)user_id, field);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("HGET readstates:{%llu} %s: %s", (unsigned long long)user_id, field, r->str);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* The same on node i itself (ASKING first when asking): an error reply
 * (MOVED: not its slot) comes back as "ERR:<text>". */
static void node_hget(fixture *f, int i, bool asking, uint64_t user_id, const char *field,
                      char *out, size_t len)
{
    redisContext *c = rs_test_redis_connect_node(&f->redis, i);
    assert_non_null(c);
    if (asking) {
        redisReply *a = redisCommand(c, "ASKING");
        assert_non_null(a);
        assert_int_equal(a->type, REDIS_REPLY_STATUS);
        freeReplyObject(a);
    }
    redisReply *r =
        redisCommand(c, "HGET readstates:{%llu} %s", (unsigned long long)user_id, field);
    redisFree(c);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        snprintf(out, len, "ERR:%s", r->str);
    else
        snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Who serves each slot, from node 0's CLUSTER SLOTS, and each node's id. */
static void read_layout(fixture *f)
{
    memset(f->owner, -1, sizeof(f->owner));
    redisReply *r = node_command(f, 0, "CLUSTER SLOTS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t k = 0; k < r->elements; k++) {
        const redisReply *range = r->element[k];
        assert_true(range->type == REDIS_REPLY_ARRAY && range->elements >= 3);
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        long long port = range->element[2]->element[1]->integer;
        int node = -1;
        for (int i = 0; i < NODES; i++)
            if (f->redis.nodes[i].port == port)
                node = i;
        assert_true(node >= 0);
        f->lo[node] = (uint32_t)lo;
        f->hi[node] = (uint32_t)hi;
        for (long long sl = lo; sl <= hi; sl++)
            f->owner[sl] = (signed char)node;
    }
    freeReplyObject(r);
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        assert_true(f->owner[sl] >= 0);
    for (int i = 0; i < NODES; i++) {
        r = node_command(f, i, "CLUSTER MYID");
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        snprintf(f->id[i], sizeof(f->id[i]), "%s", r->str);
        freeReplyObject(r);
        /* one contiguous range each, as rs_test_redis_start_cluster splits */
        for (uint32_t sl = f->lo[i]; sl <= f->hi[i]; sl++)
            assert_int_equal(f->owner[sl], i);
    }
}

/* The first user id >= from whose slot node serves (by the layout read at
 * setup). */
static uint64_t user_on(const fixture *f, int node, uint64_t from)
{
    for (uint64_t id = from;; id++)
        if (f->owner[rs_user_slot(id)] == node)
            return id;
}

/* Two user ids >= from in the same slot (a into *a, b into *b). */
static void same_slot_pair(uint64_t from, uint64_t *a, uint64_t *b)
{
    static uint64_t first[RS_SLOTS];
    memset(first, 0, sizeof(first));
    for (uint64_t id = from;; id++) {
        uint32_t sl = rs_user_slot(id);
        if (first[sl] != 0) {
            *a = first[sl];
            *b = id;
            return;
        }
        first[sl] = id;
    }
}

/* n (<= 4) user ids >= from that share one slot served by node. */
static void slot_users(const fixture *f, int node, uint64_t from, int n, uint64_t *out)
{
    static uint64_t seen[RS_SLOTS][4];
    static unsigned char count[RS_SLOTS];
    memset(count, 0, sizeof(count));
    for (uint64_t id = from;; id++) {
        uint32_t sl = rs_user_slot(id);
        if (f->owner[sl] != node)
            continue;
        seen[sl][count[sl]++] = id;
        if (count[sl] == n) {
            memcpy(out, seen[sl], (size_t)n * sizeof(*out));
            return;
        }
    }
}

/* The index (for store_cluster_node_at) of the store's node for node i. */
static size_t store_node(const fixture *f, int i)
{
    char want[80];
    snprintf(want, sizeof(want), "127.0.0.1:%d", f->redis.nodes[i].port);
    size_t n = store_cluster_node_count(cl(f));
    for (size_t k = 0; k < n; k++) {
        store_cluster_node nd;
        store_cluster_node_at(cl(f), k, &nd);
        if (strcmp(nd.addr, want) == 0)
            return k;
    }
    fail_msg("the store has no node %s", want);
    return 0;
}

static store_cluster_node node_info(const fixture *f, int i)
{
    store_cluster_node nd;
    store_cluster_node_at(cl(f), store_node(f, i), &nd);
    return nd;
}

/* ---- fixtures ------------------------------------------------------------------ */

static rs_store *new_store(fixture *f, const char *seeds, uint32_t timeout_ms,
                           uint32_t wait_replicas, bool track_state)
{
    store_cluster_config cc = {
        .seeds = seeds,
        .timeout_ms = timeout_ms,
        .backoff_min_ms = 10,
        .backoff_max_ms = 100,
        .max_states = MAX_STATES,
        .wait_replicas = wait_replicas,
        .log = &f->log,
    };
    return store_cluster_new(f->base, &cc, track_state ? state_fn : NULL, f);
}

typedef struct users_up_arg {
    fixture *f;
    const rs_store *s;
} users_up_arg;

/* The store is up and every primary's connection is up. */
static bool all_primaries_up(void *arg)
{
    users_up_arg *a = arg;
    if (!store_up(a->s))
        return false;
    for (int i = 0; i < NODES; i++)
        if (!store_user_up(a->s, user_on(a->f, i, 1)))
            return false;
    return true;
}

static void wait_all_up(fixture *f, const rs_store *s)
{
    users_up_arg a = {f, s};
    assert_true(run_until(f, all_primaries_up, &a, 10000));
}

static int setup_base(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->log.min = getenv("RS_TEST_VERBOSE") != NULL ? RS_LOG_DEBUG : RS_LOG_OFF;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    setup_base(state);
    fixture *f = *state;
    /* No redis-server means failure, never a skip. */
    assert_int_equal(rs_test_redis_start_cluster(&f->redis), 0);
    assert_true(rs_test_redis_is_cluster(&f->redis));
    read_layout(f);
    char seeds[256];
    rs_test_redis_addr(&f->redis, seeds, sizeof(seeds));
    f->s = new_store(f, seeds, TIMEOUT_MS, 0, true);
    assert_non_null(f->s);
    assert_true(store_persistent(f->s));
    assert_true(run_until(f, store_is_up, f, 10000));
    wait_all_up(f, f->s);
    assert_int_equal(f->ups, 1);
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_free(f->s);
    event_base_free(f->base);
    if (f->redis.n_nodes > 0)
        rs_test_redis_cleanup(&f->redis);
    free(f);
    return 0;
}

/* ---- calls ------------------------------------------------------------------------ */

static void load(fixture *f, uint64_t user_id, loadrec *l)
{
    memset(l, 0, sizeof(*l));
    assert_int_equal(store_load(f->s, user_id, load_fn, l), 0);
    assert_int_equal(l->fired, 0); /* never inside the call */
    assert_true(run_until(f, load_fired, l, 3 * TIMEOUT_MS));
    assert_int_equal(l->fired, 1);
}

static void merge_on(fixture *f, rs_store *s, const rs_store_user *users, uint32_t n,
                     mergerec *m)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(store_merge(s, users, n, merge_fn, m), 0);
    assert_int_equal(m->fired, 0); /* never inside the call */
    assert_true(run_until(f, merge_fired, m, 3 * TIMEOUT_MS));
    rs_sleep_ms(1);
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* nothing fires twice */
    assert_int_equal(m->fired, 1);
    assert_int_equal(m->n, n);
}

static void merge(fixture *f, const rs_store_user *users, uint32_t n, mergerec *m)
{
    merge_on(f, f->s, users, n, m);
}

/* A user with one state (channel 1, message msg) at version ver. */
static void one_state_user(tuser *t, rs_store_user *su, uint64_t user_id, uint64_t ver,
                           uint64_t msg)
{
    tuser_init(t, user_id, ver, 0);
    tuser_state(t, 1, msg, 0, ver, 0);
    *su = (rs_store_user){.user = &t->u, .nstates = unflushed(t)}; /* the rest 0 */
}

static void expect_field(fixture *f, uint64_t user_id, const char *field, const char *want)
{
    char v[128];
    hget(f, user_id, field, v, sizeof(v));
    if (strcmp(v, want) != 0)
        fail_msg("readstates:{%llu} %s = \"%s\", want \"%s\"", (unsigned long long)user_id,
                 field, v, want);
}

/* ---- the cases ------------------------------------------------------------------------ */

static void test_identity(void **state)
{
    fixture *f = *state;
    char key[48];
    assert_int_equal(store_key(f->s, 7, key, sizeof(key)), 14);
    assert_string_equal(key, "readstates:{7}");
    assert_string_equal(f->s->ops->name, "redis-cluster");
    for (uint64_t id = 1; id < 100; id++)
        assert_int_equal(store_group(f->s, id), rs_user_slot(id));
    store_cluster_stats st = stats(f);
    assert_int_equal(st.nodes, NODES); /* the seeds are the primaries */
    assert_int_equal(st.slots_covered, RS_SLOTS);
    assert_int_equal(st.slots_unreachable, 0);
    assert_true(st.refreshes >= 1);
    for (int i = 0; i < NODES; i++) {
        store_cluster_node nd = node_info(f, i);
        assert_true(nd.up);
        assert_int_equal(nd.slots, f->hi[i] - f->lo[i] + 1);
    }
    char buf[64];
    assert_int_equal(store_cluster_unreachable(cl(f), buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
}

/* A load asked for before the first table came (the first connections
 * still under way) waits for it instead of failing. */
static void test_load_during_first_connect(void **state)
{
    fixture *f = *state;
    char seeds[256];
    rs_test_redis_addr(&f->redis, seeds, sizeof(seeds));
    rs_store *fresh = new_store(f, seeds, TIMEOUT_MS, 0, false);
    assert_non_null(fresh);
    assert_false(store_up(fresh)); /* nothing answered yet */
    loadrec l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load(fresh, user_on(f, 2, 1), load_fn, &l), 0);
    assert_int_equal(l.fired, 0);
    assert_true(run_until(f, load_fired, &l, 3 * TIMEOUT_MS));
    assert_int_equal(l.fired, 1);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 0);
    assert_true(store_up(fresh));
    store_free(fresh);
}

/* Users on each of the three primaries: absent, merged, read back from
 * their own node, changed and deleted, loaded. */
static void test_round_trip_three_primaries(void **state)
{
    fixture *f = *state;
    uint64_t ids[NODES];
    for (int i = 0; i < NODES; i++) {
        ids[i] = user_on(f, i, 1000 + 100 * (uint64_t)i);
        loadrec l;
        load(f, ids[i], &l);
        assert_int_equal(l.result, RS_STORE_OK);
        assert_int_equal(l.nstates, 0);
        assert_int_equal(l.version, 0);
    }
    uint64_t replies0[NODES];
    for (int i = 0; i < NODES; i++)
        replies0[i] = node_info(f, i).replies;

    tuser t[NODES];
    rs_store_user su[NODES];
    for (int i = 0; i < NODES; i++) {
        tuser_init(&t[i], ids[i], 3, 0);
        tuser_state(&t[i], 100, 1000 + (uint64_t)i, 2, 1, 0);
        tuser_state(&t[i], 200, 2000 + (uint64_t)i, 0, 2, RS_STATE_MANUAL);
        tuser_state(&t[i], 300, 3000 + (uint64_t)i, 1, 3, 0);
        su[i] = (rs_store_user){.user = &t[i].u, .nstates = unflushed(&t[i])};
    }
    mergerec m;
    merge(f, su, NODES, &m);
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(m.out[i].result, RS_STORE_OK);
        /* each primary answered its own user's EVALSHA */
        assert_true(node_info(f, i).replies > replies0[i]);
        char v[64], want[64];
        node_hget(f, i, false, ids[i], "_v", v, sizeof(v));
        assert_string_equal(v, "3");
        node_hget(f, i, false, ids[i], "200", v, sizeof(v));
        snprintf(want, sizeof(want), "2:%llu:0:1", 2000ull + (unsigned)i);
        assert_string_equal(v, want);
        snprintf(want, sizeof(want), "1:%llu:2:0", 1000ull + (unsigned)i);
        expect_field(f, ids[i], "100", want);
        snprintf(want, sizeof(want), "3:%llu:1:0", 3000ull + (unsigned)i);
        expect_field(f, ids[i], "300", want);
    }

    /* A later change and a delete: only states newer than flushed go. */
    for (int i = 0; i < NODES; i++) {
        t[i].u.flushed_version = 3;
        t[i].u.version = 5;
        tuser_message(&t[i], 0, 1500 + (uint64_t)i);
        tuser_version(&t[i], 0, 4);
        tuser_version(&t[i], 2, 5);
        tuser_tombstone(&t[i], 2);
        su[i].nstates = unflushed(&t[i]);
        assert_int_equal(su[i].nstates, 2);
    }
    merge(f, su, NODES, &m);
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(m.out[i].result, RS_STORE_OK);
        expect_field(f, ids[i], "_v", "5");
        expect_field(f, ids[i], "300", "");
        loadrec l;
        load(f, ids[i], &l);
        assert_int_equal(l.result, RS_STORE_OK);
        assert_int_equal(l.version, 5);
        assert_int_equal(l.nstates, 2);
        bool seen100 = false, seen200 = false;
        for (size_t k = 0; k < l.nstates; k++) {
            const rs_state *st = &l.states[k];
            if (st->channel_id == 100) {
                seen100 = true;
                assert_int_equal(st->last_message_id, 1500 + (uint64_t)i);
                assert_int_equal(st->mention_count, 2);
                assert_int_equal(st->version, 4);
            } else if (st->channel_id == 200) {
                seen200 = true;
                assert_int_equal(st->last_message_id, 2000 + (uint64_t)i);
                assert_int_equal(st->flags, RS_STATE_MANUAL);
            } else {
                fail_msg("unexpected channel %llu", (unsigned long long)st->channel_id);
            }
        }
        assert_true(seen100 && seen200);
    }
}

/* One call, users of three slots (two sharing one): one callback, n
 * outcomes in the caller's order, one EVALSHA per slot. */
static void test_merge_groups_by_slot(void **state)
{
    fixture *f = *state;
    uint64_t a, b;
    same_slot_pair(5000, &a, &b);
    assert_int_equal(rs_user_slot(a), rs_user_slot(b));
    int na = f->owner[rs_user_slot(a)];
    uint64_t c = user_on(f, (na + 1) % NODES, 6000);
    uint64_t d = user_on(f, (na + 2) % NODES, 7000);
    /* the caller's order mixes the groups: a, c, b, d */
    uint64_t ids[4] = {a, c, b, d};
    tuser t[4];
    rs_store_user su[4];
    for (int i = 0; i < 4; i++)
        one_state_user(&t[i], &su[i], ids[i], 7, 100 + (uint64_t)i);
    store_cluster_stats st0 = stats(f);
    mergerec m;
    merge(f, su, 4, &m);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(m.out[i].result, RS_STORE_OK);
        char want[64];
        snprintf(want, sizeof(want), "7:%d:0:0", 100 + i);
        expect_field(f, ids[i], "1", want);
    }
    store_cluster_stats st1 = stats(f);
    assert_int_equal(st1.merge_calls - st0.merge_calls, 3);           /* 3 slots */
    assert_int_equal(st1.merge_call_users - st0.merge_call_users, 4); /* 4 users */
    assert_int_equal(st1.group_calls[0] - st0.group_calls[0], 2);     /* c, d */
    assert_int_equal(st1.group_calls[1] - st0.group_calls[1], 1);     /* a + b */
    assert_int_equal(st1.group_calls[2], st0.group_calls[2]);
    assert_int_equal(st1.group_calls[3], st0.group_calls[3]);
    assert_int_equal(st1.retries, st0.retries);

    /* 3 users in 2 slots: 2 EVALSHAs, one of them with 2 users. */
    rs_store_user two[3] = {su[2], su[1], su[0]}; /* b, c, a */
    for (int i = 0; i < 3; i++) {
        t[i].u.version = 8;
        tuser_version(&t[i], 0, 8);
    }
    merge(f, two, 3, &m);
    for (int i = 0; i < 3; i++)
        assert_int_equal(m.out[i].result, RS_STORE_OK);
    store_cluster_stats st2 = stats(f);
    assert_int_equal(st2.merge_calls - st1.merge_calls, 2);
    assert_int_equal(st2.merge_call_users - st1.merge_call_users, 3);
    assert_int_equal(st2.group_calls[0] - st1.group_calls[0], 1);
    assert_int_equal(st2.group_calls[1] - st1.group_calls[1], 1);
    expect_field(f, a, "_v", "8");
    expect_field(f, b, "_v", "8");
    expect_field(f, c, "_v", "8");
    expect_field(f, d, "_v", "7");
}

/* An invalid stored hash among valid users of one call: that user alone is
 * refused, named by field, wherever it sits in the call and its group. */
static void test_refusal_among_valid(void **state)
{
    fixture *f = *state;
    uint64_t a, b;
    same_slot_pair(9000, &a, &b);
    int na = f->owner[rs_user_slot(a)];
    uint64_t c = user_on(f, (na + 1) % NODES, 9500);
    routed_ok(f, "HSET readstates:{%llu} _v 0005 1 1:1:0:0", (unsigned long long)b);
    uint64_t ids[3] = {a, b, c}; /* b shares a's EVALSHA */
    tuser t[3];
    rs_store_user su[3];
    for (int i = 0; i < 3; i++)
        one_state_user(&t[i], &su[i], ids[i], 9, 50);
    mergerec m;
    merge(f, su, 3, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    assert_int_equal(m.out[1].result, RS_STORE_INVALID);
    if (strstr(m.what[1], "field _v") == NULL)
        fail_msg("what: \"%s\"", m.what[1]);
    assert_int_equal(m.out[2].result, RS_STORE_OK);
    assert_string_equal(m.what[0], "");
    assert_string_equal(m.what[2], "");
    expect_field(f, b, "_v", "0005"); /* never written over */
    expect_field(f, b, "1", "1:1:0:0");
    expect_field(f, a, "1", "9:50:0:0");
    expect_field(f, c, "1", "9:50:0:0");

    loadrec l;
    load(f, b, &l);
    assert_int_equal(l.result, RS_STORE_INVALID);
    assert_non_null(strstr(l.what, "_v"));
    load(f, a, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.nstates, 1);

    /* A key that is not a hash: refused too, by the load and the merge. */
    routed_ok(f, "SET readstates:{%llu} plain", (unsigned long long)c);
    load(f, c, &l);
    assert_int_equal(l.result, RS_STORE_INVALID);
    assert_non_null(strstr(l.what, "WRONGTYPE"));
    merge(f, su, 3, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    assert_int_equal(m.out[1].result, RS_STORE_INVALID);
    assert_int_equal(m.out[2].result, RS_STORE_INVALID);
    assert_non_null(strstr(m.what[2], "WRONGTYPE"));
}

/* SCRIPT FLUSH on every primary: each group's NOSCRIPT loads the script
 * again on its connection and resends; the call lands. */
static void test_noscript_reloaded(void **state)
{
    fixture *f = *state;
    /* one user per primary, and a second group on node 0 (another slot):
     * its EVALSHA is in the pipeline behind the first when both NOSCRIPT */
    enum { N = NODES + 1 };
    uint64_t ids[N];
    tuser t[N];
    rs_store_user su[N];
    for (int i = 0; i < NODES; i++)
        ids[i] = user_on(f, i, 31000 + 100 * (uint64_t)i);
    ids[NODES] = user_on(f, 0, ids[0] + 1);
    while (rs_user_slot(ids[NODES]) == rs_user_slot(ids[0]))
        ids[NODES] = user_on(f, 0, ids[NODES] + 1);
    for (int i = 0; i < N; i++)
        one_state_user(&t[i], &su[i], ids[i], 1, 70 + (uint64_t)i);
    assert_int_equal(rs_test_redis_command_all(&f->redis, NULL, "SCRIPT FLUSH"), 0);
    store_cluster_stats st0 = stats(f);
    mergerec m;
    merge(f, su, N, &m);
    for (int i = 0; i < N; i++) {
        if (m.out[i].result != RS_STORE_OK)
            fail_msg("user %d: result %d what \"%s\"", i, m.out[i].result, m.what[i]);
        char want[32];
        snprintf(want, sizeof(want), "1:%d:0:0", 70 + i);
        expect_field(f, ids[i], "1", want);
    }
    store_cluster_stats st1 = stats(f);
    assert_int_equal(st1.noscript - st0.noscript, N); /* one per group */
    assert_int_equal(st1.retries - st0.retries, N);   /* each resent once */
    assert_int_equal(st1.merge_calls - st0.merge_calls, 2 * N);
    assert_true(store_up(f->s)); /* a NOSCRIPT is not an outage */

    /* Loaded again: the next merge goes through at once. */
    for (int i = 0; i < N; i++) {
        t[i].u.version = 2;
        tuser_version(&t[i], 0, 2);
    }
    merge(f, su, N, &m);
    for (int i = 0; i < N; i++)
        assert_int_equal(m.out[i].result, RS_STORE_OK);
    store_cluster_stats st2 = stats(f);
    assert_int_equal(st2.noscript, st1.noscript);
    assert_int_equal(st2.retries, st1.retries);
    for (int i = 0; i < N; i++)
        expect_field(f, ids[i], "_v", "2");
}

/* Move slot from node src to node dst by hand, its keys with it. */
static void move_slot(fixture *f, uint32_t slot, int src, int dst)
{
    node_ok(f, dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, f->id[src]);
    node_ok(f, src, "CLUSTER SETSLOT %u MIGRATING %s", slot, f->id[dst]);
    redisReply *r = node_command(f, src, "CLUSTER GETKEYSINSLOT %u 100", slot);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t k = 0; k < r->elements; k++)
        node_ok(f, src, "MIGRATE 127.0.0.1 %d %s 0 5000", f->redis.nodes[dst].port,
                r->element[k]->str);
    freeReplyObject(r);
    /* the target first, then the source, then the others */
    node_ok(f, dst, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
    node_ok(f, src, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
    for (int i = 0; i < NODES; i++)
        if (i != src && i != dst)
            node_ok(f, i, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
}

typedef struct refresh_arg {
    fixture *f;
    uint64_t before;
} refresh_arg;

static bool refreshed(void *arg)
{
    refresh_arg *a = arg;
    return stats(a->f).refreshes > a->before;
}

typedef struct age_arg {
    fixture *f;
    uint64_t ms;
} age_arg;

static bool table_older(void *arg)
{
    age_arg *a = arg;
    return stats(a->f).table_age_ms >= a->ms;
}

/* A refresh the first connections scheduled (a table taken before every
 * primary was up is asked again a second later) has come and gone: from
 * now on only what the test does makes the store refresh. */
static void settle_table(fixture *f)
{
    age_arg a = {f, 1200};
    assert_true(run_until(f, table_older, &a, 5000));
}

/* A slot moved behind the store's back: MOVED patches the table and the
 * request lands on the new owner; a refresh follows within about 1 s. */
static void test_moved(void **state)
{
    fixture *f = *state;
    uint64_t u = user_on(f, 0, 61000);
    uint32_t slot = rs_user_slot(u);
    int src = 0, dst = 1;
    tuser t;
    rs_store_user su;
    one_state_user(&t, &su, u, 4, 400);
    mergerec m;
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    settle_table(f);

    store_cluster_stats st0 = stats(f);
    store_cluster_node s0 = node_info(f, src), d0 = node_info(f, dst);
    move_slot(f, slot, src, dst);
    char v[128];
    node_hget(f, dst, false, u, "1", v, sizeof(v));
    assert_string_equal(v, "4:400:0:0"); /* the key went with its slot */
    node_hget(f, src, false, u, "1", v, sizeof(v));
    assert_non_null(strstr(v, "ERR:MOVED")); /* the old owner redirects */

    loadrec l;
    load(f, u, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.version, 4);
    assert_int_equal(l.nstates, 1);
    assert_int_equal(l.states[0].last_message_id, 400);
    store_cluster_stats st1 = stats(f);
    assert_true(st1.moved >= st0.moved + 1);
    assert_int_equal(st1.ask, st0.ask);
    store_cluster_node d1 = node_info(f, dst), s1 = node_info(f, src);
    assert_true(d1.moved_to >= d0.moved_to + 1);
    assert_int_equal(s1.moved_to, s0.moved_to);
    /* the table points at the new owner at once (patched, not refreshed) */
    assert_int_equal(d1.slots, d0.slots + 1);
    assert_int_equal(s1.slots, s0.slots - 1);

    t.u.flushed_version = 4;
    t.u.version = 6;
    tuser_version(&t, 0, 6);
    tuser_message(&t, 0, 600);
    su.nstates = unflushed(&t);
    uint64_t moved = st1.moved;
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    node_hget(f, dst, false, u, "1", v, sizeof(v));
    assert_string_equal(v, "6:600:0:0");
    assert_int_equal(stats(f).moved, moved); /* straight to the new owner */

    /* The MOVED scheduled a refresh: it comes within about a second. */
    refresh_arg ra = {f, st0.refreshes};
    assert_true(run_until(f, refreshed, &ra, 2500));
    store_cluster_stats st2 = stats(f);
    assert_true(st2.table_age_ms < 1000);
    assert_int_equal(st2.refresh_errors, st0.refresh_errors);
    assert_int_equal(st2.slots_covered, RS_SLOTS);
    assert_int_equal(node_info(f, dst).slots, d0.slots + 1);
    assert_int_equal(node_info(f, src).slots, s0.slots - 1);
    assert_int_equal(st2.failovers, st0.failovers); /* resharding is no failover */
}

/* A slot migrating (source) / importing (target): a new user of it is
 * ASKed to the target and written there; the table is not touched. */
static void test_ask(void **state)
{
    fixture *f = *state;
    int src = 2, dst = 0;
    uint64_t same[3];
    slot_users(f, src, 71000, 3, same);
    uint64_t u = same[0];
    uint32_t slot = rs_user_slot(u);
    redisReply *r = node_command(f, src, "CLUSTER COUNTKEYSINSLOT %u", slot);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 0); /* the user is absent */
    freeReplyObject(r);
    settle_table(f);
    node_ok(f, dst, "CLUSTER SETSLOT %u IMPORTING %s", slot, f->id[src]);
    node_ok(f, src, "CLUSTER SETSLOT %u MIGRATING %s", slot, f->id[dst]);

    store_cluster_stats st0 = stats(f);
    store_cluster_node s0 = node_info(f, src), d0 = node_info(f, dst);
    tuser t;
    rs_store_user su;
    one_state_user(&t, &su, u, 3, 333);
    mergerec m;
    merge(f, &su, 1, &m);
    if (m.out[0].result != RS_STORE_OK)
        fail_msg("merge during migration: result %d what \"%s\"", m.out[0].result, m.what[0]);
    store_cluster_stats st1 = stats(f);
    assert_true(st1.ask >= st0.ask + 1);
    assert_int_equal(st1.moved, st0.moved); /* an ASK is not a MOVED */
    store_cluster_node s1 = node_info(f, src), d1 = node_info(f, dst);
    assert_int_equal(s1.slots, s0.slots); /* the table is not patched */
    assert_int_equal(d1.slots, d0.slots);
    assert_int_equal(d1.moved_to, d0.moved_to);

    /* It is on the target, not the source. */
    char v[128];
    node_hget(f, dst, true, u, "1", v, sizeof(v));
    assert_string_equal(v, "3:333:0:0");
    node_hget(f, dst, true, u, "_v", v, sizeof(v));
    assert_string_equal(v, "3");
    r = node_command(f, src, "CLUSTER COUNTKEYSINSLOT %u", slot);
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);

    /* A load of it is ASKed too, and finds it. */
    loadrec l;
    load(f, u, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.version, 3);
    assert_int_equal(l.nstates, 1);
    store_cluster_stats st2 = stats(f);
    assert_true(st2.ask >= st1.ask + 1);
    assert_int_equal(st2.moved, st0.moved);

    /* Two more new users of the slot in one call: one EVALSHA with two
     * keys, none of them on the source (ASK) nor the target, which answers
     * a multi-key command with keys missing TRYAGAIN while it imports. The
     * call completes once, within the request timeout, each user either
     * merged or not known (retried by the caller). */
    tuser t2[2];
    rs_store_user su2[2];
    one_state_user(&t2[0], &su2[0], same[1], 5, 501);
    one_state_user(&t2[1], &su2[1], same[2], 5, 502);
    long long m0 = rs_mono_ms();
    merge(f, su2, 2, &m);
    long long took = rs_mono_ms() - m0;
    store_cluster_stats st3 = stats(f);
    if (getenv("RS_TEST_VERBOSE") != NULL)
        fprintf(stderr,
                "two users of a migrating slot: results %d %d (\"%s\") in %lld ms, ask +%llu "
                "tryagain +%llu redirect_caps +%llu deadline_fails +%llu\n",
                m.out[0].result, m.out[1].result, m.what[0], took,
                (unsigned long long)(st3.ask - st2.ask),
                (unsigned long long)(st3.tryagain - st2.tryagain),
                (unsigned long long)(st3.redirect_caps - st2.redirect_caps),
                (unsigned long long)(st3.deadline_fails - st2.deadline_fails));
    assert_true(took < TIMEOUT_MS + 500);
    for (int i = 0; i < 2; i++)
        assert_true(m.out[i].result == RS_STORE_OK || m.out[i].result == RS_STORE_ERROR);
    assert_int_equal(st3.moved, st0.moved);

    /* Finish the migration (nothing left on the source): routed reads see
     * it, and the store follows with a MOVED. */
    node_ok(f, dst, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
    node_ok(f, src, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
    node_ok(f, 1, "CLUSTER SETSLOT %u NODE %s", slot, f->id[dst]);
    expect_field(f, u, "1", "3:333:0:0");
    load(f, u, &l);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.version, 3);
    assert_true(stats(f).moved >= st0.moved + 1);
    /* The pair lands now (merged again, as the engine would retry it). */
    merge(f, su2, 2, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);
    assert_int_equal(m.out[1].result, RS_STORE_OK);
    expect_field(f, same[1], "1", "5:501:0:0");
    expect_field(f, same[2], "1", "5:502:0:0");
}

typedef struct user_arg {
    const rs_store *s;
    uint64_t user_id;
} user_arg;

static bool user_down(void *arg)
{
    user_arg *a = arg;
    return !store_user_up(a->s, a->user_id);
}

static bool user_up(void *arg)
{
    user_arg *a = arg;
    return store_user_up(a->s, a->user_id);
}

/* A primary killed: its users are refused at once while the rest of the
 * store stays up; once it is back, they load again. */
static void test_unreachable_primary(void **state)
{
    fixture *f = *state;
    int k = 1;
    uint64_t uk = user_on(f, k, 81000);
    uint64_t uo[2] = {user_on(f, (k + 1) % NODES, 82000), user_on(f, (k + 2) % NODES, 83000)};
    tuser t;
    rs_store_user su;
    one_state_user(&t, &su, uk, 2, 222);
    mergerec m;
    merge(f, &su, 1, &m);
    assert_int_equal(m.out[0].result, RS_STORE_OK);

    assert_int_equal(rs_proc_kill9(&f->redis.nodes[k].proc), 0);
    user_arg ua = {f->s, uk};
    assert_true(run_until(f, user_down, &ua, 3000)); /* the store saw the drop */

    loadrec l;
    memset(&l, 0, sizeof(l));
    long long t0 = rs_mono_ms();
    assert_int_equal(store_load(f->s, uk, load_fn, &l), -1); /* refused at once */
    assert_true(rs_mono_ms() - t0 < 100);
    assert_int_equal(l.fired, 0);
    assert_false(store_user_up(f->s, uk));
    for (int i = 0; i < 2; i++)
        assert_true(store_user_up(f->s, uo[i]));
    assert_true(store_up(f->s));
    assert_int_equal(f->downs, 0);
    char buf[64], want[64];
    snprintf(want, sizeof(want), "%u-%u", f->lo[k], f->hi[k]);
    uint32_t n = store_cluster_unreachable(cl(f), buf, sizeof(buf));
    assert_int_equal(n, f->hi[k] - f->lo[k] + 1);
    assert_string_equal(buf, want);
    store_cluster_stats st = stats(f);
    assert_int_equal(st.slots_unreachable, n);
    assert_false(node_info(f, k).up);
    assert_true(node_info(f, (k + 1) % NODES).up);
    assert_int_equal(st.failovers, 0); /* no replica took its slots */

    /* A merge of that user fails at once (from the loop, never inside the
     * call): its primary is known unreachable; the caller retries it (the
     * engine a moment later), and users of the same call on primaries that
     * are up are not held back until a deadline. */
    uint64_t unreachable0 = stats(f).unreachable_fails;
    long long m0 = rs_mono_ms();
    merge(f, &su, 1, &m);
    long long waited = rs_mono_ms() - m0;
    assert_int_equal(m.out[0].result, RS_STORE_ERROR);
    assert_true(waited < TIMEOUT_MS / 2);
    assert_int_equal(stats(f).unreachable_fails, unreachable0 + 1);
    run_for(f, 50);
    assert_int_equal(l.fired, 0); /* the refused load never runs */
    assert_int_equal(stats(f).slots_unreachable, n);

    /* Back on the same port and data directory. */
    assert_int_equal(rs_test_redis_restart(&f->redis), 0);
    assert_true(run_until(f, user_up, &ua, 5000));
    long long deadline = rs_mono_ms() + 5000;
    do {
        memset(&l, 0, sizeof(l));
        if (store_load(f->s, uk, load_fn, &l) == 0) {
            assert_int_equal(l.fired, 0);
            assert_true(run_until(f, load_fired, &l, 3 * TIMEOUT_MS));
        } else {
            run_for(f, 50);
        }
    } while (l.result != RS_STORE_OK && rs_mono_ms() < deadline);
    assert_int_equal(l.fired, 1);
    assert_int_equal(l.result, RS_STORE_OK);
    assert_int_equal(l.version, 2); /* what it held before the kill */
    assert_int_equal(l.states[0].last_message_id, 222);
    assert_int_equal(store_cluster_unreachable(cl(f), buf, sizeof(buf)), 0);
    assert_true(store_up(f->s));
}

/* Merges to primaries short of replicas for WAIT fail inside the merge
 * call: the outcome still comes from the loop, never inside the call. */
static void test_all_groups_fail_inside_merge(void **state)
{
    fixture *f = *state;
    char seeds[256];
    rs_test_redis_addr(&f->redis, seeds, sizeof(seeds));
    /* WAIT 1 <timeout/2>: these primaries have no replica */
    rs_store *w = new_store(f, seeds, 1000, 1, false);
    assert_non_null(w);
    wait_all_up(f, w);
    tuser t[4];
    rs_store_user su[4];
    uint64_t ids[4] = {user_on(f, 0, 91000), user_on(f, 0, 92000), user_on(f, 1, 93000),
                       user_on(f, 2, 94000)};
    for (int i = 0; i < 4; i++)
        one_state_user(&t[i], &su[i], ids[i], 1, 10);
    /* One merge per primary: each WAIT comes back short, so each primary is
     * marked short of replicas. */
    mergerec m;
    rs_store_user first[3] = {su[0], su[2], su[3]};
    merge_on(f, w, first, 3, &m);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m.out[i].result, RS_STORE_ERROR);
        assert_non_null(strstr(m.what[i], "WAIT"));
    }
    for (int i = 0; i < 4; i++)
        assert_false(store_user_up(w, ids[i]));
    assert_true(store_up(w));
    store_cluster_stats st0;
    store_cluster_get_stats(store_cluster_of(w), &st0);

    /* Every group fails inside the call now. */
    memset(&m, 0, sizeof(m));
    assert_int_equal(store_merge(w, su, 4, merge_fn, &m), 0);
    assert_int_equal(m.fired, 0); /* never inside the call */
    assert_true(run_until(f, merge_fired, &m, 1000));
    run_for(f, 20);
    assert_int_equal(m.fired, 1);
    assert_int_equal(m.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(m.out[i].result, RS_STORE_ERROR);
    store_cluster_stats st1;
    store_cluster_get_stats(store_cluster_of(w), &st1);
    uint32_t slots = 4; /* groups: one per distinct slot */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            if (rs_user_slot(ids[i]) == rs_user_slot(ids[j])) {
                slots--;
                break;
            }
    assert_int_equal(st1.wait_short_fails - st0.wait_short_fails, slots);
    assert_int_equal(st1.merge_calls, st0.merge_calls); /* none sent */
    store_free(w);
}

/* store_free with loads and merges pending: each fn exactly once, during
 * the call, with an error. */
static void test_free_completes_pending(void **state)
{
    fixture *f = *state;
    loadrec l[NODES];
    for (int i = 0; i < NODES; i++) {
        memset(&l[i], 0, sizeof(l[i]));
        assert_int_equal(store_load(f->s, user_on(f, i, 100), load_fn, &l[i]), 0);
        assert_int_equal(l[i].fired, 0);
    }
    uint64_t a, b;
    same_slot_pair(200, &a, &b);
    uint64_t ids[4] = {a, user_on(f, 0, 300), b, user_on(f, 2, 400)};
    tuser t[5];
    rs_store_user su[5];
    for (int i = 0; i < 4; i++)
        one_state_user(&t[i], &su[i], ids[i], 1, 1);
    one_state_user(&t[4], &su[4], user_on(f, 1, 500), 1, 1);
    mergerec m1, m2;
    memset(&m1, 0, sizeof(m1));
    memset(&m2, 0, sizeof(m2));
    assert_int_equal(store_merge(f->s, su, 4, merge_fn, &m1), 0);
    assert_int_equal(store_merge(f->s, &su[4], 1, merge_fn, &m2), 0);
    assert_int_equal(m1.fired + m2.fired, 0);

    /* A store still on its first connections: the load is parked. */
    char seeds[256];
    rs_test_redis_addr(&f->redis, seeds, sizeof(seeds));
    rs_store *fresh = new_store(f, seeds, TIMEOUT_MS, 0, false);
    assert_non_null(fresh);
    loadrec lp;
    memset(&lp, 0, sizeof(lp));
    assert_int_equal(store_load(fresh, 7, load_fn, &lp), 0);
    store_free(fresh);
    assert_int_equal(lp.fired, 1);
    assert_int_equal(lp.result, RS_STORE_ERROR);

    store_free(f->s);
    f->s = NULL;
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(l[i].fired, 1);
        assert_int_equal(l[i].result, RS_STORE_ERROR);
    }
    assert_int_equal(m1.fired, 1);
    assert_int_equal(m1.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(m1.out[i].result, RS_STORE_ERROR);
    assert_int_equal(m2.fired, 1);
    assert_int_equal(m2.n, 1);
    assert_int_equal(m2.out[0].result, RS_STORE_ERROR);
    /* nothing left for the loop to run */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(m1.fired + m2.fired, 2);
}

/* A merge asked for from a callback that store_free runs: refused (-1), or
 * accepted and then completed with an error before store_free returns (free
 * completes what is pending) -- never lost, never run inside the call. */
static void test_merge_from_callback_during_free(void **state)
{
    fixture *f = *state;
    tuser t[2];
    rs_store_user su[2];
    one_state_user(&t[0], &su[0], user_on(f, 0, 100), 1, 1);
    one_state_user(&t[1], &su[1], user_on(f, 1, 200), 1, 1);
    mergerec m, again;
    memset(&m, 0, sizeof(m));
    memset(&again, 0, sizeof(again));
    m.again_store = f->s;
    m.again_users = &su[1];
    m.again = &again;
    assert_int_equal(store_merge(f->s, su, 1, merge_fn, &m), 0);
    store_free(f->s);
    f->s = NULL;
    assert_int_equal(m.fired, 1);
    assert_int_equal(m.out[0].result, RS_STORE_ERROR);
    assert_int_equal(m.again_fired_at_return, 0); /* never inside the call */
    if (m.again_rc == 0) {
        if (again.fired != 1)
            fail_msg("a merge accepted (0) from a callback during store_free never "
                     "completed: fired %d times by the time store_free returned",
                     again.fired);
        assert_int_equal(again.out[0].result, RS_STORE_ERROR);
    } else {
        assert_int_equal(m.again_rc, -1);
        assert_int_equal(again.fired, 0);
    }
}

typedef struct tick_arg {
    bool done;
} tick_arg;

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ((tick_arg *)arg)->done = true;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct errors_arg {
    const rs_store *s;
    uint64_t want;
} errors_arg;

static bool errors_seen(void *arg)
{
    errors_arg *a = arg;
    rs_store_stats st;
    store_stats(a->s, &st);
    return st.errors >= a->want;
}

/* Every seed a closed port: never up, loads and merges refused, and the
 * loop idles between reconnects (no busy loop). */
static void test_closed_seeds(void **state)
{
    fixture *f = *state;
    char seeds[128];
    int p[NODES];
    for (int i = 0; i < NODES; i++) {
        p[i] = rs_free_port();
        assert_true(p[i] > 0);
    }
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", p[0], p[1], p[2]);
    f->s = new_store(f, seeds, TIMEOUT_MS, 0, true);
    assert_non_null(f->s);
    assert_false(store_up(f->s));
    /* Every seed's first connection has failed. */
    errors_arg ea = {f->s, NODES};
    assert_true(run_until(f, errors_seen, &ea, 3000));
    loadrec l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_load(f->s, 1, load_fn, &l), -1);
    tuser t;
    rs_store_user su;
    one_state_user(&t, &su, 1, 1, 1);
    mergerec m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(store_merge(f->s, &su, 1, merge_fn, &m), -1);
    assert_false(store_user_up(f->s, 1));

    /* One second of the loop: a few reconnects, not a spin. */
    tick_arg ta = {false};
    struct event *tick = evtimer_new(f->base, tick_cb, &ta);
    assert_non_null(tick);
    struct timeval one = {1, 0};
    evtimer_add(tick, &one);
    double cpu0 = cpu_seconds();
    long long t0 = rs_mono_ms();
    long iterations = 0;
    while (!ta.done && rs_mono_ms() - t0 < 3000) {
        event_base_loop(f->base, EVLOOP_ONCE);
        iterations++;
    }
    double cpu = cpu_seconds() - cpu0;
    long long wall = rs_mono_ms() - t0;
    event_free(tick);
    if (getenv("RS_TEST_VERBOSE") != NULL)
        fprintf(stderr, "closed seeds: %ld loop turns, %.3f s CPU in %lld ms\n", iterations,
                cpu, wall);
    assert_true(ta.done);
    assert_true(wall >= 990 && wall < 2500);
    if (iterations > 300 || cpu > 0.25)
        fail_msg("the loop spins: %ld turns, %.3f s CPU in %lld ms", iterations, cpu, wall);

    assert_false(store_up(f->s));
    assert_int_equal(f->ups, 0);
    assert_int_equal(store_load(f->s, 1, load_fn, &l), -1);
    assert_int_equal(l.fired + m.fired, 0);
    store_cluster_stats st = stats(f);
    assert_int_equal(st.refreshes, 0);
    assert_int_equal(st.slots_covered, 0);
    assert_int_equal(st.slots_unreachable, RS_SLOTS);
    assert_int_equal(st.nodes, NODES);
    char buf[32];
    assert_int_equal(store_cluster_unreachable(cl(f), buf, sizeof(buf)), RS_SLOTS);
    assert_string_equal(buf, "0-16383");
    for (int i = 0; i < NODES; i++) {
        store_cluster_node nd;
        store_cluster_node_at(cl(f), (size_t)i, &nd);
        assert_false(nd.up);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_during_first_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_three_primaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_groups_by_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_among_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noscript_reloaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_primary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_groups_fail_inside_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_completes_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_from_callback_during_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_seeds, setup_base, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
