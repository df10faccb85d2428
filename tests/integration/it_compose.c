/*
 * it_compose.c: the container health check of readstated, without Docker.
 *
 * deploy/compose.yaml (services.readstated.healthcheck.test) and
 * deploy/docker/Dockerfile (HEALTHCHECK ... CMD [...]) each name a command
 * in exec form. This test reads both, checks that they agree, that the
 * program they run is one the image installs, that they address the port
 * the image's readstated listens on, and that the command's own timeout
 * fits in the health check's; then it runs that exact command, with
 * 127.0.0.1:<port> in place of the image's address, against
 *
 *   a real readstated on an ephemeral loopback port  ─> exit 0
 *   a closed loopback port                           ─> exit != 0
 *
 * And what the compose file exposes, on purpose: every service is on a
 * named network declared in the file (no host networking), every host port
 * mapping binds 127.0.0.1, and Redis publishes no host port at all; the
 * image's readstated listens on 0.0.0.0, which compose keeps to that
 * network and the loopback mappings.
 *
 * The files are read with a strict reader for the few shapes used here
 * (block mappings, one-line flow sequences of double-quoted strings, which
 * are JSON arrays); anything else fails the test rather than guessing.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "it_common.h"

#ifndef RS_IT_SOURCE_DIR
#define RS_IT_SOURCE_DIR "."
#endif

#define HC_RUN_MS 20000

/* ---- a small reader for the compose file -------------------------------- */

typedef struct text_lines {
    char *buf;
    char **line;
    size_t n;
} text_lines;

static void lines_load(text_lines *t, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", RS_IT_SOURCE_DIR, rel);
    t->buf = rs_read_file(path, NULL);
    if (t->buf == NULL)
        fail_msg("cannot read %s", path);
    size_t cap = 1;
    for (const char *p = t->buf; *p; p++)
        cap += (*p == '\n');
    t->line = calloc(cap, sizeof(*t->line));
    assert_non_null(t->line);
    t->n = 0;
    for (char *p = t->buf; p != NULL && *p != '\0' && t->n < cap;) {
        t->line[t->n++] = p;
        p = strchr(p, '\n');
        if (p != NULL)
            *p++ = '\0';
    }
}

static void lines_free(text_lines *t)
{
    free(t->line);
    free(t->buf);
}

/* Leading spaces of a line, or -1 for a blank or comment-only line. */
static int indent_of(const char *l)
{
    int i = 0;
    while (l[i] == ' ')
        i++;
    return l[i] == '\0' || l[i] == '#' ? -1 : i;
}

/* The value of `key:` on a line at exactly `indent` spaces, trimmed ("" for
 * a key that opens a block), or NULL if the line is not that key. */
static const char *key_value(const char *l, int indent, const char *key)
{
    if (indent_of(l) != indent)
        return NULL;
    size_t n = strlen(key);
    const char *p = l + indent;
    if (strncmp(p, key, n) != 0 || p[n] != ':')
        return NULL;
    p += n + 1;
    while (*p == ' ')
        p++;
    return p;
}

/* Find `key:` at `indent` among lines [from, to) that belong to one block
 * (stop at a line indented less). Returns its index, or -1. *end receives
 * the end of the key's own block. */
static long find_key(const text_lines *t, size_t from, size_t to, int indent, const char *key,
                     size_t *end)
{
    for (size_t i = from; i < to; i++) {
        int in = indent_of(t->line[i]);
        if (in >= 0 && in < indent)
            return -1;
        if (key_value(t->line[i], indent, key) == NULL)
            continue;
        size_t j = i + 1;
        while (j < to && (indent_of(t->line[j]) < 0 || indent_of(t->line[j]) > indent))
            j++;
        *end = j;
        return (long)i;
    }
    return -1;
}

