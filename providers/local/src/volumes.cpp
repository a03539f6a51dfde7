// SPDX-License-Identifier: Apache-2.0
// Volumes of the local provider: host directories under <state>/volumes/<id>/data that the
// runtime bind-mounts into sandboxes at create time. Also the store's view of which
// sandboxes are alive, shared with snapshots.cpp.

#include "fs.hpp"
#include "fsutil.hpp"
#include "internal.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sbx {
namespace local_impl {
namespace {

using json = nlohmann::json;
namespace stdfs = std::filesystem;

error store_error(error_kind k, std::string msg, std::string_view id = {}) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json read_json(stdfs::path const& p) {
  std::string s = fsu::read_all(p.string());
  if (s.empty()) return json();
  return json::parse(s, nullptr, false);
}

/// Whether `dir`'s supervisor is alive: it holds an exclusive flock on `dir/lock` while it
/// runs (the runtime's rule; a reused pid cannot fool it).
bool supervisor_alive(stdfs::path const& dir) {
  unique_fd fd(::open((dir / "lock").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

}  // namespace

namespace fs {

bool valid_store_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string new_store_id(std::string_view prefix) {
  unsigned char b[6] = {};
  if (::getrandom(b, sizeof b, 0) != sizeof b) {
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(b, &t, sizeof b);
  }
  return fmt::format("{}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", prefix, b[0], b[1], b[2], b[3], b[4], b[5]);
}

result<unique_fd> lock_store(stdfs::path const& dir) {
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  unique_fd fd(::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd || ::flock(fd.get(), LOCK_EX) != 0)
    return store_error(error_kind::internal, fmt::format("locking {} failed: {}", (dir / ".lock").string(), std::strerror(errno)));
  // Half-made (.<id>.new) and half-deleted (.<id>.deleting) entries only exist while someone
  // holds this lock; one seen now was left by a process that died.
  for (auto const& e : stdfs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.size() > 1 && n[0] == '.' && n != ".lock") fsu::remove_tree(e.path().string());
  }
  return fd;
}

std::uint64_t tree_bytes(stdfs::path const& p) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = stdfs::recursive_directory_iterator(p, stdfs::directory_options::skip_permission_denied, ec);
       it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
      total += static_cast<std::uint64_t>(st.st_size);
  }
  return total;
}

std::vector<live_sandbox> live_sandboxes(store_paths const& p) {
  std::vector<live_sandbox> out;
  std::error_code ec;
  for (auto const& e : stdfs::directory_iterator(p.sandboxes(), ec)) {
    if (!e.is_directory(ec)) continue;
    if (!supervisor_alive(e.path())) continue;
    live_sandbox s;
    s.id = e.path().filename().string();
    s.dir = e.path();
    json st = read_json(e.path() / "state.json");
    if (st.is_object()) {
      s.init_pid = st.value("init_pid", -1);
      s.upper = st.value("upper", std::string());
      if (auto l = st.find("lowers"); l != st.end() && l->is_array())
        for (auto const& x : *l)
          if (x.is_string()) s.lowers.push_back(x.get<std::string>());
    }
    out.push_back(std::move(s));
  }
  return out;
}

/// Mount roots (mountinfo's 4th field: the path inside the mounted filesystem) of the mount
/// namespace of `pid`.
std::vector<std::string> mount_roots(pid_t pid) {
  std::vector<std::string> out;
  if (pid <= 0) return out;
  std::ifstream in(fmt::format("/proc/{}/mountinfo", pid));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root;
    if (ls >> id >> parent >> devno >> root) out.push_back(root);
  }
  return out;
}

result<volume_info> create_volume(store_paths const& p, volume_request const& r) {
  if (r.name.size() > 253 || std::any_of(r.name.begin(), r.name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return store_error(error_kind::invalid_request, fmt::format("create_volume: name \"{}\" must be at most 253 printable characters", r.name));
  if (r.capacity_bytes && *r.capacity_bytes == 0)
    return store_error(error_kind::invalid_request, "create_volume: capacity_bytes must be positive");
  SBX_TRY(lock, lock_store(p.volumes()));
  if (!r.name.empty()) {
    SBX_TRY(all, list_volumes(p, false));
    for (auto const& v : all)
      if (v.name == r.name)
        return store_error(error_kind::already_exists, fmt::format("create_volume: a volume named \"{}\" exists ({})", r.name, v.id), v.id);
  }
  volume_info v;
  v.id = new_store_id("vol");
  v.name = r.name.empty() ? v.id : r.name;
  v.capacity_bytes = r.capacity_bytes;
  auto created = now_ms();
  v.created = std::chrono::system_clock::time_point(std::chrono::milliseconds(created));

  stdfs::path tmp = p.volumes() / ("." + v.id + ".new"), dir = p.volume(v.id);
  auto fail = [&](std::string what) {
    fsu::remove_tree(tmp.string());
    return store_error(error_kind::internal, fmt::format("create_volume: {}: {}", what, std::strerror(errno)), v.id);
  };
  if (::mkdir(tmp.c_str(), 0711) != 0) return fail("mkdir " + tmp.string());
  // 0755, owned by the caller; the runtime gives the top directory to the sandbox's root
  // when it first mounts it (its uid is the runtime's to choose). 0711 above lets that uid
  // walk down to data/.
  if (::mkdir((tmp / "data").c_str(), 0755) != 0) return fail("mkdir data");
  json j = {{"id", v.id}, {"name", v.name}, {"labels", r.labels}, {"created_ms", created},
            {"capacity_bytes", r.capacity_bytes ? json(*r.capacity_bytes) : json(nullptr)}};
  if (auto e = fsu::write_atomic((tmp / "volume.json").string(), j.dump(2) + "\n", 0644); !e.empty())
    return store_error(error_kind::internal, "create_volume: " + e, v.id);
  if (::rename(tmp.c_str(), dir.c_str()) != 0) return fail("rename to " + dir.string());
  return v;
}

result<std::vector<volume_info>> list_volumes(store_paths const& p, bool with_usage) {
  std::vector<volume_info> out;
  std::error_code ec;
  for (auto const& e : stdfs::directory_iterator(p.volumes(), ec)) {
    std::string id = e.path().filename().string();
    if (!valid_store_id(id) || !e.is_directory(ec)) continue;
    json j = read_json(e.path() / "volume.json");
    if (!j.is_object()) continue;
    volume_info v;
    v.id = id;
    v.name = j.value("name", id);
    v.created = std::chrono::system_clock::time_point(std::chrono::milliseconds(j.value("created_ms", std::int64_t{0})));
    if (auto c = j.find("capacity_bytes"); c != j.end() && c->is_number_unsigned()) v.capacity_bytes = c->get<std::uint64_t>();
    if (with_usage) v.used_bytes = tree_bytes(e.path() / "data");
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.created != b.created ? a.created < b.created : a.id < b.id; });
  return out;
}

result<void> delete_volume(store_paths const& p, std::string_view id) {
  if (!valid_store_id(id) || !stdfs::exists(p.volume(id) / "volume.json"))
    return store_error(error_kind::not_found, fmt::format("delete_volume: no volume \"{}\"", id), id);
  SBX_TRY(lock, lock_store(p.volumes()));
  // A live sandbox that mounts it shows the volume's data dir as the root of one of its
  // mounts; the id is random, so its path suffix is enough to recognise it.
  std::string suffix = "/volumes/" + std::string(id) + "/data";
  for (auto const& s : live_sandboxes(p)) {
    for (auto const& root : mount_roots(s.init_pid)) {
      bool hit = root.size() >= suffix.size() && root.compare(root.size() - suffix.size(), suffix.size(), suffix) == 0;
      if (hit || root.find(suffix + "/") != std::string::npos)
        return store_error(error_kind::invalid_request,
                           fmt::format("delete_volume: volume \"{}\" is mounted by live sandbox {}", id, s.id), id);
    }
  }
  // Out of sight first (list and create stop seeing it), then the bytes.
  stdfs::path gone = p.volumes() / ("." + std::string(id) + ".deleting");
  if (::rename(p.volume(id).c_str(), gone.c_str()) != 0)
    return store_error(error_kind::internal, fmt::format("delete_volume \"{}\": {}", id, std::strerror(errno)), id);
  if (auto e = fsu::remove_tree(gone.string()); !e.empty())
    return store_error(error_kind::internal, "delete_volume: " + e, id);
  return success();
}

}  // namespace fs
}  // namespace local_impl

result<volume_info> local::create_volume(volume_request const& r) {
  return local_impl::fs::create_volume(local_impl::paths(*this), r);
}
result<std::vector<volume_info>> local::list_volumes() { return local_impl::fs::list_volumes(local_impl::paths(*this), true); }
result<void> local::delete_volume(std::string_view id) { return local_impl::fs::delete_volume(local_impl::paths(*this), id); }

}  // namespace sbx
