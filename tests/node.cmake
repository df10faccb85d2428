# tests/node/: readstated's HTTP port from the official Connect-ES clients
# (label `integration`). Each test starts its own memory-only readstated on
# 127.0.0.1:0 and stops it by PID (SIGTERM, exit 0 checked).
#
#   node_setup            fixture `node_env`: copies tests/node/package.json,
#                         package-lock.json and the scripts into
#                         <build>/node-tests, `npm ci` there (never in the
#                         source tree), protoc + protoc-gen-es for
#                         proto/readstates.proto, the browser page bundled
#                         with esbuild
#   node_rpc_<transport>  every method (Ping, Ack, SetReadState, BulkAck,
#                         AddMentions, GetReadStates, DeleteReadStates,
#                         GetRing; Watch streaming) with @connectrpc/connect-node
#                         over gRPC (HTTP/2), gRPC-Web (HTTP/1.1 and 2),
#                         Connect binary (HTTP/1.1 and 2) and Connect JSON
#   node_cors_headers     --http-cors-origin's headers, request by request
#   node_browser_cors_allowed, node_browser_cors_refused
#                         connect-web in headless Chromium from another
#                         origin, with and without --http-cors-origin
#   node_selftest_reference
#                         all of the above against reference-server.mjs
#                         (Connect-ES's own server with the service's rules
#                         in memory) instead of readstated: they must pass
#                         there, so their failures against readstated are
#                         readstated's
#
# node, npm, protoc and chromium are found when the tests run; a missing one
# fails the test naming the Debian package (nodejs, npm, protobuf-compiler,
# chromium), nothing is skipped. npm ci needs the npm registry.
set(RS_NODE_DIR ${CMAKE_CURRENT_LIST_DIR}/node)
set(RS_NODE_WORK ${CMAKE_BINARY_DIR}/node-tests)
set(RS_NODE_DRIVER sh ${RS_NODE_DIR}/node-test.sh)

add_test(NAME node_setup COMMAND ${RS_NODE_DRIVER} setup ${RS_NODE_WORK} ${CMAKE_SOURCE_DIR})
set_tests_properties(node_setup PROPERTIES TIMEOUT 600 LABELS integration
                     FIXTURES_SETUP node_env RESOURCE_LOCK node_work)

foreach(transport grpc grpc-web grpc-web-h2 connect-proto connect-json connect-h2)
  string(REPLACE "-" "_" tname ${transport})
  add_test(NAME node_rpc_${tname}
           COMMAND ${RS_NODE_DRIVER} run ${RS_NODE_WORK} rpc.mjs
                   --readstated $<TARGET_FILE:readstated> --transport ${transport})
  set_tests_properties(node_rpc_${tname} PROPERTIES TIMEOUT 120 LABELS integration
                       FIXTURES_REQUIRED node_env)
endforeach()

add_test(NAME node_cors_headers
         COMMAND ${RS_NODE_DRIVER} run ${RS_NODE_WORK} cors.mjs
                 --readstated $<TARGET_FILE:readstated>)
set_tests_properties(node_cors_headers PROPERTIES TIMEOUT 60 LABELS integration
                     FIXTURES_REQUIRED node_env)

foreach(mode allowed refused)
  add_test(NAME node_browser_cors_${mode}
           COMMAND ${RS_NODE_DRIVER} run ${RS_NODE_WORK} browser.mjs
                   --readstated $<TARGET_FILE:readstated> --mode ${mode})
  set_tests_properties(node_browser_cors_${mode} PROPERTIES TIMEOUT 240 LABELS integration
                       FIXTURES_REQUIRED node_env RESOURCE_LOCK chromium)
endforeach()

# The self-test runs no readstated code: once per suite run is enough, so
# the sanitizer build (tests/run.sh's second configuration) leaves it out.
if(NOT READSTATES_SANITIZE)
  add_test(NAME node_selftest_reference COMMAND ${RS_NODE_DRIVER} run ${RS_NODE_WORK} selftest.mjs)
  set_tests_properties(node_selftest_reference PROPERTIES TIMEOUT 600 LABELS integration
                       FIXTURES_REQUIRED node_env RESOURCE_LOCK chromium)
endif()
