/*
 * stored_value.c: the strict parser of stored fields (see stored_value.h).
 *
 * Every number goes through sv_parse_decimal, which refuses what a lenient
 * reader would accept: an empty string, a sign, spaces, a leading zero
 * ("0005"), and any value past the field's maximum (checked digit by digit
 * before it could overflow). A state value is exactly four such numbers
 * joined by ':'; nothing may follow the last one.
 */
#include "stored_value.h"

#include <string.h>

int sv_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (d > max || v > (max - d) / 10)
            return -1; /* v * 10 + d > max */
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static sv_kind invalid(sv_field *out, const char *why)
{
    out->kind = SV_INVALID;
    out->why = why;
    return SV_INVALID;
}

sv_kind sv_parse_field(const char *name, size_t nlen, const char *val, size_t vlen,
                       sv_field *out)
{
    memset(out, 0, sizeof(*out));
    if (nlen == 2 && name[0] == '_' && name[1] == 'v') {
        if (sv_parse_decimal(val, vlen, UINT64_MAX, &out->version) != 0)
            return invalid(out, "_v is not a canonical decimal in [0, 2^64-1]");
        out->kind = SV_VERSION;
        return SV_VERSION;
    }
    if (nlen == 2 && name[0] == '_' && name[1] == 'o') {
        if (sv_parse_decimal(val, vlen, UINT64_MAX, &out->owner) != 0)
            return invalid(out, "_o is not a canonical decimal in [0, 2^64-1]");
        out->kind = SV_OWNER;
        return SV_OWNER;
    }
    uint64_t ch;
    if (sv_parse_decimal(name, nlen, UINT64_MAX, &ch) != 0 || ch == 0)
        return invalid(out,
                       "the field name is neither _v, _o nor a canonical non-zero channel id");
    /* Exactly three ':' split the value into four parts (empty parts are
     * refused below, as numbers). */
    const char *part[4];
    size_t plen[4];
    const char *p = val, *end = val + vlen;
    for (int i = 0; i < 4; i++) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if ((colon == NULL) != (i == 3))
            return invalid(out, "the value is not "
                                "<version>:<last_message_id>:<mention_count>:<flags>");
        part[i] = p;
        plen[i] = (size_t)((colon != NULL ? colon : end) - p);
        p = colon != NULL ? colon + 1 : end;
    }
    uint64_t ver, lm, mc, fl;
    if (sv_parse_decimal(part[0], plen[0], UINT64_MAX, &ver) != 0)
        return invalid(out, "the version is not a canonical decimal in [0, 2^64-1]");
    if (sv_parse_decimal(part[1], plen[1], UINT64_MAX, &lm) != 0)
        return invalid(out, "the last_message_id is not a canonical decimal in [0, 2^64-1]");
    if (sv_parse_decimal(part[2], plen[2], UINT32_MAX, &mc) != 0)
        return invalid(out, "the mention_count is not a canonical decimal in [0, 2^32-1]");
    if (sv_parse_decimal(part[3], plen[3], RS_STATE_PROTO_FLAGS, &fl) != 0)
        return invalid(out, "the flags are not a canonical decimal in [0, 1] (MANUAL)");
    out->kind = SV_STATE;
    out->state.channel_id = ch;
    out->state.version = ver;
    out->state.last_message_id = lm;
    out->state.mention_count = (uint32_t)mc;
    out->state.flags = (uint32_t)fl;
    return SV_STATE;
}

char *sv_quote(const char *s, size_t len, size_t max, char *buf, size_t bufsize)
{
    static const char hex[] = "0123456789abcdef";
    size_t w = 0;
    /* Room kept for the closing quote, "..." and the NUL. */
    size_t limit = bufsize > 6 ? bufsize - 6 : 0;
    if (bufsize == 0)
        return buf;
    if (w < limit)
        buf[w++] = '"';
    size_t i = 0;
    for (; i < len && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = (c == '"' || c == '\\') ? 2 : (c < 0x20 || c > 0x7e) ? 4 : 1;
        if (w + need > limit)
            break;
        if (need == 2) {
            buf[w++] = '\\';
            buf[w++] = (char)c;
        } else if (need == 4) {
            buf[w++] = '\\';
            buf[w++] = 'x';
            buf[w++] = hex[c >> 4];
            buf[w++] = hex[c & 15];
        } else {
            buf[w++] = (char)c;
        }
    }
    if (bufsize > 6) {
        buf[w++] = '"';
        if (i < len) {
            memcpy(buf + w, "...", 3);
            w += 3;
        }
    }
    buf[w] = '\0';
    return buf;
}
