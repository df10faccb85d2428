/*
 * test_merge_lua.c: the merge script against a real redis-server, directly
 * (no readstated): a field is replaced only by a higher version, _v only
 * rises, a delete removes a field only when it is newer, versions compare
 * exactly as decimal numbers, one call merges several users and one user's
 * failure does not stop the others, the readable storage/merge.lua is the
 * script the server embeds, and a stored _v or field that is not canonical
 * (hand-written "0005", "1:abc:0:0") fails its user and is never compared
 * or written over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "merge_lua.h"
#include "rs_common.h"
#include "rs_testsupport.h"

typedef struct fixture {
    rs_test_redis redis;
    redisContext *c;
    char sha[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    /* No redis-server means failure, never a skip. */
    assert_int_equal(rs_test_redis_start(&f->redis), 0);
    f->c = rs_test_redis_connect(&f->redis);
    assert_non_null(f->c);
    redisReply *r = redisCommand(f->c, "SCRIPT LOAD %s", merge_lua_script);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(f->sha, sizeof(f->sha), "%s", r->str);
    freeReplyObject(r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    redisFree(f->c);
    rs_test_redis_cleanup(&f->redis);
    free(f);
    return 0;
}

/* EVALSHA for one user: a NULL-terminated list of the script arguments
 * after the key (version, then channel/value pairs; the pair count is
 * added here); returns the user's integer entry of the reply (fails the
 * test on anything else). */
static long long merge(fixture *f, const char *key, ...)
{
    const char *argv[40];
    size_t n = 0;
    argv[n++] = "EVALSHA";
    argv[n++] = f->sha;
    argv[n++] = "1";
    argv[n++] = key;
    size_t count_at = 0;
    va_list ap;
    va_start(ap, key);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv) - 1) {
        argv[n++] = a;
        if (n == 5)
            count_at = n++; /* after the version */
    }
    va_end(ap);
    assert_true(count_at == 5);
    char count[24];
    snprintf(count, sizeof(count), "%zu", (n - 6) / 2);
    argv[count_at] = count;
    redisReply *r = redisCommandArgv(f->c, (int)n, argv, NULL);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER)
        fail_msg("merge: unexpected reply type %d: %s", r->type, r->str ? r->str : "");
    long long v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

/* EVALSHA for one user as merge() builds it; returns the user's error text
 * (the test fails on any other reply). */
static char *merge_error(fixture *f, const char *key, const char *version, const char *channel,
                         const char *value)
{
    const char *argv[] = {"EVALSHA", f->sha, "1", key, version, "1", channel, value};
    redisReply *r = redisCommandArgv(f->c, 8, argv, NULL);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ERROR)
        fail_msg("merge: want the user's error, got reply type %d", r->type);
    char *err = strdup(r->element[0]->str);
    freeReplyObject(r);
    return err;
}

/* HGET as a string compared to want (NULL: the field must be absent). */
static void expect_field(fixture *f, const char *key, const char *field, const char *want)
{
    redisReply *r = redisCommand(f->c, "HGET %s %s", key, field);
    assert_non_null(r);
    if (want == NULL) {
        assert_int_equal(r->type, REDIS_REPLY_NIL);
    } else {
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, want);
    }
    freeReplyObject(r);
}

static void test_set_and_version_merge(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{42}";
    assert_int_equal(merge(f, k, "5", "100", "5:900:2:0", NULL), 1);
    expect_field(f, k, "100", "5:900:2:0");
    expect_field(f, k, "_v", "5");
    /* An older version (a retried or reordered flush) changes nothing. */
    assert_int_equal(merge(f, k, "3", "100", "3:800:0:1", NULL), 0);
    expect_field(f, k, "100", "5:900:2:0");
    expect_field(f, k, "_v", "5");
    /* The same version again changes nothing either. */
    assert_int_equal(merge(f, k, "5", "100", "5:901:0:0", NULL), 0);
    expect_field(f, k, "100", "5:900:2:0");
    /* A newer one replaces it; several fields in one call. */
    assert_int_equal(merge(f, k, "7", "100", "7:950:0:1", "200", "6:10:1:0", NULL), 2);
    expect_field(f, k, "100", "7:950:0:1");
    expect_field(f, k, "200", "6:10:1:0");
    expect_field(f, k, "_v", "7");
}

