/*
 * test_config_secrets.c: how readstated takes its Redis secrets.
 *
 *  - --redis-password-file: the first line, without "\n" or "\r\n"; an
 *    empty or unreadable file, or a file together with --redis-password
 *    (or READSTATED_REDIS_PASSWORD), is an error naming the flag;
 *  - --redis-user needs a password and reaches the engine configuration;
 *  - config_scrub_argv overwrites the value of --redis-password (both
 *    forms) in argv with '*', and nothing else;
 *  - a reload over the scrubbed argv (config_reread, then
 *    config_restore_argv_secrets as server_reload does) keeps the real
 *    password, and config_diff reports no change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define MAX_ARGS 32

/* A mutable argv (config_scrub_argv writes into it), as main gets one. */
typedef struct args {
    char *argv[MAX_ARGS + 1];
    int argc;
} args;

static void args_make(args *a, ...)
{
    a->argc = 0;
    a->argv[a->argc++] = strdup("readstated");
    va_list ap;
    va_start(ap, a);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && a->argc < MAX_ARGS)
        a->argv[a->argc++] = strdup(s);
    va_end(ap);
    a->argv[a->argc] = NULL;
}

static void args_free(args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    a->argc = 0;
}

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rs-secrets-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    unsetenv("READSTATED_REDIS_PASSWORD");
    unsetenv("READSTATED_REDIS_PASSWORD_FILE");
    unsetenv("READSTATED_REDIS_USER");
    unsetenv("READSTATED_CONFIG");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name holding text (byte for byte); returns its path (static). */
static const char *file_with(const char *name, const char *text)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* config_load's result and what it printed to stderr (caller frees). */
static int load_capture(rs_config *cfg, args *a, char **errtext)
{
    fflush(stderr);
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr", tmpdir);
    FILE *saved = fdopen(dup(fileno(stderr)), "w");
    assert_non_null(freopen(path, "w", stderr));
    int rc = config_load(cfg, a->argc, a->argv);
    fflush(stderr);
    assert_int_equal(dup2(fileno(saved), fileno(stderr)), fileno(stderr));
    fclose(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    *errtext = buf;
    return rc;
}

static void test_password_file_first_line(void **state)
{
    (void)state;
    static const char *const texts[] = {"s3cret\n", "s3cret\r\n", "s3cret", "s3cret\nnext\n"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        args a;
        args_make(&a, "--redis", "127.0.0.1:6379", "--redis-password-file",
                  file_with("pw", texts[i]), NULL);
        rs_config c;
        assert_int_equal(config_load(&c, a.argc, a.argv), 0);
        assert_string_equal(c.redis_password, "s3cret");
        rs_engine_config ec;
        config_to_engine(&c, &ec, NULL);
        assert_string_equal(ec.redis_password, "s3cret");
        assert_null(ec.redis_user);
        args_free(&a);
    }
    /* READSTATED_REDIS_PASSWORD_FILE works as well */
    setenv("READSTATED_REDIS_PASSWORD_FILE", file_with("pw2", "from-env-file\n"), 1);
    args a;
    args_make(&a, NULL);
    rs_config c;
    assert_int_equal(config_load(&c, a.argc, a.argv), 0);
    assert_string_equal(c.redis_password, "from-env-file");
    unsetenv("READSTATED_REDIS_PASSWORD_FILE");
    args_free(&a);
}

static void expect_error(args *a, const char *needle)
{
    rs_config c;
    char *err = NULL;
    assert_int_equal(load_capture(&c, a, &err), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, err);
    free(err);
    args_free(a);
}

static void test_password_file_errors(void **state)
{
    (void)state;
    args a;
    args_make(&a, "--redis-password-file", file_with("empty", ""), NULL);
    expect_error(&a, "--redis-password-file");
    args_make(&a, "--redis-password-file", file_with("blank", "\n"), NULL);
    expect_error(&a, "--redis-password-file");
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
    args_make(&a, "--redis-password-file", missing, NULL);
    expect_error(&a, "--redis-password-file");
    char longpw[400];
    memset(longpw, 'x', sizeof(longpw) - 2);
    longpw[sizeof(longpw) - 2] = '\n';
    longpw[sizeof(longpw) - 1] = '\0';
    args_make(&a, "--redis-password-file", file_with("long", longpw), NULL);
    expect_error(&a, "too long");
    /* a file and a password: which one? */
    args_make(&a, "--redis-password", "x", "--redis-password-file", file_with("pw", "y\n"),
              NULL);
    expect_error(&a, "--redis-password-file and --redis-password");
    setenv("READSTATED_REDIS_PASSWORD", "x", 1);
    args_make(&a, "--redis-password-file", file_with("pw", "y\n"), NULL);
    expect_error(&a, "--redis-password-file and --redis-password");
    unsetenv("READSTATED_REDIS_PASSWORD");
    /* a user needs a password */
    args_make(&a, "--redis-user", "rsuser", NULL);
    expect_error(&a, "--redis-user");
}

static void test_redis_user(void **state)
{
    (void)state;
    args a;
    setenv("READSTATED_REDIS_PASSWORD", "envpw", 1);
    args_make(&a, "--redis", "127.0.0.1:6379", "--redis-user", "rsuser", NULL);
    rs_config c;
    assert_int_equal(config_load(&c, a.argc, a.argv), 0);
    unsetenv("READSTATED_REDIS_PASSWORD");
    rs_engine_config ec;
    config_to_engine(&c, &ec, NULL);
    assert_string_equal(ec.redis_user, "rsuser");
    assert_string_equal(ec.redis_password, "envpw");
    /* nothing in argv is secret here */
    assert_int_equal(config_scrub_argv(a.argc, a.argv, NULL, NULL), 0);
    assert_string_equal(a.argv[4], "rsuser");
    args_free(&a);
}

typedef struct scrubbed {
    int n;
    char flag[64];
    char hint[128];
} scrubbed;

static void on_scrub(void *arg, const char *flag, const char *hint)
{
    scrubbed *s = arg;
    s->n++;
    snprintf(s->flag, sizeof(s->flag), "%s", flag);
    snprintf(s->hint, sizeof(s->hint), "%s", hint);
}

static void test_scrub_both_forms(void **state)
{
    (void)state;
    args a;
    args_make(&a, "--redis", "127.0.0.1:6379", "--redis-password", "hunter2", "--max-list", "7",
              "--redis-password=hunter3", "--log-requests", NULL);
    rs_config c;
    assert_int_equal(config_load(&c, a.argc, a.argv), 0);
    assert_string_equal(c.redis_password, "hunter3"); /* the last one wins */
    scrubbed s = {0};
    assert_int_equal(config_scrub_argv(a.argc, a.argv, on_scrub, &s), 2);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.flag, "redis-password");
    assert_string_equal(s.hint, "use --redis-password-file or READSTATED_REDIS_PASSWORD");
    assert_string_equal(a.argv[1], "--redis");
    assert_string_equal(a.argv[2], "127.0.0.1:6379");
    assert_string_equal(a.argv[3], "--redis-password");
    assert_string_equal(a.argv[4], "*******");
    assert_string_equal(a.argv[5], "--max-list");
    assert_string_equal(a.argv[6], "7");
    assert_string_equal(a.argv[7], "--redis-password=*******");
    assert_string_equal(a.argv[8], "--log-requests");
    /* the running settings keep the value */
    assert_string_equal(c.redis_password, "hunter3");
    /* a value that looks like a flag is still the password's value */
    args_free(&a);
    args_make(&a, "--redis-password", "--max-list", NULL);
    assert_int_equal(config_load(&c, a.argc, a.argv), 0);
    assert_int_equal(config_scrub_argv(a.argc, a.argv, NULL, NULL), 1);
    assert_string_equal(a.argv[2], "**********");
    args_free(&a);
}

