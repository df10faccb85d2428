/*
 * http_parse.c: HTTP/1.1 request heads and chunked bodies (see
 * http_parse.h). Nothing here allocates or does I/O; every loop is bounded
 * by the bytes given.
 */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

long http_head_end(const char *data, size_t len, size_t max)
{
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n')
            continue;
        if (i + 1 < len && data[i + 1] == '\n')
            return i + 2 <= max ? (long)(i + 2) : -1;
        if (i + 2 < len && data[i + 1] == '\r' && data[i + 2] == '\n')
            return i + 3 <= max ? (long)(i + 3) : -1;
    }
    return len >= max ? -1 : 0;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next line of buf (from *at), NUL-terminated in place without its
 * line end; NULL at the end. Returns -1 in *bad for a bare CR. */
static char *next_line(char *buf, size_t len, size_t *at, bool *bad)
{
    if (*at >= len)
        return NULL;
    char *line = buf + *at;
    char *nl = memchr(line, '\n', len - *at);
    if (nl == NULL) {
        *bad = true;
        return NULL;
    }
    *at = (size_t)(nl - buf) + 1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    if (memchr(line, '\r', strlen(line)) != NULL)
        *bad = true;
    return line;
}

static char *trim_ows(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = '\0';
    return p;
}

/* A comma-separated header value holds token (case-insensitive). */
static bool list_has(const char *v, const char *token)
{
    size_t tn = strlen(token);
    while (*v != '\0') {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tn && strncasecmp(v, token, tn) == 0)
            return true;
        v += n;
    }
    return false;
}

static int parse_request_line(char *line, http_head *out)
{
    char *sp1 = strchr(line, ' ');
    if (sp1 == NULL || sp1 == line)
        return 400;
    *sp1 = '\0';
    for (const char *p = line; *p != '\0'; p++)
        if (!is_tchar((unsigned char)*p))
            return 400;
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (sp2 == NULL || sp2 == target)
        return 400;
    *sp2 = '\0';
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/", 5) != 0)
        return 400;
    if (version[5] != '1' || version[6] != '.' || version[7] < '0' || version[7] > '9' ||
        version[8] != '\0')
        return (version[5] >= '0' && version[5] <= '9') ? 505 : 400;
    for (const char *p = target; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 400;
    out->method = line;
    out->minor = version[7] - '0';
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q = '\0';
        out->query = q + 1;
    }
    out->path = target;
    return 0;
}

static int parse_length(const char *v, uint64_t *out)
{
    if (*v == '\0')
        return -1;
    uint64_t n = 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return 0;
}

/* Body framing, keep-alive and Expect from the headers. */
static int parse_framing(http_head *out)
{
    bool have_len = false, close = false, keep = false;
    const char *te = NULL;
    for (size_t i = 0; i < out->nheaders; i++) {
        const http_header *h = &out->headers[i];
        if (strcasecmp(h->name, "Content-Length") == 0) {
            uint64_t n;
            if (parse_length(h->value, &n) != 0 || (have_len && n != out->content_length))
                return 400;
            have_len = true;
            out->content_length = n;
        } else if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
            if (te != NULL)
                return 400;
            te = h->value;
        } else if (strcasecmp(h->name, "Connection") == 0) {
            close = close || list_has(h->value, "close");
            keep = keep || list_has(h->value, "keep-alive");
        } else if (strcasecmp(h->name, "Expect") == 0) {
            if (strcasecmp(h->value, "100-continue") != 0)
                return 417;
            out->expect_continue = true;
        }
    }
    if (te != NULL) {
        if (have_len)
            return 400; /* both: the classic request-smuggling ambiguity */
        if (strcasecmp(te, "chunked") != 0)
            return 501;
        out->framing = HTTP_BODY_CHUNKED;
    } else if (have_len) {
        out->framing = HTTP_BODY_LENGTH;
    }
    out->keep_alive = out->minor >= 1 ? !close : keep && !close;
    return 0;
}

