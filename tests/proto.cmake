# tests/proto/: the frame codec (proto/frame.c), with the arena and the
# shared parsers it is used with (label `unit`).
rs_add_unit_test(test_frame ${CMAKE_CURRENT_LIST_DIR}/proto/test_frame.c)
