# tests/client/: readstatectl's commands that are not RPCs, against the real
# programs. persist_readstatectl_cluster: `readstatectl cluster init|show`
# (the fleet's slot table in Redis) with a real redis-server and a real
# readstated; persist_readstatectl_cluster_cluster, the same program with
# RS_TEST_REDIS_CLUSTER=1, against a Redis Cluster of three primaries
# (MOVED and ASK followed).
set(RS_CLIENT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/client)

if(TARGET readstatectl)
  rs_add_persistence_test(persist_readstatectl_cluster
                          ${RS_CLIENT_TEST_DIR}/test_readstatectl_cluster.c)
  target_link_libraries(persist_readstatectl_cluster PRIVATE PkgConfig::RS_TEST_JANSSON)
  add_test(NAME persist_readstatectl_cluster_cluster COMMAND persist_readstatectl_cluster)
  set_tests_properties(persist_readstatectl_cluster_cluster PROPERTIES
    ENVIRONMENT RS_TEST_REDIS_CLUSTER=1 LABELS "persistence;cluster" TIMEOUT 300)
endif()

# The ring-aware client library (rs_fleet_client.h) against a real fleet of
# two readstated nodes on a real redis-server.
rs_add_persistence_test(persist_fleet_client ${RS_CLIENT_TEST_DIR}/test_fleet_client.c)
target_link_libraries(persist_fleet_client PRIVATE rs_persist_util)
set_tests_properties(persist_fleet_client PROPERTIES LABELS "persistence;fleet")
