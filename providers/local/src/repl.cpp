// SPDX-License-Identifier: Apache-2.0
// Kernel sessions (cap::kernel_session): a stateful python3 or node interpreter started with
// spawn inside the sandbox, running a small driver (below) that speaks a framed protocol.
//
// Protocol. The driver moves the protocol off the user's stdio before any user code runs:
// python dups its stdin/stdout to private close-on-exec fds; node gets them as fds 4 and 3
// from a tiny sh wrapper. The user's fds 1 and 2 become capture files (a memfd, or an
// unlinked temp file), opened O_APPEND so that child processes writing to them are captured
// too; fd 0 becomes /dev/null. So nothing user code prints can reach the protocol stream.
//   host -> driver:  "<timeout_ms> <n>\n" then n bytes of source (utf-8)
//   driver -> host:  "<mark> <status> <n_out> <n_err> <n_value> <n_error>\n" then the four
//                    byte strings, raw; status is hello, ok or timeout.
// <mark> is a random token per session; bytes before it are skipped, so even output that
// somehow reached the stream could not be mistaken for a reply.
//
// Timeouts are enforced inside the driver, which keeps the session and its state: python
// arms ITIMER_REAL and raises a BaseException from the SIGALRM handler (re-armed every
// 100 ms in case user code swallows it), node passes `timeout` to vm and races an awaited
// promise against a timer. Either way eval returns `timeout` and the next eval works. Only
// if the interpreter does not answer within a grace period (a C extension that never
// checks for signals, a loop that catches everything) is it killed; then this eval returns
// `timeout` and every later one `exec_failed`.

#include "runtime.hpp"

#include <fmt/format.h>

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

namespace sbx {
namespace local_impl {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long past its timeout an evaluation may take to report before the interpreter is killed.
constexpr auto grace = 3s;
// How long the interpreter may take to start and report ready.
constexpr auto start_limit = 30s;

constexpr char python_driver[] = R"PY(
def _sbx_repl_main():
    import ast, io, linecache, os, signal, sys, traceback, types
    mark = os.environ.pop('SBX_REPL_MARK', '').encode()
    pin, pout, perr = os.dup(0), os.dup(1), os.dup(2)   # non-inheritable copies
    fd = os.open('/dev/null', os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)

    def capture(name):
        try:
            r = os.memfd_create('sbx-repl-' + name)
            w = os.open('/proc/self/fd/%d' % r, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except (AttributeError, OSError):
            import tempfile
            r, p = tempfile.mkstemp(prefix='sbx-repl-')
            w = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            os.unlink(p)
        return r, w

    out_r, out_w = capture('stdout')
    err_r, err_w = capture('stderr')
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)

    def take(fd):
        size = os.fstat(fd).st_size
        parts, off = [], 0
        while off < size:
            b = os.pread(fd, size - off, off)
            if not b:
                break
            parts.append(b)
            off += len(b)
        os.ftruncate(fd, 0)
        return b''.join(parts)

    def send(status, out=b'', err=b'', value=b'', error=b''):
        data = b'%s %s %d %d %d %d\n' % (mark, status, len(out), len(err), len(value), len(error))
        view = memoryview(data + out + err + value + error)
        while view:
            view = view[os.write(pout, view):]

    class Timeout(BaseException):
        pass

    running, fired = [False], [False]

