/*
 * json_codec.h: the proto3 JSON mapping, driven by protobuf-c descriptors.
 *
 * One generic walker over ProtobufCMessageDescriptor fields converts any
 * message to and from JSON (jansson), so the HTTP port needs no code per
 * message type:
 *
 *   JSON text ──json_codec_decode(desc)──> ProtobufCMessage (malloc'd tree)
 *   ProtobufCMessage ──json_codec_encode──> JSON text (malloc'd)
 *
 * The mapping (https://protobuf.dev/programming-guides/proto3/#json):
 * - field names are lowerCamelCase on output; input accepts the
 *   lowerCamelCase name or the original proto name (both at once is an error);
 * - 64-bit integers are strings on output; input accepts strings or numbers
 *   (32-bit integers too); floats accept "NaN", "Infinity", "-Infinity";
 * - enums are names on output, names or numbers on input; bytes are base64
 *   (input: standard or URL-safe alphabet, padding optional);
 * - fields at their default value are omitted on output (oneof members that
 *   are set are always written); `null` on input means the default;
 * - unknown fields on input are ignored (as Connect's and Twirp's servers
 *   do, so old servers accept newer clients); duplicate keys, two members
 *   of one oneof, wrong JSON types and out-of-range numbers are errors.
 */
#ifndef RS_JSON_CODEC_H
#define RS_JSON_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Nesting limit for messages inside messages. */
#define JSON_CODEC_MAX_DEPTH 32

/* Parse `len` bytes of JSON into a new message of type `desc`. Returns the
 * message, to be freed with protobuf_c_message_free_unpacked(msg, NULL), or
 * NULL with a one-line reason (naming the field) written to err. */
ProtobufCMessage *json_codec_decode(const ProtobufCMessageDescriptor *desc, const char *text,
                                    size_t len, char *err, size_t errlen);

/* Serialise a message as compact JSON. Returns a NUL-terminated string the
 * caller frees with free(), and its length in *len (if len is not NULL);
 * NULL on out of memory or a string field that is not valid UTF-8. */
char *json_codec_encode(const ProtobufCMessage *msg, size_t *len);

/* The JSON name of a proto field name ("user_id" -> "userId") into out.
 * Returns 0, or -1 if it does not fit. */
int json_codec_field_name(const char *proto_name, char *out, size_t outlen);

#endif /* RS_JSON_CODEC_H */
