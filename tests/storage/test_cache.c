/*
 * test_cache.c: the read-state semantics of the cache (DESIGN.md
 * "Semantics"): forward-only acks, SetReadState and MANUAL, BulkAck order
 * and its all-or-nothing limit, mentions, per-user versions, sorted states,
 * deletes, the per-user limit, tombstones, cache_load and cache_flushed, and
 * the change hook (called for every applied change and never for a no-op).
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

#define MAX_EVENTS 4096

typedef struct event_rec {
    uint64_t user_id;
    rs_state st;
    bool deleted;
} event_rec;

typedef struct fixture {
    rs_cache *c;
    event_rec ev[MAX_EVENTS];
    size_t nev;
} fixture;

static void on_change(void *ctx, rs_user *u, const rs_state *st, bool deleted)
{
    fixture *f = ctx;
    assert_true(f->nev < MAX_EVENTS);
    /* The hook runs after the change: the user's version is already it. */
    assert_int_equal(st->version, u->version);
    f->ev[f->nev++] = (event_rec){u->user_id, *st, deleted};
}

static fixture *fixture_new(uint32_t limit, bool tombstones)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    rs_cache_config cfg = {0};
    cfg.max_states_per_user = limit;
    cfg.keep_tombstones = tombstones;
    cfg.seed[0] = 42;
    cfg.seed[1] = 4242;
    f->c = cache_new(&cfg);
    assert_non_null(f->c);
    cache_set_change_hook(f->c, on_change, f);
    return f;
}

static void fixture_free(fixture *f)
{
    cache_free(f->c);
    free(f);
}

static int setup_plain(void **state)
{
    *state = fixture_new(0, false);
    return 0;
}

static int setup_small_limit(void **state)
{
    *state = fixture_new(5, false);
    return 0;
}

static int setup_tombstones(void **state)
{
    *state = fixture_new(3, true);
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

static void assert_state(const rs_state *st, uint64_t ch, uint64_t msg, uint32_t count,
                         uint32_t flags, uint64_t version)
{
    assert_int_equal(st->channel_id, ch);
    assert_int_equal(st->last_message_id, msg);
    assert_int_equal(st->mention_count, count);
    assert_int_equal(st->flags, flags);
    assert_int_equal(st->version, version);
}

static void assert_sorted(const rs_user *u)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < u->nslots; i++) {
        if (i > 0)
            assert_true(tslot(u, i - 1)->channel_id < tslot(u, i)->channel_id);
        live += rs_state_live(tslot(u, i));
    }
    assert_int_equal(live, u->nstates);
}

/* ack with the outputs checked for status RS_OK. */
static bool ack(fixture *f, rs_user *u, uint64_t ch, uint64_t msg, uint32_t count,
                rs_state *out)
{
    bool applied = true;
    assert_int_equal(cache_ack(f->c, u, ch, msg, count, out, &applied), RS_OK);
    return applied;
}

static bool set(fixture *f, rs_user *u, uint64_t ch, uint64_t msg, uint32_t count,
                rs_state *out)
{
    bool applied = true;
    assert_int_equal(cache_set(f->c, u, ch, msg, count, out, &applied), RS_OK);
    return applied;
}

/* ---- Ack --------------------------------------------------------------- */

static void test_ack_forward_only(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 7);
    rs_state out;

    assert_true(ack(f, u, 5, 10, 2, &out));
    assert_state(&out, 5, 10, 2, 0, 1);
    assert_int_equal(u->version, 1);
    assert_int_equal(f->nev, 1);
    assert_int_equal(f->ev[0].user_id, 7);
    assert_false(f->ev[0].deleted);
    assert_state(&f->ev[0].st, 5, 10, 2, 0, 1);
    assert_state(tstate(u, 5), 5, 10, 2, 0, 1);

    /* Equal and older acks: no change, no version, no hook, current state. */
    assert_false(ack(f, u, 5, 10, 9, &out));
    assert_state(&out, 5, 10, 2, 0, 1);
    assert_false(ack(f, u, 5, 3, 0, &out));
    assert_state(&out, 5, 10, 2, 0, 1);
    assert_int_equal(u->version, 1);
    assert_int_equal(f->nev, 1);

    /* Forward again: the count is the request's, even 0. */
    assert_true(ack(f, u, 5, 11, 0, &out));
    assert_state(&out, 5, 11, 0, 0, 2);
    assert_int_equal(f->nev, 2);

    /* A missing state counts as 0: an ack of 0 is a no-op answering a
     * zeroed state with the channel set, and creates nothing. */
    assert_false(ack(f, u, 6, 0, 4, &out));
    assert_state(&out, 6, 0, 0, 0, 0);
    assert_null(tstate(u, 6));
    assert_int_equal(u->nstates, 1);
    assert_int_equal(f->nev, 2);
    assert_int_equal(cache_stats(f->c)->states, 1);
}

