# SPDX-License-Identifier: Apache-2.0
# sbx_write_compile_flags(<file> [FLAGS <flag>...] [INCLUDES <dir>...])
# Writes a response file (`g++ @<file>`) with -std=c++20, <flag>..., the include dirs of
# sbx::core, sbx::capabilities and Boost::headers as the build uses them, and <dir>...,
# so that tests which run a compiler themselves (tests/headers, tests/compile_fail) see the
# same headers as the build. The compiler's own system dirs are left out: `-isystem
# /usr/include` would break libstdc++'s #include_next.
function(sbx_write_compile_flags file)
  cmake_parse_arguments(arg "" "" "FLAGS;INCLUDES" ${ARGN})
  set(lines -std=c++20 ${arg_FLAGS})
  foreach(target sbx_core sbx_capabilities Boost::headers)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    foreach(dir IN LISTS dirs)
      if(NOT dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
        # $<BUILD_INTERFACE:...> is evaluated by file(GENERATE) below.
        list(APPEND lines "-I${dir}")
      endif()
    endforeach()
  endforeach()
  foreach(dir IN LISTS arg_INCLUDES)
    list(APPEND lines "-I${dir}")
  endforeach()
  list(JOIN lines "\n" content)
  file(GENERATE OUTPUT ${file} CONTENT "${content}\n")
endfunction()
