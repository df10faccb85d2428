# tests/integration/: programs that start the real readstated (on port 0,
# memory-only unless a test says otherwise), a real redis-server when
# needed, and the real readstatectl and readstate-loadgen; each file is
# named like its ctest. Labels: `integration`; `persistence` for the
# persist_* tests (readstated with a real redis-server: restarts, kill -9,
# Redis outages, hand-written stored data); `spike` for the latency-spike
# comparison (spike_*).
set(RS_IT_DIR ${CMAKE_CURRENT_LIST_DIR}/integration)
set(RS_SERVER_DIR ${CMAKE_SOURCE_DIR}/server)

# ---- the contract and the server's connections (it_common.c: one real
# memory-only readstated per program, client connections, raw frames) -----
rs_add_integration_test(it_support ${RS_IT_DIR}/it_support.c)
set(RS_IT_COMMON ${RS_IT_DIR}/it_common.c)
rs_add_integration_test(it_rpc ${RS_IT_DIR}/it_rpc.c ${RS_IT_COMMON})
rs_add_integration_test(it_invalid ${RS_IT_DIR}/it_invalid.c ${RS_IT_COMMON})
rs_add_integration_test(it_pipeline ${RS_IT_DIR}/it_pipeline.c ${RS_IT_COMMON})
rs_add_integration_test(it_limits ${RS_IT_DIR}/it_limits.c ${RS_IT_COMMON})
rs_add_integration_test(it_watch ${RS_IT_DIR}/it_watch.c ${RS_IT_COMMON})
rs_add_integration_test(it_ctl ${RS_IT_DIR}/it_ctl.c ${RS_IT_COMMON})
target_link_libraries(it_ctl PRIVATE PkgConfig::RS_TEST_JANSSON)
rs_add_integration_test(it_client ${RS_IT_DIR}/it_client.c ${RS_IT_COMMON})
# The connection's own I/O (server/conn.c): frames split across reads and
# answers that wait for a full socket.
rs_add_integration_test(it_conn_io ${RS_IT_DIR}/it_conn_io.c ${RS_IT_COMMON})
# The container health check of deploy/compose.yaml and the Dockerfile, run
# as written against a real readstated (Docker itself is not needed).
rs_add_integration_test(it_compose ${RS_IT_DIR}/it_compose.c ${RS_IT_COMMON})
target_link_libraries(it_compose PRIVATE PkgConfig::RS_TEST_JANSSON)
target_compile_definitions(it_compose PRIVATE RS_IT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# Every program's --version (readstate-loadgen's when it is built).
rs_add_integration_test(it_version ${RS_IT_DIR}/it_version.c)
if(TARGET readstate-loadgen)
  target_compile_definitions(it_version PRIVATE
    RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
  add_dependencies(it_version readstate-loadgen)
endif()

# ---- the server against a real redis-server (it_server: idle timeout,
# loads answered out of order, SIGTERM with requests in flight, flags;
# it_signals: SIGHUP reloads under load and every other signal an operator
# might send; it_secrets: Redis secrets against a Redis that requires them)
# and tokens on both ports with readstatectl and readstate-loadgen --token
if(TARGET readstated_lib)
  if(TARGET rs_client)
    rs_add_integration_test(it_server ${RS_IT_DIR}/it_server.c)
    target_link_libraries(it_server PRIVATE rs_http_test_client)
    rs_add_integration_test(it_signals ${RS_IT_DIR}/it_signals.c)
    rs_add_integration_test(it_secrets ${RS_IT_DIR}/it_secrets.c)
  endif()
  if(TARGET rs_client AND TARGET readstate-loadgen)
    rs_add_integration_test(it_auth ${RS_IT_DIR}/it_auth.c ${RS_IT_DIR}/http_test_client.c)
    target_include_directories(it_auth PRIVATE ${RS_IT_DIR})
    target_link_libraries(it_auth PRIVATE PkgConfig::RS_TEST_JANSSON)
    target_compile_definitions(it_auth PRIVATE
      RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
    add_dependencies(it_auth readstate-loadgen)
  endif()
endif()

# ---- the HTTP port: Connect/Twirp RPC, /metrics, /healthz, /readyz, the
# dashboard in headless Chromium, a real Prometheus scraping it ------------
# The dashboard page is compiled into readstated (a no-op when
# server/CMakeLists.txt already included it).
if(TARGET readstated_lib)
  include(${CMAKE_SOURCE_DIR}/server/dashboard.cmake)
endif()
add_library(rs_http_test_client STATIC ${RS_IT_DIR}/http_test_client.c)
target_include_directories(rs_http_test_client PUBLIC ${RS_IT_DIR})
target_link_libraries(rs_http_test_client PUBLIC rs_testsupport PkgConfig::RS_TEST_JANSSON)

rs_add_integration_test(it_http_rpc ${RS_IT_DIR}/it_http_rpc.c)
target_link_libraries(it_http_rpc PRIVATE rs_http_test_client)

# The HTTP port's limits (slowloris deadline, connection cap, descriptor
# limits) with thousands of real loopback connections.
rs_add_integration_test(it_http_limits ${RS_IT_DIR}/it_http_limits.c)
target_link_libraries(it_http_limits PRIVATE rs_http_test_client)

# TLS on both ports, with curl and OpenSSL's client.
find_package(OpenSSL REQUIRED)
rs_add_integration_test(it_tls ${RS_IT_DIR}/it_tls.c)
target_link_libraries(it_tls PRIVATE rs_client OpenSSL::SSL OpenSSL::Crypto)
target_compile_definitions(it_tls PRIVATE
  RS_HTTP_LOADGEN_BIN="${CMAKE_BINARY_DIR}/bin/readstate-loadgen")
if(TARGET readstate-loadgen)
  add_dependencies(it_tls readstate-loadgen)
endif()

# The deploy files with the real Prometheus, promtool and systemd-analyze,
# under load from the real readstate-loadgen.
set(RS_HTTP_LOADGEN_BIN "${CMAKE_BINARY_DIR}/bin/readstate-loadgen")
# It also renders /metrics from known latencies (the server's own metrics
# code) for promtool to compute histogram_quantile on.
rs_add_integration_test(it_http_deploy ${RS_IT_DIR}/it_http_deploy.c
                        ${RS_SERVER_DIR}/metrics.c ${RS_SERVER_DIR}/metrics_render.c)
target_include_directories(it_http_deploy PRIVATE ${RS_SERVER_DIR})
target_link_libraries(it_http_deploy PRIVATE rs_http_test_client m)
if(READSTATES_TCMALLOC)
  set(RS_HTTP_TCMALLOC 1)
else()
  set(RS_HTTP_TCMALLOC 0)
endif()
target_compile_definitions(it_http_deploy PRIVATE
  RS_HTTP_SOURCE_DIR="${CMAKE_SOURCE_DIR}" RS_HTTP_LOADGEN_BIN="${RS_HTTP_LOADGEN_BIN}"
  RS_HTTP_TCMALLOC=${RS_HTTP_TCMALLOC})

# The dashboard page in headless Chromium under load, and a lone second of
# traffic drawn (screenshot pixels read back with zlib); the screenshots
# stay in <build>/test-artifacts.
find_package(ZLIB REQUIRED)
rs_add_integration_test(it_http_dashboard ${RS_IT_DIR}/it_http_dashboard.c)
target_link_libraries(it_http_dashboard PRIVATE rs_http_test_client ZLIB::ZLIB)
target_compile_definitions(it_http_dashboard PRIVATE
  RS_HTTP_LOADGEN_BIN="${RS_HTTP_LOADGEN_BIN}"
  RS_HTTP_ARTIFACT_DIR="${CMAKE_BINARY_DIR}/test-artifacts")
if(TARGET readstate-loadgen)
  add_dependencies(it_http_deploy readstate-loadgen)
  add_dependencies(it_http_dashboard readstate-loadgen)
endif()

# ---- the real readstate-loadgen against a real readstated and a real
# redis-server, judged by its own JSON results ---------------------------
if(TARGET readstate_loadgen_lib)
  rs_add_integration_test(it_loadgen ${RS_IT_DIR}/it_loadgen.c)
  target_link_libraries(it_loadgen PRIVATE PkgConfig::RS_TEST_JANSSON PkgConfig::HIREDIS)
  target_compile_definitions(it_loadgen PRIVATE
    RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
  add_dependencies(it_loadgen readstate-loadgen)
endif()

# ---- persistence: the real readstated with a real redis-server (restarts,
# kill -9, Redis outages, out-of-order loads, hand-written stored data);
# persist_util.c: a readstated with Redis flags, a client connection,
# metrics over HTTP, a user's hash read straight from Redis. Each test runs
# against both stores: persist_<name> with one redis-server (--redis), and
# persist_<name>_cluster, the same program with RS_TEST_REDIS_CLUSTER=1, with
# a Redis Cluster of three primaries (--redis-cluster), labelled
# `persistence;cluster`. it_test_cluster tests the cluster mode of the test
# support (start, routed commands, stop, kill -9, restart) ---------------
add_library(rs_persist_util STATIC ${RS_IT_DIR}/persist_util.c)
target_include_directories(rs_persist_util PUBLIC ${RS_IT_DIR})
target_link_libraries(rs_persist_util PUBLIC rs_testsupport rs_client)

foreach(t restart crash outage order stored_data)
  rs_add_persistence_test(persist_${t} ${RS_IT_DIR}/persist_${t}.c)
  target_link_libraries(persist_${t} PRIVATE rs_persist_util)
  add_test(NAME persist_${t}_cluster COMMAND persist_${t})
  set_tests_properties(persist_${t}_cluster PROPERTIES
    ENVIRONMENT RS_TEST_REDIS_CLUSTER=1 LABELS "persistence;cluster" TIMEOUT 300)
endforeach()

rs_add_persistence_test(it_test_cluster ${RS_IT_DIR}/it_test_cluster.c)
set_tests_properties(it_test_cluster PROPERTIES LABELS "persistence;cluster")

# ---- the fleet's deploy files (label `persistence;fleet`): deploy/fleet.sh
# up, status and down on a private redis-server, a private Redis Cluster
# and a Redis it is given, and its refusals; the readstated@.service
# template under systemd-analyze; the Kubernetes manifests parsed
# (python3-yaml) and the ring Job's script run with a stand-in readstatectl.
rs_add_persistence_test(it_fleet_deploy ${RS_IT_DIR}/it_fleet_deploy.c)
set_tests_properties(it_fleet_deploy PROPERTIES LABELS "persistence;fleet" TIMEOUT 300)

# ---- a fleet of readstated nodes (--node-id) on one redis-server (label
# `persistence;fleet`): the same answers through any node, a node with a
# stale ring fenced off in Redis (write-through and write-behind), an
# owner's errors relayed unchanged, an unreachable owner, a forwarded call
# never bounced back, clean shutdowns.
rs_add_persistence_test(it_fleet ${RS_IT_DIR}/it_fleet.c)
target_link_libraries(it_fleet PRIVATE rs_persist_util)
set_tests_properties(it_fleet PROPERTIES LABELS "persistence;fleet" TIMEOUT 180)

# ---- the Redis Cluster store against real clusters (label
# `persistence;cluster`; cluster_util.c: tracked acknowledged traffic read
# back from the cluster, CPU, logs, the load generator in the background).
# it_cluster_faults: ASK, TRYAGAIN, NOSCRIPT one at a time, a node that
# loops MOVED (a fake node), seeds that refuse connections, a dead primary
# and the write-through users of the others. it_cluster_reshard:
# redis-cli --cluster reshard under load. it_cluster_failover: kill -9 of
# a primary and CLUSTER FAILOVER under load (replicas), a primary short of
# replicas for WAIT. The load tests take the cluster_load lock, so ctest -j
# never runs two of them at once on a small machine.
if(TARGET readstate-loadgen)
  add_library(rs_cluster_util STATIC ${RS_IT_DIR}/cluster_util.c ${RS_IT_DIR}/cluster_rig.c)
  target_link_libraries(rs_cluster_util PUBLIC rs_persist_util rs_http_test_client
    PkgConfig::CMOCKA)
  target_compile_definitions(rs_cluster_util PRIVATE
    RS_LOADGEN_BIN="$<TARGET_FILE:readstate-loadgen>")
  foreach(t faults reshard failover)
    rs_add_persistence_test(it_cluster_${t} ${RS_IT_DIR}/it_cluster_${t}.c)
    target_link_libraries(it_cluster_${t} PRIVATE rs_cluster_util rs_http_test_client)
    add_dependencies(it_cluster_${t} readstate-loadgen)
    set_tests_properties(it_cluster_${t} PROPERTIES LABELS "persistence;cluster" TIMEOUT 180)
  endforeach()
  set_tests_properties(it_cluster_reshard it_cluster_failover PROPERTIES
    RESOURCE_LOCK cluster_load)
endif()

# ---- the latency-spike comparison (label `spike`; the normal build only,
# the GC build has just test_gc_boehm, tests/server.cmake):
#   spike_gc_build   configures and builds the GC variant (readstated and
#                    test_gc_boehm) in <build>/spike-gc; fixture setup
#   spike_gc_unit    runs test_gc_boehm from that build
#   spike_smoke      a miniature of loadgen/spike-replay.sh: both builds, a
#                    few seconds of load each, a 1 s forced interval, and
#                    checks on the HTML report
# The smoke builds its own GC variant, so `ctest -L spike` works in any
# build tree with no step outside ctest; an incremental rebuild is quick.
if(NOT READSTATES_GC STREQUAL "boehm")
  set(RS_SPIKE_GC_BUILD ${CMAKE_BINARY_DIR}/spike-gc)
  add_test(NAME spike_gc_build
           COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DBIN=${RS_SPIKE_GC_BUILD}
                   -DWERROR=${READSTATES_WERROR} -P ${RS_IT_DIR}/spike_gc_build.cmake)
  set_tests_properties(spike_gc_build PROPERTIES TIMEOUT 1500 LABELS spike
                       FIXTURES_SETUP spike_gc)

  add_test(NAME spike_gc_unit
           COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${RS_SPIKE_GC_BUILD} -R "^test_gc_boehm$"
                   --output-on-failure --no-tests=error)
  set_tests_properties(spike_gc_unit PROPERTIES TIMEOUT 120 LABELS spike
                       FIXTURES_REQUIRED spike_gc)

  # This tree's readstated and load generator against the GC variant built
  # by spike_gc_build.
  add_test(NAME spike_smoke
           COMMAND sh ${RS_IT_DIR}/spike_smoke.sh ${CMAKE_SOURCE_DIR}/loadgen/spike-replay.sh
                   $<TARGET_FILE:readstated> ${RS_SPIKE_GC_BUILD}/bin/readstated
                   $<TARGET_FILE:readstate-loadgen> ${CMAKE_BINARY_DIR}/spike-smoke)
  set_tests_properties(spike_smoke PROPERTIES TIMEOUT 300 LABELS spike
                       FIXTURES_REQUIRED spike_gc)
endif()

# ---- the capacity and eviction benchmarks in miniature (label `bench`; a
# tcmalloc build, which the scripts expect): loadgen/bench-capacity.sh on
# 100,000 states and loadgen/bench-eviction.sh on 200,000 with half of
# their need as the cache, a few seconds each; checks that they ran, lost
# nothing, evicted and loaded, and that the cache took at most 30 accounted
# bytes per state (tests/integration/bench_smoke.sh).
if(READSTATES_TCMALLOC)
  add_test(NAME bench_smoke
           COMMAND sh ${RS_IT_DIR}/bench_smoke.sh ${CMAKE_SOURCE_DIR}/loadgen ${CMAKE_BINARY_DIR}
                   ${CMAKE_BINARY_DIR}/bench-smoke)
  set_tests_properties(bench_smoke PROPERTIES TIMEOUT 300 LABELS bench)
endif()

# HTTP/2 on the HTTP port with a C client on nghttp2's client API (h2c with
# prior knowledge, h2 by ALPN over TLS) and a hand-written frame client for
# --http2-max-streams: gRPC calls, the HTTP/2 limits and deadline, malformed
# gRPC requests, a slow Watch reader, a cancelled Watch.
pkg_check_modules(RS_IT_NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)
rs_add_integration_test(it_http2 ${RS_IT_DIR}/it_http2.c)
target_link_libraries(it_http2 PRIVATE rs_http_test_client PkgConfig::RS_IT_NGHTTP2
                      OpenSSL::SSL OpenSSL::Crypto)
