# Load generator tests: histograms, schedule, Zipf sampler, the platform
# hiccup meter and steal reading, how the reports render (unit), and runs
# of the real readstate-loadgen against a real readstated and a real
# redis-server (integration).
if(TARGET readstate_loadgen_lib)
  rs_add_unit_test(test_lg_hist ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_hist.c)
  rs_add_unit_test(test_lg_sched ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_sched.c)
  target_link_libraries(test_lg_sched PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_zipf ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_zipf.c)
  target_link_libraries(test_lg_zipf PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_stats ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_stats.c)
  target_link_libraries(test_lg_stats PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_proto ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_proto.c)
  target_link_libraries(test_lg_proto PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_hiccup ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_hiccup.c)
  target_link_libraries(test_lg_hiccup PRIVATE readstate_loadgen_lib)
  rs_add_unit_test(test_lg_report ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/test_report.c)
  target_link_libraries(test_lg_report PRIVATE readstate_loadgen_lib)

  include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)
  rs_add_integration_test(it_loadgen ${CMAKE_CURRENT_SOURCE_DIR}/loadgen/it_loadgen.c)
  pkg_check_modules(RS_LG_JANSSON REQUIRED IMPORTED_TARGET jansson)
  target_link_libraries(it_loadgen PRIVATE PkgConfig::RS_LG_JANSSON PkgConfig::HIREDIS)
  target_compile_definitions(it_loadgen PRIVATE
    RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
  add_dependencies(it_loadgen readstate-loadgen)
endif()
