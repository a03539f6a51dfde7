// SPDX-License-Identifier: Apache-2.0
// The conformance suite on sbx::local, typed and through any_client.
#include "suite.hpp"

#include <sbx/providers/local.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>

namespace sbx::conformance {
namespace {

/// A tiny root filesystem only this test has: /bin/sh, cat and their libraries from the host,
/// plus a marker file.
std::optional<test_image> make_local_image() {
  static std::unique_ptr<temp_dir> dir;
  if (!dir) {
    dir = std::make_unique<temp_dir>();
    auto root = dir->path / "rootfs";
    std::set<std::string> files;
    for (std::string bin : {"/usr/bin/sh", "/usr/bin/dash", "/usr/bin/cat"}) {
      files.insert(bin);
      std::string cmd = "ldd " + bin;
      std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
      char line[512];
      while (p && std::fgets(line, sizeof line, p.get())) {
        std::string l(line);
        auto slash = l.find('/');
        if (slash == std::string::npos) continue;
        files.insert(l.substr(slash, l.find_first_of(" \n", slash) - slash));
      }
    }
    for (auto const& f : files) {
      auto real = std::filesystem::canonical(f);
      auto dest = root / std::filesystem::path(f).relative_path();
      std::filesystem::create_directories(dest.parent_path());
      std::filesystem::copy_file(real, dest, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::permissions(dest, std::filesystem::perms(0755));
    }
    for (auto d : {"bin", "lib", "lib64"})
      if (std::filesystem::exists(root / "usr" / d)) std::filesystem::create_directory_symlink(std::string("usr/") + d, root / d);
    for (auto d : {"tmp", "proc", "dev", "etc"}) std::filesystem::create_directories(root / d);
    write_local(root / "etc/sbx-image-marker", "custom image\n");
  }
  return test_image{sbx::image::rootfs((dir->path / "rootfs").string()), "/etc/sbx-image-marker", "custom image\n"};
}

// Points `name` at `address` for sandboxes created from now on (the local engine's test-only
// resolver override), and keeps every other name from being looked up for real.
void route_local_test_name(std::string const& name, std::string const& address) {
  std::string cur = std::getenv("SBX_NET_TEST_RESOLVE") ? std::getenv("SBX_NET_TEST_RESOLVE") : "";
  cur += (cur.empty() ? "" : ",") + name + "=" + address;
  ::setenv("SBX_NET_TEST_RESOLVE", cur.c_str(), 1);
  ::setenv("SBX_NET_TEST_NO_DNS", "1", 1);
}

struct local_env {
  using provider = sbx::local;
  using client_type = sbx::client<sbx::local>;
  static void route_test_name(std::string const& n, std::string const& a) { route_local_test_name(n, a); }
  static client_type make_client() { return client_type{}; }
  static std::optional<test_image> custom_image() { return make_local_image(); }
  static std::vector<std::string> repl_languages() { return {"python", "javascript"}; }
};

struct any_local_env {
  using provider = sbx::local;
  using client_type = sbx::any_client;
  static void route_test_name(std::string const& n, std::string const& a) { route_local_test_name(n, a); }
  static client_type make_client() { return sbx::any_client(sbx::client<sbx::local>{}); }
  static std::optional<test_image> custom_image() { return make_local_image(); }
  static std::vector<std::string> repl_languages() { return {"python", "javascript"}; }
};

using envs = ::testing::Types<local_env, any_local_env>;

}  // namespace

SBX_CONFORMANCE_CORE(local, envs);
SBX_CONFORMANCE_CAP(local, volumes, envs);
SBX_CONFORMANCE_CAP(local, snapshots, envs);
SBX_CONFORMANCE_CAP(local, port_exposure, envs);
SBX_CONFORMANCE_CAP(local, pause_resume, envs);
SBX_CONFORMANCE_CAP(local, pty, envs);
SBX_CONFORMANCE_CAP(local, kernel_session, envs);
SBX_CONFORMANCE_CAP(local, custom_image, envs);
SBX_CONFORMANCE_CAP(local, network_allowlist, envs);
SBX_CONFORMANCE_CAP(local, secret_injection, envs);

}  // namespace sbx::conformance
