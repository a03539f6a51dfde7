// SPDX-License-Identifier: Apache-2.0
// Escape attempts against the local provider. Each must fail inside the sandbox AND leave
// the host unharmed; each test checks both sides.
#include "matchers.hpp"

#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
using sbx::exec_result;
using sbx::test::succeeds;
using sbx::test::succeeds_with;
using testing::Field;
using testing::HasSubstr;
using testing::Not;

#define SBX_ASSERT_OK(var, ...)                                  \
  auto var##_result = (__VA_ARGS__);                             \
  ASSERT_TRUE(var##_result) << var##_result.error().to_string(); \
  auto var = std::move(var##_result).value()

namespace fs = std::filesystem;

std::string slurp(fs::path const& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// A syscall the sandbox's filter refuses: -1 with EPERM or ENOSYS, never EFAULT/EBADF/EINVAL
/// (those would mean the kernel looked at the arguments, i.e. the call got through).
auto denied() {
  return testing::AllOf(HasSubstr("ret -1"), testing::AnyOf(HasSubstr("Operation not permitted"),
                                                            HasSubstr("Function not implemented")));
}

class escape : public ::testing::Test {
 protected:
  static sbx::client<sbx::local>& client() {
    static sbx::client<sbx::local> c;
    return c;
  }
  static sbx::result<sbx::sandbox<sbx::local>> make() {
    return client().create(sbx::request<sbx::local>{}.memory("256 MiB"));
  }
  /// Runs python code in the sandbox; returns its stdout (the test asserts on it).
  static std::string py(sbx::sandbox<sbx::local>& box, std::string const& code) {
    auto r = box.exec({"python3", "-c", code});
    if (!r) return "sbx-error: " + r.error().to_string();
    return r.value().stdout_data + r.value().stderr_data;
  }
  // x86_64 syscall numbers, called through libc's syscall() so no wrapper hides a failure.
  static std::string syscall_errno(sbx::sandbox<sbx::local>& box, int nr, std::string const& args = "0, 0, 0, 0") {
    return py(box, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                   "r = libc.syscall(" + std::to_string(nr) + ", " + args + ")\n"
                   "print('ret', r, 'errno', os.strerror(ctypes.get_errno()))");
  }
};

TEST_F(escape, host_files_outside_volumes_cannot_be_read) {
  fs::path secret = fs::temp_directory_path() / ("sbx-host-secret-" + std::to_string(::getpid()));
  std::ofstream(secret) << "host-only-secret";
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "cat " + secret.string() + " /etc/shadow /root/.bashrc 2>&1; ls /home /root /var/lib/sbx 2>&1; true"}));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("host-only-secret")));
  std::string shadow = slurp("/etc/shadow");
  std::string first_entry = shadow.substr(0, shadow.find('\n'));
  ASSERT_FALSE(first_entry.empty()) << "the host's /etc/shadow is unreadable: run as root";
  EXPECT_THAT(r.stdout_data, Not(HasSubstr(first_entry))) << "the host's /etc/shadow leaked";
  // Nothing of the host's state dir is visible: no other sandbox's id or supervisor socket.
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("sandboxes")));
  fs::remove(secret);
}

TEST_F(escape, host_files_cannot_be_written) {
  fs::path target = fs::temp_directory_path() / ("sbx-host-write-" + std::to_string(::getpid()));
  fs::remove(target);
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "echo pwned > " + target.string() + "; echo pwned > /etc/sbx-pwned; echo done"}));
  EXPECT_EQ(r.stdout_data, "done\n");
  EXPECT_FALSE(fs::exists(target)) << "the sandbox wrote a host file";
  EXPECT_FALSE(fs::exists("/etc/sbx-pwned")) << "the sandbox wrote into the host's /etc";
}