static void test_version_only_rises(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{43}";
    assert_int_equal(merge(f, k, "9", NULL), 0);
    expect_field(f, k, "_v", "9");
    /* "10" > "9" as numbers although not as strings. */
    assert_int_equal(merge(f, k, "10", "1", "10:5:0:0", NULL), 1);
    expect_field(f, k, "_v", "10");
    assert_int_equal(merge(f, k, "9", "1", "9:99:0:0", NULL), 0);
    expect_field(f, k, "_v", "10");
    expect_field(f, k, "1", "10:5:0:0");
    /* Beyond 2^53, where Lua numbers would lose precision. */
    assert_int_equal(merge(f, k, "18014398509481985", "1", "18014398509481985:6:0:0", NULL), 1);
    assert_int_equal(merge(f, k, "18014398509481984", "1", "18014398509481984:7:0:0", NULL), 0);
    expect_field(f, k, "1", "18014398509481985:6:0:0");
    expect_field(f, k, "_v", "18014398509481985");
}

static void test_delete_by_version(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{44}";
    assert_int_equal(merge(f, k, "4", "7", "4:70:0:0", "8", "3:80:0:0", NULL), 2);
    /* A delete older than the stored field does not remove it. */
    assert_int_equal(merge(f, k, "4", "7", "-2", NULL), 0);
    expect_field(f, k, "7", "4:70:0:0");
    /* A newer delete does; _v rises with it. */
    assert_int_equal(merge(f, k, "5", "7", "-5", "8", "-5", NULL), 2);
    expect_field(f, k, "7", NULL);
    expect_field(f, k, "8", NULL);
    expect_field(f, k, "_v", "5");
    /* Deleting an absent field is a no-op. */
    assert_int_equal(merge(f, k, "6", "9", "-6", NULL), 0);
    expect_field(f, k, "_v", "6");
}

/* A version older than _v but newer than the stored field: the fast path
 * (every version newer than _v) does not apply; the field-by-field merge
 * does, and writes only what is newer. */
static void test_older_than_v_newer_than_field(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{47}";
    assert_int_equal(merge(f, k, "3", "1", "3:30:0:0", NULL), 1);
    assert_int_equal(merge(f, k, "10", "2", "10:100:0:0", NULL), 1);
    /* _v is 10; field 1 has version 3. Version 8 replaces field 1, version 2
     * of field 2 does not (it has 10), and _v stays 10. */
    assert_int_equal(merge(f, k, "8", "1", "8:80:1:0", "2", "2:20:0:0", NULL), 1);
    expect_field(f, k, "1", "8:80:1:0");
    expect_field(f, k, "2", "10:100:0:0");
    expect_field(f, k, "_v", "10");
    /* All newer than _v: applied (the fast path), deletes counted only when
     * the field was there. */
    assert_int_equal(merge(f, k, "12", "1", "-11", "3", "-11", "4", "12:5:0:0", NULL), 2);
    expect_field(f, k, "1", NULL);
    expect_field(f, k, "4", "12:5:0:0");
    expect_field(f, k, "_v", "12");
}

/* More fields than one chunk of the script (500), sets and deletes mixed,
 * some older than what is stored. */