static void test_versions_per_user(void **state)
{
    fixture *f = *state;
    rs_user *a = cache_insert(f->c, 1);
    rs_user *b = cache_insert(f->c, 2);
    rs_state out;
    assert_true(ack(f, a, 1, 1, 0, &out));
    assert_true(ack(f, a, 2, 1, 0, &out));
    assert_int_equal(out.version, 2);
    assert_true(ack(f, b, 1, 1, 0, &out));
    assert_int_equal(out.version, 1);
    assert_true(ack(f, a, 1, 2, 0, &out));
    assert_int_equal(out.version, 3);
    assert_int_equal(a->version, 3);
    assert_int_equal(b->version, 1);
    /* Each state keeps the version of its last change. */
    assert_int_equal(tstate(a, 2)->version, 2);
    assert_int_equal(tstate(a, 1)->version, 3);
}

static void test_sorted_channels(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 3);
    rs_state out;
    uint64_t x = 88172645463325252ull;
    uint64_t ids[600];
    for (int i = 0; i < 600; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (x % 1000000) + 1;
        bool fresh = tstate(u, ids[i]) == NULL;
        assert_true(ack(f, u, ids[i], 100 + i, 0, &out) || !fresh);
        assert_sorted(u);
    }
    for (int i = 0; i < 600; i++)
        assert_non_null(tstate(u, ids[i]));
    assert_null(tstate(u, 0));
    assert_null(tstate(u, 1000001));
}

/* ---- SetReadState ------------------------------------------------------ */

static void test_set_manual(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 9);
    rs_state out;

    /* A missing state is (0, 0, no MANUAL): setting (0, 0) still applies. */
    assert_true(set(f, u, 1, 0, 0, &out));
    assert_state(&out, 1, 0, 0, RS_STATE_MANUAL, 1);

    assert_true(set(f, u, 2, 50, 3, &out));
    assert_state(&out, 2, 50, 3, RS_STATE_MANUAL, 2);
    /* The same again is a no-op with the current state and no hook. */
    size_t nev = f->nev;
    assert_false(set(f, u, 2, 50, 3, &out));
    assert_state(&out, 2, 50, 3, RS_STATE_MANUAL, 2);
    assert_int_equal(f->nev, nev);
    /* Backwards is allowed. */
    assert_true(set(f, u, 2, 20, 3, &out));
    assert_state(&out, 2, 20, 3, RS_STATE_MANUAL, 3);
    /* Only the count differs: applies. */
    assert_true(set(f, u, 2, 20, 4, &out));
    assert_state(&out, 2, 20, 4, RS_STATE_MANUAL, 4);

    /* An ack clears MANUAL. */
    assert_true(ack(f, u, 2, 21, 0, &out));
    assert_state(&out, 2, 21, 0, 0, 5);
    /* Equal values without MANUAL: set applies to set the flag. */
    assert_true(set(f, u, 2, 21, 0, &out));
    assert_state(&out, 2, 21, 0, RS_STATE_MANUAL, 6);
    /* An older ack leaves MANUAL alone. */
    assert_false(ack(f, u, 2, 21, 0, &out));
    assert_int_equal(out.flags, RS_STATE_MANUAL);
    assert_int_equal(f->nev, nev + 4);
    assert_state(&f->ev[f->nev - 1].st, 2, 21, 0, RS_STATE_MANUAL, 6);
}

/* ---- BulkAck ----------------------------------------------------------- */