TEST_F(escape, host_processes_are_invisible_and_cannot_be_signalled) {
  pid_t victim = ::fork();
  if (victim == 0) {
    ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(ps, box.exec({"sh", "-c", "ls /proc | grep -E '^[0-9]+$' | wc -l"}));
  EXPECT_LT(std::stoi(ps.stdout_data), 10) << "the sandbox sees many processes: the host's?";
  std::string pid = std::to_string(victim);
  SBX_ASSERT_OK(k, box.exec({"sh", "-c", "kill -9 " + pid + " 2>&1; kill -9 -1 2>&1; cat /proc/" + pid + "/cmdline 2>&1; echo end"}));
  EXPECT_THAT(k.stdout_data, Not(HasSubstr("sleep60")));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(::kill(victim, 0), 0) << "a host process was killed from inside the sandbox";
  int st = 0;
  EXPECT_EQ(::waitpid(victim, &st, WNOHANG), 0) << "the host process exited";
  ::kill(victim, SIGKILL);
  ::waitpid(victim, &st, 0);
}

TEST_F(escape, host_loopback_server_is_unreachable_when_network_is_blocked) {
  int srv = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(srv, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(srv, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  SBX_ASSERT_OK(box, make());
  std::string out = py(box,
      "import socket\n"
      "for host in ('127.0.0.1', '10.0.2.2', '169.254.169.254', '8.8.8.8'):\n"
      "    s = socket.socket(); s.settimeout(2)\n"
      "    try:\n"
      "        s.connect((host, " + std::to_string(port) + ")); print('CONNECTED', host)\n"
      "    except OSError as e:\n"
      "        print('refused', host, e)\n"
      "try:\n"
      "    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b'x', ('8.8.8.8', 53)); print('UDP SENT')\n"
      "except OSError as e:\n"
      "    print('udp refused', e)\n");
  EXPECT_THAT(out, Not(HasSubstr("CONNECTED")));
  EXPECT_THAT(out, Not(HasSubstr("UDP SENT")));
  EXPECT_THAT(out, HasSubstr("refused 127.0.0.1"));
  ::close(srv);
}

TEST_F(escape, mount_is_denied) {
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>&1; mount --bind / /tmp/m 2>&1; echo rc=$?"}));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("rc=0")));
  SBX_ASSERT_OK(m, box.exec({"sh", "-c", "grep -c ' /tmp/m ' /proc/self/mounts || true"}));
  EXPECT_EQ(m.stdout_data, "0\n");
}

TEST_F(escape, ptrace_is_denied) {
  SBX_ASSERT_OK(box, make());
  // PTRACE_TRACEME = 0, and PTRACE_ATTACH = 16 on pid 1.
  EXPECT_THAT(syscall_errno(box, 101, "0, 0, 0, 0"), denied());
  EXPECT_THAT(syscall_errno(box, 101, "16, 1, 0, 0"), denied());
}

TEST_F(escape, kernel_modules_cannot_be_loaded) {
  SBX_ASSERT_OK(box, make());
  EXPECT_THAT(syscall_errno(box, 175), denied());  // init_module
  EXPECT_THAT(syscall_errno(box, 313), denied());  // finit_module
  EXPECT_THAT(syscall_errno(box, 176), denied());  // delete_module
}

TEST_F(escape, kexec_bpf_keyctl_perf_and_userfaultfd_are_denied) {
  SBX_ASSERT_OK(box, make());
  EXPECT_THAT(syscall_errno(box, 246), denied());  // kexec_load
  EXPECT_THAT(syscall_errno(box, 321, "0, 0, 0"), denied());  // bpf
  EXPECT_THAT(syscall_errno(box, 250), denied());  // keyctl
  EXPECT_THAT(syscall_errno(box, 298, "0, 0, -1, -1, 0"), denied());  // perf_event_open
  EXPECT_THAT(syscall_errno(box, 323, "0"), denied());  // userfaultfd
  EXPECT_THAT(syscall_errno(box, 425, "1, 0"), denied());  // io_uring_setup
}

TEST_F(escape, raw_devices_are_absent_and_cannot_be_made) {
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "ls /dev; mknod /tmp/vda b 254 0 2>&1; head -c 1 /tmp/vda 2>&1; head -c 1 /dev/vda 2>&1; head -c 1 /dev/mem 2>&1; echo end"}));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("vda\n")));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("mem\n")));
  EXPECT_THAT(r.stdout_data, HasSubstr("end"));
  SBX_ASSERT_OK(e, box.exec({"sh", "-c", "test -b /tmp/vda && echo MADE || echo none"}));
  EXPECT_EQ(e.stdout_data, "none\n");
}

TEST_F(escape, host_clock_cannot_be_changed) {
  auto before = std::chrono::system_clock::now();
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "date -s '2001-01-01 00:00:00' 2>&1; echo end"}));
  // clock_settime(CLOCK_REALTIME, a year ago) with a valid timespec: only a filter stops it.
  EXPECT_THAT(py(box, "import ctypes, os, time\n"
                      "class ts(ctypes.Structure): _fields_ = [('s', ctypes.c_long), ('ns', ctypes.c_long)]\n"
                      "libc = ctypes.CDLL(None, use_errno=True)\n"
                      "t = ts(int(time.time()) - 86400 * 365, 0)\n"
                      "print('ret', libc.syscall(227, 0, ctypes.byref(t)), 'errno', os.strerror(ctypes.get_errno()))"),
              denied());
  auto after = std::chrono::system_clock::now();
  EXPECT_GE(after, before) << "the host clock went back";
  EXPECT_LT(after - before, 120s);
}

TEST_F(escape, host_hostname_cannot_be_changed) {
  char host[256] = {};
  ::gethostname(host, sizeof host);
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "hostname sbx-evil 2>&1; echo end"}));
  char after[256] = {};
  ::gethostname(after, sizeof after);
  EXPECT_STREQ(host, after);
}

TEST_F(escape, nested_namespaces_and_privileges_are_denied) {
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true 2>&1; echo rc=$?"}));
  EXPECT_THAT(r.stdout_data, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(r.stdout_data, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("rc=0")));
  EXPECT_THAT(syscall_errno(box, 272, "0x10000000"), denied());  // unshare(CLONE_NEWUSER)
  EXPECT_THAT(syscall_errno(box, 308, "-1, 0"), denied());        // setns
}

