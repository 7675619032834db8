include(GoogleTest)

# tributary_add_test(NAME <name> SOURCES <files...> LIBS <libs...> [LABELS <labels...>]
#                    [PROPERTIES <name> <value>...])
# One executable per test file group, each GoogleTest case a ctest test of its own.
# PROPERTIES are extra ctest properties of every case (e.g. FIXTURES_REQUIRED).
function(tributary_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS;PROPERTIES" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} tributary_test_support GTest::gtest GTest::gmock GTest::gtest_main tributary_warnings)
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${T_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT 300
               ENVIRONMENT "TRIBUTARY_BIN_DIR=${CMAKE_BINARY_DIR}/bin" ${T_PROPERTIES})
endfunction()
