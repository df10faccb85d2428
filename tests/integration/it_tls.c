/*
 * it_tls.c: TLS on both ports of a real readstated, against clients
 * nobody here wrote: curl (HTTPS to the HTTP port) and OpenSSL's own
 * client (the framed protocol on the TCP port), with certificates made by
 * the openssl command in a temporary directory:
 *
 *  - HTTPS: a Connect call and a kept-alive second request; plain HTTP to
 *    the TLS port gets nothing; TLS 1.1 is refused;
 *  - the framed TCP protocol over TLS: pipelined Pings answered in order;
 *  - mutual TLS (--tls-client-ca): without a client certificate the
 *    handshake fails, with one signed by the CA the call works;
 *  - a handshake that never finishes is closed at the request deadline;
 *  - SIGHUP re-reads a certificate replaced in place: new connections see
 *    the new one, the server keeps serving;
 *  - the project's C client over TLS (mutual): calls and a long pipeline,
 *    and refusals of a server its CA file or name does not vouch for.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "readstates.pb-c.h"
#include "rs_client.h"
#include "rs_testsupport.h"

typedef struct tls_env {
    char dir[PATH_MAX];
    char ca[PATH_MAX + 32], cert[PATH_MAX + 32], key[PATH_MAX + 32];
    char ccert[PATH_MAX + 32], ckey[PATH_MAX + 32];
} tls_env;

static void run_ok(const char *const argv[])
{
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0)
        fail_msg("%s exited %d: %s", argv[0], code, err != NULL ? err : "");
    free(out);
    free(err);
}

/* A CA, a server certificate for 127.0.0.1 (subject CN=cn) and a client
 * certificate, all signed by the CA. */