static void test_bulk_ack_order(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 11);
    const rs_ack_entry e[] = {{1, 10}, {2, 5}, {1, 8}, {1, 12}, {3, 0}, {2, 5}};
    rs_state out[6];
    uint32_t applied = 99;
    assert_int_equal(cache_bulk_ack(f->c, u, e, 6, out, &applied), RS_OK);
    assert_int_equal(applied, 3);
    assert_state(&out[0], 1, 10, 0, 0, 1);
    assert_state(&out[1], 2, 5, 0, 0, 2);
    assert_state(&out[2], 1, 10, 0, 0, 1); /* older than entry 0: no-op */
    assert_state(&out[3], 1, 12, 0, 0, 3);
    assert_state(&out[4], 3, 0, 0, 0, 0); /* missing and not past 0 */
    assert_state(&out[5], 2, 5, 0, 0, 2);
    assert_int_equal(f->nev, 3);
    assert_int_equal(f->ev[0].st.version, 1);
    assert_int_equal(f->ev[1].st.version, 2);
    assert_int_equal(f->ev[2].st.version, 3);
    assert_int_equal(u->nstates, 2);
    assert_sorted(u);

    /* An ack that clears a manual mark, and mention counts reset to 0. */
    rs_state one;
    assert_true(set(f, u, 2, 3, 7, &one));
    const rs_ack_entry e2[] = {{2, 4}};
    assert_int_equal(cache_bulk_ack(f->c, u, e2, 1, out, &applied), RS_OK);
    assert_int_equal(applied, 1);
    assert_state(&out[0], 2, 4, 0, 0, 5);
    /* Empty is fine. */
    assert_int_equal(cache_bulk_ack(f->c, u, e2, 0, out, &applied), RS_OK);
    assert_int_equal(applied, 0);
}

static void test_bulk_ack_limit_all_or_nothing(void **state)
{
    fixture *f = *state; /* limit 5 */
    rs_user *u = cache_insert(f->c, 12);
    rs_state out[16];
    for (uint64_t ch = 1; ch <= 3; ch++)
        assert_true(ack(f, u, ch, 10, 0, out));
    size_t nev = f->nev;

    /* Three new channels on top of three: one too many. The first entries
     * alone would fit, yet nothing may change. */
    const rs_ack_entry over[] = {{1, 20}, {10, 1}, {11, 1}, {12, 1}};
    uint32_t applied = 99;
    assert_int_equal(cache_bulk_ack(f->c, u, over, 4, out, &applied), RS_ERR_EXHAUSTED);
    assert_int_equal(applied, 0);
    assert_int_equal(u->version, 3);
    assert_int_equal(u->nstates, 3);
    assert_int_equal(tstate(u, 1)->last_message_id, 10);
    assert_null(tstate(u, 10));
    assert_int_equal(f->nev, nev);

    /* Duplicates count once, and entries that would not create (message 0)
     * count not at all: two new channels fit exactly. */
    const rs_ack_entry fits[] = {{10, 1}, {11, 1}, {10, 2}, {11, 5}, {12, 0}, {1, 20}, {10, 3}};
    assert_int_equal(cache_bulk_ack(f->c, u, fits, 7, out, &applied), RS_OK);
    assert_int_equal(applied, 6);
    assert_int_equal(u->nstates, 5);
    assert_state(tstate(u, 10), 10, 3, 0, 0, 9);
    assert_state(tstate(u, 11), 11, 5, 0, 0, 7);
    assert_null(tstate(u, 12));
    assert_int_equal(f->nev, nev + 6);

    /* At the limit, existing states stay writable in bulk. */
    const rs_ack_entry old[] = {{1, 30}, {2, 30}};
    assert_int_equal(cache_bulk_ack(f->c, u, old, 2, out, &applied), RS_OK);
    assert_int_equal(applied, 2);
    const rs_ack_entry one_new[] = {{1, 40}, {99, 1}};
    assert_int_equal(cache_bulk_ack(f->c, u, one_new, 2, out, &applied), RS_ERR_EXHAUSTED);
    assert_int_equal(tstate(u, 1)->last_message_id, 30);
}

/* Many new channels in one batch (the merge path), mixed with existing
 * states, tombstones and duplicates: same results as one ack at a time. */
