# SPDX-License-Identifier: Apache-2.0
cmake_minimum_required(VERSION 3.25)
# Runs one compile_fail case with one compiler:
#   cmake -DCOMPILER=<c++> -DFAMILY=gcc|clang -DFLAGS=<response file> -DCASE=<case.cpp> -P run_case.cmake
#
# A case file starts with two lines:
#   // expect-error: <regex the diagnostic must match, on one line of the output>
#   // compiles-with: <provider type>
# and names its provider through the macro SBX_CASE_PROVIDER (defaulted in the file).
# The case passes only if
#   1. the regex matches neither the case's path nor any line of its own source, so only the
#      compiler's diagnostic text can satisfy it;
#   2. the case as written fails to compile and one line of the diagnostic matches the regex;
#   3. the same file compiles with -DSBX_CASE_PROVIDER=<compiles-with>, so the provider (one
#      marker more, or for the claims cases the same type without the claim) is the only
#      difference and a typo cannot pass for a capability error.
# Source echo is switched off so that the regex is matched against diagnostic text only.

foreach(v COMPILER FAMILY FLAGS CASE)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_case.cmake: -D${v}=... is required")
  endif()
endforeach()

file(READ "${CASE}" source)
string(REGEX MATCH "^// expect-error: ([^\n]+)\n// compiles-with: ([^\n]+)\n" header "${source}")
if(NOT header)
  message(FATAL_ERROR "${CASE}: must start with '// expect-error: <regex>' and '// compiles-with: <provider>'")
endif()
set(regex "${CMAKE_MATCH_1}")
set(twin_provider "${CMAKE_MATCH_2}")
string(LENGTH "${header}" header_length)
string(SUBSTRING "${source}" ${header_length} -1 body)
if(NOT body MATCHES "SBX_CASE_PROVIDER")
  message(FATAL_ERROR "${CASE}: does not select its provider through SBX_CASE_PROVIDER")
endif()

# Sets <out_var> to the first line of <text> that matches <regex> (empty if none). Split by
# hand, because a CMake list would treat '[' and ']' in compiler output as nesting.
function(sbx_first_matching_line text regex out_var)
  set(rest "${text}")
  while(NOT rest STREQUAL "")
    string(FIND "${rest}" "\n" nl)
    if(nl EQUAL -1)
      set(line "${rest}")
      set(rest "")
    else()
      string(SUBSTRING "${rest}" 0 ${nl} line)
      math(EXPR next "${nl} + 1")
      string(SUBSTRING "${rest}" ${next} -1 rest)
    endif()
    if(line MATCHES "${regex}")
      set(${out_var} "${line}" PARENT_SCOPE)
      return()
    endif()
  endwhile()
  set(${out_var} "" PARENT_SCOPE)
endfunction()

# 1. The regex cannot be satisfied by the file name or by the case's own source.
if(CASE MATCHES "${regex}")
  message(FATAL_ERROR "${CASE}: the regex '${regex}' matches the case's path; it must match only the diagnostic")
endif()
sbx_first_matching_line("${body}" "${regex}" source_line)
if(NOT source_line STREQUAL "")
  message(FATAL_ERROR "${CASE}: the regex '${regex}' matches the case's own source line '${source_line}'; "
                      "it must match only the diagnostic")
endif()

if(FAMILY STREQUAL "gcc")
  set(no_echo -fno-diagnostics-show-caret -fdiagnostics-color=never)
elseif(FAMILY STREQUAL "clang")
  set(no_echo -fno-caret-diagnostics -fno-color-diagnostics)
else()
  message(FATAL_ERROR "run_case.cmake: FAMILY must be gcc or clang, not '${FAMILY}'")
endif()
set(compile "${COMPILER}" "@${FLAGS}" ${no_echo} -fsyntax-only)

# 2. As written: must fail, naming the marker.
execute_process(COMMAND ${compile} "${CASE}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${CASE}: compiled with ${FAMILY}, but it must not (expected an error matching '${regex}')")
endif()
sbx_first_matching_line("${out}" "${regex}" matched_line)
if(matched_line STREQUAL "")
  message(FATAL_ERROR "${CASE}: ${FAMILY} rejected it, but no line of the diagnostic matches '${regex}':\n${out}")
endif()

# 3. With the provider that has what the case lacks: must compile.
execute_process(COMMAND ${compile} "-DSBX_CASE_PROVIDER=${twin_provider}" "${CASE}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE twin_out ERROR_VARIABLE twin_out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${CASE}: with SBX_CASE_PROVIDER=${twin_provider} it must compile, so that only the "
                      "capability makes the difference, but ${FAMILY} said:\n${twin_out}")
endif()

message(STATUS "${FAMILY} rejects ${CASE} as expected: ${matched_line}")
