/*
 * http_grpc_std.c: the standard gRPC services of the HTTP port, beside
 * readstates.v1.ReadStates. Only the methods live here (the hs_method rows
 * of hs_std_methods); http_stream.c runs the protocols around them.
 *
 * grpc.health.v1.Health, Check (unary) and Watch (server stream), no token
 *   needed. Two services are known, "" (the whole server) and
 *   readstates.v1.ReadStates: both are SERVING while the server is ready
 *   (http_unready says NULL, what /readyz answers) and NOT_SERVING while it
 *   is not. Check of another name fails NOT_FOUND; Watch of one sends
 *   SERVICE_UNKNOWN and stays open, as grpc's own servers do. Watch sends
 *   the status at once, then again whenever it changes: the watching calls
 *   sit on a list in h->std (struct hs_std, made on first need), and
 *   hs_std_tick, once a second, sends each watcher the status when it
 *   differs from what that watcher last got. A call leaves the list in its
 *   on_done. hs_send may end a call, and ending one call may end others
 *   (their connection went away), so the tick walks the list through
 *   std->cursor, which an unlink of the node it points at moves on.
 *
 * grpc.reflection.v1 and v1alpha ServerReflection/ServerReflectionInfo
 *   (one wire format: both use the v1 C types), bidirectional, token
 *   needed. Every request gets one response naming the request's host and
 *   echoing the request: list_services lists the four services; a file by
 *   name, or the file defining a symbol (pkg.Top for a top-level message,
 *   enum or service, or anything under one, pkg.Top.x), comes back as its
 *   serialized FileDescriptorProto followed by those of its dependencies,
 *   transitively (what grpc's servers send); all_extension_numbers_of_type
 *   of a known top-level message answers no numbers (proto3: none). Unknown
 *   names and every extension lookup answer ErrorResponse NOT_FOUND; a
 *   request with no case set, INVALID_ARGUMENT. The end of the client's
 *   side finishes the call OK.
 *
 * The descriptors: rs_descriptor_set, the FileDescriptorSet embedded at
 * build time. protobuf-c has no descriptor.proto types at run time, so a
 * small strict wire walker (pb_next: varints of at most 10 bytes, lengths
 * within what is left, fixed 32/64-bit fields skipped, groups and unknown
 * wire types refused) reads what reflection needs: the set's files (field
 * 1) and of each FileDescriptorProto its name (1), package (2),
 * dependencies (3) and the names (field 1) of its top-level messages (4),
 * enums (5) and services (6). A wrong wire type, a missing or empty file
 * name, a NUL in a name or a truncated field makes the whole set
 * malformed: a build bug, so nothing is logged and reflection answers as if
 * it had no files. The walk happens once, on the first lookup (descs_parse
 * counts, allocates exactly, then walks again to fill); what it keeps
 * points into rs_descriptor_set.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "http_rpc.h"
#include "http_stream.h"

/* The embedded FileDescriptorSet (generated descriptor_set.c). */
extern const unsigned char rs_descriptor_set[];
extern const size_t rs_descriptor_set_len;

/* ---- the wire walker ----------------------------------------------------------- */

typedef struct pb_span {
    const uint8_t *p;
    size_t n;
} pb_span;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };
#define PB_MAX_FIELD ((1u << 29) - 1)

typedef struct pb_field {
    uint32_t num;
    unsigned type;   /* PB_VARINT, PB_I64, PB_LEN or PB_I32 */
    uint64_t varint; /* PB_VARINT */
    pb_span bytes;   /* PB_LEN */
} pb_field;

/* Read a varint off the front of in. false: truncated or over 64 bits. */
static bool pb_varint(pb_span *in, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10 && i < in->n; i++) {
        uint8_t b = in->p[i];
        if (i == 9 && b > 1)
            return false;
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            in->p += i + 1;
            in->n -= i + 1;
            *v = x;
            return true;
        }
    }
    return false;
}

/* Take n bytes off the front of in (into *out when not NULL). */
static bool pb_take(pb_span *in, uint64_t n, pb_span *out)
{
    if (n > in->n)
        return false;
    if (out) {
        out->p = in->p;
        out->n = (size_t)n;
    }
    in->p += n;
    in->n -= (size_t)n;
    return true;
}

