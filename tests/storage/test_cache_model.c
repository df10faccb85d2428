/*
 * test_cache_model.c: random operations on the cache checked step by step
 * against a plain reference model of DESIGN.md's semantics (one slot per
 * channel in a small fixed set), with and without tombstones, under a
 * per-user limit small enough to be hit often. Further runs start the user
 * just below a multiple of 2^30 (the compact slots keep 30 bits of each
 * version, cache.h) and check ages every 2^5 versions instead of 2^29, so
 * that users turn wide mid-run and both forms are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "cache_view.h"

#define M_CHANNELS 40
#define M_LIMIT    20
#define M_OPS      20000

typedef struct model_state {
    bool live;
    uint64_t msg;
    uint32_t count;
    uint32_t flags;
    uint64_t version;
} model_state;

typedef struct model {
    model_state ch[M_CHANNELS + 1]; /* channel ids 1..M_CHANNELS */
    uint64_t version;
    uint32_t live;
    size_t hooks; /* expected hook calls */
} model;

typedef struct run {
    rs_cache *c;
    rs_user *u;
    model m;
    size_t hooks; /* hook calls seen */
    uint64_t rng;
} run;

static void on_change(void *ctx, rs_user *u, const rs_state *st, bool deleted)
{
    run *r = ctx;
    (void)deleted;
    assert_int_equal(st->version, u->version);
    r->hooks++;
}

static uint32_t rnd(run *r, uint32_t n)
{
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return (uint32_t)(r->rng % n);
}

/* A state as the model would answer it. */
static rs_state model_view(const model *m, uint64_t ch)
{
    rs_state s = {.channel_id = ch};
    if (m->ch[ch].live) {
        s.last_message_id = m->ch[ch].msg;
        s.mention_count = m->ch[ch].count;
        s.flags = m->ch[ch].flags;
        s.version = m->ch[ch].version;
    }
    return s;
}

static void model_apply(model *m, uint64_t ch, uint64_t msg, uint32_t count, uint32_t flags)
{
    model_state *s = &m->ch[ch];
    if (!s->live)
        m->live++;
    s->live = true;
    s->msg = msg;
    s->count = count;
    s->flags = flags;
    s->version = ++m->version;
    m->hooks++;
}

static void check_same(run *r)
{
    assert_int_equal(r->u->version, r->m.version);
    assert_int_equal(r->u->nstates, r->m.live);
    assert_int_equal(r->hooks, r->m.hooks);
    for (uint64_t ch = 1; ch <= M_CHANNELS; ch++) {
        const rs_state *st = tstate(r->u, ch);
        assert_int_equal(st != NULL, r->m.ch[ch].live);
        if (st != NULL) {
            rs_state want = model_view(&r->m, ch);
            assert_memory_equal(st, &want, sizeof(want));
        }
    }
    for (uint32_t i = 1; i < r->u->nslots; i++)
        assert_true(tslot(r->u, i - 1)->channel_id < tslot(r->u, i)->channel_id);
}

static void op_ack_or_set(run *r, bool is_set)
{
    uint64_t ch = rnd(r, M_CHANNELS) + 1;
    uint64_t msg = rnd(r, 30);
    uint32_t count = rnd(r, 3);
    rs_state out, before = model_view(&r->m, ch);
    bool applied;
    rs_status s = is_set ? cache_set(r->c, r->u, ch, msg, count, &out, &applied)
                         : cache_ack(r->c, r->u, ch, msg, count, &out, &applied);
    bool applies = is_set ? !(r->m.ch[ch].live && before.last_message_id == msg &&
                              before.mention_count == count && (before.flags & RS_STATE_MANUAL))
                          : msg > before.last_message_id;
    bool creates = !r->m.ch[ch].live;
    if (applies && creates && r->m.live >= M_LIMIT) {
        assert_int_equal(s, RS_ERR_EXHAUSTED);
        assert_false(applied);
        return;
    }
    assert_int_equal(s, RS_OK);
    assert_int_equal(applied, applies);
    if (applies)
        model_apply(&r->m, ch, msg, count,
                    is_set ? (before.flags | RS_STATE_MANUAL)
                           : (before.flags & ~RS_STATE_MANUAL));
    rs_state want = model_view(&r->m, ch);
    assert_memory_equal(&out, &want, sizeof(want));
}

