# The read-state cache: hash table, LRU, eviction, semantics.
rs_add_unit_test(test_cache ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache.c)
rs_add_unit_test(test_cache_model ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_model.c)
rs_add_unit_test(test_cache_table ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cache_table.c)

# Not a test: prints the accounted bytes per state for the published bar.
add_executable(bench_cache_memory ${CMAKE_CURRENT_SOURCE_DIR}/unit/bench_cache_memory.c)
target_link_libraries(bench_cache_memory PRIVATE readstates_core ${RS_MALLOC_LIBS})