/* The next field of in into *f: 1, 0 at the end of in, -1 malformed. */
static int pb_next(pb_span *in, pb_field *f)
{
    uint64_t key, len;
    if (in->n == 0)
        return 0;
    if (!pb_varint(in, &key) || key >> 3 == 0 || key >> 3 > PB_MAX_FIELD)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->type = (unsigned)(key & 7);
    switch (f->type) {
    case PB_VARINT: return pb_varint(in, &f->varint) ? 1 : -1;
    case PB_I64: return pb_take(in, 8, NULL) ? 1 : -1;
    case PB_I32: return pb_take(in, 4, NULL) ? 1 : -1;
    case PB_LEN: return pb_varint(in, &len) && pb_take(in, len, &f->bytes) ? 1 : -1;
    default: return -1; /* groups (3, 4) and 6, 7: not in descriptor.proto */
    }
}

/* A name we keep: non-empty, no NUL (compared and printed as text). */
static bool pb_is_name(pb_span s)
{
    return s.n > 0 && memchr(s.p, 0, s.n) == NULL;
}

static bool pb_span_is(pb_span s, const char *text, size_t len)
{
    return s.n == len && memcmp(s.p, text, len) == 0;
}

/* The name (field 1) of a DescriptorProto, EnumDescriptorProto or
 * ServiceDescriptorProto. false: malformed or nameless. */
static bool pb_name_of(pb_span msg, pb_span *name)
{
    pb_field f;
    int rc;
    bool have = false;
    while ((rc = pb_next(&msg, &f)) > 0) {
        if (f.num != 1)
            continue;
        if (f.type != PB_LEN || !pb_is_name(f.bytes))
            return false;
        *name = f.bytes;
        have = true;
    }
    return rc == 0 && have;
}

/* ---- the descriptor set --------------------------------------------------------- */

typedef enum std_sym_kind { SYM_MESSAGE, SYM_ENUM, SYM_SERVICE } std_sym_kind;

typedef struct std_sym {
    pb_span name; /* unqualified: "ReadStates" */
    size_t file;  /* index in files */
    std_sym_kind kind;
} std_sym;

typedef struct std_file {
    pb_span bytes; /* the serialized FileDescriptorProto */
    pb_span name, package;
    size_t dep0, n_deps; /* in deps */
} std_file;

typedef struct std_descs {
    std_file *files;
    size_t n_files, cap_files;
    pb_span *deps; /* dependency file names */
    size_t n_deps, cap_deps;
    std_sym *syms;
    size_t n_syms, cap_syms;
    /* Scratch for one answer, n_files each: a file and its dependencies. */
    size_t *order;
    ProtobufCBinaryData *blobs;
} std_descs;

static void descs_free(std_descs *d)
{
    free(d->files);
    free(d->deps);
    free(d->syms);
    free(d->order);
    free(d->blobs);
    memset(d, 0, sizeof(*d));
}

/* Count one dependency, and keep it once d->deps is allocated. */
static bool descs_add_dep(std_descs *d, pb_span name)
{
    if (d->deps) {
        if (d->n_deps >= d->cap_deps)
            return false;
        d->deps[d->n_deps] = name;
    }
    d->n_deps++;
    return true;
}

/* Count one top-level definition (field 4, 5 or 6) of file number `file`,
 * and keep it once d->syms is allocated. */
static bool descs_add_sym(std_descs *d, pb_span def, uint32_t field, size_t file)
{
    pb_span name;
    if (!pb_name_of(def, &name))
        return false;
    if (d->syms) {
        if (d->n_syms >= d->cap_syms)
            return false;
        d->syms[d->n_syms] = (std_sym){.name = name,
                                       .file = file,
                                       .kind = field == 4   ? SYM_MESSAGE
                                               : field == 5 ? SYM_ENUM
                                                            : SYM_SERVICE};
    }
    d->n_syms++;
    return true;
}

