/*
 * test_cache_table.c: the cache's structure: SipHash, the incrementally
 * rehashed user table, the LRU and its once-per-tick bump, eviction under a
 * budget, memory accounting and the allocator the cache is given.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "cache_hash.h"
#include "siphash.h"

static rs_cache *new_cache(size_t max_memory)
{
    rs_cache_config cfg = {0};
    cfg.max_memory = max_memory;
    cfg.seed[0] = 0x0123456789abcdefull;
    cfg.seed[1] = 0xfedcba9876543210ull;
    rs_cache *c = cache_new(&cfg);
    assert_non_null(c);
    return c;
}

/* ---- SipHash ----------------------------------------------------------- */

static void test_siphash_vectors(void **state)
{
    (void)state;
    /* The paper's key 00..0f. */
    const uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    unsigned char msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (unsigned char)i;
    /* Appendix A of the paper: message 00..0e. */
    assert_int_equal(siphash24(k, msg, 15), 0xa129ca6149be45e5ull);
    /* The reference implementation's vectors for lengths 0 and 8. */
    assert_int_equal(siphash24(k, msg, 0), 0x726fdb47dd0e0e31ull);
    assert_int_equal(siphash24(k, msg, 8), 0x93f5f5799a932462ull);
    /* The 8-byte fast path agrees with the byte loop. */
    for (uint64_t v = 0; v < 1000; v++) {
        uint64_t x = v * 0x9e3779b97f4a7c15ull;
        unsigned char b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (unsigned char)(x >> (8 * i));
        assert_int_equal(siphash24_u64(k, x), siphash24(k, b, 8));
    }
    /* The key matters. */
    const uint64_t k2[2] = {1, 2};
    assert_int_not_equal(siphash24_u64(k, 42), siphash24_u64(k2, 42));
}

/* ---- the table --------------------------------------------------------- */

#define TABLE_USERS 200000u

static uint64_t uid(uint32_t i)
{
    return (uint64_t)i * 7919u + 1;
}

static void test_table_rehash_200k(void **state)
{
    (void)state;
    uint64_t bytes = 0;
    const uint64_t seed[2] = {11, 22};
    cache_ht ht;
    assert_true(cache_ht_init(&ht, seed, rs_allocator_default(), &bytes));
    assert_int_equal(bytes, CACHE_HT_MIN_SIZE * sizeof(rs_user *));

    rs_user *users = calloc(TABLE_USERS, sizeof(*users));
    assert_non_null(users);
    size_t rehashes_seen = 0;
    bool was_rehashing = false;
    for (uint32_t i = 0; i < TABLE_USERS; i++) {
        users[i].user_id = uid(i);
        cache_ht_add(&ht, &users[i]);
        bool now = cache_ht_rehashing(&ht);
        if (now && !was_rehashing)
            rehashes_seen++;
        was_rehashing = now;
        /* While a rehash runs, every user so far stays findable. */
        if (now && (i % 4096) == 0) {
            for (uint32_t j = 0; j <= i; j++)
                assert_ptr_equal(cache_ht_find(&ht, uid(j), false), &users[j]);
        }
        assert_ptr_equal(cache_ht_find(&ht, uid(i), true), &users[i]);
    }
    assert_true(rehashes_seen >= 10); /* 16 -> 262144 buckets */
    assert_int_equal(cache_ht_count(&ht), TABLE_USERS);
    for (uint32_t i = 0; i < TABLE_USERS; i++)
        assert_ptr_equal(cache_ht_find(&ht, uid(i), false), &users[i]);
    assert_null(cache_ht_find(&ht, uid(TABLE_USERS), false));
    assert_null(cache_ht_find(&ht, 0, false));

    /* Finish the rehash in bounded steps: each call must make progress. */
    for (int guard = 0; cache_ht_rehash(&ht, 100); guard++)
        assert_true(guard < 100000);
    assert_false(cache_ht_rehashing(&ht));
    assert_true(ht.t[0].size >= TABLE_USERS);
    assert_true(ht.t[0].size < 2 * (size_t)TABLE_USERS * 2);
    assert_int_equal(bytes, ht.t[0].size * sizeof(rs_user *));

    /* Remove every other user; the others stay findable. */
    for (uint32_t i = 0; i < TABLE_USERS; i += 2) {
        cache_ht_remove(&ht, &users[i]);
        if ((i % 20000) == 0)
            for (uint32_t j = 1; j < TABLE_USERS; j += 2)
                assert_ptr_equal(cache_ht_find(&ht, uid(j), false), &users[j]);
    }
    assert_int_equal(cache_ht_count(&ht), TABLE_USERS / 2);
    for (uint32_t i = 0; i < TABLE_USERS; i++)
        assert_ptr_equal(cache_ht_find(&ht, uid(i), true), (i % 2) ? &users[i] : NULL);

    /* Remove almost everyone: the table shrinks through incremental steps. */
    size_t big = ht.t[0].size + ht.t[1].size;
    for (uint32_t i = 1; i < TABLE_USERS - 200; i += 2) {
        cache_ht_remove(&ht, &users[i]);
        if (cache_ht_rehashing(&ht) && (i % 1024) == 1)
            for (uint32_t j = i + 2; j < TABLE_USERS; j += 2)
                assert_ptr_equal(cache_ht_find(&ht, uid(j), false), &users[j]);
    }
    for (int guard = 0; cache_ht_rehash(&ht, 100); guard++)
        assert_true(guard < 100000);
    assert_int_equal(cache_ht_count(&ht), 100);
    assert_true(ht.t[0].size < big / 64);
    for (uint32_t j = TABLE_USERS - 199; j < TABLE_USERS; j += 2)
        assert_ptr_equal(cache_ht_find(&ht, uid(j), false), &users[j]);

    cache_ht_destroy(&ht);
    assert_int_equal(bytes, 0);
    free(users);
}

