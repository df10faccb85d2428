# Server unit tests: configuration parsing, and dispatch + Watch run
# in-process on a real rs_server (memory-only engine, no sockets) with a
# capturing sink. Labelled `unit`.
if(TARGET readstated_lib)
  set(RS_SERVER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/server)
  foreach(t test_server_config test_server_dispatch)
    rs_add_unit_test(${t} ${RS_SERVER_TEST_DIR}/${t}.c)
    target_link_libraries(${t} PRIVATE readstated_lib)
  endforeach()
endif()
