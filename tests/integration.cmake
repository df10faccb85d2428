# Integration tests: cmocka programs that start the real readstated (on
# port 0, memory-only unless a test says otherwise), a real redis-server
# when needed, and the real readstatectl. Labelled `integration`.
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

set(RS_IT_DIR ${CMAKE_CURRENT_LIST_DIR}/integration)

rs_add_integration_test(it_support ${RS_IT_DIR}/it_support.c)
set(RS_IT_COMMON ${RS_IT_DIR}/it_common.c)
rs_add_integration_test(it_rpc ${RS_IT_DIR}/it_rpc.c ${RS_IT_COMMON})
rs_add_integration_test(it_invalid ${RS_IT_DIR}/it_invalid.c ${RS_IT_COMMON})
rs_add_integration_test(it_pipeline ${RS_IT_DIR}/it_pipeline.c ${RS_IT_COMMON})
rs_add_integration_test(it_limits ${RS_IT_DIR}/it_limits.c ${RS_IT_COMMON})
rs_add_integration_test(it_watch ${RS_IT_DIR}/it_watch.c ${RS_IT_COMMON})
rs_add_integration_test(it_ctl ${RS_IT_DIR}/it_ctl.c ${RS_IT_COMMON})
pkg_check_modules(RS_IT_JANSSON REQUIRED IMPORTED_TARGET jansson)
target_link_libraries(it_ctl PRIVATE PkgConfig::RS_IT_JANSSON)
rs_add_integration_test(it_client ${RS_IT_DIR}/it_client.c ${RS_IT_COMMON})
# The container health check of deploy/compose.yaml and the Dockerfile, run
# as written against a real readstated (Docker itself is not needed).
rs_add_integration_test(it_compose ${RS_IT_DIR}/it_compose.c ${RS_IT_COMMON})
target_link_libraries(it_compose PRIVATE PkgConfig::RS_IT_JANSSON)
target_compile_definitions(it_compose PRIVATE RS_IT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# Every program's --version (readstate-loadgen's when it is built).
rs_add_integration_test(it_version ${RS_IT_DIR}/it_version.c)
if(TARGET readstate-loadgen)
  target_compile_definitions(it_version PRIVATE
    RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
  add_dependencies(it_version readstate-loadgen)
endif()
