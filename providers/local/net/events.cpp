// SPDX-License-Identifier: Apache-2.0
// The denial log: sandboxes/<id>/net-events.jsonl, one `network_policy_denied` event per
// line, read by the library's network_events(); and net.log, the engine's own log. Neither
// ever holds a secret's value (the engine only logs hosts, ports and reasons).
#include "engine.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

namespace sbx::local_net {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
void append(std::string const& path, std::string const& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}
}  // namespace

void engine::deny_event(std::string const& host, std::uint16_t port, std::string const& reason, char const* via) {
  ++denials;
  auto pol = current();
  nlohmann::json j = {{"type", "network_policy_denied"}, {"host", host},          {"port", port},
                      {"time_ms", now_ms()},             {"reason", reason},      {"policy", pol->describe()},
                      {"via", via}};
  std::lock_guard lk(log_mu_);
  append(dir + "/net-events.jsonl", j.dump() + "\n");
}

void engine::log(std::string const& line) {
  std::lock_guard lk(log_mu_);
  append(dir + "/net.log", std::to_string(now_ms()) + " " + line + "\n");
}

}  // namespace sbx::local_net
