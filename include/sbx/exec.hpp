// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace sbx {

/// Which output stream a chunk came from.
enum class output_stream : std::uint8_t { out, err };

/// Called with each piece of output as it arrives, while the command runs.
using output_callback = std::function<void(output_stream, std::string_view)>;

/// A command to run in a sandbox: an argv (no shell involved) or a shell string run by
/// `/bin/sh -c`. `box.exec({"python3", "-c", "print(6*7)"})` builds one from a list.
struct exec_request {
  std::vector<std::string> argv;             ///< argv[0] is looked up in PATH when it has no '/'
  std::string cwd;                           ///< empty: the sandbox's default (/ or the image's)
  std::map<std::string, std::string> env;    ///< added to the sandbox's environment
  std::string stdin_data;                    ///< written to the command's stdin, then closed
  std::optional<std::chrono::milliseconds> timeout;  ///< per-call deadline; none = no limit
  std::size_t output_limit = std::size_t{16} << 20;  ///< bytes kept per stream; more is dropped and flagged
  output_callback on_output;                 ///< streamed output, in addition to the buffered copy
  std::stop_token stop;                      ///< asks the call to kill the command and return `cancelled`

  exec_request() = default;
  exec_request(std::initializer_list<std::string> args) : argv(args) {}
  explicit exec_request(std::vector<std::string> args) : argv(std::move(args)) {}

  /// A request running `script` with `/bin/sh -c`.
  static exec_request shell(std::string script) { return exec_request({"/bin/sh", "-c", std::move(script)}); }

  exec_request& in(std::string dir) & { cwd = std::move(dir); return *this; }
  exec_request&& in(std::string dir) && { cwd = std::move(dir); return std::move(*this); }
  exec_request& with_env(std::string name, std::string value) & { env[std::move(name)] = std::move(value); return *this; }
  exec_request&& with_env(std::string name, std::string value) && { env[std::move(name)] = std::move(value); return std::move(*this); }
  exec_request& with_stdin(std::string data) & { stdin_data = std::move(data); return *this; }
  exec_request&& with_stdin(std::string data) && { stdin_data = std::move(data); return std::move(*this); }
  exec_request& with_timeout(std::chrono::milliseconds t) & { timeout = t; return *this; }
  exec_request&& with_timeout(std::chrono::milliseconds t) && { timeout = t; return std::move(*this); }
};

/// What a finished command did. A non-zero exit status is a value here, not an error.
struct exec_result {
  int exit_code = 0;                 ///< 0..255; 128+N when killed by signal N
  std::optional<int> signal;         ///< the signal that killed it, if one did
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;     ///< more than `output_limit` bytes were written
  bool stderr_truncated = false;
  bool oom_killed = false;           ///< the memory limit killed it (or a process of it)
  std::chrono::microseconds duration{0};

  bool ok() const noexcept { return exit_code == 0; }
  std::string const& stdout_text() const noexcept { return stdout_data; }
  std::string const& stderr_text() const noexcept { return stderr_data; }
};

/// How a process ended.
struct exit_status {
  int exit_code = 0;
  std::optional<int> signal;
  bool oom_killed = false;
};

/// A piece of output pulled from a running process.
struct output_chunk {
  output_stream stream = output_stream::out;
  std::string data;
};

/// A command started with `spawn`: write its stdin, read its output while it runs (pull with
/// `read`, or push through `exec_request::on_output`), wait with a deadline, kill it.
/// Move-only; destroying a still-running process kills it.
class process {
 public:
  /// What a provider implements behind a process.
  class impl {
   public:
    virtual ~impl() = default;
    virtual std::string id() const = 0;
    virtual result<void> write_stdin(std::string_view data) = 0;
    virtual result<void> close_stdin() = 0;
    /// The next chunk; an empty optional once both streams ended. Errors: timeout.
    virtual result<std::optional<output_chunk>> read(std::optional<std::chrono::milliseconds> timeout) = 0;
    /// Waits for exit. Errors: timeout (the process keeps running), connection.
    virtual result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout) = 0;
    virtual result<void> kill(int signal) = 0;
  };

  process() = default;
  explicit process(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
  process(process&&) noexcept = default;
  process& operator=(process&&) noexcept = default;
  ~process() { if (impl_) (void)impl_->kill(9); }

  /// The provider's id for the process (a pid on local).
  std::string id() const { return impl_->id(); }
  result<void> write_stdin(std::string_view data) { return impl_->write_stdin(data); }
  result<void> close_stdin() { return impl_->close_stdin(); }
  result<std::optional<output_chunk>> read(std::optional<std::chrono::milliseconds> timeout = {}) { return impl_->read(timeout); }
  result<exit_status> wait(std::optional<std::chrono::milliseconds> timeout = {}) { return impl_->wait(timeout); }
  /// Sends `signal` (default SIGKILL). Killing a process that already exited succeeds.
  result<void> kill(int signal = 9) { return impl_->kill(signal); }
  explicit operator bool() const noexcept { return impl_ != nullptr; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sbx
