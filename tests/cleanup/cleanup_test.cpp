// SPDX-License-Identifier: Apache-2.0
// Nothing leaks: after create/kill cycles, after kill -9 of a client holding sandboxes, and
// after kill -9 of a supervisor, `gc` leaves no mount, cgroup, netns, process or state dir of
// those sandboxes behind. Each sandbox's resources are recorded while it lives and checked
// one by one afterwards, so tests running in parallel cannot disturb the counts.
#include "matchers.hpp"

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sbx::test::succeeds;

/// What one live sandbox holds on the host.
struct footprint {
  std::string id;
  fs::path dir;
  pid_t supervisor = -1, init = -1;
  ino_t netns = 0, pidns = 0;
  std::vector<std::string> cgroups;
  unsigned long long recorded_ticks = 0;  ///< when this was recorded, in clock ticks since boot
};

unsigned long long boot_ticks_now() {
  timespec t{};
  ::clock_gettime(CLOCK_BOOTTIME, &t);
  long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<unsigned long long>(t.tv_sec) * hz + static_cast<unsigned long long>(t.tv_nsec) * hz / 1000000000ULL;
}

/// When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); 0 if unknown.
unsigned long long start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return 0;
  std::istringstream rest(line.substr(rp + 2));
  std::string field;
  for (int i = 3; i < 22 && rest >> field; ++i) {}
  unsigned long long t = 0;
  rest >> t;
  return t;
}

ino_t ns_inode(pid_t pid, char const* ns) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/ns/" + ns).c_str(), &st) != 0) return 0;
  return st.st_ino;
}

footprint record(std::string const& id) {
  fs::path dir = fs::path(sbx::local{}.configuration().state_dir) / "sandboxes" / id;
  footprint f{id, dir};
  f.recorded_ticks = boot_ticks_now();
  std::ifstream in(dir / "state.json");
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_object()) {
    f.supervisor = j.value("supervisor_pid", -1);
    f.init = j.value("init_pid", -1);
    if (j.contains("cgroup"))
      for (auto const& d : j["cgroup"].value("dirs", nlohmann::json::array())) f.cgroups.push_back(d.get<std::string>());
  }
  f.netns = ns_inode(f.init, "net");
  f.pidns = ns_inode(f.init, "pid");
  return f;
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

/// Everything `f` held that is still there, as sentences.
std::vector<std::string> leftovers(footprint const& f) {
  std::vector<std::string> left;
  if (fs::exists(f.dir)) left.push_back("state dir " + f.dir.string());
  for (auto const& c : f.cgroups)
    if (fs::exists(c)) left.push_back("cgroup " + c);
  if (alive(f.supervisor)) left.push_back("supervisor pid " + std::to_string(f.supervisor));
  if (alive(f.init)) left.push_back("init pid " + std::to_string(f.init));
  std::ifstream mi("/proc/self/mountinfo");
  for (std::string line; std::getline(mi, line);)
    if (line.find(f.dir.string()) != std::string::npos) left.push_back("mount " + line);
  for (auto const& p : fs::directory_iterator("/proc")) {
    std::string name = p.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    // Namespace inode numbers are reused once a namespace is freed: a process that started
    // after the sandbox was recorded (alive) and sits in a namespace with the same number is
    // in some newer sandbox's namespace (another test's). A real leftover started before, or
    // was forked by one that did.
    if ((f.netns || f.pidns) && start_ticks(pid) > f.recorded_ticks) continue;
    if (f.netns && ns_inode(pid, "net") == f.netns) left.push_back("process " + name + " in the sandbox's netns");
    else if (f.pidns && ns_inode(pid, "pid") == f.pidns) left.push_back("process " + name + " in the sandbox's pid ns");
  }
  return left;
}

/// Waits until nothing of `fs` is left (teardown is asynchronous), running gc once.
void expect_all_gone(std::vector<footprint> const& fps, std::chrono::seconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  bool gc_done = false;
  for (;;) {
    std::vector<std::string> left;
    for (auto const& f : fps)
      for (auto& l : leftovers(f)) left.push_back(f.id + ": " + l);
    if (left.empty()) return;
    if (std::chrono::steady_clock::now() > deadline) {
      for (auto const& l : left) ADD_FAILURE() << "left behind: " << l;
      return;
    }
    if (!gc_done && std::chrono::steady_clock::now() > deadline - limit / 2) {
      ASSERT_THAT(sbx::local{}.gc(), succeeds());
      gc_done = true;
    }
    std::this_thread::sleep_for(100ms);
  }
}

TEST(cleanup, two_hundred_create_kill_cycles_leave_nothing) {
  sbx::client<sbx::local> c;
  std::vector<footprint> fps;
  for (int i = 0; i < 200; ++i) {
    auto box = c.create();
    ASSERT_TRUE(box) << box.error().to_string();
    ASSERT_THAT(box.value().exec({"true"}), succeeds());
    fps.push_back(record(box.value().id()));
    ASSERT_GT(fps.back().init, 0) << "no state.json for " << fps.back().id;
    ASSERT_THAT(box.value().kill(), succeeds());
  }
  expect_all_gone(fps);
}

