# The direct codecs of the hot path, cross-checked against protobuf-c on
# random inputs: the Ack/SetReadState Response encoder (server/resp_encode.c)
# and the Ack Request decoder (server/req_decode.c).
if(TARGET readstated_lib)
  foreach(t test_resp_encode test_req_decode)
    rs_add_unit_test(${t} ${CMAKE_CURRENT_LIST_DIR}/server/${t}.c)
    target_link_libraries(${t} PRIVATE readstated_lib)
  endforeach()
endif()
