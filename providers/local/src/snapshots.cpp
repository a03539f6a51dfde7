// SPDX-License-Identifier: Apache-2.0
// Snapshots of the local provider: a sandbox's overlay upper dir captured into
// <state>/snapshots/<id>/layer, bootable as an overlay lower layer on top of the layers the
// sandbox itself sat on (so snapshots of snapshot-booted sandboxes stack).
//
// The layer keeps what makes it an overlay layer: whiteouts (character devices 0:0), opaque
// directories and redirects (trusted.overlay.* as root, user.overlay.* with userxattr), plus
// ownership (the sandbox's shifted uids), modes, timestamps and hard links. `cp` does the
// copy: with --preserve=...,xattr a lost xattr is an error rather than silently dropped, and
// --reflink=auto shares extents where the store's filesystem can.

#include "fs.hpp"
#include "fsutil.hpp"
#include "internal.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

error snap_error(error_kind k, std::string msg, std::string_view id = {}) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

json read_json(stdfs::path const& p) {
  std::string s = fsu::read_all(p.string());
  if (s.empty()) return json();
  return json::parse(s, nullptr, false);
}

std::vector<std::string> strings(json const& j, char const* key) {
  std::vector<std::string> out;
  if (auto l = j.find(key); l != j.end() && l->is_array())
    for (auto const& x : *l)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

/// Two spellings of a layer path name the same directory.
bool same_path(std::string const& a, stdfs::path const& b) {
  if (a == b.string()) return true;
  std::error_code e1, e2;
  auto ca = stdfs::weakly_canonical(a, e1), cb = stdfs::weakly_canonical(b, e2);
  return !e1 && !e2 && ca == cb;
}

snapshot_info info_of(std::string const& id, json const& j) {
  snapshot_info s;
  s.id = id;
  s.name = j.value("name", id);
  s.source_sandbox = j.value("source_sandbox", std::string());
  s.size_bytes = j.value("size_bytes", std::uint64_t{0});
  s.created = std::chrono::system_clock::time_point(std::chrono::milliseconds(j.value("created_ms", std::int64_t{0})));
  return s;
}

/// Runs `argv` (no shell, empty environment but PATH), returning "" or what went wrong,
/// including the first 4 KiB of its stderr.
std::string run(std::vector<std::string> const& argv) {
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return fmt::format("pipe: {}", std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char const* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, args.data(), const_cast<char* const*>(envp));
  posix_spawn_file_actions_destroy(&fa);
  ::close(err[1]);
  if (rc != 0) {
    ::close(err[0]);
    return fmt::format("starting {}: {}", argv[0], std::strerror(rc));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < 4096) text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(err[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (WIFSIGNALED(st)) return fmt::format("{} was killed by signal {}: {}", argv[0], WTERMSIG(st), text);
  return fmt::format("{} exited with {}: {}", argv[0], WEXITSTATUS(st), text);
}

std::string cp_path() {
  for (char const* c : {"/usr/bin/cp", "/bin/cp"})
    if (::access(c, X_OK) == 0) return c;
  return "/usr/bin/cp";
}

/// The snapshot a lower dir is the layer of, if it is one of this store's.
std::string snapshot_of_layer(store_paths const& p, std::string const& lower) {
  stdfs::path l(lower);
  if (l.filename() != "layer") return {};
  stdfs::path dir = l.parent_path();
  if (!same_path(dir.parent_path().string(), p.snapshots())) return {};
  return dir.filename().string();
}

/// The upper dir the sandbox's root overlay really uses, from its mountinfo (the runtime
/// puts it on a tmpfs below <dir>/upper when disk_bytes is set). Empty if unknown.
std::string mounted_upper(pid_t init_pid) {
  std::ifstream in(fmt::format("/proc/{}/mountinfo", init_pid));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, point;
    if (!(ls >> id >> parent >> devno >> root >> point) || point != "/") continue;
    auto dash = line.find(" - overlay ");
    if (dash == std::string::npos) continue;
    auto u = line.find("upperdir=", dash);
    if (u == std::string::npos) continue;
    u += 9;
    auto e = line.find_first_of(", ", u);
    return line.substr(u, e == std::string::npos ? std::string::npos : e - u);
  }
  return {};
}

}  // namespace

result<std::vector<std::filesystem::path>> snapshot_lowers(store_paths const& p, std::string_view id) {
  if (!fs::valid_store_id(id)) return snap_error(error_kind::not_found, fmt::format("no snapshot \"{}\"", id), id);
  json j = read_json(p.snapshot(id) / "snapshot.json");
  if (!j.is_object()) return snap_error(error_kind::not_found, fmt::format("no snapshot \"{}\"", id), id);
  std::vector<stdfs::path> out{p.snapshot(id) / "layer"};
  for (auto const& l : strings(j, "lowers")) out.emplace_back(l);
  for (auto const& l : out)
    if (!stdfs::is_directory(l))
      return snap_error(error_kind::not_found, fmt::format("snapshot \"{}\": its layer {} is gone", id, l.string()), id);
  return out;
}

namespace fs {

result<snapshot_info> snapshot(store_paths const& p, snapshot_source const& s, std::string_view name) {
  if (name.size() > 253 || std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    return snap_error(error_kind::invalid_request, fmt::format("snapshot: name \"{}\" must be at most 253 printable characters", name));
  struct stat ust{};
  if (::stat(s.upper.c_str(), &ust) != 0 || !S_ISDIR(ust.st_mode))
    return snap_error(error_kind::internal, fmt::format("snapshot of {}: its upper dir {} is not readable from the host: {}", s.sandbox_id,
                                                        s.upper.string(), std::strerror(errno)), s.sandbox_id);
  SBX_TRY(lock, lock_store(p.snapshots()));
  if (!name.empty()) {
    SBX_TRY(all, list_snapshots(p));
    for (auto const& x : all)
      if (x.name == name)
        return snap_error(error_kind::already_exists, fmt::format("snapshot: a snapshot named \"{}\" exists ({})", name, x.id), x.id);
  }
  std::string id = new_store_id("snap");
  stdfs::path tmp = p.snapshots() / ("." + id + ".new");
  if (::mkdir(tmp.c_str(), 0711) != 0)
    return snap_error(error_kind::internal, fmt::format("snapshot: mkdir {}: {}", tmp.string(), std::strerror(errno)), id);
  auto abandon = [&](error_kind k, std::string msg) {
    fsu::remove_tree(tmp.string());
    return snap_error(k, std::move(msg), id);
  };
  auto created = std::chrono::system_clock::now();
  if (auto e = run({cp_path(), "-R", "--no-dereference", "--preserve=mode,ownership,timestamps,links,xattr", "--reflink=auto",
                    "--no-target-directory", s.upper.string(), (tmp / "layer").string()});
      !e.empty())
    return abandon(error_kind::internal, fmt::format("snapshot of {}: copying {} failed: {}", s.sandbox_id, s.upper.string(), e));

  std::string parent;
  json lowers = json::array();
  for (auto const& l : s.lowers) lowers.push_back(l.string());
  if (!s.lowers.empty()) parent = snapshot_of_layer(p, s.lowers.front().string());
  snapshot_info info;
  info.id = id;
  info.name = name.empty() ? id : std::string(name);
  info.source_sandbox = s.sandbox_id;
  info.size_bytes = tree_bytes(tmp / "layer");
  info.created = std::chrono::time_point_cast<std::chrono::milliseconds>(created);
  json j = {{"id", id},
            {"name", info.name},
            {"source_sandbox", s.sandbox_id},
            {"created_ms", std::chrono::duration_cast<std::chrono::milliseconds>(created.time_since_epoch()).count()},
            {"size_bytes", info.size_bytes},
            {"lowers", lowers},
            {"parent", parent.empty() ? json(nullptr) : json(parent)}};
  if (auto e = fsu::write_atomic((tmp / "snapshot.json").string(), j.dump(2) + "\n", 0644); !e.empty())
    return abandon(error_kind::internal, "snapshot: " + e);
  if (::rename(tmp.c_str(), p.snapshot(id).c_str()) != 0)
    return abandon(error_kind::internal, fmt::format("snapshot: rename to {}: {}", p.snapshot(id).string(), std::strerror(errno)));
  return info;
}

result<std::vector<snapshot_info>> list_snapshots(store_paths const& p) {
  std::vector<snapshot_info> out;
  std::error_code ec;
  for (auto const& e : stdfs::directory_iterator(p.snapshots(), ec)) {
    std::string id = e.path().filename().string();
    if (!valid_store_id(id) || !e.is_directory(ec)) continue;
    json j = read_json(e.path() / "snapshot.json");
    if (!j.is_object()) continue;
    out.push_back(info_of(id, j));
  }
  std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.created != b.created ? a.created < b.created : a.id < b.id; });
  return out;
}

result<void> delete_snapshot(store_paths const& p, std::string_view id) {
  if (!valid_store_id(id) || !stdfs::exists(p.snapshot(id) / "snapshot.json"))
    return snap_error(error_kind::not_found, fmt::format("delete_snapshot: no snapshot \"{}\"", id), id);
  SBX_TRY(lock, lock_store(p.snapshots()));
  stdfs::path layer = p.snapshot(id) / "layer";
  std::error_code ec;
  for (auto const& e : stdfs::directory_iterator(p.snapshots(), ec)) {
    std::string other = e.path().filename().string();
    if (other == id || !valid_store_id(other)) continue;
    json j = read_json(e.path() / "snapshot.json");
    if (!j.is_object()) continue;
    auto l = strings(j, "lowers");
    if (j.value("parent", json(nullptr)) == json(std::string(id)) ||
        std::any_of(l.begin(), l.end(), [&](std::string const& x) { return same_path(x, layer); }))
      return snap_error(error_kind::invalid_request,
                        fmt::format("delete_snapshot: snapshot {} stacks on \"{}\"; delete it first", other, id), id);
  }
  for (auto const& s : live_sandboxes(p))
    if (std::any_of(s.lowers.begin(), s.lowers.end(), [&](std::string const& x) { return same_path(x, layer); }))
      return snap_error(error_kind::invalid_request,
                        fmt::format("delete_snapshot: live sandbox {} boots from \"{}\"", s.id, id), id);
  stdfs::path gone = p.snapshots() / ("." + std::string(id) + ".deleting");
  if (::rename(p.snapshot(id).c_str(), gone.c_str()) != 0)
    return snap_error(error_kind::internal, fmt::format("delete_snapshot \"{}\": {}", id, std::strerror(errno)), id);
  if (auto e = fsu::remove_tree(gone.string()); !e.empty()) return snap_error(error_kind::internal, "delete_snapshot: " + e, id);
  return success();
}

}  // namespace fs
}  // namespace local_impl