static void run_bulk_many(bool tombstones)
{
    fixture *f = fixture_new(0, tombstones);
    fixture *ref = fixture_new(0, tombstones);
    rs_user *u = cache_insert(f->c, 30);
    rs_user *v = cache_insert(ref->c, 30);
    rs_state out1, *outs = calloc(1000, sizeof(*outs));
    assert_non_null(outs);
    for (uint64_t ch = 100; ch <= 2000; ch += 100) {
        assert_true(ack(f, u, ch, 50, 0, &out1));
        assert_true(ack(ref, v, ch, 50, 0, &out1));
    }
    const uint64_t dels[] = {300, 700};
    assert_int_equal(cache_delete(f->c, u, dels, 2, false), 2);
    assert_int_equal(cache_delete(ref->c, v, dels, 2, false), 2);

    rs_ack_entry e[1000];
    uint64_t x = 2463534242u;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x &= 0xffffffffu;
        e[i].channel_id = (i % 10 == 0) ? (uint64_t)(i % 21) * 100 + 100 : x % 3000 + 1;
        e[i].message_id = (i % 97 == 0) ? 0 : x % 100;
    }
    uint32_t applied = 0, want = 0;
    assert_int_equal(cache_bulk_ack(f->c, u, e, 1000, outs, &applied), RS_OK);
    for (int i = 0; i < 1000; i++) {
        bool ap;
        assert_int_equal(cache_ack(ref->c, v, e[i].channel_id, e[i].message_id, 0, &out1, &ap),
                         RS_OK);
        want += ap;
        assert_memory_equal(&out1, &outs[i], sizeof(out1));
    }
    assert_int_equal(applied, want);
    assert_int_equal(u->version, v->version);
    assert_int_equal(u->nstates, v->nstates);
    assert_int_equal(u->nslots, v->nslots);
    for (uint32_t i = 0; i < u->nslots; i++)
        assert_memory_equal(tslot(u, i), tslot(v, i), sizeof(rs_state));
    assert_sorted(u);
    assert_int_equal(cache_stats(f->c)->states, u->nstates);
    assert_int_equal(f->nev, ref->nev);
    for (size_t i = 0; i < f->nev; i++) {
        assert_int_equal(f->ev[i].deleted, ref->ev[i].deleted);
        assert_memory_equal(&f->ev[i].st, &ref->ev[i].st, sizeof(rs_state));
    }
    free(outs);
    fixture_free(f);
    fixture_free(ref);
}

static void test_bulk_ack_many(void **state)
{
    (void)state;
    run_bulk_many(false);
    run_bulk_many(true);
}

/* ---- the per-user limit ------------------------------------------------ */

static void test_limit(void **state)
{
    fixture *f = *state; /* limit 5 */
    rs_user *u = cache_insert(f->c, 13);
    rs_state out;
    bool applied = true;
    for (uint64_t ch = 1; ch <= 5; ch++)
        assert_true(ack(f, u, ch, 10, 0, &out));
    size_t nev = f->nev;
    uint64_t bytes = cache_stats(f->c)->bytes;

    assert_int_equal(cache_ack(f->c, u, 6, 10, 0, &out, &applied), RS_ERR_EXHAUSTED);
    assert_false(applied);
    assert_int_equal(cache_set(f->c, u, 6, 10, 0, &out, &applied), RS_ERR_EXHAUSTED);
    assert_false(applied);
    uint32_t mc = 77;
    assert_int_equal(cache_add_mentions(f->c, u, 6, 10, 1, &mc, &applied), RS_ERR_EXHAUSTED);
    assert_false(applied);
    assert_int_equal(u->nstates, 5);
    assert_int_equal(u->version, 5);
    assert_int_equal(f->nev, nev);
    assert_int_equal(cache_stats(f->c)->bytes, bytes);
    assert_null(tstate(u, 6));

    /* No-ops on a new channel are not refused: they create nothing. */
    assert_int_equal(cache_ack(f->c, u, 6, 0, 0, &out, &applied), RS_OK);
    assert_false(applied);
    assert_int_equal(cache_add_mentions(f->c, u, 6, 0, 1, &mc, &applied), RS_OK);
    assert_false(applied);

    /* Existing states stay writable. */
    assert_true(ack(f, u, 3, 11, 0, &out));
    assert_true(set(f, u, 4, 1, 0, &out));
    assert_int_equal(cache_add_mentions(f->c, u, 4, 2, 1, &mc, &applied), RS_OK);
    assert_true(applied);

    /* Deleting one makes room. */
    const uint64_t del = 2;
    assert_int_equal(cache_delete(f->c, u, &del, 1, false), 1);
    assert_true(ack(f, u, 6, 10, 0, &out));
    assert_int_equal(u->nstates, 5);
    assert_sorted(u);
}

/* ---- AddMentions ------------------------------------------------------- */

