// SPDX-License-Identifier: Apache-2.0
// Files inside a local sandbox, reached from the host through /proc/<init>/root.
//
// Every path is resolved with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) against an
// O_PATH fd of the sandbox's root, so ".." and absolute symlinks stop at the sandbox's "/" and
// /proc magic links are refused: nothing a sandbox plants can make the host touch its own
// files. Operations that create, remove or rename act on (parent fd, one name) with the *at
// calls, which never follow the final component.

#include "fs.hpp"
#include "internal.hpp"

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <random>

namespace sbx {
namespace local_impl {
namespace {

constexpr std::size_t chunk_size = std::size_t{1} << 20;  // 1 MiB: streamed I/O never holds more

error fs_error(error_kind k, std::string_view id, std::string msg) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

error_kind kind_of(int e) {
  switch (e) {
    case ENOENT: return error_kind::not_found;
    case ENOTDIR: case EISDIR: case EEXIST: case ENOTEMPTY: case EINVAL: case ENAMETOOLONG:
    case ELOOP: case EROFS: case EXDEV: case EBUSY: case EPERM: case EACCES: case ETXTBSY:
      return error_kind::invalid_request;
    case ENOSPC: case EDQUOT: case EFBIG: return error_kind::quota_exceeded;
    default: return error_kind::internal;
  }
}

error sys_error(std::string_view id, std::string_view op, std::string_view path, int e) {
  return fs_error(kind_of(e), id, fmt::format("{} \"{}\": {}", op, path, std::strerror(e)));
}

int sys_openat2(int dirfd, char const* path, std::uint64_t flags, std::uint64_t mode, std::uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = mode;
  how.resolve = resolve;
  // RESOLVE_IN_ROOT answers EAGAIN when a rename raced with the lookup; retrying is the
  // documented remedy.
  for (int i = 0; i < 16; ++i) {
    long r = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (r >= 0) return static_cast<int>(r);
    if (errno != EAGAIN && errno != EINTR) return -1;
  }
  return -1;
}

/// For its lifetime, this thread creates files as the sandbox's root: fsuid/fsgid set to the
/// host ids of the sandbox's root. A file system mounted in the sandbox's user namespace
/// refuses to create inodes for an id it cannot map (EOVERFLOW for host root), and this also
/// makes new files the sandbox root's without a chown. The kernel drops the file
/// capabilities (DAC override, chown, fowner, fsetid) from the effective set when the fsuid
/// leaves 0; they are raised again from the permitted set so that the host still acts like
/// the sandbox's root. Per thread: setfsuid and capset are not broadcast to other threads.
class act_as {
 public:
  act_as(uid_t uid, gid_t gid) {
    old_uid_ = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
    old_gid_ = static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)));
    if (old_uid_ == uid && old_gid_ == gid) return;
    active_ = true;
    have_caps_ = ::syscall(SYS_capget, &hdr_, saved_) == 0;
    ::setfsgid(gid);
    ::setfsuid(uid);
    if (have_caps_) {
      __user_cap_data_struct raised[2] = {saved_[0], saved_[1]};
      raised[0].effective = raised[0].permitted;
      raised[1].effective = raised[1].permitted;
      ::syscall(SYS_capset, &hdr_, raised);
    }
  }
  act_as(act_as const&) = delete;
  act_as& operator=(act_as const&) = delete;
  ~act_as() {
    if (!active_) return;
    ::setfsuid(old_uid_);
    ::setfsgid(old_gid_);
    if (have_caps_) ::syscall(SYS_capset, &hdr_, saved_);
  }

 private:
  uid_t old_uid_ = 0;
  gid_t old_gid_ = 0;
  bool active_ = false;
  bool have_caps_ = false;
  __user_cap_header_struct hdr_{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct saved_[2] = {};
};

/// An absolute path inside the sandbox, normalised lexically ("." and empty components
/// dropped, ".." pops, clamped at "/").
struct rpath {
  std::vector<std::string> parts;
  bool is_root() const { return parts.empty(); }
  std::string const& name() const { return parts.back(); }
  std::string str() const { return str(parts.size()); }
  std::string parent_str() const { return str(parts.size() - 1); }
  std::string str(std::size_t n) const {
    if (n == 0) return "/";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) { s += '/'; s += parts[i]; }
    return s;
  }
};

