# tests/common/: the shared helpers of common/ (label `unit`).
# rs_hist, the log-linear latency histogram, against exact percentiles
# (named test_lg_hist since the load generator's reports first used it).
rs_add_unit_test(test_lg_hist ${CMAKE_CURRENT_LIST_DIR}/common/test_hist.c)
# rs_slot (Redis Cluster key slots) against CLUSTER KEYSLOT of a real
# cluster-enabled redis-server (label `persistence`: it starts one).
rs_add_persistence_test(test_slot ${CMAKE_CURRENT_LIST_DIR}/common/test_slot.c)
# rs_ring (the fleet's slot table): its text form, and the compare-and-set
# script in a real redis-server (label `persistence`).
rs_add_persistence_test(test_ring ${CMAKE_CURRENT_LIST_DIR}/common/test_ring.c)