static void make_cert(tls_env *e, const char *cn)
{
    char csr[PATH_MAX + 32], ext[PATH_MAX + 32], subj[64];
    snprintf(csr, sizeof(csr), "%s/server.csr", e->dir);
    snprintf(ext, sizeof(ext), "%s/ext.cnf", e->dir);
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    assert_int_equal(rs_write_file(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"), 0);
    const char *req[] = {
        "openssl", "req",     "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",  "-keyout", e->key,    "-out", csr,        "-subj",
        subj,      NULL};
    run_ok(req);
    char cakey[PATH_MAX + 32];
    snprintf(cakey, sizeof(cakey), "%s/ca.key", e->dir);
    const char *sign[] = {
        "openssl",         "x509", "-req",  "-in",   csr, "-CA",      e->ca, "-CAkey", cakey,
        "-CAcreateserial", "-out", e->cert, "-days", "2", "-extfile", ext,   NULL};
    run_ok(sign);
}

static void env_init(tls_env *e)
{
    memset(e, 0, sizeof(*e));
    assert_int_equal(rs_tmpdir_create("tls", e->dir, sizeof(e->dir)), 0);
    snprintf(e->ca, sizeof(e->ca), "%s/ca.pem", e->dir);
    snprintf(e->cert, sizeof(e->cert), "%s/server.pem", e->dir);
    snprintf(e->key, sizeof(e->key), "%s/server.key", e->dir);
    snprintf(e->ccert, sizeof(e->ccert), "%s/client.pem", e->dir);
    snprintf(e->ckey, sizeof(e->ckey), "%s/client.key", e->dir);
    char cakey[PATH_MAX + 32], ccsr[PATH_MAX + 32];
    snprintf(cakey, sizeof(cakey), "%s/ca.key", e->dir);
    snprintf(ccsr, sizeof(ccsr), "%s/client.csr", e->dir);
    const char *ca[] = {"openssl",
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-nodes",
                        "-keyout",
                        cakey,
                        "-out",
                        e->ca,
                        "-days",
                        "2",
                        "-subj",
                        "/CN=readstates test CA",
                        NULL};
    run_ok(ca);
    make_cert(e, "first");
    const char *creq[] = {
        "openssl",    "req",     "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",     "-keyout", e->ckey,   "-out", ccsr,       "-subj",
        "/CN=client", NULL};
    run_ok(creq);
    const char *csign[] = {"openssl", "x509",   "-req",   "-in", ccsr,
                           "-CA",     e->ca,    "-CAkey", cakey, "-CAcreateserial",
                           "-out",    e->ccert, "-days",  "2",   NULL};
    run_ok(csign);
}

static void start(rs_test_server *srv, const tls_env *e, bool mutual, const char *deadline_ms)
{
    const char *args[] = {"--tls-cert",
                          e->cert,
                          "--tls-key",
                          e->key,
                          "--http-request-deadline-ms",
                          deadline_ms != NULL ? deadline_ms : "10000",
                          mutual ? "--tls-client-ca" : NULL,
                          e->ca,
                          NULL};
    rs_test_server_opts o = {.args = args, .http = true};
    assert_int_equal(rs_test_server_start_opts(srv, &o), 0);
}

static void stop(rs_test_server *srv)
{
    int st = 0;
    rs_test_server_stop(srv, 30000, &st);
    if (rs_proc_exit_code(&srv->proc) != 0) {
        rs_proc_dump_log(&srv->proc, "readstated", stderr, 4000);
        fail_msg("readstated exited %d", rs_proc_exit_code(&srv->proc));
    }
    rs_test_server_cleanup(srv);
}

/* curl with the test CA; returns its exit code, *out its stdout. */
static int curl(const tls_env *e, const char *const extra[], char **out)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "10";
    argv[n++] = "--cacert";
    argv[n++] = e->ca;
    for (int i = 0; extra[i] != NULL && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    char *err = NULL;
    int code = rs_run(argv, NULL, 20000, out, &err);
    free(err);
    return code;
}

static void test_https(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, false, NULL);
    char url[128], url2[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/readstates.v1.ReadStates/Ack",
             srv.http_port);
    snprintf(url2, sizeof(url2), "https://127.0.0.1:%d/readstates.v1.ReadStates/GetReadStates",
             srv.http_port);
    /* two requests on one kept-alive connection */
    const char *a[] = {"-H",       "Content-Type: application/json",
                       "-d",       "{\"userId\":\"5\",\"channelId\":\"6\",\"messageId\":\"7\"}",
                       url,        "--next",
                       "--cacert", e.ca,
                       "-H",       "Content-Type: application/json",
                       "-d",       "{\"userId\":\"5\"}",
                       url2,       NULL};
    char *out = NULL;
    assert_int_equal(curl(&e, a, &out), 0);
    if (strstr(out, "\"applied\":true") == NULL)
        fail_msg("curl printed: %s", out);
    assert_non_null(strstr(out, "\"lastMessageId\":\"7\""));
    free(out);
    /* plain HTTP to the TLS port: no HTTP answer */
    char plain[128];
    snprintf(plain, sizeof(plain), "http://127.0.0.1:%d/healthz", srv.http_port);
    const char *p[] = {plain, NULL};
    out = NULL;
    assert_int_not_equal(curl(&e, p, &out), 0);
    free(out);
    /* TLS 1.1 is refused */
    char hz[128];
    snprintf(hz, sizeof(hz), "https://127.0.0.1:%d/healthz", srv.http_port);
    const char *old[] = {"--tlsv1.1", "--tls-max", "1.1", hz, NULL};
    out = NULL;
    assert_int_not_equal(curl(&e, old, &out), 0);
    free(out);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* ---- the framed protocol over TLS, with OpenSSL's client ---------------- */

static SSL *tls_connect(SSL_CTX *ctx, int port, int *fd_out)
{
    int fd = rs_tcp_connect(port, 5000);
    assert_true(fd >= 0);
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    *fd_out = fd;
    return ssl;
}

static SSL_CTX *client_ctx(const tls_env *e, bool with_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, e->ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (with_cert) {
        assert_int_equal(SSL_CTX_use_certificate_file(ctx, e->ccert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, e->ckey, SSL_FILETYPE_PEM), 1);
    }
    return ctx;
}

/* Send n pipelined Pings in one write and read their n answers. Returns
 * the number answered in order, or -1 on a TLS or socket failure. */
static int ping_over_tls(SSL *ssl, int n)
{
    uint8_t buf[4096];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        Readstates__V1__PingRequest ping = READSTATES__V1__PING_REQUEST__INIT;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.id = (uint64_t)(100 + i);
        req.call_case = READSTATES__V1__REQUEST__CALL_PING;
        req.ping = &ping;
        size_t sz = readstates__v1__request__get_packed_size(&req);
        buf[len] = (uint8_t)(sz >> 24);
        buf[len + 1] = (uint8_t)(sz >> 16);
        buf[len + 2] = (uint8_t)(sz >> 8);
        buf[len + 3] = (uint8_t)sz;
        readstates__v1__request__pack(&req, buf + len + 4);
        len += 4 + sz;
    }
    if (SSL_write(ssl, buf, (int)len) != (int)len)
        return -1;
    uint8_t in[65536];
    size_t have = 0;
    int answered = 0;
    while (answered < n) {
        int r = SSL_read(ssl, in + have, (int)(sizeof(in) - have));
        if (r <= 0)
            return -1;
        have += (size_t)r;
        while (have >= 4) {
            uint32_t fl =
                (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
            if (have < 4 + fl)
                break;
            Readstates__V1__Response *resp = readstates__v1__response__unpack(NULL, fl, in + 4);
            if (resp == NULL || resp->id != (uint64_t)(100 + answered) ||
                resp->result_case != READSTATES__V1__RESPONSE__RESULT_PING)
                return -1;
            readstates__v1__response__free_unpacked(resp, NULL);
            answered++;
            memmove(in, in + 4 + fl, have - 4 - fl);
            have -= 4 + fl;
        }
    }
    return answered;
}

static void test_framed_protocol_over_tls(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, false, NULL);
    SSL_CTX *ctx = client_ctx(&e, false);
    int fd;
    SSL *ssl = tls_connect(ctx, srv.port, &fd);
    assert_int_equal(SSL_connect(ssl), 1);
    assert_true(SSL_version(ssl) >= TLS1_2_VERSION);
    assert_int_equal(ping_over_tls(ssl, 1), 1);
    assert_int_equal(ping_over_tls(ssl, 50), 50); /* pipelined */
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

static void test_mutual_tls(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, true, NULL);
    /* without a client certificate: refused (during or right after the
     * handshake, depending on the TLS version) */
    SSL_CTX *bare = client_ctx(&e, false);
    int fd;
    SSL *ssl = tls_connect(bare, srv.port, &fd);
    int ok = SSL_connect(ssl) == 1 && ping_over_tls(ssl, 1) == 1;
    assert_false(ok);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(bare);
    ERR_clear_error();
    /* with one signed by the CA: served, on both ports */
    SSL_CTX *ctx = client_ctx(&e, true);
    ssl = tls_connect(ctx, srv.port, &fd);
    assert_int_equal(SSL_connect(ssl), 1);
    assert_int_equal(ping_over_tls(ssl, 3), 3);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", srv.http_port);
    const char *with[] = {"--cert", e.ccert, "--key", e.ckey, url, NULL};
    char *out = NULL;
    assert_int_equal(curl(&e, with, &out), 0);
    assert_string_equal(out, "ok\n");
    free(out);
    const char *without[] = {url, NULL};
    out = NULL;
    assert_int_not_equal(curl(&e, without, &out), 0);
    free(out);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

static void test_stalled_handshake_deadline(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, false, "1500");
    int fd = rs_tcp_connect(srv.http_port, 5000);
    assert_true(fd >= 0);
    /* the first bytes of a ClientHello record, then nothing */
    static const uint8_t partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    assert_int_equal(rs_fd_write_all(fd, partial, sizeof(partial), 5000), 0);
    long long t0 = rs_mono_ms();
    assert_true(rs_fd_wait_closed(fd, 6000));
    long long took = rs_mono_ms() - t0;
    close(fd);
    printf("stalled handshake closed after %lld ms (deadline 1500)\n", took);
    assert_true(took >= 1300);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* The subject CN of the certificate the server presents on the TCP port. */
static void served_cn(const tls_env *e, int port, char *cn, size_t len)
{
    SSL_CTX *ctx = client_ctx(e, false);
    int fd;
    SSL *ssl = tls_connect(ctx, port, &fd);
    assert_int_equal(SSL_connect(ssl), 1);
    X509 *x = SSL_get1_peer_certificate(ssl);
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)len);
    X509_free(x);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
}

