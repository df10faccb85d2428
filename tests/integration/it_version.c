/*
 * it_version.c: every program's --version, run as the real binary.
 *
 *   readstated --version          "readstated <RS_VERSION_STRING>\n"
 *   readstatectl --version        "readstatectl <RS_VERSION_STRING>\n"
 *   readstate-loadgen --version   "readstate-loadgen <RS_VERSION_STRING>\n"
 *
 * Each prints exactly that one line on stdout, nothing on stderr, exits 0
 * (whatever else is on the command line: --version starts nothing and
 * connects to nothing), and lists --version in its --help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rs_common.h"
#include "rs_testsupport.h"

#define RUN_MS 20000

static const char *loadgen_bin(void)
{
    const char *b = getenv("READSTATE_LOADGEN_BIN");
#ifdef RS_LOADGEN_BIN
    return b != NULL && b[0] != '\0' ? b : RS_LOADGEN_BIN;
#else
    return b != NULL && b[0] != '\0' ? b : NULL;
#endif
}

/* Run bin with args (NULL-terminated); check exit 0, the exact version
 * line on stdout and an empty stderr. */
static void check_version(const char *bin, const char *name, const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, RUN_MS, &out, &err);
    assert_non_null(out);
    assert_non_null(err);
    char want[128];
    snprintf(want, sizeof(want), "%s %s\n", name, RS_VERSION_STRING);
    if (code != 0 || strcmp(out, want) != 0 || err[0] != '\0')
        fail_msg("%s %s: exit %d, stdout '%s', stderr '%s' (want exit 0, stdout '%s')", bin,
                 args[0], code, out, err, want);
    free(out);
    free(err);
}

/* --help mentions --version. */
static void check_help_lists_version(const char *bin)
{
    const char *argv[] = {bin, "--help", NULL};
    char *out = NULL;
    assert_int_equal(rs_run(argv, NULL, RUN_MS, &out, NULL), 0);
    assert_non_null(out);
    if (strstr(out, "--version") == NULL)
        fail_msg("%s --help does not list --version", bin);
    free(out);
}

static void test_readstated(void **state)
{
    (void)state;
    const char *bin = rs_test_readstated_bin();
    check_version(bin, "readstated", (const char *const[]){"--version", NULL});
    /* flags before it are parsed, but nothing listens */
    check_version(bin, "readstated",
                  (const char *const[]){"--listen", "127.0.0.1:1", "--version", NULL});
    check_help_lists_version(bin);
}

static void test_readstatectl(void **state)
{
    (void)state;
    const char *bin = rs_test_readstatectl_bin();
    check_version(bin, "readstatectl", (const char *const[]){"--version", NULL});
    /* with a command: still only the version, no connection to anything */
    check_version(bin, "readstatectl",
                  (const char *const[]){"--server", "127.0.0.1:1", "ping", "--version", NULL});
    check_help_lists_version(bin);
}

static void test_loadgen(void **state)
{
    (void)state;
    const char *bin = loadgen_bin();
    if (bin == NULL)
        skip();
    check_version(bin, "readstate-loadgen", (const char *const[]){"--version", NULL});
    check_version(bin, "readstate-loadgen",
                  (const char *const[]){"--target", "rs://127.0.0.1:1", "--version", NULL});
    check_help_lists_version(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readstated),
        cmocka_unit_test(test_readstatectl),
        cmocka_unit_test(test_loadgen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
