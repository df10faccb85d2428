# dashboard.cmake: embed server/dashboard.html into readstated as a C array.
#
# The page is turned into ${CMAKE_BINARY_DIR}/generated/dashboard_html.c at
# configure time (editing the page re-runs the configure step), defining
#   const unsigned char rs_dashboard_html[];  const size_t rs_dashboard_html_len;
# and the file joins readstated_lib. Include it once after readstated_lib
# exists:  include(${CMAKE_SOURCE_DIR}/server/dashboard.cmake)
include_guard(GLOBAL)

set(RS_DASHBOARD_HTML ${CMAKE_CURRENT_LIST_DIR}/dashboard.html)
set(RS_DASHBOARD_C ${CMAKE_BINARY_DIR}/generated/dashboard_html.c)
set_property(DIRECTORY ${CMAKE_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${RS_DASHBOARD_HTML})

file(READ ${RS_DASHBOARD_HTML} rs_dash_hex HEX)
string(LENGTH "${rs_dash_hex}" rs_dash_hexlen)
math(EXPR rs_dash_len "${rs_dash_hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," rs_dash_bytes "${rs_dash_hex}")
# Break the array into lines of 16 bytes.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" rs_dash_bytes "${rs_dash_bytes}")
file(WRITE ${RS_DASHBOARD_C}.tmp
     "/* Generated from server/dashboard.html by server/dashboard.cmake. */\n"
     "#include <stddef.h>\n"
     "extern const unsigned char rs_dashboard_html[];\n"
     "extern const size_t rs_dashboard_html_len;\n"
     "const unsigned char rs_dashboard_html[] = {\n${rs_dash_bytes}0x00};\n"
     "const size_t rs_dashboard_html_len = ${rs_dash_len};\n")
# Only touch the real file when the page changed, so builds stay incremental.
configure_file(${RS_DASHBOARD_C}.tmp ${RS_DASHBOARD_C} COPYONLY)
target_sources(readstated_lib PRIVATE ${RS_DASHBOARD_C})
