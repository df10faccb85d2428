# tests/storage/: the cache (hash table, LRU, eviction, semantics), the
# stores of storage/store.h and the engine. In process; label `unit`, or
# `persistence` for those that run against a real redis-server (the merge
# script, the Redis store, the engine), which a missing redis-server fails.
set(RS_STORAGE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/storage)

rs_add_unit_test(test_cache ${RS_STORAGE_TEST_DIR}/test_cache.c)
rs_add_unit_test(test_cache_model ${RS_STORAGE_TEST_DIR}/test_cache_model.c)
rs_add_unit_test(test_cache_table ${RS_STORAGE_TEST_DIR}/test_cache_table.c)

# The stores of storage/store.h on their own: memory only (no Redis; a unit
# test) and Redis (a real redis-server).
rs_add_unit_test(test_store_memory ${RS_STORAGE_TEST_DIR}/test_store_memory.c)
target_include_directories(test_store_memory PRIVATE ${CMAKE_SOURCE_DIR}/storage)
# The engine's re-merge of users a failed-over Redis primary may have lost
# (nothing sent: the test hooks answer loads and merges).
rs_add_unit_test(test_engine_remerge ${RS_STORAGE_TEST_DIR}/test_engine_remerge.c)
target_include_directories(test_engine_remerge PRIVATE ${CMAKE_SOURCE_DIR}/storage)

# The Redis Cluster store's parsing of CLUSTER SLOTS and MOVED/ASK.
rs_add_unit_test(test_cluster_slots ${RS_STORAGE_TEST_DIR}/test_cluster_slots.c)
target_include_directories(test_cluster_slots PRIVATE ${CMAKE_SOURCE_DIR}/storage)
rs_add_persistence_test(persist_store_redis ${RS_STORAGE_TEST_DIR}/test_store_redis.c)
# The Redis Cluster store against a real cluster of three primaries (each
# case starts its own): routing, MOVED, ASK, NOSCRIPT, a killed primary.
rs_add_persistence_test(persist_store_cluster ${RS_STORAGE_TEST_DIR}/test_store_cluster.c)
set_tests_properties(persist_store_cluster PROPERTIES LABELS "persistence;cluster")

# The merge script and the engine against a real redis-server.
rs_add_persistence_test(persist_merge_lua ${RS_STORAGE_TEST_DIR}/test_merge_lua.c)
rs_add_persistence_test(persist_engine_redis ${RS_STORAGE_TEST_DIR}/test_engine_redis.c)

# Not a test: prints the accounted bytes per state for the published bar.
add_executable(bench_cache_memory ${RS_STORAGE_TEST_DIR}/bench_cache_memory.c)
target_link_libraries(bench_cache_memory PRIVATE readstates_core ${RS_MALLOC_LIBS})

# A measurement, not a test: flush throughput and cold-load latency.
add_executable(bench_flush ${RS_STORAGE_TEST_DIR}/bench_flush.c)
target_include_directories(bench_flush PRIVATE ${CMAKE_SOURCE_DIR}/storage)
target_link_libraries(bench_flush PRIVATE rs_testsupport readstates_core)
