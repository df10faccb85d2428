# Tokens (--auth-token-file, server/auth.c). Unit: the token file's format,
# the constant-time check and reloads (label `unit`). Integration: the real
# readstated with tokens on both ports, SIGHUP rotation, readstatectl and
# readstate-loadgen with --token (label `integration`).
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

if(TARGET readstated_lib)
  rs_add_unit_test(test_auth ${CMAKE_CURRENT_LIST_DIR}/server/test_auth.c)
  target_link_libraries(test_auth PRIVATE readstated_lib rs_testsupport)
  if(TARGET rs_client AND TARGET readstate-loadgen)
    pkg_check_modules(RS_AUTH_JANSSON REQUIRED IMPORTED_TARGET jansson)
    rs_add_integration_test(it_auth ${CMAKE_CURRENT_LIST_DIR}/server/it_auth.c
                            ${CMAKE_CURRENT_LIST_DIR}/http/http_test_client.c)
    target_include_directories(it_auth PRIVATE ${CMAKE_CURRENT_LIST_DIR}/http)
    target_link_libraries(it_auth PRIVATE PkgConfig::RS_AUTH_JANSSON)
    target_compile_definitions(it_auth PRIVATE
      RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
    add_dependencies(it_auth readstate-loadgen)
  endif()
endif()
