/*
 * tls.c: see tls.h. OpenSSL 3: one SSL_CTX per load of the files,
 * reference-counted by OpenSSL, so connections accepted before a reload
 * keep theirs.
 *
 * Settings: TLS 1.2 minimum, the library's default cipher suites,
 * renegotiation off (a client cannot make the server do handshake work
 * mid-connection), partial writes on (a record at a time from an evbuffer
 * whose front chunk may move between calls), read-ahead on (one read()
 * takes whatever the socket holds; bytes OpenSSL then holds are reported by
 * tls_pending, which asks SSL_has_pending). With a client CA, a client must
 * present a certificate it signed (mutual TLS).
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RECORD 16384

struct rs_tls {
    SSL_CTX *ctx;
};

const char *tls_error_string(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "unknown TLS error");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ALPN: h2 when the client offers it (the HTTP port then speaks HTTP/2,
 * http_conn.c sees its preface), else http/1.1 when offered; a client that
 * offers neither (the framed port's) gets no ALPN answer at all. */
static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                           const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    if (SSL_get_app_data(ssl) == NULL)
        return SSL_TLSEXT_ERR_NOACK; /* the framed port: no HTTP protocol to choose */
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx_build(const rs_tls_files *f, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "SSL_CTX_new: %s", tls_error_string((char[160]){0}, 160));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* read as much as the socket has in one read(), not a record header
     * and then its body: half the syscalls for small records */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Sessions are resumable (a reconnect skips the full handshake); with
     * client certificates OpenSSL refuses to resume without a context id. */
    static const unsigned char sid_ctx[] = "readstated";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
    char ebuf[200];
    if (f->cert == NULL || f->cert[0] == '\0' ||
        SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
        snprintf(err, errlen, "--tls-cert %s: %s", f->cert != NULL ? f->cert : "",
                 tls_error_string(ebuf, sizeof(ebuf)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (f->key == NULL || f->key[0] == '\0' ||
        SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "--tls-key %s: %s", f->key != NULL ? f->key : "",
                 tls_error_string(ebuf, sizeof(ebuf)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "--tls-key does not match --tls-cert: %s",
                 tls_error_string(ebuf, sizeof(ebuf)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (f->client_ca != NULL && f->client_ca[0] != '\0') {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(ctx, f->client_ca, NULL) != 1) {
            if (names != NULL)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            snprintf(err, errlen, "--tls-client-ca %s: %s", f->client_ca,
                     tls_error_string(ebuf, sizeof(ebuf)));
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

rs_tls *tls_new(const rs_tls_files *files, char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_build(files, err, errlen);
    if (ctx == NULL)
        return NULL;
    rs_tls *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        SSL_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = ctx;
    return t;
}

int tls_reload(rs_tls *t, const rs_tls_files *files, char *err, size_t errlen)
{
    SSL_CTX *ctx = tls_ctx_build(files, err, errlen);
    if (ctx == NULL)
        return -1;
    SSL_CTX_free(t->ctx); /* connections hold their own references */
    t->ctx = ctx;
    return 0;
}

void tls_free(rs_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

SSL *tls_conn_new(rs_tls *t, int fd)
{
    SSL *ssl = SSL_new(t->ctx);
    if (ssl == NULL)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_conn_free(SSL *ssl)
{
    if (ssl == NULL)
        return;
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl); /* one close_notify; the socket is non-blocking */
    ERR_clear_error();
    SSL_free(ssl);
}

static rs_tls_io tls_io_result(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return TLS_EOF;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return TLS_EOF; /* EOF without close_notify, or a reset */
    default: return TLS_ERROR;
    }
}

rs_tls_io tls_read(SSL *ssl, struct evbuffer *in, size_t max, size_t *n)
{
    *n = 0;
    while (*n < max) {
        struct evbuffer_iovec v;
        size_t want = max - *n < TLS_RECORD ? max - *n : TLS_RECORD;
        if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) < 1)
            return TLS_ERROR;
        int rc = SSL_read(ssl, v.iov_base, (int)(v.iov_len < want ? v.iov_len : want));
        if (rc <= 0) {
            v.iov_len = 0;
            evbuffer_commit_space(in, &v, 1);
            rs_tls_io r = tls_io_result(ssl, rc);
            /* Bytes first: a request that came with the peer's close_notify
             * is served (tls_peer_closed tells the caller to close after). */
            return *n > 0 && r != TLS_ERROR ? TLS_OK : r;
        }
        v.iov_len = (size_t)rc;
        evbuffer_commit_space(in, &v, 1);
        *n += (size_t)rc;
        /* Read-ahead took what the socket held: another SSL_read would only
         * meet EAGAIN (one wasted syscall per wake-up). More data wakes the
         * socket event again. */
        if (!SSL_has_pending(ssl))
            break;
    }
    return TLS_OK;
}

rs_tls_io tls_write(SSL *ssl, struct evbuffer *out)
{
    for (;;) {
        size_t len = evbuffer_get_length(out);
        if (len == 0)
            return TLS_OK;
        size_t chunk = len < TLS_RECORD ? len : TLS_RECORD;
        const unsigned char *p = evbuffer_pullup(out, (ev_ssize_t)chunk);
        if (p == NULL)
            return TLS_ERROR;
        int rc = SSL_write(ssl, p, (int)chunk);
        if (rc <= 0)
            return tls_io_result(ssl, rc);
        evbuffer_drain(out, (size_t)rc);
    }
}

bool tls_peer_closed(SSL *ssl)
{
    return ssl != NULL && (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

bool tls_pending(SSL *ssl)
{
    return ssl != NULL && SSL_has_pending(ssl) == 1; /* read-ahead bytes count too */
}
