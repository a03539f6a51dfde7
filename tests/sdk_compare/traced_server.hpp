// SPDX-License-Identifier: Apache-2.0
#pragma once

// `sbx serve --dialect deno` in this process (127.0.0.1, ephemeral port) over real local
// sandboxes in a temporary state dir of its own, writing a trace file. Used by the wire
// comparison (tests/sdk_compare) and the client-vs-SDK benchmark (bench/deno_vs_sdk).

#include <sbx/server/deno.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace sbx::test {

class traced_server {
 public:
  static constexpr char const* token = "ddo_sbx_compare_token_81d2";

  /// Starts a server; throws std::runtime_error with the reason when it cannot run here.
  /// `trace` false: no trace file (for benchmarks).
  explicit traced_server(bool trace = true) {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/sbx-deno-cmp-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    tmp_ = tmpl;
    ::chmod(tmpl, 0711);  // sandboxes' user namespaces must traverse it
    std::error_code ec;
    fs::create_directories(tmp_ / "images", ec);
    fs::path image = "/var/lib/sbx/images/default";
    if (char const* e = std::getenv("SBX_TEST_IMAGE"); e && *e) image = e;
    if (!fs::exists(image / "bin/sh")) throw std::runtime_error("no local image at " + image.string() + " (scripts/setup builds it)");
    // Hard links, not a symlink: the server derives images from this directory and must
    // never write through into the machine's image.
    fs::copy(image, tmp_ / "images/default",
             fs::copy_options::recursive | fs::copy_options::create_hard_links | fs::copy_options::copy_symlinks, ec);
    if (ec) throw std::runtime_error("copying the image failed: " + ec.message());
    server::serve_options o;
    o.listen = "127.0.0.1:0";
    o.token = token;
    o.state_dir = tmp_.string();
    if (trace) o.trace_file = trace_file();
    server_ = std::make_unique<server::deno_server>(o);
    port_ = server_->start();
  }
  ~traced_server() {
    if (server_) server_->stop();
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(tmp_, ec);
  }
  traced_server(traced_server const&) = delete;
  traced_server& operator=(traced_server const&) = delete;

  std::uint16_t port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string trace_file() const { return (tmp_ / "trace.jsonl").string(); }
  std::filesystem::path const& dir() const { return tmp_; }

 private:
  std::filesystem::path tmp_;
  std::unique_ptr<server::deno_server> server_;
  std::uint16_t port_ = 0;
};

}  // namespace sbx::test
