# The frame/request fuzz harness: replayed over the committed corpus in every
# build (fuzz_corpus test); built as a libFuzzer binary with READSTATES_FUZZ.
add_executable(fuzz_corpus fuzz/corpus_driver.c fuzz/fuzz_frame.c)
target_link_libraries(fuzz_corpus PRIVATE readstates_core)
add_test(NAME fuzz_corpus COMMAND fuzz_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus)
set_tests_properties(fuzz_corpus PROPERTIES TIMEOUT 60 LABELS unit
                     PASS_REGULAR_EXPRESSION "corpus: [1-9][0-9]* inputs replayed")

if(READSTATES_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "READSTATES_FUZZ needs clang (-DCMAKE_C_COMPILER=clang)")
  endif()
  add_executable(fuzz_frame fuzz/fuzz_frame.c)
  target_compile_options(fuzz_frame PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_frame PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_frame PRIVATE readstates_core)
endif()
