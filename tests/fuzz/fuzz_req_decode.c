/*
 * fuzz_req_decode.c: libFuzzer harness for the hand-written Ack decoder
 * (server/req_decode.c) against protobuf-c on the same bytes.
 *
 * req_decode_ack may decline anything (the server then asks protobuf-c);
 * what it accepts must be exactly what protobuf-c makes of those bytes: an
 * Ack Request with the same id, user_id, channel_id, message_id and
 * mention_count and no unknown fields. And it must not decline the plain
 * shape it exists for: whenever protobuf-c decodes an Ack, protobuf-c's own
 * packing of that Request (one-byte tags, each field once, minimal varints)
 * must be accepted and read back equal. Any disagreement aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "req_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rq_fail(const char *what)
{
    fprintf(stderr, "fuzz_req_decode: %s\n", what);
    abort();
}

/* Both decodes of one payload agree (pb is protobuf-c's, may be NULL). */
static void rq_agree(const Readstates__V1__Request *pb, const Readstates__V1__Request *req,
                     const Readstates__V1__AckRequest *ack)
{
    if (pb == NULL)
        rq_fail("req_decode accepted bytes protobuf-c rejects");
    if (pb->call_case != READSTATES__V1__REQUEST__CALL_ACK || pb->ack == NULL)
        rq_fail("req_decode accepted a Request protobuf-c reads as another call");
    if (req->call_case != READSTATES__V1__REQUEST__CALL_ACK || req->ack != ack)
        rq_fail("req_decode's Request does not point at its AckRequest");
    if (pb->base.n_unknown_fields != 0 || pb->ack->base.n_unknown_fields != 0)
        rq_fail("req_decode accepted a Request with unknown fields");
    const Readstates__V1__AckRequest *a = pb->ack;
    if (pb->id != req->id || a->user_id != ack->user_id || a->channel_id != ack->channel_id ||
        a->message_id != ack->message_id || a->mention_count != ack->mention_count)
        rq_fail("req_decode and protobuf-c read different values");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Readstates__V1__Request req;
    Readstates__V1__AckRequest ack;
    bool mine = req_decode_ack(data, size, &req, &ack);
    Readstates__V1__Request *pb = readstates__v1__request__unpack(NULL, size, data);
    if (mine)
        rq_agree(pb, &req, &ack);
    if (pb != NULL && pb->call_case == READSTATES__V1__REQUEST__CALL_ACK &&
        pb->base.n_unknown_fields == 0 && pb->ack->base.n_unknown_fields == 0) {
        /* The canonical bytes of an Ack are the plain shape: never declined. */
        size_t n = readstates__v1__request__get_packed_size(pb);
        uint8_t *buf = malloc(n + 1);
        if (buf == NULL)
            abort();
        if (readstates__v1__request__pack(pb, buf) != n)
            rq_fail("packed size mismatch");
        if (!req_decode_ack(buf, n, &req, &ack))
            rq_fail("req_decode declined protobuf-c's packing of an Ack");
        rq_agree(pb, &req, &ack);
        free(buf);
    }
    if (pb != NULL)
        readstates__v1__request__free_unpacked(pb, NULL);
    return 0;
}
