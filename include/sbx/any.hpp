// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sbx/client.hpp>
#include <sbx/sandbox.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx {

/// A sandbox of a provider chosen at run time. Same member names as `sandbox<P>`; an
/// operation the provider lacks returns `unsupported` naming the capability and the
/// operation, instead of not compiling.
class any_sandbox {
 public:
  class model {
   public:
    virtual ~model() = default;
    virtual std::string_view provider_name() const noexcept = 0;
    virtual capability_set capabilities() const noexcept = 0;
    virtual std::string id() const = 0;
    virtual result<sandbox_info> info() = 0;
    virtual result<exec_result> exec(exec_request const&) = 0;
    virtual result<process> spawn(exec_request const&) = 0;
    virtual result<std::string> read_file(std::string_view) = 0;
    virtual result<void> read_file(std::string_view, byte_sink) = 0;
    virtual result<void> write_file(std::string_view, std::string_view, write_options const&) = 0;
    virtual result<void> write_file(std::string_view, byte_source, write_options const&) = 0;
    virtual result<std::vector<file_info>> list(std::string_view) = 0;
    virtual result<file_info> stat(std::string_view) = 0;
    virtual result<bool> exists(std::string_view) = 0;
    virtual result<void> make_dir(std::string_view) = 0;
    virtual result<void> remove(std::string_view, bool) = 0;
    virtual result<void> rename(std::string_view, std::string_view) = 0;
    virtual result<void> upload(std::string_view, std::string_view) = 0;
    virtual result<void> download(std::string_view, std::string_view) = 0;
    virtual result<void> kill() = 0;
    virtual void close() = 0;
    virtual result<void> extend_timeout(std::chrono::milliseconds) = 0;
    virtual result<void> update_network(network_policy const&) = 0;
    virtual result<snapshot_info> snapshot(std::string_view) = 0;
    virtual result<std::string> expose_port(std::uint16_t) = 0;
    virtual result<void> pause() = 0;
    virtual result<void> resume() = 0;
    virtual result<pty> open_pty(pty_request const&) = 0;
    virtual result<sbx::repl> repl(std::string_view) = 0;
  };

  template <provider P>
  explicit any_sandbox(sandbox<P>&& s);
  any_sandbox(any_sandbox&&) noexcept = default;
  any_sandbox& operator=(any_sandbox&&) noexcept = default;

  std::string_view provider_name() const noexcept { return m_->provider_name(); }
  /// The provider's capability markers, indexed by `cap::X::bit`.
  capability_set capabilities() const noexcept { return m_->capabilities(); }
  std::string id() const { return m_->id(); }
  result<sandbox_info> info() { return m_->info(); }
  result<exec_result> exec(exec_request const& r) { return m_->exec(r); }
  template <class... Args>
  result<exec_result> sh(std::string_view format, Args const&... args) {
    SBX_TRY(command, render_shell(format, args...));
    return exec(exec_request::shell(std::move(command)));
  }
  result<process> spawn(exec_request const& r) { return m_->spawn(r); }
  result<std::string> read_file(std::string_view p) { return m_->read_file(p); }
  result<void> read_file(std::string_view p, byte_sink s) { return m_->read_file(p, std::move(s)); }
  result<void> write_file(std::string_view p, std::string_view d, write_options const& o = {}) { return m_->write_file(p, d, o); }
  result<void> write_file(std::string_view p, byte_source s, write_options const& o = {}) { return m_->write_file(p, std::move(s), o); }
  result<std::vector<file_info>> list(std::string_view p) { return m_->list(p); }
  result<file_info> stat(std::string_view p) { return m_->stat(p); }
  result<bool> exists(std::string_view p) { return m_->exists(p); }
  result<void> make_dir(std::string_view p) { return m_->make_dir(p); }
  result<void> remove(std::string_view p, bool recursive = false) { return m_->remove(p, recursive); }
  result<void> rename(std::string_view a, std::string_view b) { return m_->rename(a, b); }
  result<void> upload(std::string_view l, std::string_view r) { return m_->upload(l, r); }
  result<void> download(std::string_view r, std::string_view l) { return m_->download(r, l); }
  result<void> kill() { return m_->kill(); }
  void close() { m_->close(); }
  result<void> extend_timeout(std::chrono::milliseconds d) { return m_->extend_timeout(d); }
  /// unsupported without cap::network_update.
  result<void> update_network(network_policy const& n) { return m_->update_network(n); }
  /// unsupported without cap::snapshots.
  result<snapshot_info> snapshot(std::string_view name) { return m_->snapshot(name); }
  /// unsupported without cap::port_exposure.
  result<std::string> expose_port(std::uint16_t port) { return m_->expose_port(port); }
  /// unsupported without cap::pause_resume.
  result<void> pause() { return m_->pause(); }
  result<void> resume() { return m_->resume(); }
  /// unsupported without cap::pty.
  result<pty> open_pty(pty_request const& r = {}) { return m_->open_pty(r); }
  /// unsupported without cap::kernel_session.
  result<sbx::repl> repl(std::string_view language) { return m_->repl(language); }

