// SPDX-License-Identifier: Apache-2.0
#include <sbx/client.hpp>
#include <sbx/request.hpp>

#include <fmt/format.h>

#include <set>

namespace sbx {
namespace {

error invalid(std::string field, std::string message) {
  error_detail d;
  d.message = std::move(message);
  d.field = std::move(field);
  return make_error(error_kind::invalid_request, std::move(d));
}

// POSIX names: letters, digits and '_', not starting with a digit.
bool valid_env_name(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace

result<void> validate(common_request const& r) {
  if (!r.problems.empty()) return r.problems.front();
  for (auto const& [k, v] : r.env) {
    if (!valid_env_name(k)) return invalid("env", fmt::format("env name \"{}\" is not a valid variable name", k));
    if (v.find('\0') != std::string::npos) return invalid("env", fmt::format("env value of \"{}\" contains a NUL byte", k));
  }
  for (auto const& [k, v] : r.labels)
    if (k.empty()) return invalid("labels", fmt::format("label with value \"{}\" has an empty key", v));
  std::set<std::string_view> names;
  for (auto const& s : r.secrets) {
    if (!valid_env_name(s.name)) return invalid("secrets", fmt::format("secret name \"{}\" is not a valid variable name", s.name));
    if (!names.insert(s.name).second) return invalid("secrets", fmt::format("secret \"{}\" is given twice", s.name));
    if (s.hosts.empty()) return invalid("secrets", fmt::format("secret \"{}\" is bound to no host", s.name));
    if (s.value.empty()) return invalid("secrets", fmt::format("secret \"{}\" has an empty value", s.name));
  }
  for (auto const& v : r.volumes) {
    if (v.id.empty()) return invalid("volumes", "a volume mount has an empty volume id");
    if (v.mount_path.empty() || v.mount_path[0] != '/')
      return invalid("volumes", fmt::format("mount path \"{}\" of volume \"{}\" is not absolute", v.mount_path, v.id));
  }
  for (auto p : r.ports)
    if (p == 0) return invalid("ports", "port 0 cannot be exposed");
  if (r.cpus && !(*r.cpus > 0)) return invalid("cpus", fmt::format("cpus must be positive, got {}", *r.cpus));
  if (r.lifetime && r.lifetime->count() <= 0)
    return invalid("timeout", fmt::format("lifetime must be positive, got {}ms", r.lifetime->count()));
  if (r.network.kind != network_policy::mode::allow && (!r.network.hosts.empty() || !r.network.cidrs.empty()))
    return invalid("network", "hosts or cidrs given with a network mode other than allow");
  if (r.image && r.image->value.empty()) return invalid("image", "the image is empty");
  return success();
}

namespace detail {

void note_problem(common_request& r, error e) { r.problems.push_back(std::move(e)); }

void set_lifetime(common_request& r, std::string_view text) {
  if (text == "session") {
    r.lifetime.reset();
    return;
  }
  auto d = parse_duration(text);
  if (!d) {
    error_detail det = d.error().detail();
    det.field = "timeout";
    note_problem(r, make_error(error_kind::invalid_request, std::move(det)));
    return;
  }
  r.lifetime = d.value();
}

void set_memory(common_request& r, std::string_view text) {
  auto m = memory::parse(text);
  if (!m) {
    error_detail det = m.error().detail();
    det.field = "memory";
    note_problem(r, make_error(error_kind::invalid_request, std::move(det)));
    return;
  }
  r.memory = m.value();
}

}  // namespace detail
}  // namespace sbx