/* "3s" / "500ms" / "1m" in milliseconds, or -1. */
static long duration_ms(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    while (*end == ' ' || *end == '"')
        end++;
    if (strncmp(end, "ms", 2) == 0)
        return v;
    if (*end == 's')
        return v * 1000;
    if (*end == 'm')
        return v * 60000;
    return -1;
}

/* A one-line exec-form command ["CMD", "prog", ...] as a JSON array. */
static json_t *exec_form(const char *text, const char *where)
{
    json_error_t jerr;
    json_t *a = json_loads(text, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_array(a) || json_array_size(a) < 2)
        fail_msg("%s: not an exec-form list of strings: %s (%s)", where, text, jerr.text);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            fail_msg("%s: item %zu is not a string", where, i);
    }
    return a;
}

typedef struct healthcheck {
    json_t *cmd;     /* the program and its arguments (exec form, "CMD" dropped) */
    long timeout_ms; /* the health check's own timeout */
} healthcheck;

/* services.readstated.healthcheck of deploy/compose.yaml. */
static healthcheck compose_healthcheck(void)
{
    text_lines t;
    lines_load(&t, "deploy/compose.yaml");
    size_t svc_end, rs_end, hc_end, end;
    long svc = find_key(&t, 0, t.n, 0, "services", &svc_end);
    if (svc < 0)
        fail_msg("compose.yaml: no services");
    long rs = find_key(&t, (size_t)svc + 1, svc_end, 2, "readstated", &rs_end);
    if (rs < 0)
        fail_msg("compose.yaml: no readstated service");
    long hc = find_key(&t, (size_t)rs + 1, rs_end, 4, "healthcheck", &hc_end);
    if (hc < 0)
        fail_msg("compose.yaml: the readstated service has no healthcheck");
    long test = find_key(&t, (size_t)hc + 1, hc_end, 6, "test", &end);
    if (test < 0)
        fail_msg("compose.yaml: the readstated healthcheck has no test");
    json_t *a = exec_form(key_value(t.line[test], 6, "test"), "compose.yaml healthcheck.test");
    if (strcmp(json_string_value(json_array_get(a, 0)), "CMD") != 0)
        fail_msg("compose.yaml: healthcheck.test must be [\"CMD\", ...] (no shell needed)");
    json_array_remove(a, 0);
    healthcheck h = {a, 30000}; /* Docker's default timeout */
    long to = find_key(&t, (size_t)hc + 1, hc_end, 6, "timeout", &end);
    if (to >= 0)
        h.timeout_ms = duration_ms(key_value(t.line[to], 6, "timeout"));
    assert_true(h.timeout_ms > 0);
    lines_free(&t);
    return h;
}

/* ---- the Dockerfile ------------------------------------------------------ */

/* The Dockerfile with continuation lines joined, one instruction a line. */
static void dockerfile_load(text_lines *t)
{
    lines_load(t, "deploy/docker/Dockerfile");
    size_t out = 0;
    for (size_t i = 0; i < t->n; i++) {
        char *l = t->line[i];
        size_t len = strlen(l);
        if (out > 0 && t->line[out - 1] != NULL) {
            char *prev = t->line[out - 1];
            size_t plen = strlen(prev);
            if (plen > 0 && prev[plen - 1] == '\\') {
                /* join in place: the buffer holds the lines back to back */
                prev[plen - 1] = ' ';
                memmove(prev + plen, l, len + 1);
                continue;
            }
        }
        t->line[out++] = l;
    }
    t->n = out;
}

/* The instruction's text after its keyword (e.g. "HEALTHCHECK"), or NULL. */
static const char *instruction(const text_lines *t, const char *keyword, size_t *from)
{
    size_t n = strlen(keyword);
    for (size_t i = *from; i < t->n; i++) {
        const char *l = t->line[i];
        while (*l == ' ')
            l++;
        if (strncmp(l, keyword, n) == 0 && l[n] == ' ') {
            *from = i + 1;
            return l + n + 1;
        }
    }
    return NULL;
}

