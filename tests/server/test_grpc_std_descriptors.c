/*
 * test_grpc_std_descriptors.c: server/http_grpc_std.c in process. The file
 * is compiled into this test (its walker is static) with stand-ins for
 * http_stream.c's hs_* calls and http.c's http_unready, so it runs without
 * sockets. Covered: the descriptor walker on the embedded set (files by
 * name, symbols and what lies under them) and on hand-made sets
 * (dependencies, transitively and once each; malformed sets refused), the
 * health methods (Check, Watch, the tick, watchers ended during a send, a
 * watcher outliving hs_std_free) and the reflection answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_grpc_std.c"

/* ---- stand-ins for http_stream.c and http.c ---------------------------------- */

#define MAX_SENT 16

struct hs_call {
    struct rs_http *h;
    const hs_method *m;
    void *state;
    bool over, finished;
    rs_status status;
    char message[256];
    size_t n_sent;
    ProtobufCBinaryData sent[MAX_SENT];
    void (*on_send)(hs_call *c); /* runs inside hs_send */
    hs_call *victim;             /* what on_send ends */
};

static bool unready; /* what http_unready says */

const char *http_unready(struct rs_http *h, char *buf, size_t len)
{
    (void)h;
    if (!unready)
        return NULL;
    snprintf(buf, len, "test");
    return buf;
}

struct rs_http *hs_http(hs_call *c)
{
    return c->h;
}

void **hs_state(hs_call *c)
{
    return &c->state;
}

bool hs_over(const hs_call *c)
{
    return c->over;
}

/* The call is over (the client left, or finished): on_done, once. */
static void call_end(hs_call *c)
{
    if (c->over)
        return;
    c->over = true;
    if (c->m->on_done)
        c->m->on_done(c);
}

bool hs_send(hs_call *c, const ProtobufCMessage *msg)
{
    if (c->over)
        return false;
    assert_ptr_equal(msg->descriptor, c->m->out);
    assert_true(c->n_sent < MAX_SENT);
    ProtobufCBinaryData *b = &c->sent[c->n_sent++];
    b->len = protobuf_c_message_get_packed_size(msg);
    b->data = malloc(b->len + 1);
    assert_non_null(b->data);
    protobuf_c_message_pack(msg, b->data);
    if (c->on_send)
        c->on_send(c);
    return !c->over;
}

void hs_finish(hs_call *c, rs_status st, const char *message)
{
    assert_false(c->finished);
    c->finished = true;
    c->status = st;
    snprintf(c->message, sizeof(c->message), "%s", message ? message : "");
    call_end(c);
}

static const hs_method *method(const char *path)
{
    for (size_t i = 0; i < hs_std_methods_len; i++) {
        if (strcmp(hs_std_methods[i].path, path) == 0)
            return &hs_std_methods[i];
    }
    fail_msg("no method %s", path);
    return NULL;
}

static void call_init(hs_call *c, struct rs_http *h, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->m = method(path);
}

static void call_clear(hs_call *c)
{
    for (size_t i = 0; i < c->n_sent; i++)
        free(c->sent[i].data);
    c->n_sent = 0;
}

/* ---- hand-made descriptor sets ------------------------------------------------- */

typedef struct wbuf {
    uint8_t b[8192];
    size_t n;
} wbuf;