static void test_mentions(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 14);
    rs_state out;
    uint32_t mc = 0;
    bool applied = false;

    /* A missing state is created with last_message_id 0. */
    assert_int_equal(cache_add_mentions(f->c, u, 5, 100, 2, &mc, &applied), RS_OK);
    assert_true(applied);
    assert_int_equal(mc, 2);
    assert_state(tstate(u, 5), 5, 0, 2, 0, 1);
    assert_int_equal(f->nev, 1);
    assert_state(&f->ev[0].st, 5, 0, 2, 0, 1);

    /* Read up to 100: a mention in message 100 or before counts nothing. */
    assert_true(ack(f, u, 5, 100, 0, &out));
    assert_int_equal(cache_add_mentions(f->c, u, 5, 100, 3, &mc, &applied), RS_OK);
    assert_false(applied);
    assert_int_equal(mc, 0);
    assert_int_equal(cache_add_mentions(f->c, u, 5, 42, 3, &mc, &applied), RS_OK);
    assert_false(applied);
    assert_int_equal(f->nev, 2);
    assert_int_equal(u->version, 2);

    /* Past the cursor it adds; the cursor does not move. */
    assert_int_equal(cache_add_mentions(f->c, u, 5, 101, 3, &mc, &applied), RS_OK);
    assert_true(applied);
    assert_int_equal(mc, 3);
    assert_int_equal(cache_add_mentions(f->c, u, 5, 102, 4, &mc, &applied), RS_OK);
    assert_int_equal(mc, 7);
    assert_state(tstate(u, 5), 5, 100, 7, 0, 4);

    /* Saturation at 2^32-1; MANUAL is kept. */
    assert_true(set(f, u, 5, 100, UINT32_MAX - 1, &out));
    assert_int_equal(cache_add_mentions(f->c, u, 5, 101, 5, &mc, &applied), RS_OK);
    assert_true(applied);
    assert_int_equal(mc, UINT32_MAX);
    assert_int_equal(cache_add_mentions(f->c, u, 5, 101, UINT32_MAX, &mc, &applied), RS_OK);
    assert_int_equal(mc, UINT32_MAX);
    assert_state(tstate(u, 5), 5, 100, UINT32_MAX, RS_STATE_MANUAL, 7);

    /* message 0 never applies, so it creates nothing. */
    assert_int_equal(cache_add_mentions(f->c, u, 6, 0, 1, &mc, &applied), RS_OK);
    assert_false(applied);
    assert_int_equal(mc, 0);
    assert_null(tstate(u, 6));
}

/* ---- DeleteReadStates -------------------------------------------------- */

static void test_delete(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 15);
    rs_state out;
    for (uint64_t ch = 1; ch <= 5; ch++)
        assert_true(ack(f, u, ch, ch * 10, (uint32_t)ch, &out));
    f->nev = 0;

    const uint64_t some[] = {2, 4, 99, 2};
    assert_int_equal(cache_delete(f->c, u, some, 4, false), 2);
    assert_int_equal(u->version, 6); /* once for the call */
    assert_int_equal(u->nstates, 3);
    assert_int_equal(u->nslots, 3);
    assert_null(tstate(u, 2));
    assert_null(tstate(u, 4));
    assert_int_equal(cache_stats(f->c)->states, 3);
    assert_int_equal(f->nev, 2);
    assert_true(f->ev[0].deleted && f->ev[1].deleted);
    assert_state(&f->ev[0].st, 2, 20, 2, 0, 6);
    assert_state(&f->ev[1].st, 4, 40, 4, 0, 6);
    assert_sorted(u);

    /* Nothing to remove: no version, no hook. */
    const uint64_t none[] = {2, 77};
    assert_int_equal(cache_delete(f->c, u, none, 2, false), 0);
    assert_int_equal(cache_delete(f->c, u, NULL, 0, false), 0);
    assert_int_equal(u->version, 6);
    assert_int_equal(f->nev, 2);

    assert_int_equal(cache_delete(f->c, u, NULL, 0, true), 3);
    assert_int_equal(u->version, 7);
    assert_int_equal(u->nstates, 0);
    assert_int_equal(f->nev, 5);
    assert_int_equal(cache_delete(f->c, u, NULL, 0, true), 0);
    assert_int_equal(u->version, 7);
    /* An emptied user gives its array back. */
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user));

    /* A deleted channel starts over from 0. */
    assert_true(ack(f, u, 2, 1, 0, &out));
    assert_state(&out, 2, 1, 0, 0, 8);
}

