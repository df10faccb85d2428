/*
 * http_test_client.h: a minimal blocking HTTP/1.1 client for the HTTP port
 * tests (loopback only, every wait bounded).
 *
 *   ht_request(port, "POST", "/path", "application/json", body, len, &resp)
 *     -> connect 127.0.0.1:port, send one request with Connection: close,
 *        read to EOF, split status, headers and body.
 */
#ifndef RS_HTTP_TEST_CLIENT_H
#define RS_HTTP_TEST_CLIENT_H

#include <stddef.h>

typedef struct ht_response {
    int status;    /* 0 if no valid response arrived */
    char *headers; /* raw header block (malloc'd, NUL-terminated) */
    char *body;    /* malloc'd, NUL-terminated (binary bodies: use len) */
    size_t len;
} ht_response;

/* One request. ctype NULL sends no Content-Type; extra_headers (may be
 * NULL) is inserted verbatim ("Name: value\r\n..."). Returns 0 with *resp
 * filled (free with ht_response_free), or -1 on a connection failure or
 * timeout. */
int ht_request(int port, const char *method, const char *path, const char *ctype,
               const void *body, size_t len, const char *extra_headers, ht_response *resp);

/* GET shorthand. */
int ht_get(int port, const char *path, ht_response *resp);

/* The value of a response header (case-insensitive name), copied into out.
 * Returns 0, or -1 if absent. */
int ht_header(const ht_response *resp, const char *name, char *out, size_t outlen);

void ht_response_free(ht_response *resp);

/* Send raw bytes on a new connection and return everything the server
 * sends until it closes (malloc'd, NUL-terminated; its length in *outlen
 * if not NULL), or NULL. */
char *ht_raw(int port, const char *request, size_t len, int timeout_ms, size_t *outlen);

/* One sample from GET /metrics: the first line whose series starts with
 * `series` (a name, or a name with its labels, e.g.
 * `readstates_accept_failures_total{listener="http"}`), or -1 when the
 * scrape fails or has no such series. */
double ht_metric(int port, const char *series);

#endif /* RS_HTTP_TEST_CLIENT_H */
