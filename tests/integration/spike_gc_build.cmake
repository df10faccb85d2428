# Configure and build the garbage-collected variant for the spike tests:
#   cmake -DSRC=<source> -DBIN=<build dir> [-DWERROR=ON] -P spike_gc_build.cmake
# Builds only what the tests run (readstated and test_gc_boehm), two jobs,
# each step bounded in time.
if(NOT SRC OR NOT BIN)
  message(FATAL_ERROR "usage: cmake -DSRC=<source> -DBIN=<build> -P spike_gc_build.cmake")
endif()
set(werror OFF)
if(WERROR)
  set(werror ON)
endif()

execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN} -DREADSTATES_GC=boehm
          -DCMAKE_BUILD_TYPE=Release -DREADSTATES_SANITIZE=OFF -DBUILD_TESTING=ON
          -DREADSTATES_WERROR=${werror}
  RESULT_VARIABLE rc TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the GC build in ${BIN} failed: ${rc}")
endif()

execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BIN} -j2 --target readstated test_gc_boehm
  RESULT_VARIABLE rc TIMEOUT 1200)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the GC variant in ${BIN} failed: ${rc}")
endif()
