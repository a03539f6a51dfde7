// SPDX-License-Identifier: Apache-2.0
#pragma once

// A minimal stand-in for a local sandbox, for testing the provider's filesystem code on its
// own: a process in its own mount and pid namespaces, chrooted into an overlay of an image,
// with /proc mounted. Its `view()` is what the runtime's `local_impl::view` would return.
// The mounts live only in the process's mount namespace, so killing it leaves nothing behind.

#include "internal.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sbx_test {

namespace stdfs = std::filesystem;

/// Where the default image is: $SBX_TEST_IMAGE, else /var/lib/sbx/images/default, else it is
/// built into `scratch` with the project's image script.
inline stdfs::path default_image(stdfs::path const& scratch) {
  if (char const* e = std::getenv("SBX_TEST_IMAGE"); e && *e) return e;
  if (stdfs::exists("/var/lib/sbx/images/default/etc/sbx-image")) return "/var/lib/sbx/images/default";
  stdfs::path img = scratch / "images" / "default";
  std::string cmd = std::string(SBX_SOURCE_DIR) + "/providers/local/image/build-default-image '" + img.string() + "' >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("build-default-image failed");
  return img;
}

class scratch_sandbox {
 public:
  /// Starts the process. `lowers` is the overlay lowerdir string (top first, ':'-separated).
  /// `binds` are (host dir, path inside) pairs bind-mounted like volumes.
  scratch_sandbox(stdfs::path dir, std::string lowers, std::vector<std::pair<std::string, std::string>> binds = {})
      : dir_(std::move(dir)) {
    stdfs::create_directories(dir_ / "upper");
    stdfs::create_directories(dir_ / "work");
    stdfs::create_directories(dir_ / "merged");
    std::string opts = "lowerdir=" + lowers + ",upperdir=" + (dir_ / "upper").string() + ",workdir=" + (dir_ / "work").string();
    std::string merged = (dir_ / "merged").string(), proc = merged + "/proc";
    int p[2], q[2];
    if (::pipe2(p, O_CLOEXEC) != 0 || ::pipe2(q, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_t self = ::getpid();
    holder_ = ::fork();
    if (holder_ < 0) throw std::runtime_error("fork");
    if (holder_ == 0) {
      // Dies with the test process, and takes its pid namespace with it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != self) ::_exit(9);
      ::close(p[0]);
      if (::unshare(CLONE_NEWNS | CLONE_NEWPID) != 0) ::_exit(10);
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
      if (::mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) != 0) ::_exit(12);
      for (auto const& [src, dst] : binds) {
        std::string at = merged + dst;
        ::mkdir(at.c_str(), 0755);
        if (::mount(src.c_str(), at.c_str(), nullptr, MS_BIND, nullptr) != 0) ::_exit(18);
      }
      pid_t g = ::fork();
      if (g == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) ::_exit(13);
        if (::chroot(merged.c_str()) != 0 || ::chdir("/") != 0) ::_exit(14);
        char ok = 1;
        if (::write(q[1], &ok, 1) != 1) ::_exit(15);
        for (;;) ::pause();
      }
      ::close(q[1]);
      char ok = 0;
      if (::read(q[0], &ok, 1) != 1) ::_exit(17);
      if (::write(p[1], &g, sizeof g) != sizeof g) ::_exit(16);
      int st = 0;
      ::waitpid(g, &st, 0);
      ::_exit(0);
    }
    ::close(p[1]);
    ::close(q[0]);
    ::close(q[1]);
    pid_t g = -1;
    bool good = ::read(p[0], &g, sizeof g) == sizeof g;
    ::close(p[0]);
    if (!good) {
      int st = 0;
      ::kill(holder_, SIGKILL);
      ::waitpid(holder_, &st, 0);
      throw std::runtime_error("scratch sandbox failed to start (holder status " + std::to_string(WEXITSTATUS(st)) + ")");
    }
    init_ = g;
  }
  scratch_sandbox(scratch_sandbox const&) = delete;
  scratch_sandbox& operator=(scratch_sandbox const&) = delete;
  ~scratch_sandbox() { stop(); }

  void stop() {
    if (init_ > 0) ::kill(init_, SIGKILL);
    if (holder_ > 0) { int st = 0; ::waitpid(holder_, &st, 0); }
    init_ = holder_ = -1;
  }

  sbx::local_impl::sandbox_view view(uid_t uid = 0, gid_t gid = 0) const {
    sbx::local_impl::sandbox_view v;
    v.id = "scratch-" + std::to_string(init_);
    v.init_pid = init_;
    v.root_uid = uid;
    v.root_gid = gid;
    v.dir = dir_;
    return v;
  }
  stdfs::path upper() const { return dir_ / "upper"; }
  pid_t init_pid() const { return init_; }

 private:
  stdfs::path dir_;
  pid_t holder_ = -1;
  pid_t init_ = -1;
};

}  // namespace sbx_test