static void test_cache_insert_lookup_remove(void **state)
{
    (void)state;
    rs_cache *c = new_cache(0);
    const uint32_t n = 50000;
    for (uint32_t i = 0; i < n; i++) {
        rs_user *u = cache_insert(c, uid(i));
        assert_int_equal(u->user_id, uid(i));
        assert_int_equal(u->status, RS_USER_READY);
        assert_int_equal(u->version, 0);
        assert_int_equal(u->nstates, 0);
    }
    assert_int_equal(cache_stats(c)->users, n);
    assert_int_equal(cache_stats(c)->misses, 0);
    for (uint32_t i = 0; i < n; i++)
        assert_non_null(cache_lookup(c, uid(i)));
    assert_null(cache_lookup(c, uid(n)));
    assert_int_equal(cache_stats(c)->hits, n);
    assert_int_equal(cache_stats(c)->misses, 1);
    /* peek counts nothing. */
    assert_non_null(cache_peek(c, uid(3)));
    assert_int_equal(cache_stats(c)->hits, n);
    for (uint32_t i = 0; i < n; i += 2)
        cache_remove(c, cache_peek(c, uid(i)));
    while (cache_rehash_step(c, 1000))
        ;
    for (uint32_t i = 0; i < n; i++)
        assert_true((cache_peek(c, uid(i)) != NULL) == (i % 2 == 1));
    assert_int_equal(cache_stats(c)->users, n / 2);
    cache_free(c);
}

/* ---- LRU --------------------------------------------------------------- */

static bool is_head(const rs_user *u)
{
    return u->lru_prev == NULL;
}

static void test_lru_order_and_tick(void **state)
{
    (void)state;
    rs_cache *c = new_cache(0);
    cache_set_clock(c, 100);
    rs_user *a = cache_insert(c, 1);
    rs_user *b = cache_insert(c, 2);
    rs_user *d = cache_insert(c, 3);
    /* Newest first: 3, 2, 1. */
    assert_true(is_head(d));
    assert_ptr_equal(d->lru_next, b);
    assert_ptr_equal(b->lru_next, a);
    assert_null(a->lru_next);

    /* Same tick as a's insert: a lookup does not move it. */
    assert_ptr_equal(cache_lookup(c, 1), a);
    assert_true(is_head(d));
    assert_null(a->lru_next);

    /* Next tick: the first lookup moves it, a second in that tick not. */
    cache_set_clock(c, 101);
    assert_ptr_equal(cache_lookup(c, 1), a);
    assert_true(is_head(a));
    assert_ptr_equal(a->lru_next, d);
    assert_ptr_equal(cache_lookup(c, 2), b);
    assert_true(is_head(b));
    assert_ptr_equal(cache_lookup(c, 1), a); /* already bumped this tick */
    assert_true(is_head(b));
    assert_int_equal(a->lru_clock, 101);
    /* Order now: 2, 1, 3 (3 is the tail). */
    assert_ptr_equal(b->lru_next, a);
    assert_ptr_equal(a->lru_next, d);
    assert_null(d->lru_next);

    /* Removing from the middle keeps the list linked. */
    cache_remove(c, a);
    assert_ptr_equal(b->lru_next, d);
    assert_ptr_equal(d->lru_prev, b);
    cache_free(c);
}

