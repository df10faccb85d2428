# HTTP port tests: the proto3 JSON codec and metrics rendering (unit), and
# integration tests that run the real readstated with its HTTP port on an
# ephemeral loopback port: Connect/Twirp RPC, /metrics, /healthz, /readyz,
# the dashboard in headless Chromium, and a real Prometheus scraping it.
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

# The dashboard page is compiled into readstated (a no-op when
# server/CMakeLists.txt already included it).
if(TARGET readstated_lib)
  include(${CMAKE_SOURCE_DIR}/server/dashboard.cmake)
endif()

pkg_check_modules(RS_HTTP_JANSSON REQUIRED IMPORTED_TARGET jansson)
set(RS_HTTP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/http)
set(RS_SERVER_DIR ${CMAKE_SOURCE_DIR}/server)

# A test-only message type with every scalar kind (bytes, floats, enums...).
set(RS_HTTP_GEN_DIR ${CMAKE_CURRENT_BINARY_DIR}/http_generated)
file(MAKE_DIRECTORY ${RS_HTTP_GEN_DIR})
add_custom_command(
  OUTPUT ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c ${RS_HTTP_GEN_DIR}/codec_types.pb-c.h
  COMMAND ${PROTOC_C} --c_out=${RS_HTTP_GEN_DIR} --proto_path=${RS_HTTP_TEST_DIR}
          ${RS_HTTP_TEST_DIR}/codec_types.proto
  DEPENDS ${RS_HTTP_TEST_DIR}/codec_types.proto
  COMMENT "protoc-c codec_types.proto")
set_source_files_properties(${RS_HTTP_GEN_DIR}/codec_types.pb-c.c PROPERTIES COMPILE_OPTIONS -w)

rs_add_unit_test(test_json_codec ${RS_HTTP_TEST_DIR}/test_json_codec.c
                 ${RS_SERVER_DIR}/json_codec.c ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c)
target_include_directories(test_json_codec PRIVATE ${RS_SERVER_DIR})
target_include_directories(test_json_codec SYSTEM PRIVATE ${RS_HTTP_GEN_DIR})
target_link_libraries(test_json_codec PRIVATE PkgConfig::RS_HTTP_JANSSON)

rs_add_unit_test(test_metrics_render ${RS_HTTP_TEST_DIR}/test_metrics_render.c
                 ${RS_SERVER_DIR}/metrics_render.c ${RS_SERVER_DIR}/metrics_sys.c
                 ${RS_SERVER_DIR}/metrics.c)
target_include_directories(test_metrics_render PRIVATE ${RS_SERVER_DIR})
target_link_libraries(test_metrics_render PRIVATE PkgConfig::RS_HTTP_JANSSON ${RS_MALLOC_LIBS})

rs_add_unit_test(test_http_parse ${RS_HTTP_TEST_DIR}/test_http_parse.c
                 ${RS_SERVER_DIR}/http_parse.c)
target_include_directories(test_http_parse PRIVATE ${RS_SERVER_DIR})

# Integration: the real readstated's HTTP port.
add_library(rs_http_test_client STATIC ${RS_HTTP_TEST_DIR}/http_test_client.c)
target_include_directories(rs_http_test_client PUBLIC ${RS_HTTP_TEST_DIR})
target_link_libraries(rs_http_test_client PUBLIC rs_testsupport PkgConfig::RS_HTTP_JANSSON)

rs_add_integration_test(it_http_rpc ${RS_HTTP_TEST_DIR}/it_http_rpc.c)
target_link_libraries(it_http_rpc PRIVATE rs_http_test_client)

# Integration: the HTTP port's limits (slowloris deadline, connection cap,
# descriptor limits) with thousands of real loopback connections.
rs_add_integration_test(it_http_limits ${RS_HTTP_TEST_DIR}/it_http_limits.c)
target_link_libraries(it_http_limits PRIVATE rs_http_test_client)

# Integration: TLS on both ports, with curl and OpenSSL's client.
find_package(OpenSSL REQUIRED)
rs_add_integration_test(it_tls ${RS_HTTP_TEST_DIR}/it_tls.c)
target_link_libraries(it_tls PRIVATE rs_client OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(it_tls PRIVATE
  RS_HTTP_LOADGEN_BIN="${CMAKE_BINARY_DIR}/bin/readstate-loadgen")
if(TARGET readstate-loadgen)
  add_dependencies(it_tls readstate-loadgen)
endif()

# Integration: the deploy files with the real Prometheus, promtool and
# systemd-analyze, under load from the real readstate-loadgen.
set(RS_HTTP_LOADGEN_BIN "${CMAKE_BINARY_DIR}/bin/readstate-loadgen")
# It also renders /metrics from known latencies (the server's own metrics
# code) for promtool to compute histogram_quantile on.
rs_add_integration_test(it_http_deploy ${RS_HTTP_TEST_DIR}/it_http_deploy.c
                        ${RS_SERVER_DIR}/metrics.c ${RS_SERVER_DIR}/metrics_render.c)
target_include_directories(it_http_deploy PRIVATE ${RS_SERVER_DIR})
target_link_libraries(it_http_deploy PRIVATE rs_http_test_client m)
if(READSTATES_TCMALLOC)
  set(RS_HTTP_TCMALLOC 1)
else()
  set(RS_HTTP_TCMALLOC 0)
endif()
target_compile_definitions(it_http_deploy PRIVATE
  RS_HTTP_SOURCE_DIR="${CMAKE_SOURCE_DIR}" RS_HTTP_LOADGEN_BIN="${RS_HTTP_LOADGEN_BIN}"
  RS_HTTP_TCMALLOC=${RS_HTTP_TCMALLOC})

# Integration: the dashboard page in headless Chromium under load, and a
# lone second of traffic drawn (screenshot pixels read back with zlib); the
# screenshots stay in <build>/test-artifacts.
find_package(ZLIB REQUIRED)
rs_add_integration_test(it_http_dashboard ${RS_HTTP_TEST_DIR}/it_http_dashboard.c)
target_link_libraries(it_http_dashboard PRIVATE rs_http_test_client ZLIB::ZLIB)
target_compile_definitions(it_http_dashboard PRIVATE
  RS_HTTP_LOADGEN_BIN="${RS_HTTP_LOADGEN_BIN}"
  RS_HTTP_ARTIFACT_DIR="${CMAKE_BINARY_DIR}/test-artifacts")
if(TARGET readstate-loadgen)
  add_dependencies(it_http_deploy readstate-loadgen)
  add_dependencies(it_http_dashboard readstate-loadgen)
endif()

# The JSON codec's fuzz harness: replayed over its committed corpus in every
# build; a libFuzzer binary with READSTATES_FUZZ (tests/fuzz/fuzzers.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzzers.cmake)
rs_add_fuzzer(NAME fuzz_json_codec CORPUS ${RS_HTTP_TEST_DIR}/fuzz_corpus
              SOURCES ${RS_HTTP_TEST_DIR}/fuzz_json_codec.c ${RS_SERVER_DIR}/json_codec.c
                      ${RS_HTTP_GEN_DIR}/codec_types.pb-c.c
              LIBS readstates_core PkgConfig::RS_HTTP_JANSSON INCLUDES ${RS_SERVER_DIR}
              SYSTEM_INCLUDES ${RS_HTTP_GEN_DIR})