/* One FileDescriptorProto's fields 1 to 6. */
static bool descs_file_field(std_descs *d, std_file *file, const pb_field *f)
{
    if (f->type != PB_LEN)
        return false;
    switch (f->num) {
    case 1: file->name = f->bytes; return pb_is_name(f->bytes);
    case 2: file->package = f->bytes; return f->bytes.n == 0 || pb_is_name(f->bytes);
    case 3: return pb_is_name(f->bytes) && descs_add_dep(d, f->bytes);
    default: return descs_add_sym(d, f->bytes, f->num, d->n_files);
    }
}

/* Walk one FileDescriptorProto into d (or count it). */
static bool descs_file(std_descs *d, pb_span bytes)
{
    std_file file = {.bytes = bytes, .dep0 = d->n_deps};
    pb_span in = bytes;
    pb_field f;
    int rc;
    while ((rc = pb_next(&in, &f)) > 0) {
        if (f.num >= 1 && f.num <= 6 && !descs_file_field(d, &file, &f))
            return false;
    }
    if (rc < 0 || file.name.n == 0)
        return false;
    file.n_deps = d->n_deps - file.dep0;
    if (d->files) {
        if (d->n_files >= d->cap_files)
            return false;
        d->files[d->n_files] = file;
    }
    d->n_files++;
    return true;
}

/* Walk the whole set: with d's arrays NULL it only counts. */
static bool descs_walk(std_descs *d, pb_span set)
{
    pb_field f;
    int rc;
    d->n_files = d->n_deps = d->n_syms = 0;
    while ((rc = pb_next(&set, &f)) > 0) {
        if (f.num == 1 && (f.type != PB_LEN || !descs_file(d, f.bytes)))
            return false;
    }
    return rc == 0;
}

typedef enum descs_result { DESCS_OK, DESCS_MALFORMED, DESCS_NO_MEMORY } descs_result;

/* Read a FileDescriptorSet: count, allocate exactly, fill. Unless OK, d is
 * left empty. */
static descs_result descs_parse(std_descs *d, const uint8_t *set, size_t len)
{
    pb_span whole = {set, len};
    memset(d, 0, sizeof(*d));
    if (!descs_walk(d, whole)) {
        descs_free(d);
        return DESCS_MALFORMED;
    }
    d->cap_files = d->n_files;
    d->cap_deps = d->n_deps;
    d->cap_syms = d->n_syms;
    /* + 1: a non-NULL array even when there is nothing to hold. */
    d->files = calloc(d->cap_files + 1, sizeof(*d->files));
    d->deps = calloc(d->cap_deps + 1, sizeof(*d->deps));
    d->syms = calloc(d->cap_syms + 1, sizeof(*d->syms));
    d->order = calloc(d->cap_files + 1, sizeof(*d->order));
    d->blobs = calloc(d->cap_files + 1, sizeof(*d->blobs));
    if (!d->files || !d->deps || !d->syms || !d->order || !d->blobs) {
        descs_free(d);
        return DESCS_NO_MEMORY;
    }
    if (!descs_walk(d, whole)) { /* cannot differ from the count; still checked */
        descs_free(d);
        return DESCS_MALFORMED;
    }
    return DESCS_OK;
}

/* The file named name, or -1. */
static long descs_file_named(const std_descs *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->n_files; i++) {
        if (pb_span_is(d->files[i].name, name, len))
            return (long)i;
    }
    return -1;
}

/* Does name (len bytes) name sym as pkg.Name, or (unless exact) something
 * under it, pkg.Name.x? */
static bool descs_sym_covers(const std_descs *d, const std_sym *sym, const char *name,
                             size_t len, bool exact)
{
    pb_span pkg = d->files[sym->file].package;
    size_t at = 0;
    if (pkg.n > 0) {
        if (len <= pkg.n || memcmp(name, pkg.p, pkg.n) != 0 || name[pkg.n] != '.')
            return false;
        at = pkg.n + 1;
    }
    if (len - at < sym->name.n || memcmp(name + at, sym->name.p, sym->name.n) != 0)
        return false;
    at += sym->name.n;
    return at == len || (!exact && name[at] == '.');
}

/* The symbol name stands for (exactly, or something under it), or NULL. */
static const std_sym *descs_symbol(const std_descs *d, const char *name, bool exact)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < d->n_syms; i++) {
        if (descs_sym_covers(d, &d->syms[i], name, len, exact))
            return &d->syms[i];
    }
    return NULL;
}

