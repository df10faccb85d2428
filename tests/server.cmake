# tests/server/: readstated's modules in process (label `unit`): the
# configuration (flags, environment, settings file, Redis secrets), tokens
# (server/auth.c), dispatch + Watch on a real rs_server (memory-only engine,
# no sockets) with a capturing sink, the direct codecs of the hot path
# cross-checked against protobuf-c on random inputs (resp_encode.c,
# req_decode.c), the HTTP port's request framing, proto3 JSON codec and
# metrics rendering, and gc_force.h (labels `unit;spike`: the
# garbage-collected comparison build's allocator and forced collection).
set(RS_SERVER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/server)
set(RS_SERVER_DIR ${CMAKE_SOURCE_DIR}/server)

if(TARGET readstated_lib)
  rs_add_unit_test(test_auth ${RS_SERVER_TEST_DIR}/test_auth.c)
  target_link_libraries(test_auth PRIVATE readstated_lib rs_testsupport)
  # ctest names from before the folder said "server".
  rs_add_unit_test(test_server_config ${RS_SERVER_TEST_DIR}/test_config.c)
  rs_add_unit_test(test_server_dispatch ${RS_SERVER_TEST_DIR}/test_dispatch.c)
  foreach(t test_config_secrets test_resp_encode test_req_decode)
    rs_add_unit_test(${t} ${RS_SERVER_TEST_DIR}/${t}.c)
  endforeach()
  foreach(t test_server_config test_server_dispatch test_config_secrets test_resp_encode
            test_req_decode)
    target_link_libraries(${t} PRIVATE readstated_lib)
  endforeach()
endif()

# A test-only message type with every scalar kind (bytes, floats, enums...),
# for the JSON codec's test and its fuzz harness (tests/fuzz.cmake).
set(RS_HTTP_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/http_generated)
file(MAKE_DIRECTORY ${RS_HTTP_GEN_DIR})
add_custom_command(
  OUTPUT ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c ${RS_HTTP_GEN_DIR}/codec_types.pb-c.h
  COMMAND ${PROTOC_C} --c_out=${RS_HTTP_GEN_DIR} --proto_path=${RS_SERVER_TEST_DIR}
          ${RS_SERVER_TEST_DIR}/codec_types.proto
  DEPENDS ${RS_SERVER_TEST_DIR}/codec_types.proto
  COMMENT "protoc-c codec_types.proto")
set_source_files_properties(${RS_HTTP_GEN_DIR}/codec_types.pb-c.c PROPERTIES COMPILE_OPTIONS -w)

rs_add_unit_test(test_json_codec ${RS_SERVER_TEST_DIR}/test_json_codec.c
                 ${RS_SERVER_DIR}/json_codec.c ${RS_SERVER_DIR}/grpc_wire.c
                 ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c)
target_include_directories(test_json_codec PRIVATE ${RS_SERVER_DIR})
target_include_directories(test_json_codec SYSTEM PRIVATE ${RS_HTTP_GEN_DIR})
target_link_libraries(test_json_codec PRIVATE PkgConfig::RS_TEST_JANSSON)

rs_add_unit_test(test_metrics_render ${RS_SERVER_TEST_DIR}/test_metrics_render.c
                 ${RS_SERVER_DIR}/metrics_render.c ${RS_SERVER_DIR}/metrics_sys.c
                 ${RS_SERVER_DIR}/metrics.c)
target_include_directories(test_metrics_render PRIVATE ${RS_SERVER_DIR})
target_link_libraries(test_metrics_render PRIVATE PkgConfig::RS_TEST_JANSSON ${RS_MALLOC_LIBS})

rs_add_unit_test(test_http_parse ${RS_SERVER_TEST_DIR}/test_http_parse.c
                 ${RS_SERVER_DIR}/http_parse.c)
target_include_directories(test_http_parse PRIVATE ${RS_SERVER_DIR})

# gc_force.h: in the normal build (what CI builds) gc_force does nothing
# without a collector; the GC build (-DREADSTATES_GC=boehm) has
# test_gc_boehm instead, which spike_gc_unit (tests/integration.cmake) runs.
if(READSTATES_GC STREQUAL "boehm")
  rs_add_unit_test(test_gc_boehm ${RS_SERVER_TEST_DIR}/test_gc_force_boehm.c
                   ${RS_SERVER_DIR}/gc_force_boehm.c)
  target_include_directories(test_gc_boehm PRIVATE ${RS_SERVER_DIR})
  set_tests_properties(test_gc_boehm PROPERTIES LABELS "unit;spike")
else()
  rs_add_unit_test(test_gc_none ${RS_SERVER_TEST_DIR}/test_gc_force_none.c
                   ${RS_SERVER_DIR}/gc_force_none.c)
  target_include_directories(test_gc_none PRIVATE ${RS_SERVER_DIR})
  set_tests_properties(test_gc_none PROPERTIES LABELS "unit;spike")
endif()

# server/http_grpc_std.c (the gRPC health and reflection methods and their
# descriptor walker), compiled into the test with stand-ins for
# http_stream.c's calls: no readstated_lib, no sockets.
rs_add_unit_test(test_grpc_std_descriptors ${RS_SERVER_TEST_DIR}/test_grpc_std_descriptors.c)
target_include_directories(test_grpc_std_descriptors PRIVATE ${RS_SERVER_DIR})

# server/grpc_wire.c: envelopes, grpc-timeout, grpc-message and base64 of
# the HTTP port's enveloped protocols.
if(TARGET readstated_lib)
  rs_add_unit_test(test_grpc_wire ${RS_SERVER_TEST_DIR}/test_grpc_wire.c)
  target_link_libraries(test_grpc_wire PRIVATE readstated_lib)
endif()
