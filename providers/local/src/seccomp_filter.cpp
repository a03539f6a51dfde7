// SPDX-License-Identifier: Apache-2.0
#include "runtime.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace sbx::local_impl {
namespace {

// What a sandboxed command never needs: kernel modules, kexec, bpf, perf, the key store,
// ptrace and cross-process memory access, mounting and namespace changes (the sandbox's
// mounts are final once its pid 1 is up), the clocks, swap, reboot, file handles (the
// classic container escape), io_uring (a large, often-exploited surface), userfaultfd
// (a common exploit aid), raw port I/O, and the kernel log.
constexpr char const* denied[] = {
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "open_by_handle_at",
    "name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
    "pivot_root", "swapon", "swapoff", "reboot", "setns", "unshare", "acct", "quotactl",
    "lookup_dcookie", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "syslog", "sethostname", "setdomainname", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "nfsservctl", "uselib", "vhangup", "kcmp", "pidfd_getfd"};

std::string build(std::string& error) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) { error = "seccomp_init failed"; return {}; }
  for (char const* name : denied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0); rc != 0) {
      error = std::string("seccomp rule for ") + name + " failed: " + std::strerror(-rc);
      seccomp_release(ctx);
      return {};
    }
  }
  // No new namespaces through clone flags (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
  // NEWPID, NEWNET); clone3 passes its flags in memory a filter cannot read, so it reports
  // ENOSYS and libc falls back to clone.
  for (unsigned long f : {0x00020000UL, 0x02000000UL, 0x04000000UL, 0x08000000UL, 0x10000000UL, 0x20000000UL, 0x40000000UL})
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
  seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  int fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
  std::string out;
  if (fd < 0) { error = std::string("memfd_create failed: ") + std::strerror(errno); seccomp_release(ctx); return {}; }
  if (int rc = seccomp_export_bpf(ctx, fd); rc != 0) {
    error = std::string("seccomp_export_bpf failed: ") + std::strerror(-rc);
  } else {
    lseek(fd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  seccomp_release(ctx);
  return out;
}

}  // namespace

result<std::string_view> seccomp_program() {
  static std::once_flag once;
  static std::string program, error;
  std::call_once(once, [] { program = build(error); });
  if (program.empty()) return make_error(error_kind::internal, "building the seccomp filter: " + error);
  return std::string_view(program);
}

}  // namespace sbx::local_impl
