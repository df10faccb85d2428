# Server tests. Unit (label `unit`): configuration parsing, and dispatch +
# Watch run in-process on a real rs_server (memory-only engine, no sockets)
# with a capturing sink; the dispatch fuzz harness over the frame corpus.
# Integration (label `integration`): the real
# readstated and redis-server for idle timeouts, loads answered out of
# order, SIGTERM with requests in flight, and flag handling; SIGHUP reloads
# under load and every other signal an operator might send (it_signals);
# Redis secrets against a Redis that requires them (it_secrets).
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

if(TARGET readstated_lib)
  set(RS_SERVER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/server)
  foreach(t test_server_config test_server_dispatch test_config_secrets)
    rs_add_unit_test(${t} ${RS_SERVER_TEST_DIR}/${t}.c)
    target_link_libraries(${t} PRIVATE readstated_lib)
  endforeach()
  # Dispatch fuzz harness: replayed over the frame corpus in every build,
  # a libFuzzer binary with READSTATES_FUZZ (tests/fuzz/fuzzers.cmake).
  include(${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzzers.cmake)
  rs_add_fuzzer(NAME fuzz_dispatch CORPUS ${CMAKE_CURRENT_LIST_DIR}/fuzz/corpus
                SOURCES ${RS_SERVER_TEST_DIR}/fuzz_dispatch.c LIBS readstated_lib)
  if(TARGET rs_client)
    rs_add_integration_test(it_server ${RS_SERVER_TEST_DIR}/it_server.c)
    rs_add_integration_test(it_signals ${RS_SERVER_TEST_DIR}/it_signals.c)
    # Redis secrets: argv scrubbing, the password file, ACL users.
    rs_add_integration_test(it_secrets ${RS_SERVER_TEST_DIR}/it_secrets.c)
  endif()
endif()
