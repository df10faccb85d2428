# tests/fuzz/: the fuzz harnesses, each with its committed corpus beside it
# (the registry is tests/fuzz/fuzzers.cmake; each is replayed over its corpus
# in every build, and built as a libFuzzer binary with READSTATES_FUZZ):
#   fuzz_frame        frame codec and Request decoding (test fuzz_corpus)
#   fuzz_dispatch     frames of Requests -> dispatch on an in-process
#                     rs_server, over the frame corpus
#   fuzz_req_decode   the hand-written Ack decoder against protobuf-c
#   fuzz_config       the settings file and argv parser
#   fuzz_http_request bytes from a client through the HTTP port: connection,
#                     parser, routes, the Connect/Twirp RPC layer, dispatch
#   fuzz_redis_reply  Redis replies (hiredis's reader) through the engine's
#                     load and merge reply handling
#   fuzz_stored_value the strict parser of stored values
#   fuzz_json_codec   the proto3 JSON codec (the HTTP port's request parser),
#                     with the test message types of tests/server.cmake
include(${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzzers.cmake)
set(RS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)

rs_add_fuzzer(NAME fuzz_frame CORPUS ${RS_FUZZ_DIR}/corpus CORPUS_TEST fuzz_corpus
              SOURCES ${RS_FUZZ_DIR}/fuzz_frame.c LIBS readstates_core)

if(TARGET readstated_lib)
  rs_add_fuzzer(NAME fuzz_dispatch CORPUS ${RS_FUZZ_DIR}/corpus
                SOURCES ${RS_FUZZ_DIR}/fuzz_dispatch.c LIBS readstated_lib)
  rs_add_fuzzer(NAME fuzz_req_decode CORPUS ${RS_FUZZ_DIR}/corpus_req_decode
                SOURCES ${RS_FUZZ_DIR}/fuzz_req_decode.c LIBS readstated_lib)
  rs_add_fuzzer(NAME fuzz_config CORPUS ${RS_FUZZ_DIR}/corpus_config
                SOURCES ${RS_FUZZ_DIR}/fuzz_config.c LIBS readstated_lib)
  rs_add_fuzzer(NAME fuzz_http_request CORPUS ${RS_FUZZ_DIR}/corpus_http
                SOURCES ${RS_FUZZ_DIR}/fuzz_http_request.c LIBS readstated_lib)
endif()
rs_add_fuzzer(NAME fuzz_redis_reply CORPUS ${RS_FUZZ_DIR}/corpus_redis_reply
              SOURCES ${RS_FUZZ_DIR}/fuzz_redis_reply.c LIBS readstates_core)
rs_add_fuzzer(NAME fuzz_cluster_slots CORPUS ${RS_FUZZ_DIR}/corpus_cluster
              SOURCES ${RS_FUZZ_DIR}/fuzz_cluster_slots.c LIBS readstates_core
              INCLUDES ${CMAKE_SOURCE_DIR}/storage)
rs_add_fuzzer(NAME fuzz_stored_value CORPUS ${RS_FUZZ_DIR}/corpus_stored_value
              SOURCES ${RS_FUZZ_DIR}/fuzz_stored_value.c LIBS readstates_core
              INCLUDES ${CMAKE_SOURCE_DIR}/storage)
# RS_HTTP_GEN_DIR: the generated codec_types.pb-c.c of tests/server.cmake,
# included before this fragment.
rs_add_fuzzer(NAME fuzz_json_codec CORPUS ${RS_FUZZ_DIR}/corpus_json
              SOURCES ${RS_FUZZ_DIR}/fuzz_json_codec.c ${CMAKE_SOURCE_DIR}/server/json_codec.c
                      ${CMAKE_SOURCE_DIR}/server/grpc_wire.c
                      ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c
              LIBS readstates_core PkgConfig::RS_TEST_JANSSON
              INCLUDES ${CMAKE_SOURCE_DIR}/server SYSTEM_INCLUDES ${RS_HTTP_GEN_DIR})

# fuzz_http2: HTTP/2 through the HTTP port (the preface, nghttp2 and
# http2.c, the routes, gRPC / gRPC-Web / Connect streaming in
# http_stream.c); raw frames or structured records HPACK-encoded by the
# harness (corpus written by gen_corpus_http2.py).
if(TARGET readstated_lib)
  rs_add_fuzzer(NAME fuzz_http2 CORPUS ${RS_FUZZ_DIR}/corpus_http2
                SOURCES ${RS_FUZZ_DIR}/fuzz_http2.c LIBS readstated_lib)
endif()