/* HEALTHCHECK [--timeout=D ...] CMD [...] of deploy/docker/Dockerfile. */
static healthcheck dockerfile_healthcheck(void)
{
    text_lines t;
    dockerfile_load(&t);
    size_t from = 0;
    const char *hc = instruction(&t, "HEALTHCHECK", &from);
    if (hc == NULL)
        fail_msg("Dockerfile: no HEALTHCHECK");
    const char *cmd = strstr(hc, "CMD ");
    if (cmd == NULL)
        fail_msg("Dockerfile: HEALTHCHECK without CMD: %s", hc);
    healthcheck h = {exec_form(cmd + 4, "Dockerfile HEALTHCHECK CMD"), 30000};
    const char *to = strstr(hc, "--timeout=");
    if (to != NULL && to < cmd)
        h.timeout_ms = duration_ms(to + strlen("--timeout="));
    assert_true(h.timeout_ms > 0);
    lines_free(&t);
    return h;
}

/* The port of READSTATED_LISTEN in the Dockerfile's ENV: where readstated
 * listens inside the image. */
static int image_listen_port(void)
{
    text_lines t;
    dockerfile_load(&t);
    size_t from = 0;
    const char *env;
    int port = -1;
    while (port < 0 && (env = instruction(&t, "ENV", &from)) != NULL) {
        const char *p = strstr(env, "READSTATED_LISTEN=");
        if (p == NULL)
            continue;
        p += strlen("READSTATED_LISTEN=");
        const char *colon = NULL;
        for (const char *q = p; *q && !isspace((unsigned char)*q); q++)
            if (*q == ':')
                colon = q;
        if (colon != NULL)
            port = atoi(colon + 1);
    }
    /* and the programs are copied to a directory on PATH */
    from = 0;
    const char *copy;
    bool ctl_installed = false;
    while ((copy = instruction(&t, "COPY", &from)) != NULL)
        ctl_installed |=
            strstr(copy, "/readstatectl ") != NULL && strstr(copy, " /usr/local/bin/") != NULL;
    lines_free(&t);
    if (!ctl_installed)
        fail_msg("Dockerfile: readstatectl is not copied to /usr/local/bin");
    if (port <= 0)
        fail_msg("Dockerfile: no ENV READSTATED_LISTEN=HOST:PORT");
    return port;
}

/* ---- running the command --------------------------------------------- */

/* argv of the health check command for the test: the image's readstatectl
 * is the one under test, the image's address 127.0.0.1:<image port> (or
 * localhost) becomes 127.0.0.1:<port>. The strings live in store. */
static void command_for(const healthcheck *h, int image_port, int port, const char **argv,
                        size_t max, char store[][64])
{
    size_t n = json_array_size(h->cmd);
    assert_true(n + 1 <= max);
    const char *prog = json_string_value(json_array_get(h->cmd, 0));
    if (strcmp(prog, "readstatectl") != 0 && strcmp(prog, "/usr/local/bin/readstatectl") != 0)
        fail_msg("the health check runs %s, not the image's readstatectl", prog);
    argv[0] = rs_test_readstatectl_bin();
    char image_addr[2][64];
    snprintf(image_addr[0], sizeof(image_addr[0]), "127.0.0.1:%d", image_port);
    snprintf(image_addr[1], sizeof(image_addr[1]), "localhost:%d", image_port);
    int replaced = 0;
    long timeout_arg = -1;
    for (size_t i = 1; i < n; i++) {
        const char *a = json_string_value(json_array_get(h->cmd, i));
        if (strcmp(a, image_addr[0]) == 0 || strcmp(a, image_addr[1]) == 0) {
            snprintf(store[i], 64, "127.0.0.1:%d", port);
            argv[i] = store[i];
            replaced++;
        } else {
            argv[i] = a;
        }
        if (i > 1 &&
            strcmp(json_string_value(json_array_get(h->cmd, i - 1)), "--timeout-ms") == 0)
            timeout_arg = atol(a);
    }
    argv[n] = NULL;
    if (replaced != 1)
        fail_msg("the health check must address readstated's own port once as %s (found %d)",
                 image_addr[0], replaced);
    /* readstatectl gives up before Docker kills it */
    if (timeout_arg > 0 && timeout_arg >= h->timeout_ms)
        fail_msg("--timeout-ms %ld is not below the health check's timeout (%ld ms)",
                 timeout_arg, h->timeout_ms);
}