TEST_F(escape, proc_knobs_are_read_only) {
  SBX_ASSERT_OK(box, make());
  SBX_ASSERT_OK(r, box.exec({"sh", "-c", "echo b > /proc/sysrq-trigger 2>&1; echo 1 > /proc/sys/kernel/sysrq 2>&1; cat /proc/kcore 2>&1 | head -c 10; echo end"}));
  EXPECT_THAT(r.stdout_data, HasSubstr("end"));
  std::string sysrq = slurp("/proc/sys/kernel/sysrq");
  SBX_ASSERT_OK(again, box.exec({"cat", "/proc/sys/kernel/sysrq"}));
  EXPECT_EQ(again.stdout_data, sysrq) << "the sandbox changed a kernel setting";
}

TEST_F(escape, upload_does_not_follow_a_symlink_planted_inside) {
  SBX_ASSERT_OK(box, make());
  // The sandbox plants links that would lead a naive host-side writer to the host's /etc.
  ASSERT_THAT(box.exec({"sh", "-c", "ln -s /etc /tmp/link; ln -s ../../../../../../etc /tmp/rel"}), succeeds());
  fs::path local = fs::temp_directory_path() / ("sbx-up-" + std::to_string(::getpid()));
  fs::create_directories(local);
  std::ofstream(local / "sbx-pwned-up") << "x";
  (void)box.upload((local / "sbx-pwned-up").string(), "/tmp/link/sbx-pwned-up");
  (void)box.upload((local / "sbx-pwned-up").string(), "/tmp/rel/sbx-pwned-up2");
  (void)box.write_file("/tmp/link/sbx-pwned-w", "x");
  EXPECT_FALSE(fs::exists("/etc/sbx-pwned-up"));
  EXPECT_FALSE(fs::exists("/etc/sbx-pwned-up2"));
  EXPECT_FALSE(fs::exists("/etc/sbx-pwned-w"));
  fs::remove_all(local);
}

TEST_F(escape, download_does_not_follow_a_symlink_out) {
  fs::path secret = fs::temp_directory_path() / ("sbx-dl-secret-" + std::to_string(::getpid()));
  std::ofstream(secret) << "host-only-secret";
  SBX_ASSERT_OK(box, make());
  ASSERT_THAT(box.exec({"sh", "-c", "mkdir -p /tmp/d; ln -s " + secret.string() + " /tmp/d/abs; ln -s ../../../../../../../" + secret.string() + " /tmp/d/rel; ln -s /etc/shadow /tmp/d/shadow"}), succeeds());
  fs::path dest = fs::temp_directory_path() / ("sbx-dl-" + std::to_string(::getpid()));
  fs::remove_all(dest);
  (void)box.download("/tmp/d", dest.string());
  for (auto const& name : {"abs", "rel", "shadow"}) {
    fs::path p = dest / name;
    if (fs::exists(fs::symlink_status(p))) {
      EXPECT_TRUE(fs::is_symlink(fs::symlink_status(p))) << name << " was dereferenced on the host";
    }
  }
  // Reading a link through the API resolves inside the sandbox, never on the host.
  auto r = box.read_file("/tmp/d/abs");
  if (r) {
    EXPECT_THAT(r.value(), Not(HasSubstr("host-only-secret")));
  }
  EXPECT_EQ(slurp(secret), "host-only-secret");
  fs::remove_all(dest);
  fs::remove(secret);
}

TEST_F(escape, another_sandbox_files_are_invisible) {
  SBX_ASSERT_OK(a, make());
  SBX_ASSERT_OK(b, make());
  ASSERT_THAT(a.write_file("/tmp/a-private-marker", "from-a"), succeeds());
  SBX_ASSERT_OK(r, b.exec({"sh", "-c", "cat /tmp/a-private-marker 2>&1; find / -xdev -name a-private-marker 2>/dev/null; echo end"}));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("from-a")));
  EXPECT_THAT(r.stdout_data, Not(HasSubstr("/a-private-marker\n")));
  EXPECT_THAT(b.read_file("/tmp/a-private-marker"), sbx::test::fails_with(sbx::error_kind::not_found));
}

TEST_F(escape, fork_bomb_is_stopped_by_the_pids_limit) {
  SBX_ASSERT_OK(box, make());
  sbx::exec_request r{"sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived"};
  r.timeout = 20s;
  auto t0 = std::chrono::steady_clock::now();
  (void)box.exec(r);
  // The host stays responsive: a host fork+exec still runs quickly.
  auto h0 = std::chrono::steady_clock::now();
  EXPECT_EQ(std::system("true"), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - h0, 2s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
  ASSERT_THAT(box.kill(), succeeds());
}

TEST_F(escape, memory_hog_is_killed_and_reported_and_the_host_is_fine) {
  auto box = client().create(sbx::request<sbx::local>{}.memory("64 MiB"));
  ASSERT_TRUE(box) << box.error().to_string();
  SBX_ASSERT_OK(r, box.value().exec({"python3", "-c", "b = []\nwhile True: b.append(bytearray(8 << 20))"}));
  EXPECT_TRUE(r.oom_killed);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(box.value().exec({"echo", "alive"}), succeeds_with(Field(&exec_result::stdout_data, "alive\n")));
}

}  // namespace