result<rpath> parse(std::string_view id, std::string_view op, std::string_view p) {
  if (p.empty() || p.front() != '/')
    return fs_error(error_kind::invalid_request, id, fmt::format("{} \"{}\": the path must be absolute", op, p));
  if (p.find('\0') != std::string_view::npos)
    return fs_error(error_kind::invalid_request, id, fmt::format("{}: the path contains a NUL byte", op));
  rpath r;
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view c = p.substr(i, j - i);
    if (c == "..") { if (!r.parts.empty()) r.parts.pop_back(); }
    else if (!c.empty() && c != ".") r.parts.emplace_back(c);
    i = j + 1;
  }
  return r;
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

/// A temporary sibling name for `name` that fits NAME_MAX.
std::string temp_name(std::string const& name) {
  return fmt::format(".{}.sbx-{}", name.substr(0, 200), random_suffix());
}

/// One sandbox's root plus who owns what the host creates there.
struct box {
  sandbox_view const& v;
  unique_fd root;

  int open_in(std::string const& path, std::uint64_t flags) const {
    return sys_openat2(root.get(), path.c_str(), flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  }
  error fail(std::string_view op, std::string_view path, int e) const { return sys_error(v.id, op, path, e); }
  error invalid(std::string msg) const { return fs_error(error_kind::invalid_request, v.id, std::move(msg)); }
};

result<box> open_box(sandbox_view const& v) {
  SBX_TRY(root, open_root(v));
  return box{v, std::move(root)};
}

/// Who a file written by `put_file` belongs to, its mode and its mtime.
struct attrs {
  std::uint32_t mode = 0644;
  std::optional<std::pair<uid_t, gid_t>> owner;  ///< none: the calling process's
  std::optional<timespec> mtime;
};

/// A failure of a helper that works on fds: errno and which entry it concerns.
struct sys_fail {
  int err;
  std::string what;  ///< "" for the entry the caller named, else a path relative to it
};

/// Writes `source` into `dirfd`/`name` atomically: a temp file in the same dir, then rename.
/// Never follows a symlink at `name` (the rename replaces the link itself).
result<void> put_file(int dirfd, std::string const& name, byte_source const& source, attrs const& a,
                      std::function<error(int)> const& fail) {
  struct stat st{};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return fail(EISDIR);
  std::string tmp;
  unique_fd fd;
  for (int i = 0; i < 8 && !fd; ++i) {
    tmp = temp_name(name);
    fd.reset(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd && errno != EEXIST) return fail(errno);
  }
  if (!fd) return fail(EEXIST);
  auto abandon = [&](int e) { ::unlinkat(dirfd, tmp.c_str(), 0); return fail(e); };
  if (a.owner && ::fchown(fd.get(), a.owner->first, a.owner->second) != 0) return abandon(errno);
  std::unique_ptr<char[]> buf(new char[chunk_size]);
  for (;;) {
    auto n = source(std::span<char>(buf.get(), chunk_size));
    if (!n) { ::unlinkat(dirfd, tmp.c_str(), 0); return std::move(n).assume_error(); }
    if (n.value() == 0) break;
    std::size_t len = std::min(n.value(), chunk_size), off = 0;
    while (off < len) {
      ssize_t w = ::write(fd.get(), buf.get() + off, len - off);
      if (w < 0) { if (errno == EINTR) continue; return abandon(errno); }
      off += static_cast<std::size_t>(w);
    }
  }
  // chown clears set-id bits, so the mode goes on after it.
  if (::fchmod(fd.get(), a.mode & 07777) != 0) return abandon(errno);
  if (a.mtime) {
    timespec ts[2] = {{0, UTIME_OMIT}, *a.mtime};
    ::futimens(fd.get(), ts);
  }
  if (::close(fd.release()) != 0) return abandon(errno);
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) return abandon(errno);
  return success();
}

/// Creates (or replaces, if it is not a directory) the symlink `dirfd`/`name` -> `target`.
int put_symlink(int dirfd, std::string const& name, std::string const& target,
                std::optional<std::pair<uid_t, gid_t>> owner) {
  struct stat st{};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) return EISDIR;
  std::string tmp = temp_name(name);
  if (::symlinkat(target.c_str(), dirfd, tmp.c_str()) != 0) return errno;
  if (owner && ::fchownat(dirfd, tmp.c_str(), owner->first, owner->second, AT_SYMLINK_NOFOLLOW) != 0) {
    int e = errno; ::unlinkat(dirfd, tmp.c_str(), 0); return e;
  }
  if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    int e = errno; ::unlinkat(dirfd, tmp.c_str(), 0); return e;
  }
  return 0;
}