/* ---- eviction ---------------------------------------------------------- */

static void add_states(rs_cache *c, rs_user *u, uint32_t n)
{
    for (uint32_t ch = 1; ch <= n; ch++) {
        rs_state out;
        bool applied;
        assert_int_equal(cache_ack(c, u, ch, 10, 0, &out, &applied), RS_OK);
        assert_true(applied);
    }
}

static void test_evict_budget(void **state)
{
    (void)state;
    rs_cache *c = new_cache(0);
    const uint32_t n = 200;
    for (uint32_t i = 1; i <= n; i++) {
        rs_user *u = cache_insert(c, i);
        add_states(c, u, 4);
        cache_flushed(c, u, u->version); /* clean */
    }
    size_t per_user = cache_user_bytes(cache_peek(c, 1));
    assert_int_equal(per_user, sizeof(rs_user) + 4 * sizeof(rs_slot));
    uint64_t full = cache_stats(c)->bytes;
    assert_false(cache_over_budget(c));
    assert_int_equal(cache_evict(c, 1000), 0); /* no budget: nothing */

    cache_free(c);

    /* The same users under a budget that fits about half of them. The
     * oldest (1..) are at the tail; protect 1 to 4 in the four ways. */
    rs_state out;
    bool applied;
    c = new_cache(full / 2);
    for (uint32_t i = 1; i <= n; i++) {
        rs_user *u = cache_insert(c, i);
        add_states(c, u, 4);
        cache_flushed(c, u, u->version);
    }
    assert_true(cache_over_budget(c));
    cache_peek(c, 1)->pins = 1;
    cache_peek(c, 2)->status = RS_USER_LOADING;
    assert_int_equal(cache_ack(c, cache_peek(c, 3), 1, 99, 0, &out, &applied), RS_OK);
    cache_peek(c, 4)->bits |= RS_USER_DIRTY_QUEUED;

    /* A bounded scan: 10 candidates, 4 of them protected. */
    size_t ev = cache_evict(c, 10);
    assert_int_equal(ev, 6);
    assert_int_equal(cache_stats(c)->evictions, 6);
    assert_int_equal(cache_stats(c)->evicted_states, 24);
    assert_int_equal(cache_stats(c)->evict_skipped, 4);
    for (uint32_t i = 1; i <= 4; i++)
        assert_non_null(cache_peek(c, i));
    for (uint32_t i = 5; i <= 10; i++)
        assert_null(cache_peek(c, i));

    /* Evict until under budget. */
    for (int guard = 0; cache_over_budget(c); guard++) {
        assert_true(guard < 100);
        cache_evict(c, 16);
    }
    assert_true(cache_stats(c)->bytes <= full / 2);
    for (uint32_t i = 1; i <= 4; i++)
        assert_non_null(cache_peek(c, i)); /* never evicted */
    assert_true(cache_peek(c, n) != NULL); /* the newest stays */
    uint64_t users = cache_stats(c)->users;
    assert_true(users >= n / 2 - 20 && users <= n / 2 + 4);
    assert_int_equal(cache_stats(c)->users + cache_stats(c)->evictions, n);
    assert_int_equal(cache_stats(c)->states, users * 4 + 0);

    /* Once clean and unpinned, they can go too. */
    rs_user *u3 = cache_peek(c, 3);
    cache_flushed(c, u3, u3->version);
    cache_peek(c, 1)->pins = 0;
    cache_free(c);
}

static void test_evict_only_while_over(void **state)
{
    (void)state;
    rs_cache *c = new_cache(1); /* everything is over budget */
    for (uint32_t i = 1; i <= 5; i++)
        cache_insert(c, i);
    assert_int_equal(cache_evict(c, 0), 0);
    assert_int_equal(cache_evict(c, 2), 2);
    assert_null(cache_peek(c, 1));
    assert_null(cache_peek(c, 2));
    assert_int_equal(cache_evict(c, 100), 3);
    assert_int_equal(cache_stats(c)->users, 0);
    /* Only the table remains accounted. */
    assert_int_equal(cache_stats(c)->bytes, CACHE_HT_MIN_SIZE * sizeof(rs_user *));
    assert_int_equal(cache_evict(c, 100), 0);
    cache_free(c);
}

/* ---- memory accounting and the allocator ------------------------------- */

