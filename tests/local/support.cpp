// SPDX-License-Identifier: Apache-2.0
#include "support.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#ifndef SBX_SOURCE_DIR
#error SBX_SOURCE_DIR must name the source tree
#endif

namespace sbx::test {
namespace {

namespace fs = std::filesystem;

struct local_env : ::testing::Environment {
  local::config cfg;
  std::string reason;   // a real absence: skip
  std::string failure;  // the setup failed: fail
  fs::path tmp;

  void SetUp() override {
    if (::geteuid() != 0) {
      // Unprivileged runs still work, with fewer features; the suite is written for root.
      std::string clone;
      std::ifstream("/proc/sys/kernel/unprivileged_userns_clone") >> clone;
      if (clone == "0") reason = "user namespaces are disabled for unprivileged users on this host";
    }
    char tmpl[] = "/tmp/sbx-local-test-XXXXXX";
    if (!::mkdtemp(tmpl)) { failure = "mkdtemp failed"; return; }
    tmp = tmpl;
    ::chmod(tmpl, 0711);
    cfg.state_dir = tmp.string();
    ::setenv("SBX_STATE_DIR", cfg.state_dir.c_str(), 1);
    std::string image;
    if (char const* e = std::getenv("SBX_TEST_IMAGE"); e && *e) image = e;
    else if (fs::exists("/var/lib/sbx/images/default/bin/sh")) image = "/var/lib/sbx/images/default";
    if (image.empty()) {
      std::cerr << "[local tests] no default image at /var/lib/sbx/images/default (scripts/setup not run): "
                   "building one in " << tmp << "/images/default\n";
      std::string cmd = std::string(SBX_SOURCE_DIR) + "/providers/local/image/build-default-image " + tmp.string() +
                        "/images/default >/dev/null";
      if (std::system(cmd.c_str()) != 0) { failure = "building the test image failed: " + cmd; return; }
      image = tmp.string() + "/images/default";
    } else {
      std::cerr << "[local tests] image: " << image << ", state dir: " << tmp << "\n";
    }
    cfg.default_image = image;
  }

  void TearDown() override {
    if (tmp.empty()) return;
    local p(cfg);
    // Whatever a test left running: kill it, then collect.
    if (auto l = p.list({}); l)
      for (auto const& i : l.value())
        if (auto h = p.connect(i.id); h) (void)p.kill(h.value());
    for (int i = 0; i < 50; ++i) {
      (void)p.gc();
      std::error_code ec;
      if (fs::is_empty(tmp / "sandboxes", ec) || ec) break;
      ::usleep(100000);
    }
    std::error_code ec;
    fs::remove_all(tmp, ec);
  }
};

local_env* env = static_cast<local_env*>(::testing::AddGlobalTestEnvironment(new local_env));

int count_dirs_named(fs::path const& root, std::string const& parent_name, int depth, std::set<std::string> const& ids) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it.depth() > depth) { it.disable_recursion_pending(); continue; }
    if (it->is_directory(ec) && it->path().parent_path().filename() == parent_name) {
      if (ids.count(it->path().filename().string())) ++n;
      it.disable_recursion_pending();
    }
  }
  return n;
}

}  // namespace

local::config const& local_config() { return env->cfg; }
client<local> local_client() { return client<local>(local(env->cfg)); }
std::string const& skip_reason() { return env->reason; }
std::string const& setup_failure() { return env->failure; }

leftovers count_leftovers(std::set<std::string> const& ids) {
  leftovers l;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) ++l.mounts;
  l.cgroups = count_dirs_named("/sys/fs/cgroup", "sbx", 6, ids);
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream comm(std::string("/proc/") + e->d_name + "/comm");
      std::string c;
      std::getline(comm, c);
      if (c != "sbx-supervisor") continue;
      std::error_code ec;
      auto lock = fs::read_symlink(std::string("/proc/") + e->d_name + "/fd/4", ec).string();
      if (lock.rfind(env->cfg.state_dir + "/", 0) == 0) ++l.supervisors;
    }
    ::closedir(d);
  }
  std::error_code ec;
  for (auto const& e : fs::directory_iterator(fs::path(env->cfg.state_dir) / "sandboxes", ec)) {
    (void)e;
    ++l.state_dirs;
  }
  return l;
}

std::ostream& operator<<(std::ostream& os, leftovers const& l) {
  return os << "{mounts " << l.mounts << ", cgroups " << l.cgroups << ", supervisors " << l.supervisors
            << ", state dirs " << l.state_dirs << "}";
}

}  // namespace sbx::test
