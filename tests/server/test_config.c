/*
 * test_config.c: readstated's flags and READSTATED_* environment:
 * defaults, precedence (flag > env > --config file > default), value
 * forms, and the errors for bad values; the settings file's format;
 * config_reread, config_diff and config_apply_live (what SIGHUP uses);
 * config_to_engine's mapping.
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

/* config_load with a NULL-terminated flag list after argv[0]. */
static int load(rs_config *cfg, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "readstated";
    va_list ap;
    va_start(ap, cfg);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return config_load(cfg, argc, argv);
}

static void test_defaults(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, NULL), 0);
    assert_string_equal(c.listen, "127.0.0.1:7480");
    assert_string_equal(c.http, "127.0.0.1:7481");
    assert_string_equal(c.redis, "");
    assert_string_equal(c.redis_host, "");
    assert_int_equal(c.durability, RS_DURABILITY_WRITE_BEHIND);
    assert_int_equal(c.flush_interval_ms, 1000);
    assert_int_equal(c.flush_batch, 64);
    assert_int_equal(c.flush_call_users, 16);
    assert_int_equal(c.dirty_budget, 64u << 20);
    assert_int_equal(c.shutdown_timeout_ms, 25000);
    assert_int_equal(c.max_memory, (size_t)1 << 30);
    assert_int_equal(c.max_states_per_user, 10000);
    assert_int_equal(c.max_frame, 64 * 1024);
    assert_int_equal(c.max_list, 1000);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.max_inflight, 1024);
    assert_int_equal(c.max_output, 8u << 20);
    assert_int_equal(c.idle_timeout_s, 300);
    assert_int_equal(c.reqs_per_event, 64);
    assert_int_equal(c.max_watches, 100000);
    assert_int_equal(c.http_max_body, 1u << 20);
    assert_int_equal(c.http_max_headers, 16u << 10);
    assert_int_equal(c.http_timeout_s, 30);
    assert_int_equal(c.log_level, RS_LOG_INFO);
    assert_false(c.log_requests);
    assert_int_equal(c.slow_request_ms, 100);
    assert_int_equal(c.gc_force_interval_s, 120);
    assert_int_equal(c.redis_timeout_ms, 1000);
}

static void test_flag_beats_env(void **state)
{
    (void)state;
    rs_config c;
    setenv("READSTATED_MAX_LIST", "5", 1);
    setenv("READSTATED_MAX_MEMORY", "2GiB", 1);
    assert_int_equal(load(&c, "--max-list", "7", NULL), 0);
    assert_int_equal(c.max_list, 7);
    assert_int_equal(c.max_memory, (size_t)2 << 30);
    assert_int_equal(load(&c, NULL), 0);
    assert_int_equal(c.max_list, 5);
    unsetenv("READSTATED_MAX_LIST");
    unsetenv("READSTATED_MAX_MEMORY");
    assert_int_equal(load(&c, NULL), 0);
    assert_int_equal(c.max_list, 1000);
}

static void test_value_forms(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, "--max-frame=1MiB", "--log-requests", "--durability",
                          "write-through", "--log-level=debug", "--redis", "127.0.0.1:6390",
                          "--http", "off", "--idle-timeout-s=0", NULL),
                     0);
    assert_int_equal(c.max_frame, 1u << 20);
    assert_true(c.log_requests);
    assert_int_equal(c.durability, RS_DURABILITY_WRITE_THROUGH);
    assert_int_equal(c.log_level, RS_LOG_DEBUG);
    assert_string_equal(c.redis_host, "127.0.0.1");
    assert_int_equal(c.redis_port, 6390);
    assert_string_equal(c.http, "off");
    assert_int_equal(c.idle_timeout_s, 0);
    assert_int_equal(load(&c, "--log-requests=false", NULL), 0);
    assert_false(c.log_requests);
    setenv("READSTATED_LOG_REQUESTS", "yes", 1);
    assert_int_equal(load(&c, NULL), 0);
    assert_true(c.log_requests);
    unsetenv("READSTATED_LOG_REQUESTS");
}

