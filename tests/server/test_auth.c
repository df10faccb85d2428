/*
 * test_auth.c: the token set of --auth-token-file (server/auth.c): the file
 * format (comments, blank lines, trimming, the errors that name a line),
 * the constant-time check's answers (every token, near misses, off), the
 * Authorization header parser, and a reload that fails keeping the tokens
 * in use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "rs_testsupport.h"

#define TOKEN_A "tok-A-0123456789abcdef"
#define TOKEN_B "tok-B-fedcba9876543210"
#define TOKEN_C "0123456789abcdef" /* exactly the minimum */

typedef struct fx {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    rs_auth *a;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL || rs_tmpdir_create("auth", f->dir, sizeof(f->dir)) != 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tokens", f->dir);
    f->a = auth_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    auth_free(f->a);
    rs_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* Write text to the fixture's file and load it; returns auth_reload's. */
static int load(fx *f, const char *text, char *err, size_t errlen)
{
    assert_int_equal(rs_write_file(f->path, text), 0);
    return auth_reload(f->a, f->path, err, errlen);
}

static bool check(const rs_auth *a, const char *t)
{
    return auth_check(a, t, strlen(t));
}

static void test_off_by_default(void **state)
{
    fx *f = *state;
    assert_false(auth_enabled(f->a));
    assert_int_equal(auth_count(f->a), 0);
    assert_false(check(f->a, TOKEN_A));
    assert_false(auth_check_bearer(f->a, "Bearer " TOKEN_A));
    char err[256];
    assert_int_equal(auth_reload(f->a, "", err, sizeof(err)), 0); /* empty path: off */
    assert_false(auth_enabled(f->a));
}

static void test_file_format(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(load(f,
                          "# API tokens\n"
                          "\n"
                          "   " TOKEN_A "   \n"
                          "\t# an indented comment\n"
                          "\t" TOKEN_B "\r\n"
                          "   \t \n" TOKEN_C, /* no final newline */
                          err, sizeof(err)),
                     0);
    assert_true(auth_enabled(f->a));
    assert_int_equal(auth_count(f->a), 3);
    assert_true(check(f->a, TOKEN_A));
    assert_true(check(f->a, TOKEN_B));
    assert_true(check(f->a, TOKEN_C));
    /* comments are not tokens, and blanks were trimmed from the file only */
    assert_false(check(f->a, "# API tokens"));
    assert_false(check(f->a, "   " TOKEN_A "   "));
}

static void test_file_errors(void **state)
{
    fx *f = *state;
    char err[256];
    char want[PATH_MAX + 48];

    assert_int_equal(load(f, "", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no token"));
    assert_int_equal(load(f, "# only a comment\n\n   \n", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no token"));

    /* too short: the error names the file and the line */
    assert_int_equal(load(f, "# c\n" TOKEN_A "\nshort-token\n", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3:", f->path);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "16"));
    /* 15 bytes is one short */
    assert_int_equal(load(f, "0123456789abcde\n", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:1:", f->path);
    assert_non_null(strstr(err, want));

    /* a space inside a token */
    assert_int_equal(load(f, TOKEN_A "\n\nabcdefgh ijklmnopq\n", err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:3:", f->path);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "spaces"));

    /* a line longer than any token */
    char *big = malloc(RS_AUTH_TOKEN_MAX + 200);
    assert_non_null(big);
    memset(big, 'x', RS_AUTH_TOKEN_MAX + 100);
    strcpy(big + RS_AUTH_TOKEN_MAX + 100, "\n");
    assert_int_equal(load(f, big, err, sizeof(err)), -1);
    free(big);

    /* unreadable */
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(auth_reload(f->a, missing, err, sizeof(err)), -1);
    assert_non_null(strstr(err, missing));
    assert_false(auth_enabled(f->a)); /* nothing loaded by any of these */
}

static void test_check_answers(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(load(f, TOKEN_A "\n" TOKEN_B "\n", err, sizeof(err)), 0);
    assert_true(check(f->a, TOKEN_A));
    assert_true(check(f->a, TOKEN_B));
    /* near misses: a prefix, one more byte, one byte changed, case */
    assert_false(check(f->a, "tok-A-0123456789abcde"));
    assert_false(check(f->a, TOKEN_A "0"));
    assert_false(check(f->a, "tok-A-0123456789abcdeF"));
    assert_false(check(f->a, "TOK-A-0123456789ABCDEF"));
    assert_false(check(f->a, ""));
    assert_false(auth_check(f->a, NULL, 0));
    /* the length given is what counts, not a terminator */
    assert_true(auth_check(f->a, TOKEN_A "trailing", strlen(TOKEN_A)));
    /* many tokens: each is found, whatever its place */
    char text[64 * 40] = "";
    for (int i = 0; i < 64; i++) {
        char line[40];
        snprintf(line, sizeof(line), "token-number-%04d-abcdef\n", i);
        strcat(text, line);
    }
    assert_int_equal(load(f, text, err, sizeof(err)), 0);
    assert_int_equal(auth_count(f->a), 64);
    for (int i = 0; i < 64; i++) {
        char t[40];
        snprintf(t, sizeof(t), "token-number-%04d-abcdef", i);
        assert_true(check(f->a, t));
    }
    assert_false(check(f->a, "token-number-0064-abcdef"));
}

static void test_bearer_header(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(load(f, TOKEN_A "\n", err, sizeof(err)), 0);
    assert_true(auth_check_bearer(f->a, "Bearer " TOKEN_A));
    assert_true(auth_check_bearer(f->a, "bearer " TOKEN_A));
    assert_true(auth_check_bearer(f->a, "BEARER\t " TOKEN_A " \t"));
    assert_true(auth_check_bearer(f->a, "  Bearer " TOKEN_A));
    assert_false(auth_check_bearer(f->a, NULL));
    assert_false(auth_check_bearer(f->a, ""));
    assert_false(auth_check_bearer(f->a, "Bearer"));
    assert_false(auth_check_bearer(f->a, "Bearer "));
    assert_false(auth_check_bearer(f->a, "Bearer" TOKEN_A));
    assert_false(auth_check_bearer(f->a, "Basic " TOKEN_A));
    assert_false(auth_check_bearer(f->a, TOKEN_A));
    assert_false(auth_check_bearer(f->a, "Bearer " TOKEN_B));
    assert_false(auth_check_bearer(f->a, "Bearer " TOKEN_A " extra"));
}

static void test_reload_keeps_old_on_failure(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(load(f, TOKEN_A "\n", err, sizeof(err)), 0);
    /* the file emptied (being rewritten), then a bad line, then gone */
    assert_int_equal(load(f, "", err, sizeof(err)), -1);
    assert_true(check(f->a, TOKEN_A));
    assert_int_equal(load(f, TOKEN_B "\nshort\n", err, sizeof(err)), -1);
    assert_true(check(f->a, TOKEN_A));
    assert_false(check(f->a, TOKEN_B)); /* not half-loaded */
    assert_int_equal(auth_count(f->a), 1);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(auth_reload(f->a, missing, err, sizeof(err)), -1);
    assert_true(check(f->a, TOKEN_A));
    /* a good file replaces the set: the old token stops working */
    assert_int_equal(load(f, TOKEN_B "\n", err, sizeof(err)), 0);
    assert_false(check(f->a, TOKEN_A));
    assert_true(check(f->a, TOKEN_B));
    /* the same path re-read after an in-place rewrite */
    assert_int_equal(load(f, TOKEN_C "\n" TOKEN_A "\n", err, sizeof(err)), 0);
    assert_int_equal(auth_count(f->a), 2);
    assert_false(check(f->a, TOKEN_B));
    assert_true(check(f->a, TOKEN_C));
    /* an empty path turns tokens off */
    assert_int_equal(auth_reload(f->a, "", err, sizeof(err)), 0);
    assert_false(auth_enabled(f->a));
    assert_false(check(f->a, TOKEN_C));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bearer_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_old_on_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