/// mkdir `dirfd`/`name` if missing (owned by `owner`), then opens it without following a
/// symlink. An existing non-directory is ENOTDIR.
int open_or_make_dir(int dirfd, std::string const& name, std::optional<std::pair<uid_t, gid_t>> owner,
                     unique_fd& out) {
  if (::mkdirat(dirfd, name.c_str(), 0700) == 0) {
    if (owner && ::fchownat(dirfd, name.c_str(), owner->first, owner->second, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  } else if (errno != EEXIST) {
    return errno;
  }
  out.reset(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!out) return (errno == ELOOP) ? ENOTDIR : errno;
  return 0;
}

/// Opens a regular file for reading without opening anything else (a FIFO or a device the
/// sandbox planted would block or have side effects): O_PATH first, then a real open of
/// the same inode through our own /proc/self/fd.
int reopen_regular(unique_fd const& path_fd, unique_fd& out, struct stat& st) {
  if (::fstat(path_fd.get(), &st) != 0) return errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  auto self = fmt::format("/proc/self/fd/{}", path_fd.get());
  out.reset(::open(self.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  return out ? 0 : errno;
}

byte_source fd_source(int fd, std::string path, std::string id) {
  return [fd, path = std::move(path), id = std::move(id)](std::span<char> b) -> result<std::size_t> {
    for (;;) {
      ssize_t n = ::read(fd, b.data(), b.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return sys_error(id, "read", path, errno);
    }
  };
}

file_type type_of(mode_t m) {
  if (S_ISREG(m)) return file_type::regular;
  if (S_ISDIR(m)) return file_type::directory;
  if (S_ISLNK(m)) return file_type::symlink;
  return file_type::other;
}

std::string read_link(int dirfd, char const* name) {
  std::string s(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name, s.data(), s.size());
    if (n < 0) return {};
    if (static_cast<std::size_t>(n) < s.size()) { s.resize(static_cast<std::size_t>(n)); return s; }
    s.resize(s.size() * 2);
  }
}

file_info info_of(std::string path, std::string name, struct stat const& st, int dirfd, char const* entry) {
  file_info fi;
  fi.path = std::move(path);
  fi.name = std::move(name);
  fi.type = type_of(st.st_mode);
  fi.size = static_cast<std::uint64_t>(st.st_size);
  fi.mode = st.st_mode & 07777;
  fi.modified = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
  if (fi.type == file_type::symlink) fi.link_target = read_link(dirfd, entry);
  return fi;
}

std::string join(std::string const& dir, std::string const& name) { return dir == "/" ? "/" + name : dir + "/" + name; }

/// Entries of a directory fd, without "." and "..". The fd stays open (dup'ed for readdir).
int entries(int dirfd, std::vector<std::string>& out) {
  int d = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return errno;
  DIR* dir = ::fdopendir(d);
  if (!dir) { int e = errno; ::close(d); return e; }
  ::rewinddir(dir);
  errno = 0;
  while (dirent* de = ::readdir(dir)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    out.emplace_back(de->d_name);
  }
  int e = errno;
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return e;
}

/// Removes everything below `dirfd`, never following symlinks.
std::optional<sys_fail> remove_tree(int dirfd) {
  std::vector<std::string> names;
  if (int e = entries(dirfd, names)) return sys_fail{e, ""};
  for (auto const& n : names) {
    struct stat st{};
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return sys_fail{errno, n};
    }
    if (S_ISDIR(st.st_mode)) {
      unique_fd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return sys_fail{errno, n};
      if (auto f = remove_tree(sub.get())) return sys_fail{f->err, n + "/" + f->what};
      if (::unlinkat(dirfd, n.c_str(), AT_REMOVEDIR) != 0) return sys_fail{errno, n};
    } else if (::unlinkat(dirfd, n.c_str(), 0) != 0 && errno != ENOENT) {
      return sys_fail{errno, n};
    }
  }
  return std::nullopt;
}

/// mkdir -p inside the sandbox, new directories owned by the sandbox's root.
result<void> make_dirs(box const& b, rpath const& p, std::string_view op, std::string_view shown) {
  if (unique_fd d(b.open_in(p.str(), O_PATH | O_DIRECTORY)); d) return success();
  for (std::size_t i = 1; i <= p.parts.size(); ++i) {
    unique_fd parent(b.open_in(p.str(i - 1), O_PATH | O_DIRECTORY));
    if (!parent) return b.fail(op, p.str(i - 1), errno == ELOOP ? ENOTDIR : errno);
    auto const& name = p.parts[i - 1];
    if (::mkdirat(parent.get(), name.c_str(), 0755) == 0) {
      if (::fchownat(parent.get(), name.c_str(), b.v.root_uid, b.v.root_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return b.fail(op, p.str(i), errno);
      continue;
    }
    if (errno != EEXIST) return b.fail(op, p.str(i), errno);
    // It exists: fine if it is (or leads, inside the sandbox, to) a directory.
    if (unique_fd d(b.open_in(p.str(i), O_PATH | O_DIRECTORY)); !d)
      return b.invalid(fmt::format("{} \"{}\": \"{}\" exists and is not a directory", op, shown, p.str(i)));
  }
  return success();
}

/// The parent directory of `p` (not the root) as an O_PATH fd.
result<unique_fd> open_parent(box const& b, rpath const& p, std::string_view op, std::string_view shown) {
  unique_fd parent(b.open_in(p.parent_str(), O_PATH | O_DIRECTORY));
  if (!parent) {
    int e = errno == ELOOP ? ENOTDIR : errno;
    if (e == ENOENT) return fs_error(error_kind::not_found, b.v.id,
                                     fmt::format("{} \"{}\": no such directory \"{}\"", op, shown, p.parent_str()));
    return b.fail(op, shown, e);
  }
  return parent;
}

error not_regular(box const& b, std::string_view op, std::string_view path, int e) {
  if (e == EISDIR) return b.invalid(fmt::format("{} \"{}\": is a directory", op, path));
  if (e == EINVAL) return b.invalid(fmt::format("{} \"{}\": not a regular file", op, path));
  return b.fail(op, path, e);
}

result<unique_fd> open_for_read(box const& b, std::string_view op, std::string_view path) {
  SBX_TRY(p, parse(b.v.id, op, path));
  unique_fd pf(b.open_in(p.str(), O_PATH));
  if (!pf) return b.fail(op, path, errno);
  unique_fd fd;
  struct stat st{};
  if (int e = reopen_regular(pf, fd, st)) return not_regular(b, op, path, e);
  return fd;
}

bool pseudo_fs(int fd) {
  struct statfs sf{};
  if (::fstatfs(fd, &sf) != 0) return false;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case DEVPTS_SUPER_MAGIC: case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC: case DEBUGFS_MAGIC: case SECURITYFS_MAGIC: case BPF_FS_MAGIC:
    case TRACEFS_MAGIC:
      return true;
    default:
      return false;
  }
}

timespec mtime_of(struct stat const& st) { return st.st_mtim; }

// ---- upload: host tree -> sandbox -------------------------------------------------------

result<void> upload_tree(box const& b, int lfd, int rfd, std::string const& lpath, std::string const& rpath_s) {
  std::vector<std::string> names;
  if (int e = entries(lfd, names)) return b.fail("upload", lpath, e);
  auto owner = std::make_optional(std::make_pair(b.v.root_uid, b.v.root_gid));
  for (auto const& n : names) {
    std::string lp = lpath + "/" + n, rp = join(rpath_s, n);
    struct stat st{};
    if (::fstatat(lfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return b.fail("upload", lp, errno);
    if (S_ISDIR(st.st_mode)) {
      unique_fd sub_l(::openat(lfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_l) return b.fail("upload", lp, errno);
      unique_fd sub_r;
      if (int e = open_or_make_dir(rfd, n, owner, sub_r)) {
        if (e == ENOTDIR) return b.invalid(fmt::format("upload \"{}\": \"{}\" exists and is not a directory", lp, rp));
        return b.fail("upload", rp, e);
      }
      SBX_TRYV(upload_tree(b, sub_l.get(), sub_r.get(), lp, rp));
      if (::fchmod(sub_r.get(), st.st_mode & 07777) != 0) return b.fail("upload", rp, errno);
      timespec ts[2] = {{0, UTIME_OMIT}, mtime_of(st)};
      ::futimens(sub_r.get(), ts);
    } else if (S_ISREG(st.st_mode)) {
      unique_fd src(::openat(lfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
      if (!src) return b.fail("upload", lp, errno);
      SBX_TRYV(put_file(rfd, n, fd_source(src.get(), lp, b.v.id), attrs{st.st_mode & 07777u, owner, mtime_of(st)},
                        [&](int e) { return b.fail("upload", rp, e); }));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target = read_link(lfd, n.c_str());
      if (int e = put_symlink(rfd, n, target, owner)) return b.fail("upload", rp, e);
    }
    // Devices, FIFOs and sockets are skipped: they are not content.
  }
  return success();
}

// ---- download: sandbox tree -> host -----------------------------------------------------

result<void> download_tree(box const& b, int rfd, int lfd, std::string const& rpath_s, std::string const& lpath) {
  std::vector<std::string> names;
  if (int e = entries(rfd, names)) return b.fail("download", rpath_s, e);
  for (auto const& n : names) {
    std::string rp = join(rpath_s, n), lp = lpath + "/" + n;
    struct stat st{};
    if (::fstatat(rfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed by the sandbox meanwhile
      return b.fail("download", rp, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      unique_fd sub_r(::openat(rfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_r) {
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) continue;  // changed under us
        return b.fail("download", rp, errno);
      }
      if (pseudo_fs(sub_r.get())) continue;  // /proc, /sys...: kernel state, not files
      unique_fd sub_l;
      if (int e = open_or_make_dir(lfd, n, std::nullopt, sub_l)) {
        if (e == ENOTDIR) return b.invalid(fmt::format("download \"{}\": \"{}\" exists and is not a directory", rp, lp));
        return b.fail("download", lp, e);
      }
      SBX_TRYV(download_tree(b, sub_r.get(), sub_l.get(), rp, lp));
      // No set-id bits on the host for anything that came out of a sandbox.
      if (::fchmod(sub_l.get(), st.st_mode & 01777) != 0) return b.fail("download", lp, errno);
      timespec ts[2] = {{0, UTIME_OMIT}, mtime_of(st)};
      ::futimens(sub_l.get(), ts);
    } else if (S_ISREG(st.st_mode)) {
      unique_fd pf(::openat(rfd, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!pf) { if (errno == ENOENT) continue; return b.fail("download", rp, errno); }
      unique_fd src;
      struct stat st2{};
      if (int e = reopen_regular(pf, src, st2)) {
        if (e == EINVAL || e == EISDIR) continue;  // swapped for something else meanwhile
        return b.fail("download", rp, e);
      }
      SBX_TRYV(put_file(lfd, n, fd_source(src.get(), rp, b.v.id), attrs{st2.st_mode & 0777u, std::nullopt, mtime_of(st2)},
                        [&](int e) { return b.fail("download", lp, e); }));
    } else if (S_ISLNK(st.st_mode)) {
      // Copied as a link, never resolved: its target means something only inside the sandbox.
      std::string target = read_link(rfd, n.c_str());
      if (int e = put_symlink(lfd, n, target, std::nullopt)) return b.fail("download", lp, e);
    }
  }
  return success();
}

/// The host-side parent dir fd and last component of a local path (the path is the caller's
/// own and is resolved normally).
result<std::pair<unique_fd, std::string>> local_parent(box const& b, std::string_view op, std::string const& lp) {
  std::filesystem::path p(lp);
  while (p.has_relative_path() && p.filename().empty()) p = p.parent_path();  // drop trailing "/"
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..")
    return b.invalid(fmt::format("{} \"{}\": not a usable local destination", op, lp));
  std::filesystem::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  unique_fd d(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!d) {
    if (errno == ENOENT)
      return fs_error(error_kind::not_found, b.v.id, fmt::format("{} \"{}\": no such local directory \"{}\"", op, lp, dir.string()));
    return b.fail(op, lp, errno);
  }
  return std::make_pair(std::move(d), name);
}

}  // namespace

result<unique_fd> open_root(sandbox_view const& v) {
  if (v.init_pid <= 0)
    return fs_error(error_kind::not_found, v.id, fmt::format("sandbox \"{}\" is not running", v.id));
  auto p = fmt::format("/proc/{}/root", v.init_pid);
  unique_fd fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH)
      return fs_error(error_kind::not_found, v.id, fmt::format("sandbox \"{}\" is not running", v.id));
    return sys_error(v.id, "open sandbox root", p, errno);
  }
  return fd;
}

namespace fs {

result<std::string> read_file(sandbox_view const& v, std::string_view path) {
  SBX_TRY(b, open_box(v));
  SBX_TRY(fd, open_for_read(b, "read_file", path));
  struct stat st{};
  ::fstat(fd.get(), &st);
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  std::unique_ptr<char[]> buf(new char[chunk_size]);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.get(), chunk_size);
    if (n < 0) { if (errno == EINTR) continue; return b.fail("read_file", path, errno); }
    if (n == 0) break;
    out.append(buf.get(), static_cast<std::size_t>(n));
  }
  return out;
}

result<void> read_file(sandbox_view const& v, std::string_view path, byte_sink const& sink) {
  SBX_TRY(b, open_box(v));
  SBX_TRY(fd, open_for_read(b, "read_file", path));
  std::unique_ptr<char[]> buf(new char[chunk_size]);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.get(), chunk_size);
    if (n < 0) { if (errno == EINTR) continue; return b.fail("read_file", path, errno); }
    if (n == 0) break;
    SBX_TRYV(sink(std::string_view(buf.get(), static_cast<std::size_t>(n))));
  }
  return success();
}

result<void> write_file(sandbox_view const& v, std::string_view path, byte_source const& source, write_options const& o) {
  act_as as(v.root_uid, v.root_gid);
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "write_file", path));
  if (p.is_root()) return b.invalid(fmt::format("write_file \"{}\": is a directory", path));
  if (o.create_parents) {
    rpath parent = p;
    parent.parts.pop_back();
    SBX_TRYV(make_dirs(b, parent, "write_file", path));
  }
  SBX_TRY(parent, open_parent(b, p, "write_file", path));
  return put_file(parent.get(), p.name(), source, attrs{o.mode, std::make_pair(v.root_uid, v.root_gid), std::nullopt},
                  [&](int e) {
                    if (e == EISDIR) return b.invalid(fmt::format("write_file \"{}\": is a directory", path));
                    return b.fail("write_file", path, e);
                  });
}

result<void> write_file(sandbox_view const& v, std::string_view path, std::string_view data, write_options const& o) {
  std::size_t off = 0;
  return write_file(v, path, byte_source([&](std::span<char> buf) -> result<std::size_t> {
    std::size_t n = std::min(buf.size(), data.size() - off);
    std::memcpy(buf.data(), data.data() + off, n);
    off += n;
    return n;
  }), o);
}

result<std::vector<file_info>> list_dir(sandbox_view const& v, std::string_view path) {
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "list_dir", path));
  unique_fd d(b.open_in(p.str(), O_RDONLY | O_DIRECTORY));
  if (!d) {
    if (errno == ENOTDIR) return b.invalid(fmt::format("list_dir \"{}\": not a directory", path));
    return b.fail("list_dir", path, errno);
  }
  std::vector<std::string> names;
  if (int e = entries(d.get(), names)) return b.fail("list_dir", path, e);
  std::vector<file_info> out;
  out.reserve(names.size());
  std::string dir = p.str();
  for (auto const& n : names) {
    struct stat st{};
    if (::fstatat(d.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    out.push_back(info_of(join(dir, n), n, st, d.get(), n.c_str()));
  }
  return out;
}

result<file_info> stat(sandbox_view const& v, std::string_view path) {
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "stat", path));
  struct stat st{};
  if (p.is_root()) {
    if (::fstat(b.root.get(), &st) != 0) return b.fail("stat", path, errno);
    return info_of("/", "/", st, b.root.get(), "");
  }
  SBX_TRY(parent, open_parent(b, p, "stat", path));
  if (::fstatat(parent.get(), p.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return b.fail("stat", path, errno);
  return info_of(p.str(), p.name(), st, parent.get(), p.name().c_str());
}

result<bool> exists(sandbox_view const& v, std::string_view path) {
  auto r = fs::stat(v, path);
  if (r) return true;
  if (r.error().kind() == error_kind::not_found) {
    // Only a missing path is "false"; a sandbox that is gone stays an error.
    SBX_TRY(root, open_root(v));
    (void)root;
    return false;
  }
  // "/file/x" where /file is a regular file: no such path either.
  if (r.error().kind() == error_kind::invalid_request && parse(v.id, "exists", path)) return false;
  return std::move(r).assume_error();
}

result<void> make_dir(sandbox_view const& v, std::string_view path) {
  act_as as(v.root_uid, v.root_gid);
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "make_dir", path));
  return make_dirs(b, p, "make_dir", path);
}

result<void> remove(sandbox_view const& v, std::string_view path, bool recursive) {
  act_as as(v.root_uid, v.root_gid);
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "remove", path));
  if (p.is_root()) return b.invalid(fmt::format("remove \"{}\": refusing to remove the sandbox's root", path));
  SBX_TRY(parent, open_parent(b, p, "remove", path));
  char const* name = p.name().c_str();
  struct stat st{};
  if (::fstatat(parent.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return b.fail("remove", path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent.get(), name, 0) != 0) return b.fail("remove", path, errno);
    return success();
  }
  if (recursive) {
    unique_fd d(::openat(parent.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) return b.fail("remove", path, errno);
    if (auto f = remove_tree(d.get())) return b.fail("remove", f->what.empty() ? p.str() : join(p.str(), f->what), f->err);
  }
  if (::unlinkat(parent.get(), name, AT_REMOVEDIR) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST)
      return b.invalid(fmt::format("remove \"{}\": directory not empty (pass recursive)", path));
    return b.fail("remove", path, errno);
  }
  return success();
}

