# tests/support/: rs_testsupport, process helpers shared by every
# integration test (child processes by PID, a real redis-server, the real
# readstated on port 0), and the functions that register tests running
# real programs: rs_add_integration_test and rs_add_persistence_test.
# tests/CMakeLists.txt includes this fragment before every other.
include_guard(GLOBAL)

add_library(rs_testsupport STATIC
  ${CMAKE_CURRENT_LIST_DIR}/support/rs_proc.c
  ${CMAKE_CURRENT_LIST_DIR}/support/rs_test_net.c
  ${CMAKE_CURRENT_LIST_DIR}/support/rs_test_redis.c
  ${CMAKE_CURRENT_LIST_DIR}/support/rs_test_server.c)
target_include_directories(rs_testsupport PUBLIC ${CMAKE_CURRENT_LIST_DIR}/support)
target_link_libraries(rs_testsupport PUBLIC readstates_core)

# Where the programs under test live; each can be overridden at run time
# with READSTATED_BIN, READSTATECTL_BIN and REDIS_SERVER.
if(TARGET readstated)
  set(RS_TEST_READSTATED_BIN "$<TARGET_FILE:readstated>")
else()
  set(RS_TEST_READSTATED_BIN "${CMAKE_BINARY_DIR}/bin/readstated")
endif()
if(TARGET readstatectl)
  set(RS_TEST_READSTATECTL_BIN "$<TARGET_FILE:readstatectl>")
else()
  set(RS_TEST_READSTATECTL_BIN "${CMAKE_BINARY_DIR}/bin/readstatectl")
endif()
if(REDIS_SERVER)
  set(RS_TEST_REDIS_SERVER_PATH "${REDIS_SERVER}")
else()
  set(RS_TEST_REDIS_SERVER_PATH "")
endif()
target_compile_definitions(rs_testsupport PRIVATE
  RS_TEST_READSTATED_BIN="${RS_TEST_READSTATED_BIN}"
  RS_TEST_READSTATECTL_BIN="${RS_TEST_READSTATECTL_BIN}"
  RS_TEST_REDIS_SERVER="${RS_TEST_REDIS_SERVER_PATH}")

# rs_add_integration_test(name source...): a cmocka program that starts the
# real binaries; labelled `integration`, linked with the test support
# library (and the client library when it exists). Building it builds the
# programs it runs.
function(rs_add_integration_test name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE rs_testsupport readstates_core PkgConfig::CMOCKA)
  if(TARGET rs_client)
    target_link_libraries(${name} PRIVATE rs_client)
  endif()
  foreach(prog readstated readstatectl)
    if(TARGET ${prog})
      add_dependencies(${name} ${prog})
    endif()
  endforeach()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS integration)
endfunction()

# rs_add_persistence_test(name source...): an integration test against a
# real redis-server, labelled `persistence` (a missing redis-server fails
# it), with storage/ on its include path and RS_SOURCE_DIR the source tree.
function(rs_add_persistence_test name)
  rs_add_integration_test(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/storage)
  target_compile_definitions(${name} PRIVATE RS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  set_tests_properties(${name} PROPERTIES LABELS persistence TIMEOUT 300)
endfunction()