static void test_reload_certificate(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, false, NULL);
    char cn[64];
    served_cn(&e, srv.port, cn, sizeof(cn));
    assert_string_equal(cn, "first");
    make_cert(&e, "second"); /* replaced in place, as a renewal does */
    assert_int_equal(kill(srv.proc.pid, SIGHUP), 0);
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        served_cn(&e, srv.port, cn, sizeof(cn));
        seen = strcmp(cn, "second") == 0;
        if (!seen)
            rs_sleep_ms(20);
    }
    assert_true(seen);
    /* a broken file on reload: the running certificate stays */
    assert_int_equal(rs_write_file(e.cert, "not a certificate\n"), 0);
    assert_int_equal(kill(srv.proc.pid, SIGHUP), 0);
    rs_sleep_ms(300); /* pacing: let the reload run */
    served_cn(&e, srv.port, cn, sizeof(cn));
    assert_string_equal(cn, "second");
    char *log = rs_read_file(srv.proc.stderr_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "event=reload_failed what=tls"));
    free(log);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* A client that resumes its TLS session (as Node's agent, curl and proxies
 * do by default) gets a resumed handshake, with client certificates too
 * (OpenSSL refuses resumption under mutual TLS unless the server names a
 * session context). TLS 1.2 session ids and TLS 1.3 tickets. */
