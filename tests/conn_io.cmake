# The connection's own I/O (server/conn.c): frames split across reads and
# answers that wait for a full socket. Labelled `integration`.
include(${CMAKE_CURRENT_LIST_DIR}/support.cmake)
rs_add_integration_test(it_conn_io ${CMAKE_CURRENT_LIST_DIR}/integration/it_conn_io.c
                        ${CMAKE_CURRENT_LIST_DIR}/integration/it_common.c)