    def on_alarm(signum, frame):
        if running[0]:
            fired[0] = True
            raise Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    main = types.ModuleType('__main__')
    main.__builtins__ = __builtins__
    sys.modules['__main__'] = main
    ns = main.__dict__
    fin = io.open(pin, 'rb')
    send(b'hello', value=sys.version.encode())
    cell = 0
    while True:
        line = fin.readline()
        if not line:
            return
        t_ms, size = (int(x) for x in line.split())
        src = fin.read(size)
        if len(src) < size:
            return
        cell += 1
        name = '<cell %d>' % cell
        text = src.decode('utf-8', 'surrogateescape')
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
        status, value, error = b'ok', '', ''
        try:
            tree = ast.parse(text, name, 'exec')
        except (SyntaxError, ValueError) as e:
            error = ''.join(traceback.format_exception_only(type(e), e))
        else:
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            try:
                try:
                    running[0], fired[0] = True, False
                    if t_ms > 0:
                        signal.setitimer(signal.ITIMER_REAL, t_ms / 1000.0, 0.1)
                    exec(compile(tree, name, 'exec'), ns)
                    if last is not None:
                        v = eval(compile(last, name, 'eval'), ns)
                        if v is not None:
                            ns['_'] = v
                            value = repr(v)
                finally:
                    running[0] = False
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if fired[0]:
                    raise Timeout()   # user code swallowed the interrupt, then finished
            except Timeout:
                status = b'timeout'
            except BaseException as e:
                tb = e.__traceback__
                while tb is not None and tb.tb_frame.f_code.co_filename == '<string>':
                    tb = tb.tb_next
                try:
                    error = ''.join(traceback.format_exception(type(e), e, tb))
                except BaseException:
                    error = '%s: <unprintable exception>' % type(e).__name__
        for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                f.flush()
            except BaseException:
                pass
        send(status, take(out_r), take(err_r), value.encode('utf-8', 'backslashreplace'),
             error.encode('utf-8', 'backslashreplace'))

try:
    _sbx_repl_main()
except BaseException:
    import os, traceback
    os.write(2, traceback.format_exc().encode())
    os._exit(70)
)PY";

// Runs node with the protocol on fds 3 (out) and 4 (in) and the user's stdout/stderr in
// O_APPEND files the driver unlinks at once; $1 is the driver.
constexpr char node_wrapper[] = R"SH(command -v node >/dev/null 2>&1 || { echo "node is not installed in this sandbox's image" >&2; exit 127; }
d=$(mktemp -d 2>/dev/null || mktemp -d -p /dev/shm 2>/dev/null) || { echo "cannot create a temporary directory for the REPL" >&2; exit 1; }
: >"$d/out" && : >"$d/err" || exit 1
SBX_REPL_DIR=$d exec node -e "$1" 3>&1 4<&0 0</dev/null 1>>"$d/out" 2>>"$d/err")SH";

constexpr char node_driver[] = R"JS('use strict';
const fs = require('fs'), net = require('net'), path = require('path'), util = require('util'), vm = require('vm');
const mark = Buffer.from(process.env.SBX_REPL_MARK || '');
delete process.env.SBX_REPL_MARK;
const dir = process.env.SBX_REPL_DIR;
delete process.env.SBX_REPL_DIR;
const outFd = fs.openSync(dir + '/out', 'r+'), errFd = fs.openSync(dir + '/err', 'r+');
fs.unlinkSync(dir + '/out');
fs.unlinkSync(dir + '/err');
fs.rmdirSync(dir);

function take(fd) {
  const n = fs.fstatSync(fd).size, b = Buffer.alloc(n);
  let off = 0;
  while (off < n) { const k = fs.readSync(fd, b, off, n - off, off); if (k <= 0) break; off += k; }
  fs.ftruncateSync(fd, 0);
  return b.subarray(0, off);
}
function send(status, out, err, value, error) {
  const parts = [out, err, Buffer.from(value), Buffer.from(error)];
  const buf = Buffer.concat([mark, Buffer.from(` ${status} ${parts.map(p => p.length).join(' ')}\n`), ...parts]);
  let off = 0;
  while (off < buf.length) {
    try { off += fs.writeSync(3, buf, off); }
    catch (e) { if (e.code !== 'EAGAIN') throw e; Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); }
  }
}