static void test_errors(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, "--max-memory", "12XB", NULL), -1);
    assert_int_equal(load(&c, "--max-list", "0", NULL), -1);  /* out of range */
    assert_int_equal(load(&c, "--max-list", "-3", NULL), -1); /* not a number */
    assert_int_equal(load(&c, "--durability", "sometimes", NULL), -1);
    assert_int_equal(load(&c, "--log-level", "loud", NULL), -1);
    assert_int_equal(load(&c, "--no-such-flag", NULL), -1);
    assert_int_equal(load(&c, "--listen", NULL), -1);             /* missing value */
    assert_int_equal(load(&c, "--listen", "nowhere", NULL), -1);  /* not host:port */
    assert_int_equal(load(&c, "--redis", "localhost", NULL), -1); /* no port */
    assert_int_equal(load(&c, "--http", "1.2.3.4", NULL), -1);
    assert_int_equal(load(&c, "positional", NULL), -1);
    assert_int_equal(load(&c, "--log-requests=maybe", NULL), -1);
    assert_int_equal(load(&c, "--max-output", "16KiB", NULL), -1); /* below max-frame */
    setenv("READSTATED_FLUSH_BATCH", "lots", 1);
    assert_int_equal(load(&c, NULL), -1);
    unsetenv("READSTATED_FLUSH_BATCH");
}

static void test_help(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, "--version", NULL), 1);
}

static void test_to_engine(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, "--redis", "127.0.0.1:6391", "--redis-password", "pw",
                          "--redis-db", "3", "--max-memory", "64MiB", "--dirty-budget", "8MiB",
                          "--max-states-per-user", "50", "--flush-interval-ms", "250", NULL),
                     0);
    rs_log log = {RS_LOG_OFF, NULL};
    rs_engine_config a, b;
    config_to_engine(&c, &a, &log);
    config_to_engine(&c, &b, &log);
    assert_string_equal(a.redis_host, "127.0.0.1");
    assert_int_equal(a.redis_port, 6391);
    assert_string_equal(a.redis_password, "pw");
    assert_int_equal(a.redis_db, 3);
    assert_int_equal(a.cache.max_memory, 64u << 20);
    assert_int_equal(a.cache.max_states_per_user, 50);
    assert_true(a.cache.keep_tombstones);
    assert_int_equal(a.dirty_budget, 8u << 20);
    assert_int_equal(a.flush_interval_ms, 250);
    assert_ptr_equal(a.log, &log);
    /* a fresh random key each time */
    assert_false(a.cache.seed[0] == b.cache.seed[0] && a.cache.seed[1] == b.cache.seed[1]);

    assert_int_equal(load(&c, NULL), 0);
    config_to_engine(&c, &a, &log);
    assert_null(a.redis_host);
    assert_null(a.redis_password);
    assert_false(a.cache.keep_tombstones);
}

/* --redis-cluster: seeds parsed and checked, exclusive with --redis, no
 * --redis-db; --redis-wait-replicas only with it; what reaches the engine. */
static void test_redis_cluster(void **state)
{
    (void)state;
    rs_config c;
    assert_int_equal(load(&c, "--redis-cluster", "127.0.0.1:7000,127.0.0.1:7001,[::1]:7002",
                          "--redis-wait-replicas", "1", NULL),
                     0);
    rs_log log = {RS_LOG_OFF, NULL};
    rs_engine_config e;
    config_to_engine(&c, &e, &log);
    assert_string_equal(e.redis_cluster, "127.0.0.1:7000,127.0.0.1:7001,[::1]:7002");
    assert_null(e.redis_host);
    assert_int_equal(e.redis_wait_replicas, 1);
    assert_true(e.cache.keep_tombstones); /* deletes must reach the cluster */
    setenv("READSTATED_REDIS_CLUSTER", "127.0.0.1:7100", 1);
    assert_int_equal(load(&c, NULL), 0);
    assert_string_equal(c.redis_cluster, "127.0.0.1:7100");
    unsetenv("READSTATED_REDIS_CLUSTER");

    assert_int_equal(
        load(&c, "--redis-cluster", "127.0.0.1:7000", "--redis", "127.0.0.1:6379", NULL), -1);
    assert_int_equal(load(&c, "--redis-cluster", "127.0.0.1:7000", "--redis-db", "2", NULL),
                     -1);
    assert_int_equal(load(&c, "--redis-cluster", "127.0.0.1", NULL), -1);       /* no port */
    assert_int_equal(load(&c, "--redis-cluster", "127.0.0.1:7000,", NULL), 0);  /* trailing , */
    assert_int_equal(load(&c, "--redis-cluster", ",127.0.0.1:7000", NULL), -1); /* empty seed */
    assert_int_equal(load(&c, "--redis-cluster", "a:1,,b:2", NULL), -1);        /* empty seed */
    assert_int_equal(load(&c, "--redis-cluster", "127.0.0.1:0", NULL), -1);     /* port 0 */
    assert_int_equal(load(&c, "--redis-wait-replicas", "1", NULL), -1);         /* no cluster */
    assert_int_equal(load(&c, "--redis", "127.0.0.1:6379", "--redis-wait-replicas", "1", NULL),
                     -1);
    assert_int_equal(
        load(&c, "--redis-cluster", "127.0.0.1:7000", "--redis-wait-replicas", "17", NULL),
        -1); /* out of range */
}