static void test_session_resumption(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, true, NULL);
    const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (size_t v = 0; v < 2; v++) {
        SSL_CTX *ctx = client_ctx(&e, true);
        SSL_CTX_set_min_proto_version(ctx, versions[v]);
        SSL_CTX_set_max_proto_version(ctx, versions[v]);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
        int fd;
        SSL *ssl = tls_connect(ctx, srv.port, &fd);
        assert_int_equal(SSL_connect(ssl), 1);
        assert_int_equal(ping_over_tls(ssl, 1), 1); /* TLS 1.3: the ticket comes after */
        SSL_SESSION *sess = SSL_get1_session(ssl);
        assert_non_null(sess);
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        ssl = tls_connect(ctx, srv.port, &fd);
        assert_int_equal(SSL_set_session(ssl, sess), 1);
        if (SSL_connect(ssl) != 1) {
            char buf[256];
            ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
            fail_msg("resumed handshake (version %x) failed: %s", versions[v], buf);
        }
        assert_true(SSL_session_reused(ssl));
        assert_int_equal(ping_over_tls(ssl, 2), 2);
        SSL_SESSION_free(sess);
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        SSL_CTX_free(ctx);
    }
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* Write req and then close_notify so that both leave in one TCP segment
 * (TCP_CORK), and read what comes back until the server closes. */
static size_t request_then_close_notify(SSL *ssl, int fd, const void *req, size_t len,
                                        uint8_t *out, size_t cap)
{
    int on = 1, off = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    assert_int_equal(SSL_write(ssl, req, (int)len), (int)len);
    SSL_shutdown(ssl); /* sends close_notify */
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    size_t have = 0;
    long long end = rs_mono_ms() + 5000;
    while (have < cap && rs_mono_ms() < end) {
        int r = SSL_read(ssl, out + have, (int)(cap - have));
        if (r <= 0)
            break;
        have += (size_t)r;
    }
    return have;
}

