# Integration tests: cmocka programs that start the real readstated (on
# port 0, memory-only unless a test says otherwise), a real redis-server
# when needed, and the real readstatectl. Labelled `integration`.
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)

set(RS_IT_DIR ${CMAKE_CURRENT_LIST_DIR}/integration)

rs_add_integration_test(it_support ${RS_IT_DIR}/it_support.c)
