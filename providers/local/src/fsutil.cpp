// SPDX-License-Identifier: Apache-2.0
#include "fsutil.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sbx::local_impl::fsu {
namespace {

// Empties the directory open as `dfd` (which it closes), staying on device `dev`.
std::string empty_dir(int dfd, dev_t dev, std::string const& where) {
  DIR* d = ::fdopendir(dfd);
  if (!d) { ::close(dfd); return "opening " + where + " failed: " + std::strerror(errno); }
  std::string err;
  while (dirent* e = ::readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    struct stat st;
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev) { err = where + "/" + e->d_name + " is a mount point; left alone"; continue; }
      int sub = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 && errno == EACCES && ::fchmodat(dfd, e->d_name, 0700, 0) == 0)  // overlay's work/work is mode 0
        sub = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) { err = "opening " + where + "/" + e->d_name + " failed: " + std::strerror(errno); continue; }
      if (auto e2 = empty_dir(sub, dev, where + "/" + e->d_name); !e2.empty()) err = e2;
      if (::unlinkat(dfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        err = "removing " + where + "/" + e->d_name + " failed: " + std::strerror(errno);
    } else if (::unlinkat(dfd, e->d_name, 0) != 0 && errno != ENOENT) {
      err = "removing " + where + "/" + e->d_name + " failed: " + std::strerror(errno);
    }
  }
  ::closedir(d);
  return err;
}

}  // namespace

std::string remove_tree(std::string const& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? std::string() : "lstat " + path + " failed: " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return "removing " + path + " failed: " + std::strerror(errno);
    return {};
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "opening " + path + " failed: " + std::strerror(errno);
  std::string err = empty_dir(fd, st.st_dev, path);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT && err.empty())
    err = "removing " + path + " failed: " + std::strerror(errno);
  return err;
}

std::string write_atomic(std::string const& path, std::string const& data, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return "creating " + tmp + " failed: " + std::strerror(errno);
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return "writing " + tmp + " failed: " + std::strerror(e);
    }
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return "renaming " + tmp + " failed: " + std::strerror(e);
  }
  return {};
}

std::string read_all(std::string const& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace sbx::local_impl::fsu