/* A last request that arrives together with the client's close_notify is
 * still answered, on both ports (it was dropped on the HTTP port). */
static void test_request_with_close_notify(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, false, NULL);
    SSL_CTX *ctx = client_ctx(&e, false);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION); /* no tickets after the handshake */
    uint8_t out[4096];

    int fd;
    SSL *ssl = tls_connect(ctx, srv.http_port, &fd);
    assert_int_equal(SSL_connect(ssl), 1);
    static const char get[] = "GET /healthz HTTP/1.0\r\n\r\n";
    size_t n = request_then_close_notify(ssl, fd, get, sizeof(get) - 1, out, sizeof(out) - 1);
    out[n] = '\0';
    if (strstr((char *)out, "HTTP/1.1 200") == NULL)
        fail_msg("HTTP port answered %zu bytes: %s", n, out);
    SSL_free(ssl);
    close(fd);

    ssl = tls_connect(ctx, srv.port, &fd);
    assert_int_equal(SSL_connect(ssl), 1);
    static const uint8_t ping[8] = {0, 0, 0, 4, 0x08, 0x07, 0x52, 0x00}; /* id 7 */
    n = request_then_close_notify(ssl, fd, ping, sizeof(ping), out, sizeof(out));
    assert_true(n >= 4);
    uint32_t fl =
        (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
    assert_true(n >= 4 + fl);
    Readstates__V1__Response *resp = readstates__v1__response__unpack(NULL, fl, out + 4);
    assert_non_null(resp);
    assert_int_equal(resp->id, 7);
    assert_int_equal(resp->result_case, READSTATES__V1__RESPONSE__RESULT_PING);
    readstates__v1__response__free_unpacked(resp, NULL);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* The project's C client over TLS: calls, a long pipeline, and a server
 * certificate that its CA file does not vouch for. */
static void test_c_client(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, true, NULL);
    rs_client_tls t = {.ca_file = e.ca, .cert_file = e.ccert, .key_file = e.ckey};
    char err[256];
    rs_client *c = rs_client_connect_tls("127.0.0.1", srv.port, &t, 10000, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    assert_int_equal(rs_client_ack(c, 9, 1, 100, 2, NULL), RS_OK);
    for (uint64_t ch = 2; ch <= 2001; ch++) { /* 2000 pipelined Acks */
        Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
        ack.user_id = 9;
        ack.channel_id = ch;
        ack.message_id = 100 + ch;
        Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
        req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
        req.ack = &ack;
        assert_int_equal(rs_client_send(c, &req), RS_OK);
    }
    assert_int_equal(rs_client_flush(c), RS_OK);
    for (int i = 0; i < 2000; i++) {
        Readstates__V1__Response *resp = NULL;
        assert_int_equal(rs_client_recv(c, &resp, 10000), RS_OK);
        assert_int_equal(rs_client_response_status(resp), RS_OK);
        rs_client_response_free(resp);
    }
    rs_client_states st;
    memset(&st, 0, sizeof(st));
    assert_int_equal(rs_client_get(c, 9, NULL, 0, &st), RS_OK);
    assert_int_equal(st.n, 2001);
    rs_client_states_free(&st);
    rs_client_close(c);

    /* a CA that did not sign the server's certificate */
    rs_client_tls wrong = {.ca_file = e.ccert, .cert_file = e.ccert, .key_file = e.ckey};
    c = rs_client_connect_tls("127.0.0.1", srv.port, &wrong, 10000, err, sizeof(err));
    assert_null(c);
    assert_non_null(strstr(err, "certificate"));
    /* a name the certificate does not carry */
    rs_client_tls other = {.ca_file = e.ca,
                           .cert_file = e.ccert,
                           .key_file = e.ckey,
                           .server_name = "example.invalid"};
    c = rs_client_connect_tls("127.0.0.1", srv.port, &other, 10000, err, sizeof(err));
    assert_null(c);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* readstatectl over TLS: the options that turn it on, and without them a
 * clear failure. */
static void test_readstatectl(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, true, NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
    const char *ok[] = {rs_test_readstatectl_bin(),
                        "--server",
                        addr,
                        "--tls-ca",
                        e.ca,
                        "--tls-cert",
                        e.ccert,
                        "--tls-key",
                        e.ckey,
                        "ack",
                        "3",
                        "4",
                        "5",
                        NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(ok, NULL, 20000, &out, &err);
    if (code != 0)
        fail_msg("readstatectl over TLS exited %d: %s", code, err != NULL ? err : "");
    free(out);
    free(err);
    const char *plain[] = {rs_test_readstatectl_bin(), "--server", addr, "ping", NULL};
    out = err = NULL;
    code = rs_run(plain, NULL, 20000, &out, &err);
    assert_int_equal(code, 14); /* UNAVAILABLE: plain bytes to a TLS port */
    free(out);
    free(err);
    const char *nocert[] = {
        rs_test_readstatectl_bin(), "--server", addr, "--tls-ca", e.ca, "ping", NULL};
    out = err = NULL;
    code = rs_run(nocert, NULL, 20000, &out, &err);
    assert_int_not_equal(code, 0); /* mutual TLS wants a client certificate */
    free(out);
    free(err);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

/* readstate-loadgen's rss:// target (mutual TLS): a short fixed-rate run
 * with every request answered OK. */
static void test_loadgen(void **state)
{
    (void)state;
    tls_env e;
    env_init(&e);
    rs_test_server srv;
    start(&srv, &e, true, NULL);
    char url[64], json[PATH_MAX + 32];
    snprintf(url, sizeof(url), "rss://127.0.0.1:%d", srv.port);
    snprintf(json, sizeof(json), "%s/lg.json", e.dir);
    const char *argv[] = {RS_HTTP_LOADGEN_BIN,
                          "--target",
                          url,
                          "--tls-ca",
                          e.ca,
                          "--tls-cert",
                          e.ccert,
                          "--tls-key",
                          e.ckey,
                          "--rate",
                          "2000",
                          "--duration",
                          "1",
                          "--connections",
                          "4",
                          "--pipeline",
                          "8",
                          "--users",
                          "100",
                          "--quiet",
                          "--json",
                          json,
                          NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0)
        fail_msg("readstate-loadgen exited %d: %s", code, err != NULL ? err : "");
    free(out);
    free(err);
    const char *fe[] = {RS_HTTP_LOADGEN_BIN, "field", json, "totals.errors", NULL};
    const char *fa[] = {RS_HTTP_LOADGEN_BIN, "field", json, "totals.answered", NULL};
    char *errors = NULL, *answered = NULL;
    assert_int_equal(rs_run(fe, NULL, 10000, &errors, NULL), 0);
    assert_int_equal(rs_run(fa, NULL, 10000, &answered, NULL), 0);
    if (atoll(errors) != 0 || atoll(answered) <= 0) {
        char *doc = rs_read_file(json, NULL);
        fail_msg("errors %s, answered %s:\n%s", errors, answered, doc != NULL ? doc : "");
    }
    free(errors);
    free(answered);
    stop(&srv);
    rs_tmpdir_remove(e.dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_framed_protocol_over_tls),
        cmocka_unit_test(test_mutual_tls),
        cmocka_unit_test(test_stalled_handshake_deadline),
        cmocka_unit_test(test_reload_certificate),
        cmocka_unit_test(test_session_resumption),
        cmocka_unit_test(test_request_with_close_notify),
        cmocka_unit_test(test_c_client),
        cmocka_unit_test(test_readstatectl),
        cmocka_unit_test(test_loadgen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
