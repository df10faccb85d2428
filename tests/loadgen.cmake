# Load generator tests: histograms, schedule, Zipf sampler (unit), and runs
# of the real readstate-loadgen against a real readstated (integration).
if(TARGET readstate_loadgen_lib)
  rs_add_unit_test(test_lg_hist ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_hist.c)
  rs_add_unit_test(test_lg_sched ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_sched.c)
  target_link_libraries(test_lg_sched PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_zipf ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_zipf.c)
  target_link_libraries(test_lg_zipf PRIVATE readstate_loadgen_lib)
endif()
