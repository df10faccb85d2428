/*
 * test_gc_force_boehm.c: the garbage-collected build's allocator and forced
 * collection (built only with -DREADSTATES_GC=boehm).
 *
 * What must hold for the comparison to mean anything:
 * - objects from the table are uncollectable (they survive collections with
 *   no pointer the collector can see), including realloc(NULL, n);
 * - the collector marks *through* them: a collectable object reachable only
 *   from an uncollectable one survives, so each collection traces the cache;
 * - only forced collections run (allocation triggers none);
 * - incremental mode is refused;
 * - the forced timer collects on the event loop and logs event=gc_forced.
 *
 * Pointers are hidden from the conservative scan by XOR-ing them with a mask
 * and keeping them in libc malloc memory, which the collector never scans.
 */
#define GC_THREADS 1
#include <gc/gc.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_gc.h"
#include "gc_force.h"

#define HIDE_MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aull)
#define OBJ_BYTES 48
#define PATTERN   0xab

static uintptr_t hide_(void *p)
{
    return (uintptr_t)p ^ HIDE_MASK;
}

static void *unhide_(uintptr_t h)
{
    return (void *)(h ^ HIDE_MASK);
}

/* Churn collectable objects of the same size so a reclaimed object would be
 * handed out again (and cleared by GC_MALLOC). */
static void churn_(void)
{
    for (int i = 0; i < 20000; i++) {
        unsigned char *p = GC_MALLOC(OBJ_BYTES);
        assert_non_null(p);
        p[0] = 1;
    }
}

static bool intact_(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != PATTERN)
            return false;
    }
    return true;
}

/* Allocate in a frame of its own so no copy of the pointer stays live in
 * the caller's registers. */
static __attribute__((noinline)) uintptr_t alloc_hidden_(const rs_allocator *a,
                                                         bool via_realloc)
{
    unsigned char *p = via_realloc ? a->realloc(NULL, OBJ_BYTES) : a->malloc(OBJ_BYTES);
    assert_non_null(p);
    memset(p, PATTERN, OBJ_BYTES);
    return hide_(p);
}

static void collect_(rs_gc_collection *c)
{
    assert_int_equal(rs_gc_collect(c), 0);
}

static void test_table(void **state)
{
    (void)state;
    const rs_allocator *a = rs_allocator_gc();
    assert_non_null(a);
    assert_string_equal(a->name, "boehm-gc");
    assert_ptr_equal(rs_allocator_gc(), a);

    unsigned char *z = a->calloc(100, 7);
    assert_non_null(z);
    for (size_t i = 0; i < 700; i++)
        assert_int_equal(z[i], 0);
    z = a->realloc(z, 100000);
    assert_non_null(z);
    assert_int_equal(z[699], 0);
    a->free(z);
    assert_null(a->calloc(SIZE_MAX / 2, 4));
}

static void test_uncollectable_survives(void **state)
{
    (void)state;
    const rs_allocator *a = rs_allocator_gc();
    uintptr_t *hidden = malloc(2 * sizeof(*hidden)); /* libc memory: not scanned */
    assert_non_null(hidden);
    hidden[0] = alloc_hidden_(a, false);
    hidden[1] = alloc_hidden_(a, true);
    rs_gc_collection c;
    for (int round = 0; round < 3; round++) {
        collect_(&c);
        churn_();
    }
    assert_true(intact_(unhide_(hidden[0]), OBJ_BYTES));
    assert_true(intact_(unhide_(hidden[1]), OBJ_BYTES));
    a->free(unhide_(hidden[0]));
    a->free(unhide_(hidden[1]));
    free(hidden);
}

/* An uncollectable holder whose only word points at a collectable object. */
static __attribute__((noinline)) uintptr_t make_holder_(const rs_allocator *a)
{
    void **holder = a->malloc(sizeof(void *));
    assert_non_null(holder);
    unsigned char *leaf = GC_MALLOC(OBJ_BYTES);
    assert_non_null(leaf);
    memset(leaf, PATTERN, OBJ_BYTES);
    holder[0] = leaf;
    return hide_(holder);
}

static void test_marks_through(void **state)
{
    (void)state;
    const rs_allocator *a = rs_allocator_gc();
    uintptr_t *hidden = malloc(sizeof(*hidden));
    assert_non_null(hidden);
    *hidden = make_holder_(a);
    rs_gc_collection c;
    for (int round = 0; round < 3; round++) {
        collect_(&c);
        churn_();
    }
    void **holder = unhide_(*hidden);
    assert_true(intact_(holder[0], OBJ_BYTES));
    a->free(holder);
    free(hidden);
}