static void test_many_fields(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{46}";
    enum { N = 1300 };
    static char bufs[2 * N + 2][48];
    const char *argv[2 * N + 6];
    size_t n = 0;
    argv[n++] = "EVALSHA";
    argv[n++] = f->sha;
    argv[n++] = "1";
    argv[n++] = k;
    char count[16];
    snprintf(count, sizeof(count), "%d", N);
    argv[n++] = "5000";
    argv[n++] = count;
    for (int i = 0; i < N; i++) {
        snprintf(bufs[2 * i], sizeof(bufs[0]), "%d", i + 1);
        snprintf(bufs[2 * i + 1], sizeof(bufs[0]), "%d:%d:0:0", 10 + i, 100 + i);
        argv[n++] = bufs[2 * i];
        argv[n++] = bufs[2 * i + 1];
    }
    redisReply *r = redisCommandArgv(f->c, (int)n, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, N);
    freeReplyObject(r);
    /* Second call: even channels get an older version (ignored), channels
     * divisible by 3 a newer delete, the rest a newer set. */
    n = 6;
    for (int i = 0; i < N; i++) {
        int ch = i + 1;
        if (ch % 3 == 0)
            snprintf(bufs[2 * i + 1], sizeof(bufs[0]), "-%d", 4000 + i);
        else if (ch % 2 == 0)
            snprintf(bufs[2 * i + 1], sizeof(bufs[0]), "%d:%d:0:0", 1 + i % 9, 1);
        else
            snprintf(bufs[2 * i + 1], sizeof(bufs[0]), "%d:%d:1:1", 4000 + i, 7);
        argv[n++] = bufs[2 * i];
        argv[n++] = bufs[2 * i + 1];
    }
    r = redisCommandArgv(f->c, (int)n, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    long long want = 0;
    for (int ch = 1; ch <= N; ch++)
        want += ch % 3 == 0 || ch % 2 != 0;
    assert_int_equal(r->element[0]->integer, want);
    freeReplyObject(r);
    char field[16], val[48];
    for (int ch = 1; ch <= N; ch++) {
        snprintf(field, sizeof(field), "%d", ch);
        if (ch % 3 == 0) {
            expect_field(f, k, field, NULL);
            continue;
        }
        if (ch % 2 == 0)
            snprintf(val, sizeof(val), "%d:%d:0:0", 10 + ch - 1, 100 + ch - 1);
        else
            snprintf(val, sizeof(val), "%d:7:1:1", 4000 + ch - 1);
        expect_field(f, k, field, val);
    }
}

/* Three users in one call: each merged by its own version; the middle key
 * holds a string (wrong type), which fails that user alone. */
static void test_several_users(void **state)
{
    fixture *f = *state;
    redisReply *r = redisCommand(f->c, "SET readstates:{51} not-a-hash");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(merge(f, "readstates:{52}", "8", "1", "8:10:0:0", NULL), 1);
    /* clang-format off */
    const char *argv[] = {
        "EVALSHA", f->sha, "3", "readstates:{50}", "readstates:{51}", "readstates:{52}",
        "4", "2", "1", "4:40:1:0", "2", "3:30:0:0",
        "9", "1", "1", "9:90:0:0",
        "7", "2", "1", "7:70:0:0", "3", "-7", /* user 52: older, and a delete of nothing */
    };
    /* clang-format on */
    r = redisCommandArgv(f->c, (int)RS_ARRAY_LEN(argv), argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[0]->integer, 2);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->element[1]->str, "WRONGTYPE"));
    assert_int_equal(r->element[2]->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->element[2]->integer, 0); /* 7 < 8; the delete hits nothing */
    freeReplyObject(r);
    expect_field(f, "readstates:{50}", "1", "4:40:1:0");
    expect_field(f, "readstates:{50}", "2", "3:30:0:0");
    expect_field(f, "readstates:{50}", "_v", "4");
    expect_field(f, "readstates:{52}", "1", "8:10:0:0");
    expect_field(f, "readstates:{52}", "3", NULL);
    expect_field(f, "readstates:{52}", "_v", "8");
    /* A user with no states only raises _v. */
    const char *bump[] = {"EVALSHA", f->sha, "1", "readstates:{50}", "6", "0"};
    r = redisCommandArgv(f->c, (int)RS_ARRAY_LEN(bump), bump, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->integer, 0);
    freeReplyObject(r);
    expect_field(f, "readstates:{50}", "_v", "6");
    /* A call whose arguments do not match its keys is refused whole. */
    const char *bad[] = {"EVALSHA",         f->sha, "2", "readstates:{53}",
                         "readstates:{54}", "1",    "0"};
    r = redisCommandArgv(f->c, (int)RS_ARRAY_LEN(bad), bad, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void test_noscript_after_flush(void **state)
{
    fixture *f = *state;
    redisReply *r = redisCommand(f->c, "SCRIPT FLUSH");
    assert_non_null(r);
    freeReplyObject(r);
    r = redisCommand(f->c, "EVALSHA %s 1 readstates:{45} 1", f->sha);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_memory_equal(r->str, "NOSCRIPT", 8);
    freeReplyObject(r);
    /* Loading it again gives the same sha (the server relies on this). */
    r = redisCommand(f->c, "SCRIPT LOAD %s", merge_lua_script);
    assert_non_null(r);
    assert_string_equal(r->str, f->sha);
    freeReplyObject(r);
}

/* ---- stored values that break the format ---------------------------------- */

/* HSET key field value ... (NULL-terminated), as written by hand. */
static void hset(fixture *f, const char *key, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "HSET";
    argv[n++] = key;
    va_list ap;
    va_start(ap, key);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv))
        argv[n++] = a;
    va_end(ap);
    redisReply *r = redisCommandArgv(f->c, (int)n, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
}