int http_head_parse(char *buf, size_t len, http_head *out)
{
    memset(out, 0, sizeof(*out));
    if (memchr(buf, '\0', len) != NULL)
        return 400; /* a NUL would cut a header short where the peer did not */
    buf[len] = '\0';
    size_t at = 0;
    bool bad = false;
    char *line = next_line(buf, len, &at, &bad);
    while (line != NULL && line[0] == '\0' && !bad) /* RFC 9112: ignore leading CRLFs */
        line = next_line(buf, len, &at, &bad);
    if (line == NULL || bad)
        return 400;
    int rc = parse_request_line(line, out);
    if (rc != 0)
        return rc;
    while ((line = next_line(buf, len, &at, &bad)) != NULL && !bad) {
        if (line[0] == '\0')
            break; /* the blank line */
        if (line[0] == ' ' || line[0] == '\t')
            return 400; /* obsolete line folding */
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line)
            return 400;
        for (const char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p))
                return 400; /* includes whitespace before the colon */
        if (out->nheaders == HTTP_MAX_HEADER_FIELDS)
            return 431;
        *colon = '\0';
        out->headers[out->nheaders].name = line;
        out->headers[out->nheaders].value = trim_ows(colon + 1);
        out->nheaders++;
    }
    if (bad)
        return 400;
    return parse_framing(out);
}

const char *http_head_get(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return h->headers[i].value;
    return NULL;
}

/* ---- chunked bodies -------------------------------------------------- */

enum {
    CH_SIZE,      /* the first hex digit of a chunk size */
    CH_SIZE_MORE, /* more hex digits */
    CH_EXT,       /* ;extension up to the line end */
    CH_SIZE_LF,   /* the LF after the size line's CR */
    CH_DATA,      /* chunk bytes */
    CH_DATA_CR,   /* CR after the data */
    CH_DATA_LF,   /* LF after the data */
    CH_TRAILER,   /* start of a trailer line (or the final blank line) */
    CH_TRAILER_LINE,
    CH_FINAL_LF,
    CH_DONE
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte of a chunked body outside chunk data: the size line, the CRLF
 * after the data, trailers, the final CRLF. Returns 0, or -1 when the byte
 * is not allowed there. */
static int chunk_ctl(http_chunked *d, char c)
{
    switch (d->state) {
    case CH_SIZE: /* the first hex digit: required */
    case CH_SIZE_MORE: {
        int v = hexval(c);
        if (v >= 0) {
            if (d->left >> 58 != 0)
                return -1; /* over 2^62 */
            d->left = d->left * 16 + (uint64_t)v;
            d->state = CH_SIZE_MORE;
        } else if (d->state == CH_SIZE) {
            return -1;
        } else if (c == ';' || c == ' ' || c == '\t') {
            d->state = CH_EXT;
        } else if (c == '\r') {
            d->state = CH_SIZE_LF;
        } else {
            return -1;
        }
        return 0;
    }
    case CH_EXT:
        if (c == '\n' || ((unsigned char)c < ' ' && c != '\t' && c != '\r') ||
            ++d->overhead > HTTP_CHUNK_OVERHEAD_MAX)
            return -1;
        if (c == '\r')
            d->state = CH_SIZE_LF;
        return 0;
    case CH_SIZE_LF:
        if (c != '\n')
            return -1;
        d->state = d->left == 0 ? CH_TRAILER : CH_DATA;
        return 0;
    case CH_DATA_CR:
        if (c != '\r')
            return -1;
        d->state = CH_DATA_LF;
        return 0;
    case CH_DATA_LF:
        if (c != '\n')
            return -1;
        d->state = CH_SIZE;
        return 0;
    case CH_TRAILER:
        if (c == '\n')
            return -1;
        d->state = c == '\r' ? CH_FINAL_LF : CH_TRAILER_LINE;
        return 0;
    case CH_TRAILER_LINE: /* trailers are read and dropped */
        if (++d->overhead > HTTP_CHUNK_OVERHEAD_MAX)
            return -1;
        if (c == '\n')
            d->state = CH_TRAILER;
        return 0;
    case CH_FINAL_LF:
        if (c != '\n')
            return -1;
        d->state = CH_DONE;
        return 0;
    default: return -1;
    }
}

long http_chunked_decode(http_chunked *d, const char *src, size_t len, uint8_t *dst,
                         size_t dst_cap, size_t *out_len, bool *done)
{
    size_t i = 0, w = 0;
    while (i < len && d->state != CH_DONE) {
        if (d->state != CH_DATA) {
            if (chunk_ctl(d, src[i]) != 0)
                return -1;
            i++;
            continue;
        }
        size_t n = len - i;
        if (n > d->left)
            n = (size_t)d->left;
        if (n > dst_cap - w)
            n = dst_cap - w;
        if (n == 0)
            break; /* dst is full */
        memcpy(dst + w, src + i, n);
        w += n;
        i += n;
        d->left -= n;
        d->total += n;
        if (d->left == 0)
            d->state = CH_DATA_CR;
    }
    *out_len = w;
    *done = d->state == CH_DONE;
    return (long)i;
}