/* A user that shrinks from many states to few gives memory back. */
static void test_delete_shrinks(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 16);
    rs_state out;
    for (uint64_t ch = 1; ch <= 1000; ch++)
        assert_true(ack(f, u, ch, 1, 0, &out));
    uint64_t ids[990];
    for (int i = 0; i < 990; i++)
        ids[i] = (uint64_t)i + 11;
    assert_int_equal(cache_delete(f->c, u, ids, 990, false), 990);
    assert_true(u->cap <= 20);
    assert_int_equal(u->nstates, 10);
    assert_sorted(u);
    assert_int_equal(cache_stats(f->c)->bytes - cache_user_bytes(u),
                     cache_stats(f->c)->bytes - sizeof(rs_user) - u->cap * sizeof(rs_slot));
}

/* ---- tombstones -------------------------------------------------------- */

static void test_tombstones(void **state)
{
    fixture *f = *state; /* limit 3, keep_tombstones */
    rs_user *u = cache_insert(f->c, 17);
    rs_state out;
    bool applied;
    for (uint64_t ch = 1; ch <= 3; ch++)
        assert_true(ack(f, u, ch, 10, 5, &out));
    cache_flushed(f->c, u, u->version);
    assert_false(rs_user_dirty(u));

    const uint64_t two = 2;
    assert_int_equal(cache_delete(f->c, u, &two, 1, false), 1);
    assert_int_equal(u->version, 4);
    assert_int_equal(u->nstates, 2);
    assert_int_equal(u->nslots, 3); /* the tombstone waits for the flush */
    assert_true(rs_user_dirty(u));
    assert_null(tstate(u, 2));
    assert_false(rs_state_live(tslot(u, 1)));
    assert_int_equal(tslot(u, 1)->version, 4);
    assert_int_equal(cache_stats(f->c)->states, 2);
    /* Deleting a tombstone again is nothing. */
    assert_int_equal(cache_delete(f->c, u, &two, 1, false), 0);
    assert_int_equal(u->version, 4);

    /* Revival: the old cursor (10) is gone, so message 3 applies. */
    assert_true(ack(f, u, 2, 3, 0, &out));
    assert_state(&out, 2, 3, 0, 0, 5);
    assert_int_equal(u->nstates, 3);
    assert_int_equal(u->nslots, 3);
    /* Live states are limited, tombstones not: delete then create another. */
    assert_int_equal(cache_delete(f->c, u, &two, 1, false), 1);
    assert_true(ack(f, u, 9, 1, 0, &out)); /* 3 live + 1 tombstone */
    assert_int_equal(u->nslots, 4);
    assert_int_equal(cache_ack(f->c, u, 2, 1, 0, &out, &applied), RS_ERR_EXHAUSTED);
    assert_sorted(u);

    /* A store acknowledging an older version keeps the newer tombstone. */
    cache_flushed(f->c, u, 5);
    assert_int_equal(u->flushed_version, 5);
    assert_int_equal(u->nslots, 4);
    cache_flushed(f->c, u, u->version);
    assert_int_equal(u->nslots, 3);
    assert_false(rs_user_dirty(u));
    assert_sorted(u);

    /* Set and mentions revive too: set as MANUAL, mentions from 0. */
    const uint64_t one_three[] = {1, 3};
    assert_int_equal(cache_delete(f->c, u, one_three, 2, false), 2);
    uint64_t v = u->version;
    assert_true(set(f, u, 1, 4, 1, &out));
    assert_state(&out, 1, 4, 1, RS_STATE_MANUAL, v + 1);
    uint32_t mc;
    assert_int_equal(cache_add_mentions(f->c, u, 3, 1, 2, &mc, &applied), RS_OK);
    assert_true(applied);
    assert_state(tstate(u, 3), 3, 0, 2, 0, v + 2);

    /* delete all leaves tombstones for every live state. */
    assert_int_equal(cache_delete(f->c, u, NULL, 0, true), 3);
    assert_int_equal(u->nstates, 0);
    assert_int_equal(u->nslots, 3);
    for (uint32_t i = 0; i < u->nslots; i++)
        assert_int_equal(tslot(u, i)->version, u->version);
    /* A flush past the current version is clamped to it. */
    cache_flushed(f->c, u, u->version + 100);
    assert_int_equal(u->flushed_version, u->version);
    assert_int_equal(u->nslots, 0);
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user));
}