/* One user's merge that the script must refuse: its entry is the error
 * "STORED_INVALID <key> field <field>: ...". */
static void expect_refused(fixture *f, const char *key, const char *field, const char *ver,
                           const char *ch, const char *val)
{
    const char *argv[] = {"EVALSHA", f->sha, "1", key, ver, "1", ch, val};
    redisReply *r = redisCommandArgv(f->c, (int)RS_ARRAY_LEN(argv), argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    if (r->element[0]->type != REDIS_REPLY_ERROR)
        fail_msg("merge into %s was not refused (reply type %d, %lld)", key,
                 r->element[0]->type, r->element[0]->integer);
    char want[96];
    snprintf(want, sizeof(want), "STORED_INVALID %s field %s: ", key, field);
    if (strncmp(r->element[0]->str, want, strlen(want)) != 0)
        fail_msg("error \"%s\", want the prefix \"%s\"", r->element[0]->str, want);
    freeReplyObject(r);
}

/* A hand-written _v "0005": compared as a string it ranks above "6" (longer),
 * so every merge would leave _v behind. The script refuses the user, on the
 * fast path and on the field-by-field one, and writes nothing. */
static void test_refuses_noncanonical_v(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{60}";
    hset(f, k, "_v", "0005", "3", "4:100:0:0", NULL);
    expect_refused(f, k, "_v", "6", "3", "6:200:0:0"); /* fast path (6 > _v?) */
    expect_refused(f, k, "_v", "6", "3", "-6");
    expect_field(f, k, "_v", "0005");
    expect_field(f, k, "3", "4:100:0:0");
    /* Other malformed _v values: sign, space, past 2^64-1, empty, junk. */
    static const char *const bad[] = {
        "+5", " 5", "5 ",   "-1", "18446744073709551616", "99999999999999999999",
        "",   "5x", "0x10", "00"};
    for (size_t i = 0; i < RS_ARRAY_LEN(bad); i++) {
        hset(f, k, "_v", bad[i], NULL);
        expect_refused(f, k, "_v", "7", "3", "7:300:0:0");
        expect_field(f, k, "3", "4:100:0:0");
    }
    /* Fixed by an operator: the same merge lands. */
    hset(f, k, "_v", "5", NULL);
    assert_int_equal(merge(f, k, "7", "3", "7:300:0:0", NULL), 1);
    expect_field(f, k, "_v", "7");
    expect_field(f, k, "3", "7:300:0:0");
    /* The largest version is canonical and compares right. */
    hset(f, k, "_v", "18446744073709551615", NULL);
    assert_int_equal(merge(f, k, "8", "3", "8:400:0:0", NULL), 1);
    expect_field(f, k, "_v", "18446744073709551615");
    expect_field(f, k, "3", "8:400:0:0");
}

/* Fields the script reads (the field-by-field path: a version not newer
 * than _v) must be canonical too: "0004" would rank above "6", and
 * "1:abc:0:0" is no state at all. */
static void test_refuses_bad_field(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{61}";
    static const char *const bad[] = {
        "0004:100:0:0", "1:abc:0:0",        "1:2:3",
        "1:2:3:4:5",    "1:2:3:0:",         ":1:2:0",
        "1:2:3:2",      "1:2:4294967296:0", "18446744073709551616:1:0:0",
        "1:-2:0:0",     "1: 2:0:0"};
    for (size_t i = 0; i < RS_ARRAY_LEN(bad); i++) {
        hset(f, k, "_v", "9", "3", bad[i], NULL);
        expect_refused(f, k, "3", "6", "3", "6:200:0:0");
        expect_refused(f, k, "3", "6", "3", "-6");
        expect_field(f, k, "3", bad[i]);
        expect_field(f, k, "_v", "9");
    }
    /* A good field beside it still merges once the bad one is fixed. */
    hset(f, k, "3", "4:100:0:0", NULL);
    assert_int_equal(merge(f, k, "6", "3", "6:200:0:0", NULL), 1);
    expect_field(f, k, "3", "6:200:0:0");
    expect_field(f, k, "_v", "9");
}

/* A bad field in the third chunk of a large merge: nothing of the hash is
 * written, not even the first chunks (all are read and checked first). */
static void test_refuses_before_any_chunk_is_written(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{62}";
    enum { N = 1200 };
    static char bufs[2 * N][48];
    const char *argv[2 * N + 6];
    hset(f, k, "_v", "5000", "1100", "7:x:0:0", NULL);
    size_t n = 0;
    argv[n++] = "EVALSHA";
    argv[n++] = f->sha;
    argv[n++] = "1";
    argv[n++] = k;
    argv[n++] = "4000"; /* below _v: the field-by-field path */
    char count[16];
    snprintf(count, sizeof(count), "%d", N);
    argv[n++] = count;
    for (int i = 0; i < N; i++) {
        snprintf(bufs[2 * i], sizeof(bufs[0]), "%d", i + 1);
        snprintf(bufs[2 * i + 1], sizeof(bufs[0]), "%d:%d:0:0", 3000 + i, 100 + i);
        argv[n++] = bufs[2 * i];
        argv[n++] = bufs[2 * i + 1];
    }
    redisReply *r = redisCommandArgv(f->c, (int)n, argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->element[0]->str, "STORED_INVALID readstates:{62} field 1100: "));
    freeReplyObject(r);
    r = redisCommand(f->c, "HLEN %s", k);
    assert_non_null(r);
    assert_int_equal(r->integer, 2); /* _v and the bad field: nothing added */
    freeReplyObject(r);
}

