// SPDX-License-Identifier: Apache-2.0
// Compiled only while snapshots.cpp is not in the tree: the operations say so instead of
// failing to link.
#include "internal.hpp"

namespace sbx {
namespace {
error missing(std::string_view field) {
  return make_unsupported("local", cap::snapshots::name, field);
}
}  // namespace
namespace local_impl {
result<std::vector<std::filesystem::path>> snapshot_lowers(store_paths const&, std::string_view) { return missing("snapshot"); }
}  // namespace local_impl
result<snapshot_info> local::snapshot(handle const&, std::string_view) { return missing("snapshot"); }
result<std::vector<snapshot_info>> local::list_snapshots() { return missing("list_snapshots"); }
result<void> local::delete_snapshot(std::string_view) { return missing("delete_snapshot"); }
}  // namespace sbx
