// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/provider.hpp>
#include <sbx/shell.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx {
namespace detail {

struct no_sandbox_methods {};

/// A provider's own sandbox operations (deno's `expose_ssh`...): `P::sandbox_methods<S>`, a
/// CRTP base reaching the sandbox through `provider()` and `handle()`.
template <class P, class S>
struct sandbox_methods_of { using type = no_sandbox_methods; };
template <class P, class S>
  requires requires { typename P::template sandbox_methods<S>; }
struct sandbox_methods_of<P, S> { using type = typename P::template sandbox_methods<S>; };

}  // namespace detail

/// One sandbox of provider `P`. Move-only. A `session` sandbox (no lifetime in its request) is
/// killed when this handle is destroyed; a duration-lifetime sandbox, and one obtained with
/// `connect`, keeps running after the handle goes (until its deadline or `kill()`).
///
///     SBX_TRY(out, box.exec({"python3", "-c", "print(6*7)"}));
///     SBX_TRY(ls, box.sh("ls -l {}", user_supplied_dir));   // quoted: no injection
///
/// Operations a provider lacks are absent: `sandbox<deno>::pause()` does not compile and the
/// diagnostic names `cap::pause_resume`. Every call is thread-safe.
template <provider P>
class sandbox : public detail::sandbox_methods_of<P, sandbox<P>>::type {
  static_assert(detail::check_claims<P>());

 public:
  using provider_type = P;
  using handle_type = typename P::handle;

  sandbox(P provider, handle_type handle, bool kill_on_destroy)
      : provider_(std::move(provider)), handle_(std::move(handle)), kill_on_destroy_(kill_on_destroy) {}
  sandbox(sandbox&& o) noexcept
      : provider_(o.provider_), handle_(std::move(o.handle_)), kill_on_destroy_(o.kill_on_destroy_),
        live_(std::exchange(o.live_, false)) {}
  sandbox& operator=(sandbox&& o) noexcept {
    if (this != &o) { finish(); provider_ = o.provider_; handle_ = std::move(o.handle_);
      kill_on_destroy_ = o.kill_on_destroy_; live_ = std::exchange(o.live_, false); }
    return *this;
  }
  sandbox(sandbox const&) = delete;
  sandbox& operator=(sandbox const&) = delete;
  ~sandbox() { finish(); }

  /// The provider's id, usable with `client<P>::connect` from any process.
  std::string id() const { return provider_.id(handle_); }
  /// Status, labels, creation and expiry. Errors: not_found, connection.
  result<sandbox_info> info() { return provider_.info(handle_); }

  /// Runs a command to completion. A non-zero exit status is a value (`exit_code`), not an
  /// error. Errors: exec_failed (could not start), timeout (keeps partial output in the
  /// error's detail), cancelled, not_found, connection.
  result<exec_result> exec(exec_request const& r) { return provider_.exec(handle_, r); }
  /// Runs `format` with every `{}` replaced by the next argument, shell-quoted (a range
  /// becomes several words), through `/bin/sh -c`. Errors: those of `exec`, and
  /// invalid_request for a format that does not match its arguments.
  template <class... Args>
  result<exec_result> sh(std::string_view format, Args const&... args) {
    SBX_TRY(command, render_shell(format, args...));
    return exec(exec_request::shell(std::move(command)));
  }
  /// Starts a command and returns at once; stream its output, write its stdin, wait, kill.
  /// Errors: exec_failed, not_found, connection.
  result<process> spawn(exec_request const& r) { return provider_.spawn(handle_, r); }