/* One call, three users: the one with a bad _v is refused, the others are
 * merged. */
static void test_refusal_fails_only_its_user(void **state)
{
    fixture *f = *state;
    hset(f, "readstates:{64}", "_v", "007", NULL);
    /* clang-format off */
    const char *argv[] = {
        "EVALSHA", f->sha, "3", "readstates:{63}", "readstates:{64}", "readstates:{65}",
        "4", "1", "1", "4:40:0:0",
        "9", "1", "1", "9:90:0:0",
        "2", "1", "1", "2:20:0:0",
    };
    /* clang-format on */
    redisReply *r = redisCommandArgv(f->c, (int)RS_ARRAY_LEN(argv), argv, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_int_equal(r->element[0]->integer, 1);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(r->element[1]->str, "STORED_INVALID readstates:{64} field _v"));
    assert_int_equal(r->element[2]->integer, 1);
    freeReplyObject(r);
    expect_field(f, "readstates:{63}", "1", "4:40:0:0");
    expect_field(f, "readstates:{64}", "1", NULL);
    expect_field(f, "readstates:{64}", "_v", "007");
    expect_field(f, "readstates:{65}", "1", "2:20:0:0");
}

/* The fleet's owner fence: <version>@<gen> merges only when the stored
 * _o (the latest owner claim) is not above gen, and raises _o to gen; a
 * refused user gets FENCED and nothing of it is written; a version without
 * @ (no fleet) neither checks nor writes _o. */
