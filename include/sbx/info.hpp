// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/exec.hpp>
#include <sbx/result.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sbx {

enum class sandbox_status : std::uint8_t { running, paused, stopped, unknown };
std::string_view to_string(sandbox_status s) noexcept;

/// What `list` and `info` say about a sandbox.
struct sandbox_info {
  std::string id;
  std::string provider;
  sandbox_status status = sandbox_status::unknown;
  std::map<std::string, std::string> labels;
  std::chrono::system_clock::time_point created;
  /// When a duration-lifetime sandbox will be killed; none for a session sandbox.
  std::optional<std::chrono::system_clock::time_point> expires;
};

/// A captured filesystem (cap::snapshots).
struct snapshot_info {
  std::string id;
  std::string name;
  std::string source_sandbox;
  std::uint64_t size_bytes = 0;
  std::chrono::system_clock::time_point created;
};

/// Options for `create_volume` (cap::volumes).
struct volume_request {
  std::string name;
  std::optional<std::uint64_t> capacity_bytes;  ///< where the provider enforces one
  std::map<std::string, std::string> labels;
};

/// A persistent volume (cap::volumes).
struct volume_info {
  std::string id;
  std::string name;
  std::uint64_t used_bytes = 0;
  std::optional<std::uint64_t> capacity_bytes;
  std::chrono::system_clock::time_point created;
};

/// Options for `open_pty` (cap::pty).
struct pty_request {
  std::vector<std::string> argv = {"/bin/sh"};
  std::uint16_t cols = 80;
  std::uint16_t rows = 24;
  std::map<std::string, std::string> env;
  std::string cwd;
};

/// An interactive terminal in a sandbox (cap::pty). Move-only; destroying it kills the shell.
class pty {
 public:
  class impl {
   public:
    virtual ~impl() = default;
    virtual result<void> write(std::string_view data) = 0;
    /// The next bytes the terminal printed; an empty optional once it closed. Errors: timeout.
    virtual result<std::optional<std::string>> read(std::optional<std::chrono::milliseconds> timeout) = 0;
    virtual result<void> resize(std::uint16_t cols, std::uint16_t rows) = 0;
    virtual result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout) = 0;
    virtual result<void> kill(int signal) = 0;
  };
  pty() = default;
  explicit pty(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
  pty(pty&&) noexcept = default;
  pty& operator=(pty&&) noexcept = default;
  ~pty() { if (impl_) (void)impl_->kill(9); }

  result<void> write(std::string_view data) { return impl_->write(data); }
  result<std::optional<std::string>> read(std::optional<std::chrono::milliseconds> timeout = {}) { return impl_->read(timeout); }
  result<void> resize(std::uint16_t cols, std::uint16_t rows) { return impl_->resize(cols, rows); }
  result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout = {}) { return impl_->wait(timeout); }
  result<void> kill(int signal = 9) { return impl_->kill(signal); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  std::unique_ptr<impl> impl_;
};

/// What one evaluation in a REPL produced (cap::kernel_session).
struct repl_output {
  std::string stdout_data;
  std::string stderr_data;
  std::string value;   ///< the printed value of the last expression, if any
  std::string error;   ///< the exception text if evaluation raised; the session survives it
  bool ok() const noexcept { return error.empty(); }
};

/// A stateful interpreter session (cap::kernel_session): variables persist between `eval`s.
class repl {
 public:
  class impl {
   public:
    virtual ~impl() = default;
    virtual result<repl_output> eval(std::string_view code, std::optional<std::chrono::milliseconds> timeout) = 0;
    virtual result<void> close() = 0;
  };
  repl() = default;
  explicit repl(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
  repl(repl&&) noexcept = default;
  repl& operator=(repl&&) noexcept = default;
  ~repl() { if (impl_) (void)impl_->close(); }

  /// Evaluates `code`. An exception in the code is a value (`repl_output::error`), not an error.
  /// Errors: timeout, connection, exec_failed (the interpreter died).
  result<repl_output> eval(std::string_view code, std::optional<std::chrono::milliseconds> timeout = {}) { return impl_->eval(code, timeout); }
  result<void> close() { auto r = impl_->close(); impl_.reset(); return r; }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sbx
