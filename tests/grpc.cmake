# tests/grpc/: readstated's gRPC service on the HTTP port (HTTP/2 cleartext
# with prior knowledge), driven by Python's official gRPC client. One
# script, grpc_suite.py, run once per group; each run starts its own real
# readstated on ephemeral loopback ports (memory-only) and stops it by PID,
# generating the message classes from proto/ with protoc into a temporary
# folder. grpc_deadline also starts a real redis-server and SIGSTOPs it
# (label `persistence` too). Needs Debian's python3-grpcio, python3-protobuf,
# protobuf-compiler and curl; /usr/bin/python3, not a pyenv python without
# those modules (override with -DRS_GRPC_PYTHON=...). A missing tool or
# module fails the tests with a message naming the package.
set(RS_GRPC_PYTHON /usr/bin/python3 CACHE FILEPATH
    "Python with grpcio and protobuf for tests/grpc (Debian python3-grpcio, python3-protobuf)")
find_program(RS_GRPC_PROTOC protoc)
find_program(RS_GRPC_CURL curl)
if(TARGET readstated)
  set(RS_GRPC_READSTATED $<TARGET_FILE:readstated>)
else()
  set(RS_GRPC_READSTATED ${CMAKE_BINARY_DIR}/bin/readstated)
endif()
if(REDIS_SERVER)
  set(RS_GRPC_REDIS ${REDIS_SERVER})
else()
  set(RS_GRPC_REDIS redis-server-NOTFOUND)
endif()

foreach(group unary watch health reflection concurrency deadline)
  set(name grpc_${group})
  if(group STREQUAL "deadline")
    set(name persist_grpc_deadline)
  endif()
  add_test(NAME ${name}
           COMMAND ${RS_GRPC_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/grpc/grpc_suite.py
                   --group ${group} --readstated ${RS_GRPC_READSTATED}
                   --proto-dir ${CMAKE_SOURCE_DIR}/proto --protoc ${RS_GRPC_PROTOC}
                   --curl ${RS_GRPC_CURL} --redis-server ${RS_GRPC_REDIS})
  set_tests_properties(${name} PROPERTIES TIMEOUT 180 LABELS integration)
endforeach()
set_tests_properties(persist_grpc_deadline PROPERTIES LABELS "integration;persistence")
