# SPDX-License-Identifier: Apache-2.0
# The sbx::deno client (included by providers/deno/CMakeLists.txt).
add_library(sbx_provider_deno STATIC
  ${CMAKE_CURRENT_LIST_DIR}/src/deno.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/session.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/exec.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/files.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/errors.cpp)
add_library(sbx::provider_deno ALIAS sbx_provider_deno)
set_target_properties(sbx_provider_deno PROPERTIES EXPORT_NAME provider_deno POSITION_INDEPENDENT_CODE ON)
target_sources(sbx_provider_deno PUBLIC FILE_SET HEADERS BASE_DIRS ${CMAKE_CURRENT_LIST_DIR}/include
               FILES ${CMAKE_CURRENT_LIST_DIR}/include/sbx/providers/deno.hpp)
target_link_libraries(sbx_provider_deno PUBLIC sbx::core PRIVATE sbx_http sbx_ws sbx_json fmt::fmt sbx_warnings)
if(SBX_INSTALL)
  install(TARGETS sbx_provider_deno EXPORT sbx-targets FILE_SET HEADERS)
endif()