typedef struct diffs {
    int n;
    char names[512];
} diffs;

static void on_diff(void *arg, const char *name, const char *old_value, const char *new_value,
                    bool live)
{
    (void)old_value;
    (void)new_value;
    (void)live;
    diffs *d = arg;
    d->n++;
    size_t len = strlen(d->names);
    snprintf(d->names + len, sizeof(d->names) - len, "%s ", name);
}

static void test_reload_after_scrub_keeps_password(void **state)
{
    (void)state;
    const char *conf = file_with("conf", "log-level=info\n");
    args a;
    args_make(&a, "--redis", "127.0.0.1:6379", "--config", conf, "--redis-password=hunter2",
              NULL);
    rs_config cur;
    assert_int_equal(config_load(&cur, a.argc, a.argv), 0);
    assert_int_equal(config_scrub_argv(a.argc, a.argv, NULL, NULL), 1);
    /* the operator changes the log level and reloads */
    file_with("conf", "log-level=debug\n");
    rs_config next;
    char err[256];
    assert_int_equal(config_reread(&next, a.argc, a.argv, err, sizeof(err)), 0);
    config_restore_argv_secrets(&next, &cur, a.argc, a.argv);
    assert_string_equal(next.redis_password, "hunter2");
    diffs d = {0};
    assert_int_equal(config_diff(&cur, &next, on_diff, &d), 1);
    assert_string_equal(d.names, "log-level ");
    args_free(&a);
    /* a password from the environment is not argv's: a new one shows */
    setenv("READSTATED_REDIS_PASSWORD", "one", 1);
    args_make(&a, "--redis", "127.0.0.1:6379", NULL);
    assert_int_equal(config_load(&cur, a.argc, a.argv), 0);
    setenv("READSTATED_REDIS_PASSWORD", "two", 1);
    assert_int_equal(config_reread(&next, a.argc, a.argv, err, sizeof(err)), 0);
    config_restore_argv_secrets(&next, &cur, a.argc, a.argv);
    assert_string_equal(next.redis_password, "two");
    unsetenv("READSTATED_REDIS_PASSWORD");
    args_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_file_first_line),
        cmocka_unit_test(test_password_file_errors),
        cmocka_unit_test(test_redis_user),
        cmocka_unit_test(test_scrub_both_forms),
        cmocka_unit_test(test_reload_after_scrub_keeps_password),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