/* ---- cache_load and cache_flushed -------------------------------------- */

static void test_load(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 18);
    u->status = RS_USER_LOADING;
    const rs_state in[] = {
        {.channel_id = 5, .last_message_id = 30, .version = 3},
        {.channel_id = 1, .last_message_id = 10, .mention_count = 1, .version = 1},
        {.channel_id = 5, .last_message_id = 70, .mention_count = 2, .version = 7},
        {.channel_id = 5, .last_message_id = 20, .version = 2},
        {.channel_id = 3, .last_message_id = 9, .flags = RS_STATE_MANUAL, .version = 4},
        {.channel_id = 1, .last_message_id = 5, .version = 0},
    };
    assert_int_equal(cache_load(f->c, u, in, RS_ARRAY_LEN(in), 5), RS_OK);
    assert_int_equal(u->status, RS_USER_READY);
    assert_int_equal(u->version, 7); /* raised to the highest state version */
    assert_int_equal(u->flushed_version, 7);
    assert_false(rs_user_dirty(u));
    assert_int_equal(u->nstates, 3);
    assert_sorted(u);
    assert_state(tstate(u, 1), 1, 10, 1, 0, 1);
    assert_state(tstate(u, 3), 3, 9, 0, RS_STATE_MANUAL, 4);
    assert_state(tstate(u, 5), 5, 70, 2, 0, 7);
    assert_int_equal(f->nev, 0); /* a load is not a change */
    assert_int_equal(cache_stats(f->c)->states, 3);
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user) + 3 * sizeof(rs_slot));

    /* Changes continue from the loaded version. */
    rs_state out;
    assert_false(ack(f, u, 5, 70, 0, &out));
    assert_true(ack(f, u, 5, 71, 0, &out));
    assert_int_equal(out.version, 8);
    assert_true(rs_user_dirty(u));
    cache_flushed(f->c, u, 8);
    assert_false(rs_user_dirty(u));

    /* A stored version above the states' wins; an empty load works. */
    rs_user *w = cache_insert(f->c, 19);
    w->status = RS_USER_LOADING;
    assert_int_equal(cache_load(f->c, w, NULL, 0, 12), RS_OK);
    assert_int_equal(w->version, 12);
    assert_int_equal(w->flushed_version, 12);
    assert_int_equal(w->nstates, 0);
    assert_true(ack(f, w, 1, 1, 0, &out));
    assert_int_equal(out.version, 13);

    rs_user *x = cache_insert(f->c, 20);
    x->status = RS_USER_LOADING;
    assert_int_equal(cache_load(f->c, x, in, 2, 100), RS_OK);
    assert_int_equal(x->version, 100);
    assert_int_equal(x->nstates, 2);
}

static void test_flushed(void **state)
{
    fixture *f = *state;
    rs_user *u = cache_insert(f->c, 21);
    rs_state out;
    assert_false(rs_user_dirty(u));
    assert_true(ack(f, u, 1, 1, 0, &out));
    assert_true(ack(f, u, 2, 1, 0, &out));
    assert_true(rs_user_dirty(u));
    cache_flushed(f->c, u, 1);
    assert_int_equal(u->flushed_version, 1);
    assert_true(rs_user_dirty(u));
    /* flushed_version never goes down. */
    cache_flushed(f->c, u, 0);
    assert_int_equal(u->flushed_version, 1);
    cache_flushed(f->c, u, 2);
    assert_false(rs_user_dirty(u));
}

/* The compact slots keep 30 bits of each version (cache.h). A user loaded
 * with a state 2^29 or more versions old starts wide, with exact versions. */
