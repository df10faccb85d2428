/*
 * json_codec.c: proto3 JSON <-> protobuf-c messages, generically.
 *
 * Both directions walk desc->fields. A field's storage is found the way
 * protobuf-c itself finds it:
 *
 *   message base ─+─ offset ──────────────> value | pointer to array
 *                 └─ quantifier_offset ───> has_ flag (optional) | n_ count
 *                                           (repeated) | oneof case (oneof)
 *
 * Decoding builds the message with malloc in exactly the layout that
 * protobuf_c_message_unpack() produces, so protobuf_c_message_free_unpacked()
 * frees it, also half-built after an error: a repeated field's count only
 * ever covers fully built elements, and a oneof case is set together with
 * its member.
 *
 * 64-bit integers as JSON numbers: jansson reads an integer literal as a
 * long long and refuses the whole document when one does not fit, yet
 * proto3 JSON lets a uint64 be any number up to 2^64-1. So before jansson
 * sees the text, jc_mark_big copies it with every integer literal outside
 * int64 written as a string that starts with a marker: a control character
 * no escape in this document produces, so no string of the document itself
 * starts with it. The integer and floating-point readers take a marked
 * string as the number it was (range-checked as usual); every other field
 * kind refuses it, as it refuses any number.
 */
#include "json_codec.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc_wire.h"

#define JC_NAME_MAX 128

typedef struct jc_err {
    char *buf;
    size_t len;
    char mark; /* marks big integer literals (see above); 0: none in the text */
} jc_err;

static void jc_fail(jc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jc_fail(jc_err *e, const char *fmt, ...)
{
    if (e->buf == NULL || e->len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
}

#define JC_MEMBER(type, msg, off) (*(type *)(void *)((char *)(msg) + (off)))

int json_codec_field_name(const char *proto_name, char *out, size_t outlen)
{
    size_t o = 0;
    bool upper = false;
    for (const char *p = proto_name; *p; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        if (o + 1 >= outlen)
            return -1;
        char c = *p;
        if (upper && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        upper = false;
        out[o++] = c;
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return 0;
}

/* ---- base64 ------------------------------------------------------------ */

/* Encoding is the standard padded alphabet the gRPC-Web text body uses
 * too: one implementation, grpc_wire.c's. Decoding stays here: proto3 JSON
 * also takes the URL-safe alphabet and missing padding. */
static char *jc_b64_encode(const uint8_t *d, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (out != NULL)
        grpc_base64_encode(d, n, out);
    return out;
}

static int jc_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode standard or URL-safe base64, padding optional. Returns 0 and a
 * malloc'd buffer (NULL when empty), or -1 on bad input. */
static int jc_b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    *out = NULL;
    *outlen = 0;
    if (n == 0)
        return 0;
    uint8_t *buf = malloc(n * 3 / 4 + 1);
    if (buf == NULL)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = jc_b64_value(s[i]);
        if (v < 0) {
            free(buf);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *outlen = o;
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

static json_t *jc_encode_message(const ProtobufCMessage *msg, int depth);

static json_t *jc_encode_value(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    char num[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)p);
        return json_string(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)p);
        return json_string(num);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        if (isnan(d))
            return json_string("NaN");
        if (isinf(d))
            return json_string(d > 0 ? "Infinity" : "-Infinity");
        return json_real(d);
    }
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        char *b = jc_b64_encode(bd->data, bd->len);
        json_t *j = b != NULL ? json_string(b) : NULL;
        free(b);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub != NULL ? jc_encode_message(sub, depth + 1) : json_object();
    }
    }
    return NULL;
}

static size_t jc_elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return sizeof(uint32_t);
    }
}

/* Whether a singular proto3 field (no presence) holds its default. */
static bool jc_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL: return *(const protobuf_c_boolean *)p == 0;
    case PROTOBUF_C_TYPE_FLOAT: return *(const float *)p == 0 && !signbit(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return *(const double *)p == 0 && !signbit(*(const double *)p);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s == NULL || *s == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p == NULL;
    default: break;
    }
    size_t sz = jc_elem_size(f);
    return sz == 8 ? *(const uint64_t *)p == 0 : *(const uint32_t *)p == 0;
}