static void op_mentions(run *r)
{
    uint64_t ch = rnd(r, M_CHANNELS) + 1;
    uint64_t msg = rnd(r, 30);
    uint32_t count = rnd(r, 4) == 0 ? UINT32_MAX - rnd(r, 3) : rnd(r, 3);
    uint32_t mc;
    bool applied;
    rs_state before = model_view(&r->m, ch);
    rs_status s = cache_add_mentions(r->c, r->u, ch, msg, count, &mc, &applied);
    bool applies = msg > before.last_message_id;
    if (applies && !r->m.ch[ch].live && r->m.live >= M_LIMIT) {
        assert_int_equal(s, RS_ERR_EXHAUSTED);
        return;
    }
    assert_int_equal(s, RS_OK);
    assert_int_equal(applied, applies);
    if (applies) {
        uint64_t sum = (uint64_t)before.mention_count + count;
        model_apply(&r->m, ch, before.last_message_id,
                    sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum, before.flags);
    }
    assert_int_equal(mc, model_view(&r->m, ch).mention_count);
}

static void op_bulk(run *r)
{
    rs_ack_entry e[12];
    rs_state out[12];
    size_t n = rnd(r, 12);
    for (size_t i = 0; i < n; i++) {
        e[i].channel_id = rnd(r, M_CHANNELS) + 1;
        e[i].message_id = rnd(r, 30);
    }
    /* Would it pass the limit? Simulate creations in order. */
    bool created[M_CHANNELS + 1] = {0};
    uint32_t live = r->m.live;
    for (size_t i = 0; i < n; i++) {
        uint64_t ch = e[i].channel_id;
        if (e[i].message_id > 0 && !r->m.ch[ch].live && !created[ch]) {
            created[ch] = true;
            live++;
        }
    }
    uint32_t applied;
    rs_status s = cache_bulk_ack(r->c, r->u, e, n, out, &applied);
    if (live > M_LIMIT) {
        assert_int_equal(s, RS_ERR_EXHAUSTED);
        assert_int_equal(applied, 0);
        return;
    }
    assert_int_equal(s, RS_OK);
    uint32_t want_applied = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t ch = e[i].channel_id;
        rs_state before = model_view(&r->m, ch);
        if (e[i].message_id > before.last_message_id) {
            model_apply(&r->m, ch, e[i].message_id, 0, before.flags & ~RS_STATE_MANUAL);
            want_applied++;
        }
        rs_state want = model_view(&r->m, ch);
        assert_memory_equal(&out[i], &want, sizeof(want));
    }
    assert_int_equal(applied, want_applied);
}

static void op_delete(run *r)
{
    bool all = rnd(r, 8) == 0;
    uint64_t ids[6];
    size_t n = rnd(r, 6);
    for (size_t i = 0; i < n; i++)
        ids[i] = rnd(r, M_CHANNELS + 5) + 1; /* some never exist */
    uint32_t want = 0;
    for (uint64_t ch = 1; ch <= M_CHANNELS; ch++) {
        bool listed = all;
        for (size_t i = 0; i < n && !listed; i++)
            listed = ids[i] == ch;
        want += listed && r->m.ch[ch].live;
    }
    uint32_t got = cache_delete(r->c, r->u, ids, n, all);
    assert_int_equal(got, want);
    if (want == 0)
        return;
    r->m.version++;
    for (uint64_t ch = 1; ch <= M_CHANNELS; ch++) {
        bool listed = all;
        for (size_t i = 0; i < n && !listed; i++)
            listed = ids[i] == ch;
        if (listed && r->m.ch[ch].live) {
            r->m.ch[ch] = (model_state){0};
            r->m.live--;
            r->m.hooks++;
        }
    }
}

/* One run of `ops` random operations from user version `start`; returns
 * how many times the user turned wide (0 or 1). */
