/*
 * fuzz_json_codec.c: libFuzzer harness for the proto3 JSON codec (the HTTP
 * port's request parser).
 *
 * Input: one byte choosing the message type, then JSON text. A decode that
 * succeeds must round-trip: encode -> decode -> encode gives the same text,
 * and the message packs and unpacks. Anything else (a crash, a leak, a
 * sanitizer report, a broken round trip) is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_types.pb-c.h"
#include "json_codec.h"
#include "readstates.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const fuzz_types[] = {
    &readstates__v1__request__descriptor,
    &readstates__v1__ack_request__descriptor,
    &readstates__v1__bulk_ack_request__descriptor,
    &readstates__v1__add_mentions_request__descriptor,
    &readstates__v1__get_read_states_request__descriptor,
    &readstates__v1__delete_read_states_request__descriptor,
    &readstates__v1__response__descriptor,
    &codectest__all_types__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *d =
        fuzz_types[data[0] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
    char err[256];
    ProtobufCMessage *m =
        json_codec_decode(d, (const char *)data + 1, size - 1, err, sizeof(err));
    if (m == NULL)
        return 0;
    size_t n1 = 0, n2 = 0;
    char *t1 = json_codec_encode(m, &n1);
    if (t1 == NULL)
        abort();
    ProtobufCMessage *m2 = json_codec_decode(d, t1, n1, err, sizeof(err));
    if (m2 == NULL)
        abort();
    char *t2 = json_codec_encode(m2, &n2);
    if (t2 == NULL || n1 != n2 || memcmp(t1, t2, n1) != 0)
        abort();
    size_t plen = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(plen + 1);
    if (buf == NULL)
        abort();
    protobuf_c_message_pack(m, buf);
    ProtobufCMessage *m3 = protobuf_c_message_unpack(d, NULL, plen, buf);
    if (m3 == NULL)
        abort();
    protobuf_c_message_free_unpacked(m3, NULL);
    free(buf);
    free(t1);
    free(t2);
    protobuf_c_message_free_unpacked(m2, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
