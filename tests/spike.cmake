# The latency-spike comparison: the garbage-collected build's allocator and
# forced collection, and a miniature of loadgen/spike-replay.sh.
#
# Normal build (what CI builds):
#   test_gc_none     unit: gc_force does nothing without a collector
#   spike_gc_build   configures and builds the GC variant (readstated and
#                    test_gc_boehm) in <build>/spike-gc; fixture setup
#   spike_gc_unit    runs test_gc_boehm from that build
#   spike_smoke      both builds, a few seconds of load each, a 1 s forced
#                    interval, and checks on the HTML report
# GC build (-DREADSTATES_GC=boehm): only the unit test test_gc_boehm.
#
# The smoke builds its own GC variant, so `ctest -L spike` works in any
# build tree with no step outside ctest; an incremental rebuild is quick.
set(RS_SPIKE_DIR ${CMAKE_CURRENT_LIST_DIR}/spike)

if(READSTATES_GC STREQUAL "boehm")
  rs_add_unit_test(test_gc_boehm spike/test_gc_boehm.c
                   ${CMAKE_SOURCE_DIR}/server/gc_force_boehm.c)
  target_include_directories(test_gc_boehm PRIVATE ${CMAKE_SOURCE_DIR}/server)
  set_tests_properties(test_gc_boehm PROPERTIES LABELS "unit;spike")
  return()
endif()

rs_add_unit_test(test_gc_none spike/test_gc_none.c ${CMAKE_SOURCE_DIR}/server/gc_force_none.c)
target_include_directories(test_gc_none PRIVATE ${CMAKE_SOURCE_DIR}/server)
set_tests_properties(test_gc_none PROPERTIES LABELS "unit;spike")

set(RS_SPIKE_GC_BUILD ${CMAKE_BINARY_DIR}/spike-gc)
add_test(NAME spike_gc_build
         COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DBIN=${RS_SPIKE_GC_BUILD}
                 -DWERROR=${READSTATES_WERROR} -P ${RS_SPIKE_DIR}/build_gc.cmake)
set_tests_properties(spike_gc_build PROPERTIES TIMEOUT 1500 LABELS spike
                     FIXTURES_SETUP spike_gc)

add_test(NAME spike_gc_unit
         COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${RS_SPIKE_GC_BUILD} -R "^test_gc_boehm$"
                 --output-on-failure --no-tests=error)
set_tests_properties(spike_gc_unit PROPERTIES TIMEOUT 120 LABELS spike
                     FIXTURES_REQUIRED spike_gc)

# The miniature replay: this tree's readstated and load generator against
# the GC variant built by spike_gc_build.
add_test(NAME spike_smoke
         COMMAND sh ${RS_SPIKE_DIR}/smoke.sh ${CMAKE_SOURCE_DIR}/loadgen/spike-replay.sh
                 $<TARGET_FILE:readstated> ${RS_SPIKE_GC_BUILD}/bin/readstated
                 $<TARGET_FILE:readstate-loadgen> ${CMAKE_BINARY_DIR}/spike-smoke)
set_tests_properties(spike_smoke PROPERTIES TIMEOUT 300 LABELS spike
                     FIXTURES_REQUIRED spike_gc)