result<snapshot_info> local::snapshot(handle const& h, std::string_view name) {
  SBX_TRY(v, local_impl::view(*this, h));
  auto const& p = local_impl::paths(*this);
  local_impl::fs::snapshot_source src;
  src.sandbox_id = v.id;
  std::string state = local_impl::fsu::read_all((v.dir / "state.json").string());
  auto j = nlohmann::json::parse(state, nullptr, false);
  if (!j.is_object())
    return local_impl::snap_error(error_kind::not_found, fmt::format("snapshot: sandbox {} has no state (gone?)", v.id), v.id);
  for (auto const& l : local_impl::strings(j, "lowers")) src.lowers.emplace_back(l);
  src.upper = j.value("upper", (v.dir / "upper").string());
  // The runtime keeps a disk_bytes sandbox's upper on a tmpfs that only the sandbox's mount
  // namespace has; the host cannot read it.
  if (auto real = local_impl::mounted_upper(v.init_pid); !real.empty() && real != src.upper.string()) {
    if (!std::filesystem::is_directory(real))
      return local_impl::snap_error(error_kind::unsupported,
                                    fmt::format("snapshot of {}: its upper layer {} is a tmpfs (disk_bytes) only the sandbox can see", v.id, real), v.id);
    src.upper = real;
  }
  // Frozen for the copy, so the layer is one moment of the sandbox's files; a sandbox that was
  // already paused stays paused. Without a freezer on this host the copy is taken live.
  bool frozen = false;
  if (auto i = info(h); i && i.value().status == sandbox_status::running) frozen = static_cast<bool>(pause(h));
  auto r = local_impl::fs::snapshot(p, src, name);
  if (frozen) (void)resume(h);
  return r;
}
result<std::vector<snapshot_info>> local::list_snapshots() { return local_impl::fs::list_snapshots(local_impl::paths(*this)); }
result<void> local::delete_snapshot(std::string_view id) { return local_impl::fs::delete_snapshot(local_impl::paths(*this), id); }

}  // namespace sbx