static void put_varint(wbuf *o, uint64_t v)
{
    do {
        assert_true(o->n < sizeof(o->b));
        o->b[o->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

static void put_bytes(wbuf *o, uint32_t field, const void *p, size_t n)
{
    put_varint(o, (uint64_t)field << 3 | PB_LEN);
    put_varint(o, n);
    assert_true(n <= sizeof(o->b) - o->n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void put_str(wbuf *o, uint32_t field, const char *s)
{
    put_bytes(o, field, s, strlen(s));
}

/* A DescriptorProto-like {name} into field of o. */
static void put_named(wbuf *o, uint32_t field, const char *name)
{
    wbuf m = {0};
    put_str(&m, 1, name);
    put_bytes(o, field, m.b, m.n);
}

static void put_file(wbuf *set, const char *name, const char *pkg, const char *const *deps,
                     const char *message)
{
    wbuf f = {0};
    put_str(&f, 1, name);
    if (pkg)
        put_str(&f, 2, pkg);
    for (size_t i = 0; deps && deps[i]; i++)
        put_str(&f, 3, deps[i]);
    if (message)
        put_named(&f, 4, message);
    put_varint(&f, 8u << 3 | PB_VARINT); /* syntax-ish noise: skipped */
    put_varint(&f, 300);
    put_bytes(set, 1, f.b, f.n);
}

static const char *file_name(const std_descs *d, size_t i)
{
    static char name[128];
    pb_span s = d->files[i].name;
    snprintf(name, sizeof(name), "%.*s", (int)s.n, (const char *)s.p);
    return name;
}

static const char *sym_file(const std_descs *d, const char *symbol)
{
    const std_sym *s = descs_symbol(d, symbol, false);
    return s ? file_name(d, s->file) : NULL;
}

/* ---- the walker ------------------------------------------------------------------ */

static void test_embedded_set(void **state)
{
    (void)state;
    std_descs d;
    assert_int_equal(descs_parse(&d, rs_descriptor_set, rs_descriptor_set_len), DESCS_OK);
    assert_int_equal(d.n_files, 4);
    assert_int_equal(descs_file_named(&d, "readstates.proto", 16), 0);
    assert_true(descs_file_named(&d, "grpc/health/v1/health.proto", 27) > 0);
    assert_int_equal(descs_file_named(&d, "readstates", 10), -1);
    assert_int_equal(descs_file_named(&d, "no/such.proto", 13), -1);

    assert_string_equal(sym_file(&d, "readstates.v1.ReadStates"), "readstates.proto");
    assert_string_equal(sym_file(&d, "readstates.v1.ReadStates.Ack"), "readstates.proto");
    assert_string_equal(sym_file(&d, "readstates.v1.Request.id"), "readstates.proto");
    assert_string_equal(sym_file(&d, "readstates.v1.Code"), "readstates.proto");
    assert_string_equal(sym_file(&d, "grpc.health.v1.Health"), "grpc/health/v1/health.proto");
    assert_string_equal(sym_file(&d, "grpc.health.v1.HealthCheckResponse.ServingStatus"),
                        "grpc/health/v1/health.proto");
    assert_string_equal(sym_file(&d, "grpc.reflection.v1alpha.ServerReflection"),
                        "grpc/reflection/v1alpha/reflection.proto");
    assert_null(sym_file(&d, "readstates.v1.ReadStatesX"));
    assert_null(sym_file(&d, "readstates.v1"));
    assert_null(sym_file(&d, "readstates.v1."));
    assert_null(sym_file(&d, "ReadStates"));
    assert_null(sym_file(&d, ""));
    assert_null(descs_symbol(&d, "readstates.v1.Request.id", true));
    const std_sym *s = descs_symbol(&d, "readstates.v1.Code", true);
    assert_non_null(s);
    assert_int_equal(s->kind, SYM_ENUM);
    s = descs_symbol(&d, "readstates.v1.ReadStates", true);
    assert_non_null(s);
    assert_int_equal(s->kind, SYM_SERVICE);

    assert_int_equal(descs_closure(&d, 0), 1); /* no imports */
    assert_ptr_equal(d.blobs[0].data, d.files[0].bytes.p);
    assert_int_equal(descs_closure(&d, 99), 0);
    descs_free(&d);
}

static void test_dependencies(void **state)
{
    (void)state;
    wbuf set = {0};
    const char *a_deps[] = {"b.proto", "missing.proto", "c.proto", NULL};
    const char *b_deps[] = {"c.proto", "a.proto", NULL};
    put_file(&set, "a.proto", "x.y", a_deps, "A");
    put_file(&set, "b.proto", "x.y", b_deps, "B");
    put_file(&set, "c.proto", NULL, NULL, "C");
    std_descs d;
    assert_int_equal(descs_parse(&d, set.b, set.n), DESCS_OK);
    assert_int_equal(d.n_files, 3);
    assert_int_equal(d.n_deps, 5);

    assert_int_equal(descs_closure(&d, 0), 3); /* a, b, c: each once */
    assert_int_equal(d.order[0], 0);
    assert_int_equal(d.order[1], 1);
    assert_int_equal(d.order[2], 2);
    assert_ptr_equal(d.blobs[1].data, d.files[1].bytes.p);
    assert_int_equal(d.blobs[1].len, d.files[1].bytes.n);
    assert_int_equal(descs_closure(&d, 1), 3); /* b, c, a */
    assert_int_equal(d.order[1], 2);
    assert_int_equal(d.order[2], 0);
    assert_int_equal(descs_closure(&d, 2), 1);

    assert_string_equal(sym_file(&d, "x.y.A"), "a.proto");
    assert_string_equal(sym_file(&d, "x.y.B.inner"), "b.proto");
    assert_string_equal(sym_file(&d, "C"), "c.proto"); /* no package */
    assert_string_equal(sym_file(&d, "C.D"), "c.proto");
    assert_null(sym_file(&d, "x.y"));
    assert_null(sym_file(&d, "x.A"));
    assert_null(sym_file(&d, "y.A"));
    descs_free(&d);

    assert_int_equal(descs_parse(&d, set.b, 0), DESCS_OK); /* empty set */
    assert_int_equal(d.n_files, 0);
    assert_null(sym_file(&d, "C"));
    assert_int_equal(descs_closure(&d, 0), 0);
    descs_free(&d);
}

static void expect_malformed(const uint8_t *blob, size_t len, const char *what)
{
    std_descs d;
    if (descs_parse(&d, blob, len) != DESCS_MALFORMED)
        fail_msg("not refused: %s", what);
    assert_null(d.files);
    assert_int_equal(d.n_files, 0);
    assert_int_equal(d.n_syms, 0);
}

static void test_malformed(void **state)
{
    (void)state;
#define BAD(what, ...)                                                                         \
    do {                                                                                       \
        const uint8_t b[] = {__VA_ARGS__};                                                     \
        expect_malformed(b, sizeof(b), what);                                                  \
    } while (0)
    BAD("key only", 0x0a);
    BAD("length past the end", 0x0a, 0x05, 0x0a, 0x01, 'a');
    BAD("truncated varint", 0x08, 0x80);
    BAD("varint over 64 bits", 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02);
    BAD("11-byte varint", 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x00);
    BAD("field 0", 0x02, 0x00);
    BAD("group", 0x0b, 0x0c);
    BAD("wire type 7", 0x0f);
    BAD("truncated fixed64", 0x09, 1, 2, 3);
    BAD("file as a varint", 0x08, 0x01, 0x08, 0x01);
    BAD("file without a name", 0x0a, 0x03, 0x12, 0x01, 'p');
    BAD("empty file name", 0x0a, 0x02, 0x0a, 0x00);
    BAD("NUL in a file name", 0x0a, 0x04, 0x0a, 0x02, 'a', 0x00);
    BAD("name as a varint", 0x0a, 0x02, 0x08, 0x01);
    BAD("dependency as a varint", 0x0a, 0x05, 0x0a, 0x01, 'a', 0x18, 0x01);
    BAD("nameless message", 0x0a, 0x05, 0x0a, 0x01, 'a', 0x22, 0x00);
    BAD("message name as a varint", 0x0a, 0x07, 0x0a, 0x01, 'a', 0x22, 0x02, 0x08, 0x01);
    BAD("truncated inside a service", 0x0a, 0x07, 0x0a, 0x01, 'a', 0x32, 0x02, 0x0a, 0x05);
    BAD("truncated inside a file", 0x0a, 0x03, 0x0a, 0x05, 'a');
#undef BAD
    /* Unknown fields of every kept wire type are skipped, in a file and in
     * the set. */
    const uint8_t ok[] = {0x0a, 0x0f, 0x0a, 0x01, 'a', 0x38, 0x96, 0x01, 0x41, 1, 2, 3,
                          4,    5,    6,    7,    8,   0x10, 0x01, 0x15, 1,    2, 3, 4};
    std_descs d;
    assert_int_equal(descs_parse(&d, ok, sizeof(ok)), DESCS_OK);
    assert_int_equal(d.n_files, 1);
    assert_string_equal(file_name(&d, 0), "a");
    descs_free(&d);
}

/* ---- health ----------------------------------------------------------------------- */

static struct rs_http *new_http(void)
{
    struct rs_http *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    unready = false;
    return h;
}

static void health_request(hs_call *c, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    c->m->on_message(c, &req.base);
}

static int sent_status(const hs_call *c, size_t i)
{
    assert_true(i < c->n_sent);
    Grpc__Health__V1__HealthCheckResponse *r =
        grpc__health__v1__health_check_response__unpack(NULL, c->sent[i].len, c->sent[i].data);
    assert_non_null(r);
    int st = r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    return st;
}

static void test_health_check(void **state)
{
    (void)state;
    struct rs_http *h = new_http();
    const char *known[] = {"", "readstates.v1.ReadStates"};
    for (size_t i = 0; i < 2; i++) {
        hs_call c;
        call_init(&c, h, "/grpc.health.v1.Health/Check");
        unready = false;
        health_request(&c, known[i]);
        assert_true(c.finished);
        assert_int_equal(c.status, RS_OK);
        assert_int_equal(c.n_sent, 1);
        assert_int_equal(sent_status(&c, 0), HEALTH_SERVING);
        call_clear(&c);
        call_init(&c, h, "/grpc.health.v1.Health/Check");
        unready = true;
        health_request(&c, known[i]);
        assert_int_equal(c.status, RS_OK);
        assert_int_equal(sent_status(&c, 0), HEALTH_NOT_SERVING);
        call_clear(&c);
    }
    hs_call c;
    call_init(&c, h, "/grpc.health.v1.Health/Check");
    health_request(&c, "no.such.Service");
    assert_true(c.finished);
    assert_int_equal(c.status, RS_ERR_NOT_FOUND);
    assert_string_equal(c.message, "unknown service no.such.Service");
    assert_int_equal(c.n_sent, 0);
    assert_null(h->std); /* Check keeps nothing */
    hs_std_free(h);
    free(h);
}

static void test_health_watch(void **state)
{
    (void)state;
    struct rs_http *h = new_http();
    hs_call w[3], unknown;
    for (size_t i = 0; i < 3; i++) {
        call_init(&w[i], h, "/grpc.health.v1.Health/Watch");
        health_request(&w[i], i == 1 ? "readstates.v1.ReadStates" : "");
        assert_false(w[i].over);
        assert_int_equal(w[i].n_sent, 1);
        assert_int_equal(sent_status(&w[i], 0), HEALTH_SERVING);
    }
    call_init(&unknown, h, "/grpc.health.v1.Health/Watch");
    health_request(&unknown, "no.such.Service");
    assert_false(unknown.over); /* stays open */
    assert_int_equal(sent_status(&unknown, 0), HEALTH_SERVICE_UNKNOWN);

    hs_std_tick(h); /* unchanged: nothing sent */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(w[i].n_sent, 1);
    unready = true;
    hs_std_tick(h);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(w[i].n_sent, 2);
        assert_int_equal(sent_status(&w[i], 1), HEALTH_NOT_SERVING);
    }
    assert_int_equal(unknown.n_sent, 1);

    /* The client of w[1] leaves: off the list. */
    call_end(&w[1]);
    assert_null(w[1].state);
    unready = false;
    hs_std_tick(h);
    assert_int_equal(w[0].n_sent, 3);
    assert_int_equal(w[1].n_sent, 2);
    assert_int_equal(w[2].n_sent, 3);
    assert_int_equal(sent_status(&w[2], 2), HEALTH_SERVING);

    call_end(&w[0]);
    call_end(&w[2]);
    call_end(&unknown);
    assert_null(h->std->watchers);
    hs_std_tick(h);
    for (size_t i = 0; i < 3; i++)
        call_clear(&w[i]);
    call_clear(&unknown);
    hs_std_free(h);
    assert_null(h->std);
    free(h);
}

/* on_send hooks: the send ends its own call, or another one. */
static void end_self(hs_call *c)
{
    call_end(c);
}

static void end_victim(hs_call *c)
{
    if (c->victim)
        call_end(c->victim);
}

static void test_watch_ended_during_tick(void **state)
{
    (void)state;
    struct rs_http *h = new_http();
    enum { N = 5 };
    hs_call w[N];
    for (size_t i = 0; i < N; i++) {
        call_init(&w[i], h, "/grpc.health.v1.Health/Watch");
        health_request(&w[i], "");
    }
    /* The list runs newest first: w[4], w[3], ... Sending to w[3] ends it
     * and w[2] (next on the list); sending to w[1] ends w[0] (its next). */
    w[3].on_send = end_victim;
    w[3].victim = &w[2];
    w[4].on_send = end_self;
    w[1].on_send = end_victim;
    w[1].victim = &w[0];
    unready = true;
    hs_std_tick(h);
    size_t want[N] = {1, 2, 1, 2, 2};
    for (size_t i = 0; i < N; i++)
        assert_int_equal(w[i].n_sent, want[i]);
    assert_true(w[4].over && w[2].over && w[0].over);
    assert_false(w[3].over || w[1].over);
    w[3].on_send = w[1].on_send = NULL;
    /* The two left still get changes. */
    unready = false;
    hs_std_tick(h);
    assert_int_equal(w[3].n_sent, 3);
    assert_int_equal(w[1].n_sent, 3);
    assert_null(h->std->cursor);

    /* hs_std_free with watchers still open: their on_done comes later. */
    hs_std_free(h);
    assert_null(h->std);
    hs_std_tick(h);
    call_end(&w[3]);
    call_end(&w[1]);
    for (size_t i = 0; i < N; i++)
        call_clear(&w[i]);

    /* After http_stop no state is made again. */
    h->stopped = true;
    hs_call late;
    call_init(&late, h, "/grpc.health.v1.Health/Watch");
    health_request(&late, "");
    assert_true(late.finished);
    assert_int_equal(late.status, RS_ERR_UNAVAILABLE);
    assert_null(h->std);
    free(h);
}

/* ---- reflection --------------------------------------------------------------------- */

static Grpc__Reflection__V1__ServerReflectionResponse *refl_ask(hs_call *c,
                                                                const refl_request *req)
{
    size_t before = c->n_sent;
    c->m->on_message(c, &req->base);
    assert_int_equal(c->n_sent, before + 1);
    Grpc__Reflection__V1__ServerReflectionResponse *r =
        grpc__reflection__v1__server_reflection_response__unpack(NULL, c->sent[before].len,
                                                                 c->sent[before].data);
    assert_non_null(r);
    assert_string_equal(r->valid_host, req->host);
    assert_non_null(r->original_request);
    assert_int_equal(r->original_request->message_request_case, req->message_request_case);
    return r;
}

static void refl_free(Grpc__Reflection__V1__ServerReflectionResponse *r)
{
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

#define RESP(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x
#define REQ(x)  GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x

static void expect_error(hs_call *c, const refl_request *req, int code)
{
    Grpc__Reflection__V1__ServerReflectionResponse *r = refl_ask(c, req);
    assert_int_equal(r->message_response_case, RESP(ERROR_RESPONSE));
    assert_int_equal(r->error_response->error_code, code);
    assert_true(strlen(r->error_response->error_message) > 0);
    refl_free(r);
}

/* The first file's name of a file_descriptor_response, and the count. */
static size_t expect_files(hs_call *c, const refl_request *req, const char *first)
{
    Grpc__Reflection__V1__ServerReflectionResponse *r = refl_ask(c, req);
    assert_int_equal(r->message_response_case, RESP(FILE_DESCRIPTOR_RESPONSE));
    size_t n = r->file_descriptor_response->n_file_descriptor_proto;
    assert_true(n >= 1);
    /* Each is one FileDescriptorProto: walk it as a one-file set. */
    ProtobufCBinaryData b = r->file_descriptor_response->file_descriptor_proto[0];
    wbuf set = {0};
    put_bytes(&set, 1, b.data, b.len);
    std_descs d;
    assert_int_equal(descs_parse(&d, set.b, set.n), DESCS_OK);
    assert_string_equal(file_name(&d, 0), first);
    descs_free(&d);
    refl_free(r);
    return n;
}

static void test_reflection(void **state)
{
    (void)state;
    struct rs_http *h = new_http();
    const char *paths[] = {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                           "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"};
    for (size_t p = 0; p < 2; p++) {
        hs_call c;
        call_init(&c, h, paths[p]);
        assert_true(c.m->needs_token);
        assert_int_equal(c.m->kind, HS_BIDI);
        refl_request req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
        req.host = "example:1";

        req.message_request_case = REQ(LIST_SERVICES);
        req.list_services = "";
        Grpc__Reflection__V1__ServerReflectionResponse *r = refl_ask(&c, &req);
        assert_int_equal(r->message_response_case, RESP(LIST_SERVICES_RESPONSE));
        assert_int_equal(r->list_services_response->n_service, 4);
        assert_string_equal(r->list_services_response->service[0]->name,
                            "readstates.v1.ReadStates");
        assert_string_equal(r->list_services_response->service[1]->name,
                            "grpc.health.v1.Health");
        refl_free(r);

        req.message_request_case = REQ(FILE_BY_FILENAME);
        req.file_by_filename = "readstates.proto";
        assert_int_equal(expect_files(&c, &req, "readstates.proto"), 1);
        req.file_by_filename = "no/such/file.proto";
        expect_error(&c, &req, RS_ERR_NOT_FOUND);

        req.message_request_case = REQ(FILE_CONTAINING_SYMBOL);
        req.file_containing_symbol = "readstates.v1.ReadStates.Ack";
        expect_files(&c, &req, "readstates.proto");
        req.file_containing_symbol = "grpc.health.v1.Health";
        expect_files(&c, &req, "grpc/health/v1/health.proto");
        req.file_containing_symbol = "no.such.Symbol";
        expect_error(&c, &req, RS_ERR_NOT_FOUND);

        Grpc__Reflection__V1__ExtensionRequest ext =
            GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
        ext.containing_type = "readstates.v1.Request";
        ext.extension_number = 100;
        req.message_request_case = REQ(FILE_CONTAINING_EXTENSION);
        req.file_containing_extension = &ext;
        expect_error(&c, &req, RS_ERR_NOT_FOUND);

        req.message_request_case = REQ(ALL_EXTENSION_NUMBERS_OF_TYPE);
        req.all_extension_numbers_of_type = "readstates.v1.Request";
        r = refl_ask(&c, &req);
        assert_int_equal(r->message_response_case, RESP(ALL_EXTENSION_NUMBERS_RESPONSE));
        assert_string_equal(r->all_extension_numbers_response->base_type_name,
                            "readstates.v1.Request");
        assert_int_equal(r->all_extension_numbers_response->n_extension_number, 0);
        refl_free(r);
        req.all_extension_numbers_of_type = "readstates.v1.ReadStates"; /* a service */
        expect_error(&c, &req, RS_ERR_NOT_FOUND);
        req.all_extension_numbers_of_type = "readstates.v1.Request.id";
        expect_error(&c, &req, RS_ERR_NOT_FOUND);

        req.message_request_case = REQ(_NOT_SET);
        expect_error(&c, &req, RS_ERR_INVALID);

        assert_false(c.over);
        c.m->on_end(&c);
        assert_true(c.finished);
        assert_int_equal(c.status, RS_OK);
        call_clear(&c);
    }
    hs_std_free(h);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_set), cmocka_unit_test(test_dependencies),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_health_check),
        cmocka_unit_test(test_health_watch), cmocka_unit_test(test_watch_ended_during_tick),
        cmocka_unit_test(test_reflection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
