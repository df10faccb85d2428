# tests/loadgen/: the load generator's modules (label `unit`): schedule,
# Zipf sampler, the platform hiccup meter and steal reading, the wire side,
# how a run's measurements are attributed and how the reports render. The
# real readstate-loadgen is run by tests/integration/it_loadgen.c.
if(TARGET readstate_loadgen_lib)
  foreach(m sched stats proto hiccup report)
    rs_add_unit_test(test_lg_${m} ${CMAKE_CURRENT_LIST_DIR}/loadgen/test_${m}.c)
    target_link_libraries(test_lg_${m} PRIVATE readstate_loadgen_lib)
  endforeach()
  # lg_rand.c: the Zipf sampler and the PRNG.
  rs_add_unit_test(test_lg_zipf ${CMAKE_CURRENT_LIST_DIR}/loadgen/test_rand.c)
  target_link_libraries(test_lg_zipf PRIVATE readstate_loadgen_lib)
endif()