 private:
  std::unique_ptr<model> m_;
};

/// A client of a provider chosen at run time; see `any_sandbox`.
class any_client {
 public:
  class model {
   public:
    virtual ~model() = default;
    virtual std::string_view provider_name() const noexcept = 0;
    virtual capability_set capabilities() const noexcept = 0;
    virtual result<any_sandbox> create(common_request const&) = 0;
    virtual result<any_sandbox> connect(std::string_view) = 0;
    virtual result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const&) = 0;
    virtual result<volume_info> create_volume(volume_request const&) = 0;
    virtual result<std::vector<volume_info>> list_volumes() = 0;
    virtual result<void> delete_volume(std::string_view) = 0;
    virtual result<std::vector<snapshot_info>> list_snapshots() = 0;
    virtual result<void> delete_snapshot(std::string_view) = 0;
  };

  template <provider P>
  explicit any_client(client<P> c);

  std::string_view provider_name() const noexcept { return m_->provider_name(); }
  capability_set capabilities() const noexcept { return m_->capabilities(); }
  /// Fields the provider lacks (`network.cidrs` on deno) are `unsupported`, never dropped.
  result<any_sandbox> create(common_request const& r = {}) { return m_->create(r); }
  result<any_sandbox> connect(std::string_view id) { return m_->connect(id); }
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const& labels = {}) { return m_->list(labels); }
  result<volume_info> create_volume(volume_request const& r) { return m_->create_volume(r); }
  result<std::vector<volume_info>> list_volumes() { return m_->list_volumes(); }
  result<void> delete_volume(std::string_view id) { return m_->delete_volume(id); }
  result<std::vector<snapshot_info>> list_snapshots() { return m_->list_snapshots(); }
  result<void> delete_snapshot(std::string_view id) { return m_->delete_snapshot(id); }

 private:
  std::shared_ptr<model> m_;
};

