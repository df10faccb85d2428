/*
 * fuzz_frame.c: libFuzzer harness for the frame codec and request decoding.
 *
 * Arbitrary bytes go through a frame_reader with the server's request limit;
 * every whole frame is decoded as a Request in an arena (as the server does)
 * and, when it decodes, re-encoded and decoded again: when the second
 * decode succeeds it must carry the same id and call. (protobuf-c keeps
 * malformed unknown fields, such as a zero tag written as a non-minimal
 * varint, and re-packs them into bytes it then rejects; the server never
 * re-encodes requests, so only crashes, sanitizer reports and changed
 * id/call are findings.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rs_arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(rs_arena *arena, const Readstates__V1__Request *req)
{
    size_t n = frame_size(&req->base);
    uint8_t *buf = rs_arena_alloc(arena, n);
    if (frame_encode(&req->base, buf) != n)
        abort();
    uint32_t len;
    if (frame_peek(buf, n, UINT32_MAX, &len) != FRAME_OK && n > FRAME_HEADER_LEN)
        abort();
    if (n == FRAME_HEADER_LEN)
        return; /* an empty message packs to nothing */
    Readstates__V1__Request *again =
        frame_decode_request(buf + FRAME_HEADER_LEN, len, rs_arena_pb(arena));
    if (again != NULL && (again->id != req->id || again->call_case != req->call_case))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame_reader r;
    frame_reader_init(&r, FRAME_REQUEST_MAX_DEFAULT);
    rs_arena arena;
    rs_arena_init(&arena, 4096);
    /* Feed in two pieces to exercise partial frames. */
    size_t half = size / 2;
    for (int piece = 0; piece < 2; piece++) {
        const uint8_t *p = piece == 0 ? data : data + half;
        size_t n = piece == 0 ? half : size - half;
        if (frame_reader_feed(&r, p, n) != 0)
            abort();
        for (int frames = 0; frames < 1024; frames++) {
            const uint8_t *payload;
            uint32_t len;
            if (frame_reader_next(&r, &payload, &len) != FRAME_OK)
                break;
            Readstates__V1__Request *req =
                frame_decode_request(payload, len, rs_arena_pb(&arena));
            if (req != NULL)
                round_trip(&arena, req);
            rs_arena_reset(&arena);
        }
    }
    rs_arena_destroy(&arena);
    frame_reader_free(&r);
    return 0;
}