  /// A file's whole content. Errors: not_found, invalid_request (relative path, a directory).
  result<std::string> read_file(std::string_view path) { return provider_.read_file(handle_, path); }
  /// A file's content streamed to `sink` piece by piece, for files of any size.
  result<void> read_file(std::string_view path, byte_sink sink) { return provider_.read_file(handle_, path, std::move(sink)); }
  /// Writes `data` to `path`, replacing any file there. Errors: invalid_request, not_found (parent missing and not created).
  result<void> write_file(std::string_view path, std::string_view data, write_options const& o = {}) { return provider_.write_file(handle_, path, data, o); }
  /// Writes what `source` produces to `path`, streamed, for files of any size.
  result<void> write_file(std::string_view path, byte_source source, write_options const& o = {}) { return provider_.write_file(handle_, path, std::move(source), o); }
  /// The entries of a directory (not recursive). Errors: not_found, invalid_request (not a directory).
  result<std::vector<file_info>> list(std::string_view path) { return provider_.list_dir(handle_, path); }
  /// What a path is, without following a final symlink. Errors: not_found.
  result<file_info> stat(std::string_view path) { return provider_.stat(handle_, path); }
  /// Whether a path exists. Not finding it is the value `false`, not an error.
  result<bool> exists(std::string_view path) { return provider_.exists(handle_, path); }
  /// `mkdir -p`. Errors: invalid_request (a file is in the way).
  result<void> make_dir(std::string_view path) { return provider_.make_dir(handle_, path); }
  /// Removes a file, or a directory with everything in it when `recursive`. Errors: not_found.
  result<void> remove(std::string_view path, bool recursive = false) { return provider_.remove(handle_, path, recursive); }
  /// Renames within the sandbox. Errors: not_found.
  result<void> rename(std::string_view from, std::string_view to) { return provider_.rename(handle_, from, to); }
  /// Copies a local file or directory tree into the sandbox at `remote_path`.
  /// Errors: not_found (local path), invalid_request.
  result<void> upload(std::string_view local_path, std::string_view remote_path) { return provider_.upload(handle_, local_path, remote_path); }
  /// Copies a file or directory tree out of the sandbox to `local_path`. Symlinks inside are
  /// copied as links and never followed out of the destination.
  result<void> download(std::string_view remote_path, std::string_view local_path) { return provider_.download(handle_, remote_path, local_path); }

  /// Destroys the sandbox now. Errors: not_found (already gone), connection.
  result<void> kill() { live_ = false; return provider_.kill(handle_); }
  /// Lets go of the handle: a duration-lifetime sandbox keeps running (reattach with
  /// `connect(id)`); a session sandbox is destroyed.
  void close() { finish(); }
  /// Moves the deadline of a duration-lifetime sandbox to `from now + d`.
  /// Errors: invalid_request (session sandbox, out of the provider's range), not_found.
  result<void> extend_timeout(std::chrono::milliseconds d) { return provider_.extend_timeout(handle_, d); }

  /// Replaces the network policy for new connections, without a restart. Requires
  /// cap::network_update. Errors: unsupported (hosts or cidrs the provider has no allowlist
  /// marker for), invalid_request (a malformed host or range).
  result<void> update_network(network_policy const& n)
    requires supports<P, cap::network_update>
  { return provider_.update_network(handle_, n); }
  /// Captures the filesystem as a snapshot named `name`. Requires cap::snapshots.
  result<snapshot_info> snapshot(std::string_view name)
    requires supports<P, cap::snapshots>
  { return provider_.snapshot(handle_, name); }
  /// A URL reaching `port` inside the sandbox. Requires cap::port_exposure.
  /// Errors: invalid_request (port 0), not_found.
  result<std::string> expose_port(std::uint16_t port)
    requires supports<P, cap::port_exposure>
  { return provider_.expose_port(handle_, port); }
  /// Freezes every process, keeping memory. Requires cap::pause_resume.
  result<void> pause()
    requires supports<P, cap::pause_resume>
  { return provider_.pause(handle_); }
  /// Thaws a paused sandbox. Requires cap::pause_resume.
  result<void> resume()
    requires supports<P, cap::pause_resume>
  { return provider_.resume(handle_); }
  /// An interactive terminal. Requires cap::pty.
  result<pty> open_pty(pty_request const& r = {})
    requires supports<P, cap::pty>
  { return provider_.open_pty(handle_, r); }
  /// A stateful interpreter ("python", "javascript"). Requires cap::kernel_session.
  /// Errors: invalid_request (unknown language), exec_failed.
  result<sbx::repl> repl(std::string_view language)
    requires supports<P, cap::kernel_session>
  { return provider_.repl(handle_, language); }

  P& provider() noexcept { return provider_; }
  handle_type const& handle() const noexcept { return handle_; }

 private:
  void finish() noexcept {
    if (!std::exchange(live_, false)) return;
    if (kill_on_destroy_) (void)provider_.kill(handle_);
    else provider_.release(handle_);
  }

  P provider_;
  handle_type handle_;
  bool kill_on_destroy_ = true;
  bool live_ = true;
};

}  // namespace sbx
