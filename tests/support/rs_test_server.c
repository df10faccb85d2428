/*
 * rs_test_server.c: the real readstated for integration tests, on port 0.
 *
 * The server binds 127.0.0.1:0 and writes the port it got to a port file in
 * a fresh temporary directory; we poll that file (bounded) until it names a
 * port, failing fast if the process exits first:
 *
 *   readstated --listen 127.0.0.1:0 --port-file D/port --http off [args]
 *        │ writes "<port>\n"                ▲
 *        └──────────────> D/port ── poll ───┘ rs_test_server.port
 *
 * The options are copied into the struct so the same server can be stopped
 * and started again (restart tests: same flags, a new port).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rs_testsupport.h"

#ifndef RS_TEST_READSTATED_BIN
#define RS_TEST_READSTATED_BIN "readstated"
#endif
#ifndef RS_TEST_READSTATECTL_BIN
#define RS_TEST_READSTATECTL_BIN "readstatectl"
#endif

#define SERVER_START_MS_DEFAULT 15000
#define SERVER_STOP_MS_DEFAULT  30000

const char *rs_test_readstated_bin(void)
{
    const char *bin = getenv("READSTATED_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : RS_TEST_READSTATED_BIN;
}

const char *rs_test_readstatectl_bin(void)
{
    const char *bin = getenv("READSTATECTL_BIN");
    return bin != NULL && bin[0] != '\0' ? bin : RS_TEST_READSTATECTL_BIN;
}

/* A port file's port: the whole file is digits and optional trailing
 * whitespace, and the value is a valid port. Returns 0 if not (yet). */
static int parse_port_file(const char *path)
{
    char *text = rs_read_file(path, NULL);
    if (text == NULL)
        return 0;
    char *end = NULL;
    long v = strtol(text, &end, 10);
    bool ok = end != text && v > 0 && v < 65536;
    for (const char *p = end; ok && *p != '\0'; p++)
        ok = *p == '\n' || *p == '\r' || *p == ' ';
    free(text);
    return ok ? (int)v : 0;
}

typedef struct port_wait {
    rs_test_server *srv;
    const char *path;
    int port;
    bool dead;
} port_wait;

static bool port_known_or_dead(void *arg)
{
    port_wait *w = arg;
    int p = parse_port_file(w->path);
    if (p > 0) {
        /* The file may be mid-write: accept a value read twice. */
        rs_sleep_ms(2);
        if (parse_port_file(w->path) == p) {
            w->port = p;
            return true;
        }
    }
    if (!rs_proc_alive(&w->srv->proc)) {
        w->dead = true;
        return true;
    }
    return false;
}

static int wait_port(rs_test_server *srv, const char *path, int *port)
{
    port_wait w = {.srv = srv, .path = path};
    if (!rs_poll_until(port_known_or_dead, &w, srv->start_timeout_ms) || w.dead) {
        fprintf(stderr, "rs_test_server: %s %s (port file %s)\n", srv->bin,
                w.dead ? "exited during start-up" : "did not write its port in time", path);
        return -1;
    }
    *port = w.port;
    return 0;
}

static int path_join(char *out, size_t outlen, const char *dir, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", dir, name);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v[i] != NULL; i++) {
        free(v[i]);
        v[i] = NULL;
    }
}

static int copy_strv(char **dst, const char *const *src)
{
    size_t n = 0;
    for (; src != NULL && src[n] != NULL; n++) {
        if (n == RS_TEST_SERVER_MAX_ARGS)
            return -1;
        dst[n] = strdup(src[n]);
        if (dst[n] == NULL)
            return -1;
    }
    dst[n] = NULL;
    return 0;
}

/* Start the process with the stored options and wait for its port(s). */
static int launch(rs_test_server *srv)
{
    unlink(srv->port_file);
    unlink(srv->http_port_file);
    const char *argv[RS_TEST_SERVER_MAX_ARGS + 16];
    size_t n = 0;
    argv[n++] = srv->bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--port-file";
    argv[n++] = srv->port_file;
    argv[n++] = "--http";
    if (srv->http) {
        argv[n++] = "127.0.0.1:0";
        argv[n++] = "--http-port-file";
        argv[n++] = srv->http_port_file;
    } else {
        argv[n++] = "off";
    }
    for (size_t i = 0; srv->args[i] != NULL; i++)
        argv[n++] = srv->args[i];
    argv[n] = NULL;
    srv->port = 0;
    srv->http_port = 0;
    if (rs_proc_start(argv, (const char *const *)srv->env, &srv->proc) != 0)
        return -1;
    if (wait_port(srv, srv->port_file, &srv->port) != 0 ||
        (srv->http && wait_port(srv, srv->http_port_file, &srv->http_port) != 0)) {
        rs_proc_stop(&srv->proc, SIGKILL, 5000, NULL);
        rs_proc_dump_log(&srv->proc, "readstated", stderr, 4096);
        rs_proc_cleanup(&srv->proc);
        return -1;
    }
    return 0;
}

int rs_test_server_start_opts(rs_test_server *srv, const rs_test_server_opts *opts)
{
    memset(srv, 0, sizeof(*srv));
    snprintf(srv->bin, sizeof(srv->bin), "%s", rs_test_readstated_bin());
    srv->http = opts != NULL && opts->http;
    srv->start_timeout_ms = opts != NULL && opts->start_timeout_ms > 0
                                ? opts->start_timeout_ms
                                : SERVER_START_MS_DEFAULT;
    if (copy_strv(srv->args, opts != NULL ? opts->args : NULL) != 0 ||
        copy_strv(srv->env, opts != NULL ? opts->env : NULL) != 0) {
        fprintf(stderr, "rs_test_server: too many options\n");
        rs_test_server_cleanup(srv);
        return -1;
    }
    if (rs_tmpdir_create("server", srv->dir, sizeof(srv->dir)) != 0) {
        rs_test_server_cleanup(srv);
        return -1;
    }
    if (path_join(srv->port_file, sizeof(srv->port_file), srv->dir, "port") != 0 ||
        path_join(srv->http_port_file, sizeof(srv->http_port_file), srv->dir, "http_port") !=
            0) {
        rs_test_server_cleanup(srv);
        return -1;
    }
    if (launch(srv) != 0) {
        rs_test_server_cleanup(srv);
        return -1;
    }
    return 0;
}

int rs_test_server_start(rs_test_server *srv, ...)
{
    const char *args[RS_TEST_SERVER_MAX_ARGS + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, srv);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_TEST_SERVER_MAX_ARGS)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    rs_test_server_opts opts = {.args = args};
    return rs_test_server_start_opts(srv, &opts);
}

int rs_test_server_stop(rs_test_server *srv, int timeout_ms, int *wait_status)
{
    return rs_proc_stop(&srv->proc, SIGTERM,
                        timeout_ms > 0 ? timeout_ms : SERVER_STOP_MS_DEFAULT, wait_status);
}

int rs_test_server_restart(rs_test_server *srv)
{
    if (srv->proc.pid > 0 && rs_proc_alive(&srv->proc))
        rs_test_server_stop(srv, 0, NULL);
    rs_proc_cleanup(&srv->proc);
    return launch(srv);
}

void rs_test_server_cleanup(rs_test_server *srv)
{
    if (srv->proc.pid > 0 && rs_proc_alive(&srv->proc))
        rs_test_server_stop(srv, 10000, NULL);
    rs_proc_cleanup(&srv->proc);
    rs_tmpdir_remove(srv->dir);
    free_strv(srv->args);
    free_strv(srv->env);
    memset(srv, 0, sizeof(*srv));
}
