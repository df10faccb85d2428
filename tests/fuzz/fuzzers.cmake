# The fuzz harness registry: every harness is declared once, through
#
#   rs_add_fuzzer(NAME name CORPUS dir SOURCES src...
#                 [LIBS lib...] [INCLUDES dir...] [SYSTEM_INCLUDES dir...]
#                 [CORPUS_TEST test-name])
#
# and gets, in every build, `<name>_corpus` (the sources plus corpus_driver.c)
# with a ctest replaying the committed corpus (named CORPUS_TEST, default
# `<name>_corpus`, label unit); with READSTATES_FUZZ, the libFuzzer binary
# `<name>` and a line "<name> <corpus dir> <binary>" in <build>/fuzzers.txt.
# tests/run.sh builds and runs every fuzzer that file lists, so a new
# harness (tests/fuzz/fuzz_<input>.c, its corpus in tests/fuzz/corpus_<input>)
# joins CI by calling rs_add_fuzzer from tests/fuzz.cmake.
# The instrumentation flags themselves are set for the whole fuzz build in the
# top-level CMakeLists.txt (the libraries under test need them too).
include_guard(GLOBAL)

set(RS_FUZZERS_LIST ${CMAKE_BINARY_DIR}/fuzzers.txt)
if(READSTATES_FUZZ)
  file(WRITE ${RS_FUZZERS_LIST} "")
endif()

function(rs_add_fuzzer)
  cmake_parse_arguments(F "" "NAME;CORPUS;CORPUS_TEST" "SOURCES;LIBS;INCLUDES;SYSTEM_INCLUDES"
                        ${ARGN})
  if(NOT F_NAME OR NOT F_CORPUS OR NOT F_SOURCES)
    message(FATAL_ERROR "rs_add_fuzzer needs NAME, CORPUS and SOURCES")
  endif()
  if(NOT F_CORPUS_TEST)
    set(F_CORPUS_TEST ${F_NAME}_corpus)
  endif()
  set(targets ${F_NAME}_corpus)
  add_executable(${F_NAME}_corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus_driver.c ${F_SOURCES})
  add_test(NAME ${F_CORPUS_TEST} COMMAND ${F_NAME}_corpus ${F_CORPUS})
  set_tests_properties(${F_CORPUS_TEST} PROPERTIES TIMEOUT 60 LABELS unit
                       PASS_REGULAR_EXPRESSION "corpus: [1-9][0-9]* inputs replayed")
  if(READSTATES_FUZZ)
    add_executable(${F_NAME} ${F_SOURCES})
    target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer)
    list(APPEND targets ${F_NAME})
    file(APPEND ${RS_FUZZERS_LIST} "${F_NAME} ${F_CORPUS} ${CMAKE_CURRENT_BINARY_DIR}/${F_NAME}\n")
  endif()
  foreach(t ${targets})
    target_link_libraries(${t} PRIVATE ${F_LIBS})
    if(F_INCLUDES)
      target_include_directories(${t} PRIVATE ${F_INCLUDES})
    endif()
    if(F_SYSTEM_INCLUDES)
      target_include_directories(${t} SYSTEM PRIVATE ${F_SYSTEM_INCLUDES})
    endif()
  endforeach()
endfunction()