namespace detail {

template <provider P>
class sandbox_model final : public any_sandbox::model {
 public:
  explicit sandbox_model(sandbox<P>&& s) : s_(std::move(s)) {}
  std::string_view provider_name() const noexcept override { return P::name; }
  capability_set capabilities() const noexcept override { return capability_bits_of<P>(); }
  std::string id() const override { return s_.id(); }
  result<sandbox_info> info() override { return s_.info(); }
  result<exec_result> exec(exec_request const& r) override { return s_.exec(r); }
  result<process> spawn(exec_request const& r) override { return s_.spawn(r); }
  result<std::string> read_file(std::string_view p) override { return s_.read_file(p); }
  result<void> read_file(std::string_view p, byte_sink k) override { return s_.read_file(p, std::move(k)); }
  result<void> write_file(std::string_view p, std::string_view d, write_options const& o) override { return s_.write_file(p, d, o); }
  result<void> write_file(std::string_view p, byte_source k, write_options const& o) override { return s_.write_file(p, std::move(k), o); }
  result<std::vector<file_info>> list(std::string_view p) override { return s_.list(p); }
  result<file_info> stat(std::string_view p) override { return s_.stat(p); }
  result<bool> exists(std::string_view p) override { return s_.exists(p); }
  result<void> make_dir(std::string_view p) override { return s_.make_dir(p); }
  result<void> remove(std::string_view p, bool r) override { return s_.remove(p, r); }
  result<void> rename(std::string_view a, std::string_view b) override { return s_.rename(a, b); }
  result<void> upload(std::string_view l, std::string_view r) override { return s_.upload(l, r); }
  result<void> download(std::string_view r, std::string_view l) override { return s_.download(r, l); }
  result<void> kill() override { return s_.kill(); }
  void close() override { s_.close(); }
  result<void> extend_timeout(std::chrono::milliseconds d) override { return s_.extend_timeout(d); }
  result<void> update_network(network_policy const& n) override {
    if constexpr (supports<P, cap::network_update>) return s_.update_network(n);
    else return make_unsupported(P::name, cap::network_update::name, "update_network");
  }
  result<snapshot_info> snapshot(std::string_view name) override {
    if constexpr (supports<P, cap::snapshots>) return s_.snapshot(name);
    else return make_unsupported(P::name, cap::snapshots::name, "snapshot");
  }
  result<std::string> expose_port(std::uint16_t port) override {
    if constexpr (supports<P, cap::port_exposure>) return s_.expose_port(port);
    else return make_unsupported(P::name, cap::port_exposure::name, "expose_port");
  }
  result<void> pause() override {
    if constexpr (supports<P, cap::pause_resume>) return s_.pause();
    else return make_unsupported(P::name, cap::pause_resume::name, "pause");
  }
  result<void> resume() override {
    if constexpr (supports<P, cap::pause_resume>) return s_.resume();
    else return make_unsupported(P::name, cap::pause_resume::name, "resume");
  }
  result<pty> open_pty(pty_request const& r) override {
    if constexpr (supports<P, cap::pty>) return s_.open_pty(r);
    else return make_unsupported(P::name, cap::pty::name, "open_pty");
  }
  result<sbx::repl> repl(std::string_view language) override {
    if constexpr (supports<P, cap::kernel_session>) return s_.repl(language);
    else return make_unsupported(P::name, cap::kernel_session::name, "repl");
  }

 private:
  sandbox<P> s_;
};

template <provider P>
class client_model final : public any_client::model {
 public:
  explicit client_model(client<P> c) : c_(std::move(c)) {}
  std::string_view provider_name() const noexcept override { return P::name; }
  capability_set capabilities() const noexcept override { return capability_bits_of<P>(); }
  result<any_sandbox> create(common_request const& r) override {
    SBX_TRY(s, c_.create(r));
    return any_sandbox(std::move(s));
  }
  result<any_sandbox> connect(std::string_view id) override {
    SBX_TRY(s, c_.connect(id));
    return any_sandbox(std::move(s));
  }
  result<std::vector<sandbox_info>> list(std::map<std::string, std::string> const& l) override { return c_.list(l); }
  result<volume_info> create_volume(volume_request const& r) override {
    if constexpr (supports<P, cap::volumes>) return c_.create_volume(r);
    else return make_unsupported(P::name, cap::volumes::name, "create_volume");
  }
  result<std::vector<volume_info>> list_volumes() override {
    if constexpr (supports<P, cap::volumes>) return c_.list_volumes();
    else return make_unsupported(P::name, cap::volumes::name, "list_volumes");
  }
  result<void> delete_volume(std::string_view id) override {
    if constexpr (supports<P, cap::volumes>) return c_.delete_volume(id);
    else return make_unsupported(P::name, cap::volumes::name, "delete_volume");
  }
  result<std::vector<snapshot_info>> list_snapshots() override {
    if constexpr (supports<P, cap::snapshots>) return c_.list_snapshots();
    else return make_unsupported(P::name, cap::snapshots::name, "list_snapshots");
  }
  result<void> delete_snapshot(std::string_view id) override {
    if constexpr (supports<P, cap::snapshots>) return c_.delete_snapshot(id);
    else return make_unsupported(P::name, cap::snapshots::name, "delete_snapshot");
  }

 private:
  client<P> c_;
};

}  // namespace detail

template <provider P>
any_sandbox::any_sandbox(sandbox<P>&& s) : m_(std::make_unique<detail::sandbox_model<P>>(std::move(s))) {}

template <provider P>
any_client::any_client(client<P> c) : m_(std::make_shared<detail::client_model<P>>(std::move(c))) {}

}  // namespace sbx