typedef struct count_alloc {
    long live;
    long fail_after; /* < 0: never fail */
} count_alloc;

/* The allocator table has no context pointer; tests run one at a time. */
static count_alloc ca_state;

static bool ca_fail(void)
{
    if (ca_state.fail_after < 0)
        return false;
    if (ca_state.fail_after == 0)
        return true;
    ca_state.fail_after--;
    return false;
}

static void *ca_malloc(size_t n)
{
    if (ca_fail())
        return NULL;
    void *p = malloc(n);
    ca_state.live += p != NULL;
    return p;
}

static void *ca_calloc(size_t m, size_t n)
{
    if (ca_fail())
        return NULL;
    void *p = calloc(m, n);
    ca_state.live += p != NULL;
    return p;
}

static void *ca_realloc(void *p, size_t n)
{
    if (ca_fail())
        return NULL;
    void *q = realloc(p, n);
    ca_state.live += (p == NULL && q != NULL);
    return q;
}

static void ca_free(void *p)
{
    ca_state.live -= p != NULL;
    free(p);
}

static const rs_allocator counting = {"counting", ca_malloc, ca_calloc, ca_realloc, ca_free};

/* Bucket arrays of 1 MiB and more come from the allocator's lazily zeroed
 * pages when it has them (no memset of the whole array at a doubling);
 * smaller ones from calloc. Every array taken is given back the same way. */
static struct {
    int pages_live, pages_taken;
    size_t pages_bytes;
} pg;

static void *pg_calloc_pages(size_t bytes)
{
    assert_true(bytes >= ((size_t)1 << 20));
    pg.pages_live++;
    pg.pages_taken++;
    pg.pages_bytes += bytes;
    return rs_allocator_default()->calloc_pages(bytes);
}

static void pg_free_pages(void *p, size_t bytes)
{
    pg.pages_live--;
    pg.pages_bytes -= bytes;
    rs_allocator_default()->free_pages(p, bytes);
}

static void test_table_large_arrays_from_pages(void **state)
{
    (void)state;
    rs_allocator paged = *rs_allocator_default();
    paged.calloc_pages = pg_calloc_pages;
    paged.free_pages = pg_free_pages;
    memset(&pg, 0, sizeof(pg));
    uint64_t bytes = 0;
    const uint64_t seed[2] = {3, 4};
    cache_ht ht;
    assert_true(cache_ht_init(&ht, seed, &paged, &bytes));
    rs_user *users = calloc(TABLE_USERS, sizeof(*users));
    assert_non_null(users);
    for (uint32_t i = 0; i < TABLE_USERS; i++) {
        users[i].user_id = uid(i);
        cache_ht_add(&ht, &users[i]);
    }
    for (int guard = 0; cache_ht_rehash(&ht, 100); guard++)
        assert_true(guard < 100000);
    /* 131072 buckets (1 MiB) and 262144: both from pages; the first is
     * given back when the rehash into the second ends */
    assert_int_equal(pg.pages_taken, 2);
    assert_int_equal(pg.pages_live, 1);
    assert_int_equal(pg.pages_bytes, ht.t[0].size * sizeof(rs_user *));
    for (uint32_t i = 0; i < TABLE_USERS; i++)
        assert_ptr_equal(cache_ht_find(&ht, uid(i), false), &users[i]);
    cache_ht_destroy(&ht);
    assert_int_equal(pg.pages_live, 0);
    assert_int_equal(bytes, 0);
    free(users);
}