// One persistent context holding the user's globals, with node's own globals added
// (require, process, Buffer, timers, fetch...) and the real console, whose output goes to
// the capture files.
const sandbox = {};
const ctx = vm.createContext(sandbox);
const own = new Set(Object.getOwnPropertyNames(vm.runInContext('globalThis', ctx)));
for (const k of Object.getOwnPropertyNames(globalThis)) {
  if (own.has(k) || k === 'global') continue;
  try { Object.defineProperty(sandbox, k, Object.getOwnPropertyDescriptor(globalThis, k)); } catch {}
}
sandbox.console = console;
sandbox.global = vm.runInContext('globalThis', ctx);
sandbox.require = require('module').createRequire(path.join(process.cwd(), '[repl]'));
process.on('uncaughtException', e => { try { process.stderr.write('Uncaught ' + (e && e.stack || util.inspect(e)) + '\n'); } catch {} });
process.on('unhandledRejection', e => { try { process.stderr.write('Unhandled rejection ' + (e && e.stack || util.inspect(e)) + '\n'); } catch {} });

function describe(e) {
  if (e && typeof e.stack === 'string') {
    return e.stack.split('\n').filter(l => !/\(?node:|\[eval\]|evalmachine/.test(l) || !/^\s+at /.test(l)).join('\n');
  }
  return 'Uncaught ' + util.inspect(e);
}
const TIMEOUT = Symbol('timeout');
let cell = 0;
async function evaluate(ms, code) {
  cell++;
  let status = 'ok', value = '', error = '';
  const start = Date.now();
  try {
    const script = new vm.Script(code, { filename: `cell${cell}` });
    let v = script.runInContext(ctx, ms > 0 ? { timeout: ms, displayErrors: false } : { displayErrors: false });
    if (v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function') {
      let timer;
      const left = ms > 0 ? Math.max(1, ms - (Date.now() - start)) : 0;
      const guard = left ? new Promise(r => { timer = setTimeout(() => r(TIMEOUT), left); }) : null;
      v = await (guard ? Promise.race([v, guard]) : v);
      clearTimeout(timer);
      if (v === TIMEOUT) throw TIMEOUT;
    }
    if (v !== undefined) { sandbox._ = v; value = util.inspect(v); }
  } catch (e) {
    if (e === TIMEOUT || (e && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')) status = 'timeout';
    else error = describe(e);
  }
  send(status, take(outFd), take(errFd), value, error);
}

const input = new net.Socket({ fd: 4, readable: true, writable: false });
let chunks = [], busy = false;
async function pump() {
  if (busy) return;
  busy = true;
  for (;;) {
    let buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    chunks = [buf];
    const nl = buf.indexOf(10);
    if (nl < 0) break;
    const [ms, len] = buf.subarray(0, nl).toString().split(' ').map(Number);
    if (buf.length < nl + 1 + len) break;
    const code = buf.subarray(nl + 1, nl + 1 + len).toString('utf8');
    chunks = [buf.subarray(nl + 1 + len)];
    await evaluate(ms, code);
  }
  busy = false;
}
input.on('data', d => { chunks.push(d); pump(); });
input.on('end', () => process.exit(0));
send('hello', Buffer.alloc(0), Buffer.alloc(0), process.version, '');
)JS";

enum class lang_t { python, node };

error repl_error(error_kind k, std::string msg, std::string_view id) {
  error_detail d;
  d.message = std::move(msg);
  d.provider = "local";
  d.capability = std::string(cap::kernel_session::name);
  d.id = std::string(id);
  return make_error(k, std::move(d));
}

std::string random_mark() {
  unsigned char b[16];
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
    auto t = clock::now().time_since_epoch().count();
    std::memcpy(b, &t, sizeof t);
    std::memcpy(b + 8, &b, sizeof(void*));
  }
  std::string s = "SBXREPL";
  for (unsigned char c : b) s += fmt::format("{:02x}", c);
  return s;
}

struct frame {
  std::string status, out, err, value, error;
};

class local_repl final : public sbx::repl::impl {
 public:
  local_repl(process p, lang_t lang, std::string mark, std::string id)
      : p_(std::move(p)), lang_(lang), mark_(std::move(mark)), id_(std::move(id)) {}

  ~local_repl() override { (void)close(); }

  // Waits for the driver's hello. Errors: exec_failed (it died first), timeout.
  result<void> await_hello() {
    std::lock_guard lk(mu_);
    SBX_TRY(f, next_frame(clock::now() + start_limit, "start"));
    if (!f) return repl_error(error_kind::timeout, fmt::format("the {} interpreter did not start within {} s", name(), start_limit.count()), id_);
    if (f->status != "hello") return repl_error(error_kind::internal, fmt::format("the {} driver said \"{}\" instead of hello", name(), f->status), id_);
    return success();
  }

  result<repl_output> eval(std::string_view code, std::optional<std::chrono::milliseconds> timeout) override {
    std::lock_guard lk(mu_);
    if (!dead_.empty()) return repl_error(error_kind::exec_failed, dead_, id_);
    if (timeout && timeout->count() <= 0)
      return repl_error(error_kind::invalid_request, fmt::format("repl eval: timeout {} ms is not positive", timeout->count()), id_);
    long long ms = timeout ? timeout->count() : 0;
    std::string req = fmt::format("{} {}\n", ms, code.size());
    req.append(code);
    if (auto w = p_.write_stdin(req); !w) {
      settle("it closed its input");
      return repl_error(error_kind::exec_failed, dead_, id_);
    }
    std::optional<clock::time_point> deadline;
    if (timeout) deadline = clock::now() + *timeout + grace;
    SBX_TRY(f, next_frame(deadline, "eval"));
    if (!f) {
      (void)p_.kill(9);
      (void)p_.wait(2s);
      dead_ = fmt::format("the {} interpreter was killed: it did not stop within {} ms of its {} ms timeout, so its state is lost",
                          name(), std::chrono::duration_cast<std::chrono::milliseconds>(grace).count(), ms);
      return repl_error(error_kind::timeout, fmt::format("repl eval did not finish within {} ms; {}", ms, dead_), id_);
    }
    if (f->status == "timeout")
      return repl_error(error_kind::timeout, fmt::format("repl eval did not finish within {} ms and was interrupted; the session keeps its state", ms), id_);
    if (f->status != "ok") return repl_error(error_kind::internal, fmt::format("the {} driver replied \"{}\"", name(), f->status), id_);
    repl_output o;
    o.stdout_data = std::move(f->out);
    o.stderr_data = std::move(f->err);
    o.value = std::move(f->value);
    o.error = std::move(f->error);
    return o;
  }

  result<void> close() override {
    std::lock_guard lk(mu_);
    if (closed_) return success();
    closed_ = true;
    if (dead_.empty()) {
      // End of input makes the driver exit on its own; kill it if it does not.
      (void)p_.close_stdin();
      if (auto w = p_.wait(2s); !w) {
        (void)p_.kill(9);
        (void)p_.wait(2s);
      }
      dead_ = "the session is closed";
    }
    return success();
  }

 private:
  std::string_view name() const { return lang_ == lang_t::python ? "python" : "node"; }

  // The interpreter ended: say how, with what it printed on its own stderr.
  void settle(std::string_view why) {
    if (!dead_.empty()) return;
    auto st = p_.wait(2s);
    std::string how;
    if (st) {
      if (st.value().signal) how = fmt::format("killed by signal {}", *st.value().signal);
      else how = fmt::format("exit status {}", st.value().exit_code);
      if (st.value().oom_killed) how += ", out of memory";
    } else {
      (void)p_.kill(9);
      how = "no exit status";
    }
    while (!diag_.empty() && (diag_.back() == '\n' || diag_.back() == ' ')) diag_.pop_back();
    dead_ = fmt::format("the {} interpreter exited ({}; {}){}{}", name(), how, why, diag_.empty() ? "" : ": ", diag_);
  }

  // The next complete frame, or nullopt at the deadline. Errors: exec_failed (the
  // interpreter is gone).
  result<std::optional<frame>> next_frame(std::optional<clock::time_point> deadline, std::string_view phase) {
    for (;;) {
      if (auto f = parse()) return std::optional<frame>(std::move(*f));
      std::optional<std::chrono::milliseconds> left;
      if (deadline) {
        auto d = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now());
        if (d.count() <= 0) return std::optional<frame>();
        left = d;
      }
      auto c = p_.read(left);
      if (!c) {
        if (c.error().kind() == error_kind::timeout) continue;
        settle(fmt::format("reading its output failed during {}: {}", phase, c.error().to_string()));
        return repl_error(error_kind::exec_failed, dead_, id_);
      }
      if (!c.value()) {
        settle(phase == "start" ? "before it was ready" : "during eval");
        return repl_error(error_kind::exec_failed, dead_, id_);
      }
      auto& chunk = *c.value();
      if (chunk.stream == output_stream::out) {
        buf_ += chunk.data;
      } else if (diag_.size() < 8192) {
        diag_ += chunk.data.substr(0, 8192 - diag_.size());
      }
    }
  }

  std::optional<frame> parse() {
    auto at = buf_.find(mark_ + ' ');
    if (at == std::string::npos) {
      // Keep a tail that might be the start of a mark.
      if (buf_.size() > mark_.size()) buf_.erase(0, buf_.size() - mark_.size());
      return std::nullopt;
    }
    auto nl = buf_.find('\n', at);
    if (nl == std::string::npos) return std::nullopt;
    std::string head = buf_.substr(at + mark_.size() + 1, nl - at - mark_.size() - 1);
    frame f;
    std::size_t n[4] = {};
    {
      auto sp = head.find(' ');
      f.status = head.substr(0, sp);
      std::size_t pos = sp == std::string::npos ? head.size() : sp + 1;
      for (auto& x : n) {
        char* end = nullptr;
        x = std::strtoull(head.c_str() + pos, &end, 10);
        pos = static_cast<std::size_t>(end - head.c_str());
      }
    }
    std::size_t total = n[0] + n[1] + n[2] + n[3];
    if (buf_.size() - (nl + 1) < total) return std::nullopt;
    std::size_t pos = nl + 1;
    std::string* dst[4] = {&f.out, &f.err, &f.value, &f.error};
    for (int i = 0; i < 4; ++i) {
      dst[i]->assign(buf_, pos, n[i]);
      pos += n[i];
    }
    buf_.erase(0, pos);
    return f;
  }

  std::mutex mu_;
  process p_;
  lang_t lang_;
  std::string mark_, id_;
  std::string buf_, diag_;
  std::string dead_;  ///< why the session cannot eval any more; empty while it can
  bool closed_ = false;
};

}  // namespace
}  // namespace local_impl

using namespace local_impl;

result<sbx::repl> local::repl(handle const& h, std::string_view language) {
  lang_t lang;
  if (language == "python" || language == "python3") lang = lang_t::python;
  else if (language == "javascript" || language == "js" || language == "node") lang = lang_t::node;
  else
    return repl_error(error_kind::invalid_request,
                      fmt::format("repl: unknown language \"{}\"; the local provider has python (python3) and javascript (js, node)", language),
                      h.id);
  std::string mark = random_mark();
  exec_request r;
  if (lang == lang_t::python) r.argv = {"python3", "-u", "-c", python_driver};
  else r.argv = {"/bin/sh", "-c", node_wrapper, "sbx-repl", node_driver};
  r.env = {{"SBX_REPL_MARK", mark}, {"PYTHONIOENCODING", "utf-8"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  SBX_TRY(p, spawn(h, r));
  auto impl = std::make_unique<local_repl>(std::move(p), lang, std::move(mark), h.id);
  SBX_TRYV(impl->await_hello());
  return sbx::repl(std::move(impl));
}

}  // namespace sbx
