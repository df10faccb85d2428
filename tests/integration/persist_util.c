/*
 * persist_util.c: see persist_util.h.
 */
#include "persist_util.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pu_server_start(rs_test_server *srv, const rs_test_redis *r, const char *const *extra)
{
    const char *args[RS_TEST_SERVER_MAX_ARGS];
    char addr[256];
    size_t n = 0;
    args[n++] = rs_test_redis_is_cluster(r) ? "--redis-cluster" : "--redis";
    args[n++] = rs_test_redis_addr(r, addr, sizeof(addr));
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n + 1 < RS_ARRAY_LEN(args); i++)
        args[n++] = extra[i];
    args[n] = NULL;
    rs_test_server_opts opts = {.args = args, .http = true};
    return rs_test_server_start_opts(srv, &opts);
}

rs_client *pu_connect(const rs_test_server *srv)
{
    char err[256];
    rs_client *c = rs_client_connect("127.0.0.1", srv->port, 5000, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "connect: %s\n", err);
    return c;
}

double pu_metric(const rs_test_server *srv, const char *name)
{
    int fd = rs_tcp_connect(srv->http_port, 3000);
    if (fd < 0)
        return -1;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (rs_fd_write_all(fd, req, strlen(req), 3000) != 0) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    long long end = rs_mono_ms() + 3000;
    while (buf != NULL && rs_mono_ms() < end) {
        if (len == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (nb == NULL)
                break;
            buf = nb;
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(fd);
    if (buf == NULL)
        return -1;
    buf[len] = '\0';
    double v = -1;
    size_t nl = strlen(name);
    for (char *line = buf; line != NULL && *line != '\0';) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ') {
            v = strtod(line + nl + 1, NULL);
            break;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    free(buf);
    return v;
}

static int cmp_state(const void *a, const void *b)
{
    const rs_client_state *x = a, *y = b;
    return x->channel_id < y->channel_id ? -1 : x->channel_id > y->channel_id;
}

long pu_redis_user(const rs_test_redis *redis, uint64_t user_id, rs_client_state **out,
                   uint64_t *version)
{
    redisReply *r =
        rs_test_redis_command(redis, "HGETALL readstates:{%llu}", (unsigned long long)user_id);
    *out = NULL;
    *version = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL && r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "HGETALL readstates:{%llu}: %s\n", (unsigned long long)user_id,
                    r->str);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    rs_client_state *st = calloc(r->elements / 2 + 1, sizeof(*st));
    long n = 0;
    for (size_t i = 0; st != NULL && i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        if (strcmp(f, "_v") == 0) {
            *version = strtoull(v, NULL, 10);
            continue;
        }
        unsigned long long ch, ver, lm;
        unsigned mc, fl;
        int used = 0;
        if (sscanf(f, "%llu", &ch) != 1 ||
            sscanf(v, "%llu:%llu:%u:%u%n", &ver, &lm, &mc, &fl, &used) != 4 ||
            v[used] != '\0') {
            fprintf(stderr, "bad stored field %s=%s\n", f, v);
            n = -1;
            break;
        }
        st[n].channel_id = ch;
        st[n].version = ver;
        st[n].last_message_id = lm;
        st[n].mention_count = mc;
        st[n].flags = fl;
        n++;
    }
    freeReplyObject(r);
    if (n < 0 || st == NULL) {
        free(st);
        return -1;
    }
    qsort(st, (size_t)n, sizeof(*st), cmp_state);
    *out = st;
    return n;
}

bool pu_server_said(rs_client *c, rs_status got, rs_status want)
{
    return got == want && rs_client_err(c) == RS_OK;
}