static void test_allocator_and_bytes(void **state)
{
    (void)state;
    ca_state = (count_alloc){0, -1};
    rs_cache_config cfg = {0};
    cfg.alloc = &counting;
    cfg.seed[0] = 5;
    rs_cache *c = cache_new(&cfg);
    assert_non_null(c);
    assert_ptr_equal(cache_config(c)->alloc, &counting);
    assert_int_equal(cache_config(c)->max_states_per_user, 10000);
    for (uint32_t i = 1; i <= 3000; i++) {
        rs_user *u = cache_insert(c, i);
        add_states(c, u, i % 13);
    }
    /* Recompute the accounted bytes by hand. */
    uint64_t sum = 0, states = 0;
    for (uint32_t i = 1; i <= 3000; i++) {
        rs_user *u = cache_peek(c, i);
        sum += cache_user_bytes(u);
        states += u->nstates;
        assert_true(u->cap >= u->nstates && u->cap <= u->nstates + u->nstates / 4 + 1);
    }
    assert_int_equal(cache_stats(c)->states, states);
    assert_true(cache_stats(c)->bytes > sum);
    assert_true(cache_stats(c)->bytes - sum <= 2 * 8192 * sizeof(void *));
    /* Users and non-empty state arrays plus the cache and its tables. */
    assert_true(ca_state.live > 3000);
    uint64_t del = 0;
    for (uint32_t i = 1; i <= 3000; i += 3)
        del += cache_delete(c, cache_peek(c, i), NULL, 0, true);
    assert_int_equal(cache_stats(c)->states, states - del);
    cache_free(c);
    assert_int_equal(ca_state.live, 0);

    /* A cache that cannot get memory reports it instead of crashing. */
    for (long k = 0; k < 2; k++) {
        ca_state = (count_alloc){0, k};
        assert_null(cache_new(&cfg));
        assert_int_equal(ca_state.live, 0);
    }

    /* cache_load returns RS_ERR_INTERNAL and changes nothing on OOM. */
    ca_state = (count_alloc){0, -1};
    c = cache_new(&cfg);
    rs_user *u = cache_insert(c, 9);
    u->status = RS_USER_LOADING;
    rs_state in[2] = {{.channel_id = 5, .last_message_id = 7, .version = 3},
                      {.channel_id = 4, .last_message_id = 8, .version = 2}};
    ca_state.fail_after = 0;
    assert_int_equal(cache_load(c, u, in, 2, 3), RS_ERR_INTERNAL);
    assert_int_equal(u->status, RS_USER_LOADING);
    assert_int_equal(u->nstates, 0);
    ca_state.fail_after = -1;
    assert_int_equal(cache_load(c, u, in, 2, 3), RS_OK);
    assert_int_equal(u->nstates, 2);
    cache_free(c);
    assert_int_equal(ca_state.live, 0);
}

/* Out of memory inside the cache is fatal with a message (the server core
 * rule): run it in a child and watch it abort. */
