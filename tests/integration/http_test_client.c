/* http_test_client.c: see http_test_client.h. */
#include "http_test_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rs_testsupport.h"

#define HT_TIMEOUT_MS 10000
#define HT_MAX_BYTES  (64u << 20)

char *ht_raw(int port, const char *request, size_t len, int timeout_ms, size_t *outlen)
{
    int fd = rs_tcp_connect(port, timeout_ms);
    if (fd < 0)
        return NULL;
    if (rs_fd_write_all(fd, request, len, timeout_ms) != 0) {
        close(fd);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    long long deadline = rs_mono_ms() + timeout_ms;
    while (buf != NULL) {
        long long left = deadline - rs_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
            free(buf);
            buf = NULL;
            break;
        }
        if (n + 1 >= cap) {
            if (cap >= HT_MAX_BYTES) {
                free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ECONNRESET && n > 0)
                break;
            free(buf);
            buf = NULL;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (buf != NULL)
        buf[n] = '\0';
    if (outlen != NULL)
        *outlen = n;
    return buf;
}

int ht_request(int port, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, const char *extra_headers, ht_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    char head[2048];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
                      "%s%s%sContent-Length: %zu\r\n%s\r\n",
                      method, path, port, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                      ctype ? "\r\n" : "", len, extra_headers ? extra_headers : "");
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return -1;
    char *req = malloc((size_t)hn + len);
    if (req == NULL)
        return -1;
    memcpy(req, head, (size_t)hn);
    if (len > 0)
        memcpy(req + hn, body, len);
    size_t rawlen = 0;
    char *raw = ht_raw(port, req, (size_t)hn + len, HT_TIMEOUT_MS, &rawlen);
    free(req);
    if (raw == NULL)
        return -1;
    /* The raw reply may hold NULs in a binary body: find its length from
     * the header end and Content-Length. */
    char *end = strstr(raw, "\r\n\r\n");
    if (end == NULL || sscanf(raw, "HTTP/1.%*d %d", &resp->status) != 1) {
        free(raw);
        return -1;
    }
    size_t hlen = (size_t)(end - raw);
    resp->headers = strndup(raw, hlen);
    char cl[32];
    size_t avail = rawlen - hlen - 4;
    size_t total = avail;
    if (ht_header(resp, "Content-Length", cl, sizeof(cl)) == 0)
        total = strtoull(cl, NULL, 10);
    if (total > avail) { /* cut short */
        free(raw);
        ht_response_free(resp);
        return -1;
    }
    resp->body = malloc(total + 1);
    if (resp->headers == NULL || resp->body == NULL) {
        free(raw);
        ht_response_free(resp);
        return -1;
    }
    memcpy(resp->body, end + 4, total);
    resp->body[total] = '\0';
    resp->len = total;
    free(raw);
    return 0;
}

int ht_get(int port, const char *path, ht_response *resp)
{
    return ht_request(port, "GET", path, NULL, NULL, 0, NULL, resp);
}

int ht_header(const ht_response *resp, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = resp->headers;
    while (p != NULL && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = ll - (size_t)(v - p);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p = eol ? eol + 2 : NULL;
    }
    return -1;
}

void ht_response_free(ht_response *resp)
{
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

double ht_metric(int port, const char *series)
{
    ht_response r = {0};
    if (ht_get(port, "/metrics", &r) != 0 || r.status != 200) {
        ht_response_free(&r);
        return -1;
    }
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = r.body; p != NULL && *p != '\0';
         p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && (p[n] == ' ' || p[n] == '{')) {
            const char *sp = strchr(p, ' ');
            v = sp != NULL ? atof(sp + 1) : -1;
            break;
        }
    ht_response_free(&r);
    return v;
}
