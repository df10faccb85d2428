/*
 * tls.h: TLS for both of readstated's ports (OpenSSL, TLS 1.2 and later),
 * as a context the server owns and byte-moving helpers the connection
 * state machines call instead of read/write on the socket.
 *
 *   rs_tls (SSL_CTX: certificate, key, optional client CA for mutual TLS;
 *           rebuilt by tls_reload on SIGHUP; connections keep the context
 *           they were accepted with, new ones get the new one)
 *     └─ tls_conn_new(fd) ──> SSL in accept state (the handshake runs
 *                             inside the first reads)
 *
 *   tls_read(ssl, evbuffer, max)   decrypted bytes appended to the buffer
 *   tls_write(ssl, evbuffer)       the buffer's bytes sent as records
 *
 * Both report what the connection must wait for when they would block:
 * TLS_WANT_READ (the usual case) or TLS_WANT_WRITE (a handshake or key
 * update that could not be written yet). The caller arms the matching
 * event and calls again. Reads stop at max bytes; bytes OpenSSL already
 * decrypted and holds (tls_pending) produce no socket event, so a caller
 * that stops early must come back by itself.
 *
 * Nothing here logs or knows a connection: errors come back as a short
 * reason string for the caller's log line.
 */
#ifndef RS_TLS_H
#define RS_TLS_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rs_tls rs_tls;
typedef struct ssl_st SSL;

typedef struct rs_tls_files {
    const char *cert;      /* PEM certificate chain */
    const char *key;       /* PEM private key */
    const char *client_ca; /* PEM CAs for client certificates; NULL or "": none */
} rs_tls_files;

/* Build a context from the files; ALPN answers h2 or http/1.1 when the
 * client offers them, on connections whose SSL carries app data (the HTTP
 * port sets it: SSL_set_app_data). Returns NULL with a reason in err. */
rs_tls *tls_new(const rs_tls_files *files, char *err, size_t errlen);

/* Rebuild from the files (SIGHUP). On failure the old context stays and
 * err says why. Returns 0 or -1. */
int tls_reload(rs_tls *t, const rs_tls_files *files, char *err, size_t errlen);

void tls_free(rs_tls *t);

/* A server-side SSL for an accepted socket, or NULL (out of memory). */
SSL *tls_conn_new(rs_tls *t, int fd);
/* Send close_notify (best effort, never blocks) and free. NULL is fine. */
void tls_conn_free(SSL *ssl);

typedef enum rs_tls_io {
    TLS_OK,         /* bytes moved (see the count) */
    TLS_WANT_READ,  /* wait until the socket is readable */
    TLS_WANT_WRITE, /* wait until the socket is writable */
    TLS_EOF,        /* the peer closed (close_notify or EOF) */
    TLS_ERROR       /* handshake or record error: close */
} rs_tls_io;

/* Read and decrypt until it would block or max bytes are in. *n receives
 * the bytes appended. TLS_OK when some came (and the socket may hold
 * more), else why not. */
rs_tls_io tls_read(SSL *ssl, struct evbuffer *in, size_t max, size_t *n);

/* Encrypt and send from the front of out until it is empty or the socket
 * would block; sent bytes are drained. TLS_OK when out is empty. */
rs_tls_io tls_write(SSL *ssl, struct evbuffer *out);

/* The peer sent close_notify: it sends nothing more (what tls_read already
 * returned is still to be served). */
bool tls_peer_closed(SSL *ssl);

/* Decrypted bytes OpenSSL holds that no socket event will announce. */
bool tls_pending(SSL *ssl);

/* The last error as a short string, for a log line. */
const char *tls_error_string(char *buf, size_t len);

#endif /* RS_TLS_H */