static int run_check(const healthcheck *h, int image_port, int port)
{
    const char *argv[32];
    char store[32][64];
    command_for(h, image_port, port, argv, 32, store);
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, HC_RUN_MS, &out, &err);
    fprintf(stderr, "health check against 127.0.0.1:%d: exit %d\n%s%s", port, code,
            out ? out : "", err ? err : "");
    free(out);
    free(err);
    return code;
}

static void check_both_ways(void **state, const healthcheck *h)
{
    it_ctx *ctx = *state;
    int image_port = image_listen_port();
    /* a running readstated: healthy */
    assert_int_equal(run_check(h, image_port, ctx->srv.port), 0);
    /* nothing listening: unhealthy (not a crash, not a hang) */
    int closed = rs_free_port();
    assert_true(closed > 0);
    int code = run_check(h, image_port, closed);
    assert_true(code > 0);
    assert_true(code < 128);
}

static void test_compose_healthcheck(void **state)
{
    healthcheck h = compose_healthcheck();
    check_both_ways(state, &h);
    json_decref(h.cmd);
}

static void test_dockerfile_healthcheck(void **state)
{
    healthcheck h = dockerfile_healthcheck();
    check_both_ways(state, &h);
    /* the image's own health check and compose's run the same command */
    healthcheck c = compose_healthcheck();
    assert_true(json_equal(h.cmd, c.cmd));
    json_decref(c.cmd);
    json_decref(h.cmd);
}

/* ---- exposure ------------------------------------------------------------ */

/* A value without surrounding double quotes, into buf. */
static const char *unquote(const char *v, char *buf, size_t len)
{
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == ' ')
        n--;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    snprintf(buf, len, "%.*s", (int)n, v);
    return buf;
}

/* The items of a list whose key is at t->line[at] (indent `indent`):
 * a one-line flow list `key: [a, b]` or a block list of `- item` lines.
 * Returns the number found (at most max), each unquoted into items[]. */
static size_t list_items(const text_lines *t, size_t at, size_t end, int indent,
                         const char *key, char items[][128], size_t max)
{
    const char *v = key_value(t->line[at], indent, key);
    size_t n = 0;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL)
            fail_msg("compose.yaml:%zu: %s: unterminated flow list", at + 1, key);
        const char *p = v + 1;
        while (p < close && n < max) {
            while (*p == ' ')
                p++;
            const char *q = p;
            while (q < close && *q != ',')
                q++;
            char one[128];
            snprintf(one, sizeof(one), "%.*s", (int)(q - p), p);
            if (one[0] != '\0')
                unquote(one, items[n++], 128);
            p = q + 1;
        }
        return n;
    }
    if (v[0] != '\0')
        fail_msg("compose.yaml:%zu: %s: expected a list, found '%s'", at + 1, key, v);
    for (size_t i = at + 1; i < end && n < max; i++) {
        int in = indent_of(t->line[i]);
        if (in < 0)
            continue;
        const char *l = t->line[i] + in;
        if (in != indent + 2 || strncmp(l, "- ", 2) != 0)
            fail_msg("compose.yaml:%zu: %s: only `- item` lines are understood here: %s", i + 1,
                     key, l);
        if (strchr(l + 2, ':') != NULL && l[2] != '"')
            fail_msg("compose.yaml:%zu: %s: the long syntax is not understood here: %s", i + 1,
                     key, l);
        unquote(l + 2, items[n++], 128);
    }
    return n;
}

