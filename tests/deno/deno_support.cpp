// SPDX-License-Identifier: Apache-2.0
#include "deno_support.hpp"

#include <sbx/providers/local.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace sbx::test {
namespace {

namespace fs = std::filesystem;

struct server_env {
  std::unique_ptr<server::deno_server> server;
  std::string reason;
  fs::path tmp;

  server_env() {
    char tmpl[] = "/tmp/sbx-deno-test-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      reason = "mkdtemp failed";
      return;
    }
    tmp = tmpl;
    ::chmod(tmpl, 0711);  // sandboxes' user namespaces must traverse it
    std::error_code ec;
    fs::create_directories(tmp / "images", ec);
    // The machine's default image (scripts/setup) when there is one; else build one here.
    fs::path image = "/var/lib/sbx/images/default";
    if (char const* e = std::getenv("SBX_TEST_IMAGE"); e && *e) image = e;
    if (fs::exists(image / "bin/sh")) {
      // A hard-linked copy, not a symlink: the server derives images from this directory and
      // must never write through into the machine's image. Falls back to a build below.
      fs::copy(image, tmp / "images/default",
               fs::copy_options::recursive | fs::copy_options::create_hard_links | fs::copy_options::copy_symlinks, ec);
      if (ec) fs::remove_all(tmp / "images/default", ec);
    }
    if (!fs::exists(tmp / "images/default/bin/sh")) {
      std::string cmd = std::string(SBX_SOURCE_DIR) + "/providers/local/image/build-default-image " +
                        (tmp / "images/default").string() + " >/dev/null";
      if (std::system(cmd.c_str()) != 0) {
        reason = "building a local image failed: " + cmd;
        return;
      }
    }
    server::serve_options o;
    o.listen = "127.0.0.1:0";
    o.token = server_token;
    o.state_dir = tmp.string();
    try {
      server = std::make_unique<server::deno_server>(o);
      server->start();
    } catch (std::exception const& e) {
      reason = std::string("the deno server did not start: ") + e.what();
      server.reset();
    }
  }
  ~server_env() {
    if (server) server->stop();
    server.reset();
    if (tmp.empty()) return;
    // Whatever outlived the server (duration sandboxes a test left): kill it, collect, and
    // only then remove the state dir, which supervisors may still be writing into.
    sbx::local p(sbx::local::config{tmp.string(), {}, {}});
    if (auto l = p.list({}); l)
      for (auto const& i : l.value())
        if (auto h = p.connect(i.id); h) (void)p.kill(h.value());
    std::error_code ec;
    for (int i = 0; i < 50; ++i) {
      (void)p.gc();
      fs::remove_all(tmp, ec);
      if (!fs::exists(tmp, ec)) break;
      ::usleep(100000);
    }
  }
};

server_env& env() {
  static server_env e;
  return e;
}

}  // namespace

server::deno_server* deno_test_server() { return env().server.get(); }
std::string const& deno_skip_reason() { return env().reason; }

deno deno_for_test_server(std::function<void(deno::config&)> tweak) {
  deno::config c;
  c.token = server_token;
  auto port = std::to_string(env().server ? env().server->port() : 1);
  c.sandbox_endpoint = "http://127.0.0.1:" + port;
  c.api_endpoint = "http://127.0.0.1:" + port;
  if (tweak) tweak(c);
  return deno(std::move(c));
}

int thread_count() {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/self/task", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

}  // namespace sbx::test
