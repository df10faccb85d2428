# Persistence tests: the merge script against a real redis-server, and the
# real readstated with a real redis-server (restarts, kill -9, evictions,
# Redis outages). Labelled `persistence`. A missing redis-server fails them.
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

set(RS_PERSIST_DIR ${CMAKE_CURRENT_LIST_DIR}/persistence)

function(rs_add_persistence_test name)
  rs_add_integration_test(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/storage)
  target_compile_definitions(${name} PRIVATE RS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_tests_properties(${name} PROPERTIES LABELS persistence TIMEOUT 300)
endfunction()

rs_add_persistence_test(persist_merge_lua ${RS_PERSIST_DIR}/test_merge_lua.c)
rs_add_persistence_test(persist_engine_redis ${RS_PERSIST_DIR}/test_engine_redis.c)
# The stores of storage/store.h on their own: Redis (a real redis-server)
# and memory only (no Redis; a unit test).
rs_add_persistence_test(persist_store_redis ${RS_PERSIST_DIR}/test_store_redis.c)
rs_add_unit_test(test_store_memory ${RS_PERSIST_DIR}/test_store_memory.c)
target_include_directories(test_store_memory PRIVATE ${CMAKE_SOURCE_DIR}/storage)

# Tests of the real readstated share a few helpers and the client library.
add_library(rs_persist_util STATIC ${RS_PERSIST_DIR}/persist_util.c)
target_include_directories(rs_persist_util PUBLIC ${RS_PERSIST_DIR})
target_link_libraries(rs_persist_util PUBLIC rs_testsupport rs_client)

foreach(t restart crash outage order stored_data)
  rs_add_persistence_test(persist_${t} ${RS_PERSIST_DIR}/test_${t}.c)
  target_link_libraries(persist_${t} PRIVATE rs_persist_util)
endforeach()

# A measurement, not a test: flush throughput and cold-load latency.
add_executable(bench_flush ${RS_PERSIST_DIR}/bench_flush.c)
target_include_directories(bench_flush PRIVATE ${CMAKE_SOURCE_DIR}/storage)
target_link_libraries(bench_flush PRIVATE rs_testsupport readstates_core)