/* File `file` then its dependencies, transitively, each once (a dependency
 * not in the set is left out): into d->order and d->blobs. The count. */
static size_t descs_closure(std_descs *d, size_t file)
{
    size_t n = 0;
    if (file >= d->n_files)
        return 0;
    d->order[n++] = file;
    for (size_t i = 0; i < n; i++) {
        const std_file *f = &d->files[d->order[i]];
        for (size_t k = 0; k < f->n_deps && f->dep0 + k < d->n_deps; k++) {
            pb_span dep = d->deps[f->dep0 + k];
            long j = descs_file_named(d, (const char *)dep.p, dep.n);
            bool skip = j < 0; /* not in the set, or already listed */
            for (size_t m = 0; m < n && !skip; m++)
                skip = d->order[m] == (size_t)j;
            if (!skip && n < d->n_files)
                d->order[n++] = (size_t)j;
        }
    }
    for (size_t i = 0; i < n; i++) {
        pb_span b = d->files[d->order[i]].bytes;
        /* protobuf-c's fields are not const; packing only reads them. */
        d->blobs[i] = (ProtobufCBinaryData){.len = b.n, .data = (uint8_t *)b.p};
    }
    return n;
}

/* ---- the state on h ------------------------------------------------------------- */

typedef struct std_watch std_watch;

struct hs_std {
    std_watch *watchers; /* Health/Watch calls of a known service */
    std_watch *cursor;   /* hs_std_tick's next watcher */
    std_descs descs;
    bool descs_read; /* descs_parse ran (descs empty: malformed set) */
};

struct std_watch {
    struct hs_std *std; /* NULL once hs_std_free ran */
    hs_call *call;
    Grpc__Health__V1__HealthCheckResponse__ServingStatus last; /* last sent */
    std_watch *prev, *next;
};

/* h->std, made on first need; NULL when out of memory or stopping (a
 * state made after http_stop would never be freed). */
static struct hs_std *std_get(struct rs_http *h)
{
    if (!h->std && !h->stopped)
        h->std = calloc(1, sizeof(*h->std));
    return h->std;
}

/* The descriptor set, read on first need (a malformed one stays empty);
 * NULL when it cannot be had now. */
static std_descs *std_descs_get(struct rs_http *h)
{
    struct hs_std *std = std_get(h);
    if (!std)
        return NULL;
    if (!std->descs_read) /* out of memory: try again next time */
        std->descs_read = descs_parse(&std->descs, rs_descriptor_set, rs_descriptor_set_len) !=
                          DESCS_NO_MEMORY;
    return std->descs_read ? &std->descs : NULL;
}

static void watch_link(struct hs_std *std, std_watch *w)
{
    w->std = std;
    w->prev = NULL;
    w->next = std->watchers;
    if (std->watchers)
        std->watchers->prev = w;
    std->watchers = w;
}

static void watch_unlink(std_watch *w)
{
    struct hs_std *std = w->std;
    if (!std)
        return;
    if (std->cursor == w)
        std->cursor = w->next;
    if (w->prev)
        w->prev->next = w->next;
    else
        std->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->std = NULL;
}

void hs_std_free(struct rs_http *h)
{
    struct hs_std *std = h->std;
    if (!std)
        return;
    /* Calls still open end later: their on_done must not reach std. */
    while (std->watchers)
        watch_unlink(std->watchers);
    descs_free(&std->descs);
    free(std);
    h->std = NULL;
}

/* ---- grpc.health.v1.Health ------------------------------------------------------- */

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus health_status;

#define HEALTH_SERVING     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define HEALTH_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define HEALTH_SERVICE_UNKNOWN                                                                 \
    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

static bool health_known(const char *service)
{
    return strcmp(service, "") == 0 || strcmp(service, "readstates.v1.ReadStates") == 0;
}

static health_status health_now(struct rs_http *h)
{
    char why[256];
    return http_unready(h, why, sizeof(why)) ? HEALTH_NOT_SERVING : HEALTH_SERVING;
}

static bool health_send(hs_call *c, health_status status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = status;
    return hs_send(c, &resp.base);
}

