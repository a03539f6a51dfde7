// SPDX-License-Identifier: Apache-2.0
// Compiled only while volumes.cpp is not in the tree: the operations say so instead of
// failing to link.
#include "internal.hpp"

namespace sbx {
namespace {
error missing(std::string_view field) {
  return make_unsupported("local", cap::volumes::name, field);
}
}  // namespace
result<volume_info> local::create_volume(volume_request const&) { return missing("create_volume"); }
result<std::vector<volume_info>> local::list_volumes() { return missing("list_volumes"); }
result<void> local::delete_volume(std::string_view) { return missing("delete_volume"); }
}  // namespace sbx