/* A settings file with the given text; its path goes into path. */
static void write_conf(char *path, size_t len, const char *text)
{
    snprintf(path, len, "%s/rs-config-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_config_file(void **state)
{
    (void)state;
    char path[512];
    write_conf(path, sizeof(path),
               "# comment\n\n  READSTATED_LOG_LEVEL = debug\nexport slow-request-ms=\"7\"\n"
               "READSTATED_MAX_MEMORY='2GiB'\nflush-interval-ms=300\nlog-requests=true\n");
    rs_config c;
    assert_int_equal(load(&c, "--config", path, NULL), 0);
    assert_int_equal(c.log_level, RS_LOG_DEBUG);
    assert_int_equal(c.slow_request_ms, 7);
    assert_int_equal(c.max_memory, (size_t)2 << 30);
    assert_true(c.log_requests);
    assert_string_equal(c.config_file, path);
    /* env beats the file, a flag beats both */
    setenv("READSTATED_FLUSH_INTERVAL_MS", "400", 1);
    assert_int_equal(load(&c, "--config", path, NULL), 0);
    assert_int_equal(c.flush_interval_ms, 400);
    assert_int_equal(load(&c, "--config", path, "--flush-interval-ms", "500", NULL), 0);
    assert_int_equal(c.flush_interval_ms, 500);
    unsetenv("READSTATED_FLUSH_INTERVAL_MS");
    /* READSTATED_CONFIG names the file too */
    setenv("READSTATED_CONFIG", path, 1);
    assert_int_equal(load(&c, NULL), 0);
    assert_int_equal(c.flush_interval_ms, 300);
    unsetenv("READSTATED_CONFIG");
    unlink(path);

    const char *bad[] = {"no-such-setting=1\n", "log-level\n", "log-level=loud\n",
                         "config=/x\n", "max-list=0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_conf(path, sizeof(path), bad[i]);
        assert_int_equal(load(&c, "--config", path, NULL), -1);
        unlink(path);
    }
    assert_int_equal(load(&c, "--config", "/nonexistent/readstated.conf", NULL), -1);
}

typedef struct diff_seen {
    char names[8][64];
    bool live[8];
    size_t n;
    bool secret_shown;
} diff_seen;

static void on_diff(void *arg, const char *name, const char *old_value, const char *new_value,
                    bool live)
{
    diff_seen *d = arg;
    if (strstr(old_value, "hunter") != NULL || strstr(new_value, "hunter") != NULL)
        d->secret_shown = true;
    if (d->n < 8) {
        snprintf(d->names[d->n], sizeof(d->names[d->n]), "%s", name);
        d->live[d->n++] = live;
    }
}

static void test_reread_diff_apply(void **state)
{
    (void)state;
    char path[512];
    write_conf(path, sizeof(path), "log-level=info\nredis-password=hunter1\n");
    char *argv[] = {"readstated", "--config", path, "--max-list", "50", NULL};
    rs_config cur, next;
    assert_int_equal(config_load(&cur, 5, argv), 0);

    FILE *f = fopen(path, "w"); /* the file changes under the same name */
    assert_non_null(f);
    fputs("log-level=warn\nredis-password=hunter2\nmax-memory=3GiB\nmax-list=60\n", f);
    fclose(f);
    char err[256];
    assert_int_equal(config_reread(&next, 5, argv, err, sizeof(err)), 0);
    assert_int_equal(next.max_list, 50); /* the flag still wins */

    diff_seen d;
    memset(&d, 0, sizeof(d));
    assert_int_equal(config_diff(&cur, &next, on_diff, &d), 3);
    assert_false(d.secret_shown);
    for (size_t i = 0; i < d.n; i++)
        assert_int_equal(d.live[i], strcmp(d.names[i], "log-level") == 0);

    config_apply_live(&cur, &next);
    assert_int_equal(cur.log_level, RS_LOG_WARN);
    assert_int_equal(cur.max_memory, (size_t)1 << 30); /* needs a restart: unchanged */
    assert_string_equal(cur.redis_password, "hunter1");

    /* A file that does not parse: an error line, nothing built. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("log-level=warn\nmax-frame=1\n", f);
    fclose(f);
    assert_int_equal(config_reread(&next, 5, argv, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "max-frame"));
    assert_null(strchr(err, '\n'));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_flag_beats_env),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_to_engine),
        cmocka_unit_test(test_redis_cluster),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_reread_diff_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
