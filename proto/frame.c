/* frame.c: the frame codec, see frame.h. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

const char *frame_result_name(frame_result r)
{
    switch (r) {
    case FRAME_OK: return "ok";
    case FRAME_NEED_MORE: return "need_more";
    case FRAME_ERR_EMPTY: return "empty_frame";
    case FRAME_ERR_TOO_BIG: return "frame_too_large";
    default: return "unknown";
    }
}

frame_result frame_parse_header(const uint8_t hdr[FRAME_HEADER_LEN], uint32_t max,
                                uint32_t *len)
{
    uint32_t n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) |
                 (uint32_t)hdr[3];
    if (n == 0)
        return FRAME_ERR_EMPTY;
    if (n > max)
        return FRAME_ERR_TOO_BIG;
    *len = n;
    return FRAME_OK;
}

void frame_put_header(uint8_t hdr[FRAME_HEADER_LEN], uint32_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

frame_result frame_peek(const uint8_t *buf, size_t avail, uint32_t max, uint32_t *len)
{
    if (avail < FRAME_HEADER_LEN)
        return FRAME_NEED_MORE;
    uint32_t n;
    frame_result r = frame_parse_header(buf, max, &n);
    if (r != FRAME_OK)
        return r;
    if (avail - FRAME_HEADER_LEN < n)
        return FRAME_NEED_MORE;
    *len = n;
    return FRAME_OK;
}

void frame_reader_init(frame_reader *r, uint32_t max)
{
    memset(r, 0, sizeof(*r));
    r->max = max;
    r->err = FRAME_OK;
}

void frame_reader_free(frame_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

int frame_reader_feed(frame_reader *r, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    /* Drop consumed bytes before growing. */
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < n) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap - r->len < n)
            cap *= 2;
        uint8_t *nb = realloc(r->buf, cap);
        if (nb == NULL)
            return -1;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    return 0;
}

frame_result frame_reader_next(frame_reader *r, const uint8_t **payload, uint32_t *len)
{
    if (r->err != FRAME_OK)
        return r->err;
    if (r->buf == NULL)
        return FRAME_NEED_MORE; /* never fed: no buffer to look at */
    uint32_t n;
    frame_result res = frame_peek(r->buf + r->pos, r->len - r->pos, r->max, &n);
    if (res == FRAME_OK) {
        *payload = r->buf + r->pos + FRAME_HEADER_LEN;
        *len = n;
        r->pos += FRAME_HEADER_LEN + n;
    } else if (res != FRAME_NEED_MORE) {
        r->err = res;
    }
    return res;
}

size_t frame_size(const ProtobufCMessage *msg)
{
    return FRAME_HEADER_LEN + protobuf_c_message_get_packed_size(msg);
}

size_t frame_encode(const ProtobufCMessage *msg, uint8_t *out)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > UINT32_MAX)
        return 0;
    frame_put_header(out, (uint32_t)n);
    size_t w = protobuf_c_message_pack(msg, out + FRAME_HEADER_LEN);
    return FRAME_HEADER_LEN + w;
}

Readstates__V1__Request *frame_decode_request(const uint8_t *payload, size_t len,
                                              ProtobufCAllocator *alloc)
{
    return readstates__v1__request__unpack(alloc, len, payload);
}

Readstates__V1__Response *frame_decode_response(const uint8_t *payload, size_t len,
                                                ProtobufCAllocator *alloc)
{
    return readstates__v1__response__unpack(alloc, len, payload);
}