result<void> rename(sandbox_view const& v, std::string_view from, std::string_view to) {
  act_as as(v.root_uid, v.root_gid);
  SBX_TRY(b, open_box(v));
  SBX_TRY(f, parse(v.id, "rename", from));
  SBX_TRY(t, parse(v.id, "rename", to));
  if (f.is_root() || t.is_root()) return b.invalid(fmt::format("rename \"{}\" to \"{}\": cannot rename the root", from, to));
  SBX_TRY(fp, open_parent(b, f, "rename", from));
  SBX_TRY(tp, open_parent(b, t, "rename", to));
  if (::renameat(fp.get(), f.name().c_str(), tp.get(), t.name().c_str()) != 0) {
    int e = errno;
    struct stat st{};
    if (e == ENOENT && ::fstatat(fp.get(), f.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return b.fail("rename", from, e);
    return fs_error(kind_of(e), v.id, fmt::format("rename \"{}\" to \"{}\": {}", from, to, std::strerror(e)));
  }
  return success();
}

result<void> upload(sandbox_view const& v, std::string_view local_path, std::string_view remote_path) {
  act_as as(v.root_uid, v.root_gid);
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "upload", remote_path));
  std::string lp(local_path);
  struct stat st{};
  if (::lstat(lp.c_str(), &st) != 0) {
    if (errno == ENOENT) return fs_error(error_kind::not_found, v.id, fmt::format("upload: no such local file \"{}\"", lp));
    return b.fail("upload", lp, errno);
  }
  auto owner = std::make_optional(std::make_pair(v.root_uid, v.root_gid));
  if (S_ISDIR(st.st_mode)) {
    unique_fd lfd(::open(lp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!lfd) return b.fail("upload", lp, errno);
    SBX_TRYV(make_dirs(b, p, "upload", remote_path));
    unique_fd rfd(b.open_in(p.str(), O_RDONLY | O_DIRECTORY));
    if (!rfd) return b.fail("upload", remote_path, errno);
    SBX_TRYV(upload_tree(b, lfd.get(), rfd.get(), lp, p.str()));
    if (!p.is_root() && ::fchmod(rfd.get(), st.st_mode & 07777) != 0) return b.fail("upload", remote_path, errno);
    return success();
  }
  if (p.is_root()) return b.invalid(fmt::format("upload \"{}\" to \"/\": the sandbox's root is a directory", lp));
  rpath parent = p;
  parent.parts.pop_back();
  SBX_TRYV(make_dirs(b, parent, "upload", remote_path));
  SBX_TRY(pfd, open_parent(b, p, "upload", remote_path));
  if (S_ISREG(st.st_mode)) {
    unique_fd src(::open(lp.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!src) return b.fail("upload", lp, errno);
    return put_file(pfd.get(), p.name(), fd_source(src.get(), lp, v.id), attrs{st.st_mode & 07777u, owner, mtime_of(st)},
                    [&](int e) {
                      if (e == EISDIR) return b.invalid(fmt::format("upload \"{}\": \"{}\" is a directory", lp, remote_path));
                      return b.fail("upload", remote_path, e);
                    });
  }
  if (S_ISLNK(st.st_mode)) {
    if (int e = put_symlink(pfd.get(), p.name(), read_link(AT_FDCWD, lp.c_str()), owner)) return b.fail("upload", remote_path, e);
    return success();
  }
  return b.invalid(fmt::format("upload \"{}\": not a regular file, directory or symlink", lp));
}

result<void> download(sandbox_view const& v, std::string_view remote_path, std::string_view local_path) {
  SBX_TRY(b, open_box(v));
  SBX_TRY(p, parse(v.id, "download", remote_path));
  std::string lp(local_path);
  SBX_TRY(lparent, local_parent(b, "download", lp));
  auto& [ldir, lname] = lparent;

  unique_fd rparent;
  struct stat st{};
  if (p.is_root()) {
    if (::fstat(b.root.get(), &st) != 0) return b.fail("download", remote_path, errno);
  } else {
    SBX_TRY(pf, open_parent(b, p, "download", remote_path));
    rparent = std::move(pf);
    if (::fstatat(rparent.get(), p.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return b.fail("download", remote_path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    unique_fd rfd(p.is_root() ? b.open_in("/", O_RDONLY | O_DIRECTORY)
                              : ::openat(rparent.get(), p.name().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!rfd) return b.fail("download", remote_path, errno);
    // The destination itself is the caller's path: an existing symlink to a directory there
    // is the caller's own choice and is followed; nothing below it is.
    if (::mkdirat(ldir.get(), lname.c_str(), 0700) != 0 && errno != EEXIST) return b.fail("download", lp, errno);
    unique_fd lfd(::openat(ldir.get(), lname.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lfd) {
      if (errno == ENOTDIR) return b.invalid(fmt::format("download \"{}\": \"{}\" exists and is not a directory", remote_path, lp));
      return b.fail("download", lp, errno);
    }
    SBX_TRYV(download_tree(b, rfd.get(), lfd.get(), p.str(), lp));
    if (::fchmod(lfd.get(), st.st_mode & 01777) != 0) return b.fail("download", lp, errno);
    return success();
  }
  if (S_ISREG(st.st_mode)) {
    unique_fd pf(::openat(rparent.get(), p.name().c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!pf) return b.fail("download", remote_path, errno);
    unique_fd src;
    struct stat st2{};
    if (int e = reopen_regular(pf, src, st2)) return not_regular(b, "download", remote_path, e);
    return put_file(ldir.get(), lname, fd_source(src.get(), std::string(remote_path), v.id),
                    attrs{st2.st_mode & 0777u, std::nullopt, mtime_of(st2)}, [&](int e) {
                      if (e == EISDIR) return b.invalid(fmt::format("download \"{}\": \"{}\" is a directory", remote_path, lp));
                      return b.fail("download", lp, e);
                    });
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target = read_link(rparent.get(), p.name().c_str());
    if (int e = put_symlink(ldir.get(), lname, target, std::nullopt)) return b.fail("download", lp, e);
    return success();
  }
  return b.invalid(fmt::format("download \"{}\": not a regular file, directory or symlink", remote_path));
}

}  // namespace fs
}  // namespace local_impl

// The provider's member functions: find the live sandbox, then do the work above.

result<std::string> local::read_file(handle const& h, std::string_view path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::read_file(v, path);
}
result<void> local::read_file(handle const& h, std::string_view path, byte_sink sink) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::read_file(v, path, sink);
}
result<void> local::write_file(handle const& h, std::string_view path, std::string_view data, write_options const& o) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::write_file(v, path, data, o);
}
result<void> local::write_file(handle const& h, std::string_view path, byte_source source, write_options const& o) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::write_file(v, path, source, o);
}
result<std::vector<file_info>> local::list_dir(handle const& h, std::string_view path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::list_dir(v, path);
}
result<file_info> local::stat(handle const& h, std::string_view path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::stat(v, path);
}
result<bool> local::exists(handle const& h, std::string_view path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::exists(v, path);
}
result<void> local::make_dir(handle const& h, std::string_view path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::make_dir(v, path);
}
result<void> local::remove(handle const& h, std::string_view path, bool recursive) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::remove(v, path, recursive);
}
result<void> local::rename(handle const& h, std::string_view from, std::string_view to) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::rename(v, from, to);
}
result<void> local::upload(handle const& h, std::string_view local_path, std::string_view remote_path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::upload(v, local_path, remote_path);
}
result<void> local::download(handle const& h, std::string_view remote_path, std::string_view local_path) {
  SBX_TRY(v, local_impl::view(*this, h));
  return local_impl::fs::download(v, remote_path, local_path);
}

}  // namespace sbx