static void test_compose_exposure(void **state)
{
    (void)state;
    text_lines t;
    lines_load(&t, "deploy/compose.yaml");
    /* the networks the file declares */
    char declared[8][128];
    size_t ndeclared = 0, nets_end;
    long nets = find_key(&t, 0, t.n, 0, "networks", &nets_end);
    if (nets < 0)
        fail_msg("compose.yaml: no top-level networks: the services must share a named one");
    for (size_t i = (size_t)nets + 1; i < nets_end && ndeclared < 8; i++) {
        const char *l = t.line[i];
        if (indent_of(l) != 2)
            continue;
        const char *colon = strchr(l, ':');
        assert_non_null(colon);
        snprintf(declared[ndeclared++], 128, "%.*s", (int)(colon - (l + 2)), l + 2);
    }
    assert_true(ndeclared > 0);

    size_t svc_end;
    long svc = find_key(&t, 0, t.n, 0, "services", &svc_end);
    assert_true(svc >= 0);
    int services = 0;
    bool saw_redis = false, saw_readstated = false;
    for (size_t i = (size_t)svc + 1; i < svc_end; i++) {
        const char *l = t.line[i];
        if (indent_of(l) != 2)
            continue;
        char name[64];
        const char *colon = strchr(l, ':');
        assert_non_null(colon);
        snprintf(name, sizeof(name), "%.*s", (int)(colon - (l + 2)), l + 2);
        size_t end, kend;
        assert_true(find_key(&t, i, svc_end, 2, name, &end) == (long)i);
        services++;
        saw_redis |= strcmp(name, "redis") == 0;
        saw_readstated |= strcmp(name, "readstated") == 0;
        if (find_key(&t, i + 1, end, 4, "network_mode", &kend) >= 0)
            fail_msg("compose.yaml: %s sets network_mode (host networking exposes every port)",
                     name);
        /* on a named network the file declares */
        long nk = find_key(&t, i + 1, end, 4, "networks", &kend);
        if (nk < 0)
            fail_msg("compose.yaml: %s is not on a named network", name);
        char items[8][128];
        size_t n = list_items(&t, (size_t)nk, kend, 4, "networks", items, 8);
        if (n == 0)
            fail_msg("compose.yaml: %s: empty networks", name);
        for (size_t k = 0; k < n; k++) {
            bool known = false;
            for (size_t d = 0; d < ndeclared; d++)
                known |= strcmp(items[k], declared[d]) == 0;
            if (!known)
                fail_msg("compose.yaml: %s: network %s is not declared", name, items[k]);
        }
        /* host ports on loopback only; Redis none */
        long pk = find_key(&t, i + 1, end, 4, "ports", &kend);
        if (pk < 0)
            continue;
        if (strcmp(name, "redis") == 0)
            fail_msg("compose.yaml: redis publishes a host port");
        n = list_items(&t, (size_t)pk, kend, 4, "ports", items, 8);
        for (size_t k = 0; k < n; k++) {
            int host_port = 0, container_port = 0;
            char tail;
            if (sscanf(items[k], "127.0.0.1:%d:%d%c", &host_port, &container_port, &tail) !=
                    2 ||
                host_port <= 0 || container_port <= 0)
                fail_msg("compose.yaml: %s publishes \"%s\": host ports must be "
                         "\"127.0.0.1:HOST:CONTAINER\"",
                         name, items[k]);
        }
    }
    assert_true(services >= 2);
    assert_true(saw_redis);
    assert_true(saw_readstated);
    lines_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose_healthcheck),
        cmocka_unit_test(test_dockerfile_healthcheck),
        cmocka_unit_test(test_compose_exposure),
    };
    return cmocka_run_group_tests(tests, it_group_setup, it_group_teardown);
}