/* Whether field f of msg is written at all. */
static bool jc_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *p = (const char *)msg + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return JC_MEMBER(uint32_t, msg, f->quantifier_offset) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED: return true;
    case PROTOBUF_C_LABEL_REPEATED: return JC_MEMBER(size_t, msg, f->quantifier_offset) > 0;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
            return *(void *const *)p != NULL;
        return JC_MEMBER(protobuf_c_boolean, msg, f->quantifier_offset) != 0;
    case PROTOBUF_C_LABEL_NONE:
    default: return !jc_is_default(f, p);
    }
}

static json_t *jc_encode_message(const ProtobufCMessage *msg, int depth)
{
    if (depth > JSON_CODEC_MAX_DEPTH)
        return NULL;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!jc_present(msg, f))
            continue;
        char name[JC_NAME_MAX];
        if (json_codec_field_name(f->name, name, sizeof(name)) != 0)
            goto fail;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = JC_MEMBER(size_t, msg, f->quantifier_offset);
            const char *arr = JC_MEMBER(const char *, msg, f->offset);
            size_t sz = jc_elem_size(f);
            v = json_array();
            for (size_t k = 0; v != NULL && k < n; k++)
                if (json_array_append_new(v, jc_encode_value(f, arr + k * sz, depth)) != 0) {
                    json_decref(v);
                    v = NULL;
                }
        } else {
            v = jc_encode_value(f, (const char *)msg + f->offset, depth);
        }
        if (json_object_set_new(obj, name, v) != 0)
            goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

char *json_codec_encode(const ProtobufCMessage *msg, size_t *len)
{
    json_t *j = jc_encode_message(msg, 0);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s != NULL && len != NULL)
        *len = strlen(s);
    return s;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct jc_range {
    bool is_signed;
    int64_t min;
    uint64_t max;
} jc_range;

/* ---- integer literals past int64 -------------------------------------------- */