static void test_oom_aborts(void **state)
{
    (void)state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        ca_state = (count_alloc){0, -1};
        rs_cache_config cfg = {0};
        cfg.alloc = &counting;
        rs_cache *c = cache_new(&cfg);
        if (c == NULL)
            _exit(3);
        rs_user *u = cache_insert(c, 1);
        ca_state.fail_after = 0; /* the state array cannot be had */
        rs_state out;
        bool applied;
        cache_ack(c, u, 1, 1, 0, &out, &applied);
        _exit(4); /* not reached */
    }
    close(pipefd[1]);
    char buf[512] = {0};
    size_t got = 0;
    for (int i = 0; i < 100 && got < sizeof(buf) - 1; i++) {
        ssize_t r = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(pipefd[0]);
    int status = 0;
    pid_t w = -1;
    for (int i = 0; i < 1000 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
        usleep(10000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the child did not finish");
    }
    assert_int_equal(w, pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(buf, "out of memory"));
}

/* Eviction gives every byte of a user back to the allocator. */
static void test_evict_frees(void **state)
{
    (void)state;
    ca_state = (count_alloc){0, -1};
    rs_cache_config cfg = {0};
    cfg.alloc = &counting;
    cfg.max_memory = 1;
    rs_cache *c = cache_new(&cfg);
    assert_non_null(c);
    long base = ca_state.live;
    for (uint32_t i = 1; i <= 100; i++)
        add_states(c, cache_insert(c, i), 7);
    assert_int_equal(cache_evict(c, 1000), 0); /* all dirty: kept */
    assert_int_equal(cache_stats(c)->evict_skipped, 100);
    for (uint32_t i = 1; i <= 100; i++) {
        rs_user *u = cache_peek(c, i);
        cache_flushed(c, u, u->version);
    }
    /* A user and a state array each, and at most two grown tables. */
    assert_true(ca_state.live >= base + 200 && ca_state.live <= base + 202);
    assert_int_equal(cache_evict(c, 1000), 100);
    assert_int_equal(cache_stats(c)->evicted_states, 700);
    assert_int_equal(cache_stats(c)->states, 0);
    for (int guard = 0; cache_rehash_step(c, 100); guard++)
        assert_true(guard < 100);
    assert_int_equal(ca_state.live, base); /* the cache and one small table */
    assert_int_equal(cache_stats(c)->bytes, CACHE_HT_MIN_SIZE * sizeof(rs_user *));
    cache_free(c);
    assert_int_equal(ca_state.live, 0);
}

/* The frugal growth the memory bar relies on: ten states fill cap 10. */
static void test_growth_frugal(void **state)
{
    (void)state;
    rs_cache *c = new_cache(0);
    rs_user *u = cache_insert(c, 1);
    uint32_t caps[12];
    for (uint32_t ch = 1; ch <= 12; ch++) {
        add_states(c, u, 0);
        rs_state out;
        bool applied;
        assert_int_equal(cache_ack(c, u, ch, 1, 0, &out, &applied), RS_OK);
        caps[ch - 1] = u->cap;
    }
    assert_int_equal(caps[0], 1);
    assert_int_equal(caps[7], 8);
    assert_int_equal(caps[9], 10);
    assert_int_equal(caps[11], 12);
    assert_int_equal(cache_user_bytes(u), sizeof(rs_user) + 12 * sizeof(rs_slot));
    cache_free(c);
}

/* ---- the walk ----------------------------------------------------------- */

typedef struct walk_rec {
    rs_cache *c;
    uint8_t seen[2001];    /* visits per user id */
    uint64_t remove_every; /* remove every n-th visited user from inside fn */
    uint64_t visits;
} walk_rec;

static void walk_fn(void *ctx, rs_user *u)
{
    walk_rec *w = ctx;
    assert_true(u->user_id < 2001);
    w->seen[u->user_id]++;
    w->visits++;
    if (w->remove_every != 0 && w->visits % w->remove_every == 0)
        cache_remove(w->c, u);
}

/* Every user cached when the walk begins is visited exactly once, unless
 * removed first, however the LRU moves between steps: bumps of users ahead
 * of and behind the cursor, removals (the cursor's own user among them),
 * removals from inside fn, and inserts, which belong to the new epoch and
 * are never visited. */
static void test_walk(void **state)
{
    (void)state;
    rs_cache *c = new_cache(0);
    const uint64_t n = 1000;
    for (uint64_t id = 1; id <= n; id++)
        cache_insert(c, id);
    walk_rec w = {.c = c, .remove_every = 7};
    cache_walk_begin(c);
    assert_true(cache_walk_active(c));
    bool removed[2001] = {false};
    uint64_t rng = 42, steps = 0, clock = 1;
    while (!cache_walk_step(c, 10, walk_fn, &w)) {
        steps++;
        assert_true(steps < 1000);
        for (int k = 0; k < 5; k++) { /* bump five random old users */
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t id = 1 + (rng >> 33) % n;
            cache_set_clock(c, (uint32_t)clock++);
            cache_lookup(c, id);
        }
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t id = 1 + (rng >> 33) % n; /* remove one, if still there */
        rs_user *u = cache_peek(c, id);
        if (u != NULL && cache_walk_pending(c, u)) {
            cache_remove(c, u);
            removed[id] = true;
        }
        rs_user *tail = cache_lru_head(c); /* and the user the cursor may be on */
        while (tail != NULL && tail->lru_next != NULL)
            tail = tail->lru_next;
        if (tail != NULL && tail->user_id <= n && cache_walk_pending(c, tail)) {
            removed[tail->user_id] = true;
            cache_remove(c, tail);
        }
        cache_insert(c, n + steps); /* new: never visited */
    }
    assert_false(cache_walk_active(c));
    for (uint64_t id = 1; id <= n; id++)
        assert_int_equal(w.seen[id], removed[id] ? 0 : 1);
    for (uint64_t id = n + 1; id <= n + steps; id++)
        assert_int_equal(w.seen[id], 0);
    /* A second walk visits the survivors, new ones included, once each. */
    memset(w.seen, 0, sizeof(w.seen));
    w.remove_every = 0;
    uint64_t users = cache_stats(c)->users;
    w.visits = 0;
    cache_walk_begin(c);
    while (!cache_walk_step(c, 3, walk_fn, &w))
        ;
    assert_int_equal(w.visits, users);
    cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_table_rehash_200k),
        cmocka_unit_test(test_table_large_arrays_from_pages),
        cmocka_unit_test(test_cache_insert_lookup_remove),
        cmocka_unit_test(test_lru_order_and_tick),
        cmocka_unit_test(test_evict_budget),
        cmocka_unit_test(test_evict_only_while_over),
        cmocka_unit_test(test_allocator_and_bytes),
        cmocka_unit_test(test_oom_aborts),
        cmocka_unit_test(test_evict_frees),
        cmocka_unit_test(test_growth_frugal),
        cmocka_unit_test(test_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