static void health_check(hs_call *c, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    if (!health_known(req->service)) {
        char text[200];
        snprintf(text, sizeof(text), "unknown service %.160s", req->service);
        hs_finish(c, RS_ERR_NOT_FOUND, text);
        return;
    }
    if (health_send(c, health_now(hs_http(c))))
        hs_finish(c, RS_OK, NULL);
}

static void health_watch(hs_call *c, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    struct rs_http *h = hs_http(c);
    if (!health_known(req->service)) {
        health_send(c, HEALTH_SERVICE_UNKNOWN); /* and it never changes */
        return;
    }
    struct hs_std *std = std_get(h);
    std_watch *w = std ? calloc(1, sizeof(*w)) : NULL;
    if (!w) {
        hs_finish(c, h->stopped ? RS_ERR_UNAVAILABLE : RS_ERR_EXHAUSTED,
                  h->stopped ? "server stopping" : "out of memory");
        return;
    }
    /* On the list before the send: a send that ends the call runs
     * watch_done, which takes it off again. */
    w->call = c;
    w->last = health_now(h);
    watch_link(std, w);
    *hs_state(c) = w;
    health_send(c, w->last);
}

static void watch_done(hs_call *c)
{
    std_watch *w = *hs_state(c);
    if (!w)
        return;
    *hs_state(c) = NULL;
    watch_unlink(w);
    free(w);
}

void hs_std_tick(struct rs_http *h)
{
    struct hs_std *std = h->std;
    if (!std || !std->watchers)
        return;
    health_status now = health_now(h);
    for (std_watch *w = std->watchers; w; w = std->cursor) {
        /* The send may end this call or others (watch_unlink moves the
         * cursor past a watcher it takes off). */
        std->cursor = w->next;
        if (w->last != now && !hs_over(w->call)) {
            w->last = now;
            health_send(w->call, now);
        }
    }
    std->cursor = NULL;
}

/* ---- grpc.reflection ServerReflectionInfo ---------------------------------------- */

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;

/* What refl_message's case handlers fill: every part of one response. */
typedef struct refl_answer {
    Grpc__Reflection__V1__ServerReflectionResponse resp;
    Grpc__Reflection__V1__FileDescriptorResponse files;
    Grpc__Reflection__V1__ExtensionNumberResponse numbers;
    Grpc__Reflection__V1__ListServiceResponse list;
    Grpc__Reflection__V1__ServiceResponse services[4];
    Grpc__Reflection__V1__ServiceResponse *service_ptrs[4];
    Grpc__Reflection__V1__ErrorResponse error;
    char error_text[256];
} refl_answer;

static const char *const refl_service_names[4] = {
    "readstates.v1.ReadStates",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
};

static void refl_error(refl_answer *a, rs_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refl_error(refl_answer *a, rs_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error_text, sizeof(a->error_text), fmt, ap);
    va_end(ap);
    a->error = (Grpc__Reflection__V1__ErrorResponse)GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    a->error.error_code = (int32_t)code;
    a->error.error_message = a->error_text;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    a->resp.error_response = &a->error;
}

static void refl_list(refl_answer *a)
{
    a->list = (Grpc__Reflection__V1__ListServiceResponse)
        GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    for (size_t i = 0; i < RS_ARRAY_LEN(refl_service_names); i++) {
        a->services[i] =
            (Grpc__Reflection__V1__ServiceResponse)GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
        /* Not const in protobuf-c; packing only reads it. */
        a->services[i].name = (char *)refl_service_names[i];
        a->service_ptrs[i] = &a->services[i];
    }
    a->list.n_service = RS_ARRAY_LEN(refl_service_names);
    a->list.service = a->service_ptrs;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    a->resp.list_services_response = &a->list;
}

/* File `file` (-1: none) and its dependencies, or NOT_FOUND. */
static void refl_file(refl_answer *a, std_descs *d, long file, const char *what,
                      const char *name)
{
    size_t n = d && file >= 0 ? descs_closure(d, (size_t)file) : 0;
    if (n == 0) {
        refl_error(a, RS_ERR_NOT_FOUND, "%s not found: %.200s", what, name);
        return;
    }
    a->files = (Grpc__Reflection__V1__FileDescriptorResponse)
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    a->files.n_file_descriptor_proto = n;
    a->files.file_descriptor_proto = d->blobs;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    a->resp.file_descriptor_response = &a->files;
}