/* Is [p, p + n) an integer literal (-?(0|[1-9][0-9]*)) outside int64? */
static bool jc_big_literal(const char *p, size_t n)
{
    bool neg = n > 0 && p[0] == '-';
    const char *d = p + neg;
    size_t nd = n - neg;
    if (nd == 0 || (d[0] == '0' && nd > 1))
        return false;
    for (size_t i = 0; i < nd; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    if (nd != 19)
        return nd > 19;
    return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

static int jc_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One pass over JSON text: counts the big integer literals outside strings
 * and sets bit c of *escapes for every \u00XX escape of a control
 * character c; with out, also writes the text with each big literal as
 * "\u00MM<literal>" (MM = mark) and returns its length in *outlen. Bytes
 * that are not JSON are copied as they are (jansson refuses them later). */
static size_t jc_scan_big(const char *t, size_t len, uint32_t *escapes, char mark, char *out,
                          size_t *outlen)
{
    size_t nbig = 0, o = 0;
    for (size_t i = 0; i < len;) {
        if (t[i] == '"') { /* a string: up to its closing quote */
            size_t j = i + 1;
            while (j < len && t[j] != '"') {
                if (t[j] == '\\' && j + 5 < len && t[j + 1] == 'u' && t[j + 2] == '0' &&
                    t[j + 3] == '0' && jc_hex(t[j + 4]) >= 0 && jc_hex(t[j + 4]) < 2 &&
                    jc_hex(t[j + 5]) >= 0)
                    *escapes |= 1u << (jc_hex(t[j + 4]) * 16 + jc_hex(t[j + 5]));
                j += t[j] == '\\' ? 2 : 1;
            }
            j = j < len ? j + 1 : len;
            if (out != NULL)
                memcpy(out + o, t + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        size_t j = i + 1;
        if (t[i] == '-' || (t[i] >= '0' && t[i] <= '9')) /* a number: its whole token */
            while (j < len && ((t[j] >= '0' && t[j] <= '9') || t[j] == '.' || t[j] == 'e' ||
                               t[j] == 'E' || t[j] == '+' || t[j] == '-'))
                j++;
        if (j - i > 1 && jc_big_literal(t + i, j - i)) {
            nbig++;
            if (out != NULL) {
                snprintf(out + o, 8, "\"\\u%04x", (unsigned)(unsigned char)mark);
                memcpy(out + o + 7, t + i, j - i);
                out[o + 7 + (j - i)] = '"';
            }
            o += 8 + (j - i);
        } else {
            if (out != NULL)
                memcpy(out + o, t + i, j - i);
            o += j - i;
        }
        i = j;
    }
    if (outlen != NULL)
        *outlen = o;
    return nbig;
}

/* The text jansson should parse: text itself (*copy NULL, e->mark 0) when no
 * integer literal lies outside int64, else a copy with those marked (*copy,
 * to be freed; e->mark set). Returns -1 when out of memory. When every
 * marker candidate is taken (the document escapes them all) the literals
 * are left as they are, and jansson refuses them as before. */
static int jc_mark_big(const char *text, size_t len, jc_err *e, char **copy, size_t *copylen)
{
    /* control characters no short escape (\b \t \n \f \r) produces */
    static const char candidates[] = "\x1f\x1e\x1d\x1c\x1b\x1a\x19\x18\x17\x16\x15\x14\x13"
                                     "\x12\x11\x10\x0f\x0e\x0b\x07\x06\x05\x04\x03\x02\x01";
    uint32_t escapes = 0;
    *copy = NULL;
    e->mark = 0;
    if (jc_scan_big(text, len, &escapes, 0, NULL, copylen) == 0)
        return 0;
    for (const char *c = candidates; *c != '\0' && e->mark == 0; c++)
        if ((escapes & (1u << *c)) == 0)
            e->mark = *c;
    if (e->mark == 0)
        return 0;
    *copy = malloc(*copylen + 1);
    if (*copy == NULL)
        return -1;
    jc_scan_big(text, len, &escapes, e->mark, *copy, copylen);
    return 0;
}

/* Is j a string jc_mark_big made of a big integer literal? */
static bool jc_marked(const jc_err *e, const json_t *j)
{
    return e->mark != 0 && json_is_string(j) && json_string_value(j)[0] == e->mark;
}

static jc_range jc_int_range(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: return (jc_range){true, INT32_MIN, INT32_MAX};
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return (jc_range){false, 0, UINT32_MAX};
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return (jc_range){true, INT64_MIN, INT64_MAX};
    default: return (jc_range){false, 0, UINT64_MAX};
    }
}

/* An integer from a JSON number or decimal string, range-checked. The
 * result is stored as u (unsigned types) or s (signed types). */
static int jc_integer(const jc_err *e, const json_t *j, ProtobufCType t, int64_t *s,
                      uint64_t *u)
{
    jc_range r = jc_int_range(t);
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (r.is_signed) {
            if (v < r.min || (v > 0 && (uint64_t)v > r.max))
                return -1;
            *s = v;
        } else {
            if (v < 0 || (uint64_t)v > r.max)
                return -1;
            *u = (uint64_t)v;
        }
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!isfinite(d) || d != floor(d))
            return -1;
        if (r.is_signed) {
            if (d < (double)r.min || d >= 9223372036854775808.0 || d > (double)r.max)
                return -1;
            *s = (int64_t)d;
        } else {
            if (d < 0 || d >= 18446744073709551616.0 || d > (double)r.max)
                return -1;
            *u = (uint64_t)d;
        }
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const char *str = json_string_value(j);
    size_t n = json_string_length(j);
    if (jc_marked(e, j)) { /* a number literal past int64: read like its string */
        str++;
        n--;
    }
    if (n == 0 || n > 24 || strlen(str) != n)
        return -1;
    const char *digits = str[0] == '-' ? str + 1 : str;
    if (*digits < '0' || *digits > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    if (r.is_signed) {
        long long v = strtoll(str, &end, 10);
        if (errno != 0 || *end != '\0' || v < r.min || (v > 0 && (uint64_t)v > r.max))
            return -1;
        *s = v;
    } else {
        if (str[0] == '-')
            return -1;
        unsigned long long v = strtoull(str, &end, 10);
        if (errno != 0 || *end != '\0' || v > r.max)
            return -1;
        *u = v;
    }
    return 0;
}

static int jc_double(const jc_err *e, const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    const char *s = json_string_value(j) + (jc_marked(e, j) ? 1 : 0);
    if (strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else {
        char *end = NULL;
        errno = 0;
        *out = strtod(s, &end);
        if (*s == '\0' || errno != 0 || *end != '\0' || !isfinite(*out))
            return -1;
    }
    return 0;
}

static ProtobufCMessage *jc_decode_object(const ProtobufCMessageDescriptor *d,
                                          const json_t *obj, int depth, jc_err *e);

/* Decode one value of field f into p (an element or the singular slot). */
/* An integer or floating-point field. Returns 0, or -1 for a bad value
 * (not yet reported). */
static int jc_decode_number(const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                            jc_err *e)
{
    int64_t s = 0;
    uint64_t u = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double dv;
        if (jc_double(e, j, &dv) != 0)
            return -1;
        if (f->type == PROTOBUF_C_TYPE_DOUBLE)
            *(double *)p = dv;
        else if (isfinite(dv) && (dv > FLT_MAX || dv < -FLT_MAX))
            return -1; /* finite but out of float's range */
        else
            *(float *)p = (float)dv;
        return 0;
    }
    default: break;
    }
    if (jc_integer(e, j, f->type, &s, &u) != 0)
        return -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: *(int32_t *)p = (int32_t)s; return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: *(uint32_t *)p = (uint32_t)u; return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: *(int64_t *)p = s; return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: *(uint64_t *)p = u; return 0;
    default: return -1;
    }
}

/* A field given as text: an enum (by name, or its number), a string, bytes
 * (base64). Returns 0, -1 for a bad value (not yet reported), -2 when out
 * of memory. */
static int jc_decode_text(const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                          jc_err *e)
{
    if (f->type == PROTOBUF_C_TYPE_ENUM) {
        if (jc_marked(e, j))
            return -1;
        if (json_is_string(j)) {
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
                f->descriptor, json_string_value(j));
            if (ev == NULL)
                return -1;
            *(int *)p = ev->value;
            return 0;
        }
        int64_t s = 0;
        uint64_t u = 0;
        if (jc_integer(e, j, f->type, &s, &u) != 0)
            return -1;
        *(int *)p = (int)s;
        return 0;
    }
    if (!json_is_string(j) || jc_marked(e, j))
        return -1;
    if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *bd = p;
        return jc_b64_decode(json_string_value(j), json_string_length(j), &bd->data, &bd->len);
    }
    size_t n = json_string_length(j);
    char *str = malloc(n + 1);
    if (str == NULL)
        return -2;
    memcpy(str, json_string_value(j), n + 1);
    *(char **)p = str;
    return 0;
}