static void test_collect_reports(void **state)
{
    (void)state;
    const rs_allocator *a = rs_allocator_gc();
    /* A few MB of uncollectable objects to mark. */
    enum { N = 20000 };
    void **objs = malloc(N * sizeof(*objs));
    assert_non_null(objs);
    for (int i = 0; i < N; i++) {
        objs[i] = a->malloc(256);
        assert_non_null(objs[i]);
    }
    rs_gc_collection c1, c2;
    collect_(&c1);
    collect_(&c2);
    assert_true(c2.gc_no > c1.gc_no);
    assert_true(c1.duration_ns > 0);
    assert_true(c1.heap_bytes >= (size_t)N * 256);
    assert_true(c1.free_bytes < c1.heap_bytes);
    assert_int_equal(c1.markers, 1);
    for (int i = 0; i < N; i++)
        a->free(objs[i]);
    free(objs);
}

static void test_no_automatic_collections(void **state)
{
    (void)state;
    const rs_allocator *a = rs_allocator_gc();
    GC_word before = GC_get_gc_no();
    /* 64 MB allocated and freed, more than enough to trigger collections
     * if they were on. */
    for (int i = 0; i < 65536; i++) {
        void *p = a->malloc(1024);
        assert_non_null(p);
        a->free(p);
        void *q = GC_MALLOC(1024);
        assert_non_null(q);
    }
    assert_int_equal(GC_get_gc_no(), before);
}

/* Run this program again with GC_ENABLE_INCREMENTAL=1: the child exits 0
 * if rs_allocator_gc refused, 1 if it accepted. */
static void test_incremental_refused(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("GC_ENABLE_INCREMENTAL", "1", 1);
        execl("/proc/self/exe", "test_gc_boehm", "--incremental-probe", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- the forced timer -------------------------------------------------- */

typedef struct timer_ctx {
    rs_gc_force *g;
    struct event_base *base;
} timer_ctx;

static void poll_cb_(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    timer_ctx *t = arg;
    if (rs_gc_force_get_stats(t->g).collections >= 2)
        event_base_loopbreak(t->base);
}

static void test_force_timer(void **state)
{
    (void)state;
    assert_true(rs_gc_force_enabled());
    FILE *logf = tmpfile();
    assert_non_null(logf);
    rs_log log = {.min = RS_LOG_INFO, .out = logf};
    rs_cache_config cc = {0};
    assert_int_equal(rs_gc_force_configure(&cc, &log), 0);
    assert_ptr_equal(cc.alloc, rs_allocator_gc());

    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_null(rs_gc_force_start(base, 0, &log));
    timer_ctx t = {.g = rs_gc_force_start(base, 1, &log), .base = base};
    assert_non_null(t.g);
    struct event *poll = event_new(base, -1, EV_PERSIST, poll_cb_, &t);
    assert_non_null(poll);
    struct timeval every = {.tv_sec = 0, .tv_usec = 50000};
    event_add(poll, &every);
    /* Bounded: two collections take about 2 s; give up after 10 s. */
    struct timeval limit = {.tv_sec = 10, .tv_usec = 0};
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);

    rs_gc_force_stats st = rs_gc_force_get_stats(t.g);
    assert_true(st.collections >= 2);
    assert_true(st.max_ns >= st.last_ns);
    assert_true(st.total_ns >= st.max_ns);
    rs_gc_force_stop(t.g);
    event_free(poll);
    event_base_free(base);

    long len = ftell(logf);
    assert_true(len > 0);
    char *text = calloc(1, (size_t)len + 1);
    assert_non_null(text);
    rewind(logf);
    assert_int_equal(fread(text, 1, (size_t)len, logf), (size_t)len);
    assert_non_null(strstr(text, "event=gc_force_started interval_s=1"));
    const char *line = strstr(text, "event=gc_forced ");
    assert_non_null(line);
    assert_non_null(strstr(line, "start_unix_ms="));
    assert_non_null(strstr(line, "duration_ms="));
    assert_non_null(strstr(line, "heap_bytes="));
    assert_non_null(strstr(text, "event=gc_force_stopped collections="));
    free(text);
    fclose(logf);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--incremental-probe") == 0)
        return rs_allocator_gc() == NULL ? 0 : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_uncollectable_survives),
        cmocka_unit_test(test_marks_through),
        cmocka_unit_test(test_collect_reports),
        cmocka_unit_test(test_no_automatic_collections),
        cmocka_unit_test(test_incremental_refused),
        cmocka_unit_test(test_force_timer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