static void refl_by_filename(refl_answer *a, std_descs *d, const char *name)
{
    long file = d ? descs_file_named(d, name, strlen(name)) : -1;
    refl_file(a, d, file, "file", name);
}

static void refl_by_symbol(refl_answer *a, std_descs *d, const char *name)
{
    const std_sym *sym = d ? descs_symbol(d, name, false) : NULL;
    refl_file(a, d, sym ? (long)sym->file : -1, "symbol", name);
}

static void refl_extension_numbers(refl_answer *a, std_descs *d, char *type)
{
    const std_sym *sym = d ? descs_symbol(d, type, true) : NULL;
    if (!sym || sym->kind != SYM_MESSAGE) {
        refl_error(a, RS_ERR_NOT_FOUND, "message type not found: %.200s", type);
        return;
    }
    a->numbers = (Grpc__Reflection__V1__ExtensionNumberResponse)
        GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
    a->numbers.base_type_name = type;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    a->resp.all_extension_numbers_response = &a->numbers;
}

/* No file declares extensions (proto3): every lookup is NOT_FOUND. */
static void refl_no_extension(refl_answer *a, const Grpc__Reflection__V1__ExtensionRequest *ext)
{
    refl_error(a, RS_ERR_NOT_FOUND, "extension not found: %d of %.200s",
               ext ? (int)ext->extension_number : 0, ext ? ext->containing_type : "");
}

/* Fill a's response for req by its case. */
static void refl_answer_case(refl_answer *a, struct rs_http *h, const refl_request *req)
{
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        refl_list(a);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        refl_by_filename(a, std_descs_get(h), req->file_by_filename);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        refl_by_symbol(a, std_descs_get(h), req->file_containing_symbol);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        refl_no_extension(a, req->file_containing_extension);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        refl_extension_numbers(a, std_descs_get(h), req->all_extension_numbers_of_type);
        break;
    default: refl_error(a, RS_ERR_INVALID, "no request set"); break;
    }
}

static void refl_message(hs_call *c, const ProtobufCMessage *msg)
{
    const refl_request *req = (const void *)msg;
    /* A shallow copy: the response's field is not const. */
    refl_request original = *req;
    refl_answer a;
    a.resp = (Grpc__Reflection__V1__ServerReflectionResponse)
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    a.resp.valid_host = req->host;
    a.resp.original_request = &original;
    refl_answer_case(&a, hs_http(c), req);
    hs_send(c, &a.resp.base);
}

static void refl_end(hs_call *c)
{
    if (!hs_over(c))
        hs_finish(c, RS_OK, NULL);
}

/* ---- the rows ------------------------------------------------------------------ */

const hs_method hs_std_methods[] = {
    {
        .path = "/grpc.health.v1.Health/Check",
        .in = &grpc__health__v1__health_check_request__descriptor,
        .out = &grpc__health__v1__health_check_response__descriptor,
        .kind = HS_UNARY,
        .needs_token = false,
        .on_message = health_check,
    },
    {
        .path = "/grpc.health.v1.Health/Watch",
        .in = &grpc__health__v1__health_check_request__descriptor,
        .out = &grpc__health__v1__health_check_response__descriptor,
        .kind = HS_SERVER_STREAM,
        .needs_token = false,
        .on_message = health_watch,
        .on_done = watch_done,
    },
    {
        .path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        .in = &grpc__reflection__v1__server_reflection_request__descriptor,
        .out = &grpc__reflection__v1__server_reflection_response__descriptor,
        .kind = HS_BIDI,
        .needs_token = true,
        .on_message = refl_message,
        .on_end = refl_end,
    },
    {
        .path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        .in = &grpc__reflection__v1__server_reflection_request__descriptor,
        .out = &grpc__reflection__v1__server_reflection_response__descriptor,
        .kind = HS_BIDI,
        .needs_token = true,
        .on_message = refl_message,
        .on_end = refl_end,
    },
};

const size_t hs_std_methods_len = RS_ARRAY_LEN(hs_std_methods);