static int jc_decode_value(const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                           int depth, jc_err *e)
{
    int rc = -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_BOOL:
        if (json_is_boolean(j)) {
            *(protobuf_c_boolean *)p = json_is_true(j);
            rc = 0;
        }
        break;
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: rc = jc_decode_text(f, j, p, e); break;
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (!json_is_object(j))
            break;
        ProtobufCMessage *sub = jc_decode_object(f->descriptor, j, depth + 1, e);
        if (sub == NULL)
            return -1; /* reported inside */
        *(ProtobufCMessage **)p = sub;
        return 0;
    }
    default: rc = jc_decode_number(f, j, p, e); break;
    }
    if (rc == -2)
        jc_fail(e, "out of memory");
    else if (rc != 0)
        jc_fail(e, "invalid value for field %s", f->name);
    return rc == 0 ? 0 : -1;
}

static int jc_decode_repeated(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                              const json_t *arr, int depth, jc_err *e)
{
    if (!json_is_array(arr)) {
        jc_fail(e, "field %s must be an array", f->name);
        return -1;
    }
    size_t n = json_array_size(arr);
    if (n == 0)
        return 0;
    size_t sz = jc_elem_size(f);
    char *buf = calloc(n, sz);
    if (buf == NULL) {
        jc_fail(e, "out of memory");
        return -1;
    }
    JC_MEMBER(char *, msg, f->offset) = buf;
    size_t *count = &JC_MEMBER(size_t, msg, f->quantifier_offset);
    for (size_t k = 0; k < n; k++) {
        const json_t *item = json_array_get(arr, k);
        if (json_is_null(item)) {
            jc_fail(e, "field %s: null in a list", f->name);
            return -1;
        }
        if (jc_decode_value(f, item, buf + k * sz, depth, e) != 0)
            return -1;
        *count = k + 1;
    }
    return 0;
}