static void test_owner_fence(void **state)
{
    fixture *f = *state;
    const char *k = "readstates:{77}";
    assert_int_equal(merge(f, k, "5@3", "100", "5:900:0:0", NULL), 1);
    expect_field(f, k, "_o", "3");
    expect_field(f, k, "_v", "5");
    /* a node with an older claim: refused, nothing written */
    char *err = merge_error(f, k, "6@2", "100", "6:950:0:0");
    assert_non_null(strstr(err, "FENCED readstates:{77} _o 3"));
    free(err);
    expect_field(f, k, "100", "5:900:0:0");
    expect_field(f, k, "_v", "5");
    expect_field(f, k, "_o", "3");
    /* the same generation, then a newer one (length-aware compare: 10 > 9) */
    assert_int_equal(merge(f, k, "6@3", "101", "6:10:0:0", NULL), 1);
    expect_field(f, k, "_o", "3");
    assert_int_equal(merge(f, k, "7@10", "102", "7:20:0:0", NULL), 1);
    expect_field(f, k, "_o", "10");
    err = merge_error(f, k, "8@9", "100", "8:960:0:0");
    assert_non_null(strstr(err, "FENCED"));
    free(err);
    /* no generation: not fenced, _o left alone */
    assert_int_equal(merge(f, k, "8", "103", "8:30:0:0", NULL), 1);
    expect_field(f, k, "_o", "10");
    /* a hand-written _o that is not canonical: refused as stored data */
    redisReply *r = redisCommand(f->c, "HSET %s _o 010", k);
    freeReplyObject(r);
    err = merge_error(f, k, "9@11", "100", "9:970:0:0");
    assert_non_null(strstr(err, "STORED_INVALID readstates:{77} field _o"));
    free(err);
    expect_field(f, k, "_v", "8");
}

/* storage/merge.lua without its comment lines is the embedded script. */
static void test_readable_copy_matches(void **state)
{
    (void)state;
    char *src = rs_read_file(RS_SOURCE_DIR "/storage/merge.lua", NULL);
    assert_non_null(src);
    size_t cap = strlen(src) + 1, n = 0;
    char *code = malloc(cap);
    assert_non_null(code);
    for (char *line = src; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) + 1 : strlen(line);
        if (strncmp(line, "--", 2) != 0) {
            memcpy(code + n, line, len);
            n += len;
        }
        line += len;
    }
    code[n] = '\0';
    assert_string_equal(code, merge_lua_script);
    free(code);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_version_merge),
        cmocka_unit_test(test_version_only_rises),
        cmocka_unit_test(test_delete_by_version),
        cmocka_unit_test(test_older_than_v_newer_than_field),
        cmocka_unit_test(test_many_fields),
        cmocka_unit_test(test_several_users),
        cmocka_unit_test(test_noscript_after_flush),
        cmocka_unit_test(test_owner_fence),
        cmocka_unit_test(test_readable_copy_matches),
        cmocka_unit_test(test_refuses_noncanonical_v),
        cmocka_unit_test(test_refuses_bad_field),
        cmocka_unit_test(test_refuses_before_any_chunk_is_written),
        cmocka_unit_test(test_refusal_fails_only_its_user),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
