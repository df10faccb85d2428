# Unit tests of the codec, the arena and the shared parsers.
rs_add_unit_test(test_frame unit/test_frame.c)
