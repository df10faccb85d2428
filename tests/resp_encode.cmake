# The direct Ack/SetReadState Response encoder (server/resp_encode.c),
# cross-checked byte for byte against protobuf-c on random Responses.
if(TARGET readstated_lib)
  rs_add_unit_test(test_resp_encode ${CMAKE_CURRENT_LIST_DIR}/server/test_resp_encode.c)
  target_link_libraries(test_resp_encode PRIVATE readstated_lib)
endif()