static void test_load_wide(void **state)
{
    fixture *f = *state;
    const uint64_t p = (uint64_t)1 << 29;
    rs_user *u = cache_insert(f->c, 30);
    u->status = RS_USER_LOADING;
    const rs_state in[] = {
        {.channel_id = 1, .last_message_id = 10, .version = 1},
        {.channel_id = 2, .last_message_id = 20, .mention_count = 4, .version = p + 1},
    };
    assert_int_equal(cache_load(f->c, u, in, 2, p + 1), RS_OK);
    assert_true(u->bits & RS_USER_WIDE);
    assert_int_equal(cache_stats(f->c)->widened, 1);
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user) + 2 * sizeof(rs_wide_slot));
    assert_state(tstate(u, 1), 1, 10, 0, 0, 1);
    assert_state(tstate(u, 2), 2, 20, 4, 0, p + 1);
    rs_state out;
    assert_true(ack(f, u, 3, 30, 0, &out));
    assert_state(tstate(u, 3), 3, 30, 0, 0, p + 2);
    assert_state(tstate(u, 1), 1, 10, 0, 0, 1);
    uint64_t gone = 2;
    assert_int_equal(cache_delete(f->c, u, &gone, 1, false), 1);
    assert_int_equal(u->version, p + 3);
    assert_null(tstate(u, 2));
    assert_state(tstate(u, 1), 1, 10, 0, 0, 1);

    /* One state short of that age: compact. */
    rs_user *v = cache_insert(f->c, 31);
    v->status = RS_USER_LOADING;
    const rs_state in2[] = {{.channel_id = 1, .last_message_id = 10, .version = 2}};
    assert_int_equal(cache_load(f->c, v, in2, 1, p + 1), RS_OK);
    assert_false(v->bits & RS_USER_WIDE);
    assert_int_equal(cache_user_bytes(v), sizeof(rs_user) + sizeof(rs_slot));
    assert_state(tstate(v, 1), 1, 10, 0, 0, 2);
}

/* A compact user across 2^30, where the stored 30 bits wrap: versions stay
 * exact. At 2^30 (a multiple of 2^29) the ages are checked, and a state
 * 2^29 behind turns the user wide, still exact. */
static void test_version_wrap_and_widen(void **state)
{
    fixture *f = *state;
    const uint64_t p = (uint64_t)1 << 29, start = 2 * p - 5;
    rs_user *u = cache_insert(f->c, 32);
    u->status = RS_USER_LOADING;
    const rs_state in[] = {
        {.channel_id = 1, .last_message_id = 10, .version = start - 1},
        {.channel_id = 2, .last_message_id = 20, .version = p - 4}, /* p - 1 old */
    };
    assert_int_equal(cache_load(f->c, u, in, 2, start), RS_OK);
    assert_false(u->bits & RS_USER_WIDE);
    rs_state out;
    for (uint64_t m = 100; m < 104; m++) /* up to 2^30 - 1 */
        assert_true(ack(f, u, 3, m, 0, &out));
    assert_int_equal(u->version, 2 * p - 1);
    assert_false(u->bits & RS_USER_WIDE);
    assert_state(tstate(u, 2), 2, 20, 0, 0, p - 4);
    assert_true(ack(f, u, 3, 104, 0, &out)); /* version 2^30: channel 2 is p + 4 old */
    assert_true(u->bits & RS_USER_WIDE);
    assert_int_equal(cache_stats(f->c)->widened, 1);
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user) + u->cap * sizeof(rs_wide_slot));
    assert_state(tstate(u, 1), 1, 10, 0, 0, start - 1);
    assert_state(tstate(u, 2), 2, 20, 0, 0, p - 4);
    assert_state(tstate(u, 3), 3, 104, 0, 0, 2 * p);

    /* Without the old state, the same crossing keeps the user compact. */
    rs_user *v = cache_insert(f->c, 33);
    v->status = RS_USER_LOADING;
    assert_int_equal(cache_load(f->c, v, in, 1, start), RS_OK);
    for (uint64_t m = 100; m < 110; m++)
        assert_true(ack(f, v, 3, m, 0, &out));
    assert_false(v->bits & RS_USER_WIDE);
    assert_state(tstate(v, 1), 1, 10, 0, 0, start - 1);
    assert_state(tstate(v, 3), 3, 109, 0, 0, start + 10);
    assert_int_equal(cache_stats(f->c)->widened, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_forward_only, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_versions_per_user, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_channels, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_set_manual, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_ack_order, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_ack_limit_all_or_nothing, setup_small_limit,
                                        teardown),
        cmocka_unit_test(test_bulk_ack_many),
        cmocka_unit_test_setup_teardown(test_limit, setup_small_limit, teardown),
        cmocka_unit_test_setup_teardown(test_mentions, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_delete_shrinks, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones, setup_tombstones, teardown),
        cmocka_unit_test_setup_teardown(test_load, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_flushed, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_load_wide, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_version_wrap_and_widen, setup_plain, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