static uint64_t run_model_from(bool tombstones, uint64_t seed, uint8_t age_bits, uint64_t start,
                               int ops)
{
    run r = {0};
    r.rng = seed;
    rs_cache_config cfg = {0};
    cfg.max_states_per_user = M_LIMIT;
    cfg.keep_tombstones = tombstones;
    cfg.seed[0] = seed;
    cfg.age_check_bits = age_bits;
    r.c = cache_new(&cfg);
    assert_non_null(r.c);
    cache_set_change_hook(r.c, on_change, &r);
    r.u = cache_insert(r.c, 77);
    const uint64_t table_bytes = cache_stats(r.c)->bytes - cache_user_bytes(r.u);
    if (start > 0) { /* an empty user whose deletions left it at `start` */
        r.u->status = RS_USER_LOADING;
        assert_int_equal(cache_load(r.c, r.u, NULL, 0, start), RS_OK);
        r.m.version = start;
    }
    for (int i = 0; i < ops; i++) {
        switch (rnd(&r, 7)) {
        case 0: op_ack_or_set(&r, false); break;
        case 1: op_ack_or_set(&r, false); break;
        case 2: op_ack_or_set(&r, true); break;
        case 3: op_mentions(&r); break;
        case 4: op_bulk(&r); break;
        case 5: op_delete(&r); break;
        default:
            /* The store acknowledges some version; tombstones at or below
             * it go, live states are untouched. */
            cache_flushed(r.c, r.u, r.u->version - rnd(&r, 3) * (r.u->version > 3));
            for (uint32_t k = 0; k < r.u->nslots; k++)
                assert_true(rs_state_live(tslot(r.u, k)) ||
                            tslot(r.u, k)->version > r.u->flushed_version);
            break;
        }
        check_same(&r);
        /* The compact form's promise (cache.h): no slot twice the check's
         * period old, so its 30 bits always name the version. */
        uint64_t period = (uint64_t)1 << (age_bits ? age_bits : 29);
        for (uint32_t k = 0; k < r.u->nslots && !(r.u->bits & RS_USER_WIDE); k++)
            assert_true(r.u->version - tslot(r.u, k)->version < 2 * period);
        /* What the flusher counts matches the versions, in both forms. */
        uint32_t unflushed = 0;
        for (uint32_t k = 0; k < r.u->nslots; k++) {
            bool want = tslot(r.u, k)->version > r.u->flushed_version;
            assert_int_equal(cache_slot_unflushed(r.u, cache_slot_at(r.u, k)), want);
            unflushed += want;
        }
        assert_int_equal(cache_unflushed(r.u), unflushed);
        if (!tombstones)
            assert_int_equal(r.u->nslots, r.u->nstates);
        assert_int_equal(cache_stats(r.c)->states, r.u->nstates);
        /* The accounted bytes are the table's (fixed: one user) plus the
         * user and its slot array at its current size and form. */
        assert_int_equal(cache_user_bytes(r.u),
                         sizeof(rs_user) + (uint64_t)r.u->cap * cache_slot_size(r.u));
        assert_int_equal(cache_stats(r.c)->bytes, table_bytes + cache_user_bytes(r.u));
    }
    uint64_t widened = cache_stats(r.c)->widened;
    assert_int_equal(widened, (r.u->bits & RS_USER_WIDE) ? 1 : 0);
    cache_free(r.c);
    return widened;
}

static void run_model(bool tombstones, uint64_t seed)
{
    /* 20,000 changes at most: never 2^29 old, so the user stays compact. */
    assert_int_equal(run_model_from(tombstones, seed, 0, 0, M_OPS), 0);
}

static void test_model_plain(void **state)
{
    (void)state;
    run_model(false, 0x1234567);
    run_model(false, 0xdeadbeef);
}

static void test_model_tombstones(void **state)
{
    (void)state;
    run_model(true, 0x7654321);
    run_model(true, 0xfeedface);
}

/* Across 2^30 and 2^31 (the compact slots' 30 bits wrap): still exact, and
 * still compact, since nothing gets 2^29 old. */
static void test_model_version_wrap(void **state)
{
    (void)state;
    uint64_t starts[] = {((uint64_t)1 << 30) - 3000, ((uint64_t)1 << 31) - 7000,
                         ((uint64_t)5 << 40) - 100};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        assert_int_equal(run_model_from(false, 0x5eed + i, 0, starts[i], M_OPS), 0);
        assert_int_equal(run_model_from(true, 0xbeef + i, 0, starts[i], M_OPS), 0);
    }
}

/* Ages checked every 32 versions: a channel left alone for 32 changes turns
 * the user wide, mid-run, and every step is still checked against the
 * model before and after. */
static void test_model_widening(void **state)
{
    (void)state;
    uint64_t widened = 0;
    for (uint64_t i = 0; i < 40; i++) {
        uint64_t start = (i % 2) ? ((uint64_t)1 << 30) - 600 : 0;
        widened += run_model_from(i % 4 < 2, 0xa11ce + i, 5, start, 2000);
    }
    assert_true(widened >= 30); /* most runs turn wide; each was checked both ways */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_plain),
        cmocka_unit_test(test_model_tombstones),
        cmocka_unit_test(test_model_version_wrap),
        cmocka_unit_test(test_model_widening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