/* The field's JSON value: by its JSON name or its proto name, not both. */
static int jc_lookup(const json_t *obj, const ProtobufCFieldDescriptor *f, const json_t **out,
                     jc_err *e)
{
    char name[JC_NAME_MAX];
    if (json_codec_field_name(f->name, name, sizeof(name)) != 0) {
        jc_fail(e, "field name too long");
        return -1;
    }
    const json_t *a = json_object_get(obj, name);
    const json_t *b = strcmp(name, f->name) != 0 ? json_object_get(obj, f->name) : NULL;
    if (a != NULL && b != NULL) {
        jc_fail(e, "field %s given twice", f->name);
        return -1;
    }
    *out = a != NULL ? a : b;
    return 0;
}

static int jc_decode_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                           const json_t *v, int depth, jc_err *e)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return jc_decode_repeated(msg, f, v, depth, e);
    void *p = (char *)msg + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *c = &JC_MEMBER(uint32_t, msg, f->quantifier_offset);
        if (*c != 0) {
            jc_fail(e, "field %s: another member of its oneof is already set", f->name);
            return -1;
        }
        /* Zero the slot (it may alias a union member's default) and only
         * then claim the case, so a failure leaves nothing to free. */
        memset(p, 0, jc_elem_size(f));
        if (jc_decode_value(f, v, p, depth, e) != 0) {
            memset(p, 0, jc_elem_size(f));
            return -1;
        }
        *c = f->id;
        return 0;
    }
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ||
        f->type == PROTOBUF_C_TYPE_BYTES) {
        /* Decode into a temporary so the default stays in place on error. */
        union {
            char *s;
            ProtobufCMessage *m;
            ProtobufCBinaryData b;
        } tmp;
        memset(&tmp, 0, sizeof(tmp));
        if (jc_decode_value(f, v, &tmp, depth, e) != 0)
            return -1;
        memcpy(p, &tmp, jc_elem_size(f));
    } else if (jc_decode_value(f, v, p, depth, e) != 0) {
        return -1;
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        JC_MEMBER(protobuf_c_boolean, msg, f->quantifier_offset) = 1;
    return 0;
}

static ProtobufCMessage *jc_decode_object(const ProtobufCMessageDescriptor *d,
                                          const json_t *obj, int depth, jc_err *e)
{
    if (depth > JSON_CODEC_MAX_DEPTH) {
        jc_fail(e, "messages nested too deeply");
        return NULL;
    }
    ProtobufCMessage *msg = malloc(d->sizeof_message);
    if (msg == NULL) {
        jc_fail(e, "out of memory");
        return NULL;
    }
    d->message_init(msg);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const json_t *v = NULL;
        if (jc_lookup(obj, f, &v, e) != 0)
            goto fail;
        if (v == NULL || json_is_null(v))
            continue;
        if (jc_decode_field(msg, f, v, depth, e) != 0)
            goto fail;
    }
    return msg;
fail:
    protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
}

ProtobufCMessage *json_codec_decode(const ProtobufCMessageDescriptor *desc, const char *text,
                                    size_t len, char *err, size_t errlen)
{
    jc_err e = {err, errlen, 0};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    char *marked = NULL;
    size_t marked_len = 0;
    if (jc_mark_big(text, len, &e, &marked, &marked_len) != 0) {
        jc_fail(&e, "out of memory");
        return NULL;
    }
    json_error_t je;
    bool was_marked = marked != NULL;
    json_t *root = json_loadb(was_marked ? marked : text, was_marked ? marked_len : len,
                              JSON_REJECT_DUPLICATES, &je);
    free(marked);
    if (root == NULL && was_marked) { /* the error where the caller's text has it */
        json_t *again = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        json_decref(again);
    }
    if (root == NULL) {
        jc_fail(&e, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    ProtobufCMessage *msg = NULL;
    if (!json_is_object(root))
        jc_fail(&e, "the body must be a JSON object");
    else
        msg = jc_decode_object(desc, root, 0, &e);
    json_decref(root);
    return msg;
}
