/*
 * fuzz_dispatch.c: frames of Requests -> dispatch, on a fresh in-process
 * rs_server (memory-only engine, small limits) per input.
 *
 * Checks the dispatch contract on whatever decodes: every request is
 * answered exactly once with its own id (the memory-only engine completes
 * synchronously), the in-flight counts return to zero, the arena is left
 * reset, and Watch events carry a Watch request's id. Built as a libFuzzer
 * binary with READSTATES_FUZZ; replayed over the committed frame corpus in
 * every build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "frame.h"
#include "server.h"
#include "watch.h"

typedef struct fz_sink {
    rs_sink sink;
    uint64_t answers; /* non-event responses */
    uint64_t last_id;
    uint64_t watch_ids[8];
    size_t nwatch_ids;
} fz_sink;

static void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz_dispatch: %s\n", what);
    abort();
}

static void fz_reply(rs_sink *sink, const Readstates__V1__Response *resp)
{
    fz_sink *f = (fz_sink *)sink;
    /* The answer must pack like any frame would. */
    size_t n = protobuf_c_message_get_packed_size(&resp->base);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        abort();
    if (protobuf_c_message_pack(&resp->base, buf) != n)
        fz_fail("packed size mismatch");
    free(buf);
    if (resp->result_case == READSTATES__V1__RESPONSE__RESULT_EVENT) {
        bool known = false;
        for (size_t i = 0; i < f->nwatch_ids; i++)
            known = known || f->watch_ids[i] == resp->id;
        if (!known && f->nwatch_ids < RS_ARRAY_LEN(f->watch_ids))
            fz_fail("event under an id that is not a Watch request's");
        return;
    }
    f->answers++;
    f->last_id = resp->id;
}

static void fz_release(rs_sink *sink)
{
    (void)sink;
}

static const rs_sink_ops fz_ops = {fz_reply, fz_release, true};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rs_config cfg;
    config_defaults(&cfg);
    strcpy(cfg.http, "off");
    cfg.log_level = RS_LOG_OFF;
    cfg.max_list = 50;
    cfg.max_states_per_user = 100;
    cfg.max_memory = 1u << 20;
    cfg.max_watches = 200;
    rs_server *s = malloc(sizeof(*s));
    if (s == NULL || server_init(s, &cfg) != 0)
        abort();
    fz_sink f;
    memset(&f, 0, sizeof(f));
    f.sink.ops = &fz_ops;
    f.sink.refs = 1;

    frame_reader r;
    frame_reader_init(&r, cfg.max_frame);
    if (frame_reader_feed(&r, data, size) != 0)
        abort();
    const uint8_t *payload;
    uint32_t len;
    /* (An empty reader is not asked: frame_reader_next does pointer
     * arithmetic on its NULL buffer.) */
    for (int frames = 0;
         size > 0 && frames < 256 && frame_reader_next(&r, &payload, &len) == FRAME_OK;
         frames++) {
        dispatch_arena_enter(s);
        Readstates__V1__Request *req =
            frame_decode_request(payload, len, rs_arena_pb(&s->loop.arena));
        if (req == NULL) {
            dispatch_arena_leave(s);
            break; /* the server closes the connection here */
        }
        if (req->call_case == READSTATES__V1__REQUEST__CALL_WATCH &&
            f.nwatch_ids < RS_ARRAY_LEN(f.watch_ids))
            f.watch_ids[f.nwatch_ids++] = req->id;
        uint64_t before = f.answers;
        dispatch_request(s, &f.sink, req, rs_now_ns());
        if (f.answers != before + 1 || f.last_id != req->id)
            fz_fail("a request was not answered exactly once under its id");
        dispatch_arena_leave(s);
        if (f.sink.inflight != 0 || s->loop.inflight != 0 || s->loop.arena_depth != 0)
            fz_fail("in-flight or arena bookkeeping off");
    }
    frame_reader_free(&r);
    watch_remove_sink(s, &f.sink);
    server_destroy(s);
    free(s);
    return 0;
}