TEST(cleanup, session_sandboxes_die_with_a_client_killed_by_sigkill) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(SBX_HOLDER_PATH, SBX_HOLDER_PATH, "10", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::vector<std::string> ids;
  std::string buf;
  char tmp[256];
  while (buf.find("ready\n") == std::string::npos) {
    ssize_t n = ::read(out[0], tmp, sizeof tmp);
    ASSERT_GT(n, 0) << "holder died before it was ready: " << buf;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  for (std::size_t pos = 0, nl; (nl = buf.find('\n', pos)) != std::string::npos; pos = nl + 1)
    if (auto line = buf.substr(pos, nl - pos); line != "ready") ids.push_back(line);
  ASSERT_EQ(ids.size(), 10u);
  std::vector<footprint> fps;
  for (auto const& id : ids) fps.push_back(record(id));
  for (auto const& f : fps) ASSERT_TRUE(alive(f.init)) << f.id << " is not running";
  ::kill(child, SIGKILL);
  int st = 0;
  ::waitpid(child, &st, 0);
  expect_all_gone(fps);
}

// A client with a warm pool: its claimed sandboxes and the warm ones it keeps ready die with
// it, and leave nothing behind.
TEST(cleanup, a_warm_pool_dies_with_a_client_killed_by_sigkill) {
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::execl(SBX_HOLDER_PATH, SBX_HOLDER_PATH, "3", "4", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string buf;
  char tmp[256];
  while (buf.find("ready\n") == std::string::npos) {
    ssize_t n = ::read(out[0], tmp, sizeof tmp);
    ASSERT_GT(n, 0) << "holder died before it was ready: " << buf;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  std::vector<std::string> claimed, warm;
  for (std::size_t pos = 0, nl; (nl = buf.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    auto line = buf.substr(pos, nl - pos);
    if (line == "ready") continue;
    if (line.rfind("warm ", 0) == 0) warm.push_back(line.substr(5));
    else claimed.push_back(line);
  }
  ASSERT_EQ(claimed.size(), 3u);
  ASSERT_EQ(warm.size(), 4u) << "the pool did not fill: " << buf;
  std::vector<footprint> fps;
  for (auto const& id : claimed) fps.push_back(record(id));
  for (auto const& id : warm) fps.push_back(record(id));
  for (auto const& f : fps) ASSERT_TRUE(alive(f.init)) << f.id << " is not running";
  for (auto const& f : fps) EXPECT_FALSE(f.cgroups.empty()) << f.id << " has no cgroups";
  // Warm sandboxes are not listed; the claimed ones are.
  sbx::client<sbx::local> c;
  auto listed = c.list();
  ASSERT_TRUE(listed);
  std::set<std::string> ids;
  for (auto const& i : listed.value()) ids.insert(i.id);
  for (auto const& id : claimed) EXPECT_TRUE(ids.count(id)) << id;
  for (auto const& id : warm) EXPECT_FALSE(ids.count(id)) << id;
  ::kill(child, SIGKILL);
  int st = 0;
  ::waitpid(child, &st, 0);
  expect_all_gone(fps);
}

TEST(cleanup, killing_the_supervisor_takes_the_sandbox_down_and_gc_clears_the_rest) {
  sbx::client<sbx::local> c;
  std::vector<footprint> fps;
  for (int i = 0; i < 3; ++i) {
    auto box = c.create(sbx::request<sbx::local>{}.timeout("10m"));
    ASSERT_TRUE(box) << box.error().to_string();
    ASSERT_THAT(box.value().exec({"sh", "-c", "sleep 600 & echo started"}), succeeds());
    fps.push_back(record(box.value().id()));
    box.value().close();
  }
  for (auto const& f : fps) {
    ASSERT_TRUE(alive(f.supervisor));
    ::kill(f.supervisor, SIGKILL);
  }
  // The sandbox's processes die with their supervisor (pid 1 has PDEATHSIG); the state dir
  // and cgroups are what gc is for.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (auto const& f : fps)
    while (alive(f.init) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  for (auto const& f : fps) EXPECT_FALSE(alive(f.init)) << f.id << ": pid 1 outlived its supervisor";
  for (auto const& f : fps) EXPECT_THAT(c.connect(f.id), sbx::test::fails_with(sbx::error_kind::not_found));
  auto cleaned = sbx::local{}.gc();
  ASSERT_THAT(cleaned, succeeds());
  std::set<std::string> got(cleaned.value().begin(), cleaned.value().end());
  for (auto const& f : fps) EXPECT_TRUE(got.count(f.id)) << "gc did not report " << f.id;
  expect_all_gone(fps, 10s);
}

}  // namespace
