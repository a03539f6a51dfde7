// SPDX-License-Identifier: Apache-2.0
// The `sbx` command. Every subcommand is a thin layer over the public API (`any_client`),
// so what the command does, a program can do too.
//
// Exit codes: `run` and `exec` exit with the command's own status; any sbx error prints one
// line `sbx: <kind>: <message>` on stderr and exits 125 (usage errors: 2).

#include <sbx/any.hpp>
#include <sbx/providers/local.hpp>
#include <sbx/sbx.hpp>
#ifdef SBX_HAVE_DENO_SERVER
#include <sbx/server/deno.hpp>
#endif
#ifdef SBX_HAVE_PROVIDER_DENO
#include <sbx/providers/deno.hpp>
#endif

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using json = nlohmann::json;

constexpr int exit_sbx_error = 125;
constexpr int exit_usage = 2;

constexpr std::string_view usage_text = R"(usage: sbx <command> [options]

  run [opts] -- CMD...        create a sandbox, run CMD, destroy it; exits with CMD's status
  create [opts]               create a sandbox that outlives this command; prints its id
  exec [opts] ID -- CMD...    run CMD in sandbox ID; exits with CMD's status
  ls [--label K=V] [--json]   list sandboxes
  info ID [--json]            one sandbox
  kill ID...                  destroy sandboxes
  cp SRC DST                  copy files in or out; the sandbox side is ID:/path
  expose ID PORT              print a URL reaching PORT inside sandbox ID
  snapshot ID NAME            capture sandbox ID's filesystem; prints the snapshot id
  snapshots [--json]          list snapshots;  snapshot-rm SNAP  deletes one
  volume-create NAME          create a volume; prints its id
  volumes [--json]            list volumes;    volume-rm ID  deletes one
  pause ID / resume ID        freeze and thaw a sandbox
  gc                          remove what crashed sandboxes left behind (local)
  serve --dialect deno --listen 127.0.0.1:PORT [--trace FILE]
                              speak a provider's wire protocol over local sandboxes;
                              prints `listening on PORT`; token from $SBX_SERVE_TOKEN
                              (unset: any non-empty Bearer token is accepted)

sandbox options (run, create):
  --memory SIZE     e.g. 512MiB, 1GiB        --cpus N
  --lifetime DUR    create: how long it lives (default 30m); run: session
  --env K=V         sandbox environment        --label K=V
  --image DIR       boot from a root filesystem directory
  --volume ID:PATH[:ro]                        --snapshot SNAP
  --network blocked|open                       --allow-host HOST (repeatable)
command options (run, exec):
  --cwd DIR   --timeout DUR   -i (pass this process's stdin to the command)
global: --provider NAME (default: $SBX_PROVIDER or local), --json
)";

struct usage_error {
  std::string message;
};

/// The arguments, consumed from the front.
class args {
 public:
  args(int argc, char** argv) : v_(argv + 1, argv + argc) {}
  bool empty() const { return i_ >= v_.size(); }
  std::string_view peek() const { return empty() ? std::string_view{} : std::string_view(v_[i_]); }
  std::string next(std::string_view what) {
    if (empty()) throw usage_error{fmt::format("missing {}", what)};
    return v_[i_++];
  }
  std::vector<std::string> rest() {
    std::vector<std::string> r(v_.begin() + static_cast<std::ptrdiff_t>(i_), v_.end());
    i_ = v_.size();
    return r;
  }

 private:
  std::vector<std::string> v_;
  std::size_t i_ = 0;
};

std::pair<std::string, std::string> split_kv(std::string const& s, std::string_view flag) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) throw usage_error{fmt::format("{} wants K=V, got \"{}\"", flag, s)};
  return {s.substr(0, eq), s.substr(eq + 1)};
}

struct options {
  std::string provider;
  bool json = false;
  sbx::common_request request;
  bool lifetime_given = false;
  std::string cwd;
  std::optional<std::chrono::milliseconds> timeout;
  bool pass_stdin = false;
  std::map<std::string, std::string> label_filter;
  std::string dialect, listen = "127.0.0.1:0", trace;
  std::vector<std::string> positional;
  std::vector<std::string> command;  // after --
};

std::chrono::milliseconds duration_arg(std::string const& s, std::string_view flag) {
  auto d = sbx::parse_duration(s);
  if (!d) throw usage_error{fmt::format("{}: {}", flag, d.error().message())};
  return d.value();
}

options parse(args& a) {
  options o;
  if (char const* p = std::getenv("SBX_PROVIDER"); p && *p) o.provider = p;
  else o.provider = "local";
  while (!a.empty()) {
    std::string s = a.next("argument");
    if (s == "--") { o.command = a.rest(); break; }
    if (s == "--json") o.json = true;
    else if (s == "--provider") o.provider = a.next("provider name");
    else if (s == "--memory") {
      auto m = sbx::memory::parse(a.next("memory size"));
      if (!m) throw usage_error{fmt::format("--memory: {}", m.error().message())};
      o.request.memory = m.value();
    } else if (s == "--cpus") {
      std::string v = a.next("cpu count");
      char* end = nullptr;
      double n = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0') throw usage_error{fmt::format("--cpus wants a number, got \"{}\"", v)};
      o.request.cpus = n;
    } else if (s == "--lifetime") {
      std::string v = a.next("lifetime");
      o.lifetime_given = true;
      if (v == "session") o.request.lifetime.reset();
      else o.request.lifetime = duration_arg(v, "--lifetime");
    } else if (s == "--env") o.request.env.insert(split_kv(a.next("K=V"), "--env"));
    else if (s == "--label") {
      auto kv = split_kv(a.next("K=V"), "--label");
      o.request.labels.insert(kv);
      o.label_filter.insert(kv);
    } else if (s == "--image") o.request.image = sbx::image::rootfs(a.next("image directory"));
    else if (s == "--snapshot") o.request.snapshot = a.next("snapshot id");
    else if (s == "--volume") {
      std::string v = a.next("ID:PATH");
      auto c1 = v.find(':');
      if (c1 == std::string::npos) throw usage_error{fmt::format("--volume wants ID:PATH[:ro], got \"{}\"", v)};
      sbx::volume_mount m{v.substr(0, c1), v.substr(c1 + 1), false};
      if (m.mount_path.size() > 3 && m.mount_path.ends_with(":ro")) {
        m.mount_path.resize(m.mount_path.size() - 3);
        m.readonly = true;
      }
      o.request.volumes.push_back(std::move(m));
    } else if (s == "--network") {
      std::string v = a.next("network mode");
      if (v == "blocked") o.request.network = sbx::network_policy::blocked();
      else if (v == "open") o.request.network = sbx::network_policy::open();
      else throw usage_error{fmt::format("--network wants blocked or open, got \"{}\"", v)};
    } else if (s == "--allow-host") {
      o.request.network.kind = sbx::network_policy::mode::allow;
      o.request.network.hosts.push_back(a.next("host"));
    } else if (s == "--cwd") o.cwd = a.next("directory");
    else if (s == "--timeout") o.timeout = duration_arg(a.next("duration"), "--timeout");
    else if (s == "-i") o.pass_stdin = true;
    else if (s == "--dialect") o.dialect = a.next("dialect");
    else if (s == "--listen") o.listen = a.next("address");
    else if (s == "--trace") o.trace = a.next("trace file");
    else if (s.starts_with("-") && s.size() > 1) throw usage_error{fmt::format("unknown option \"{}\"", s)};
    else o.positional.push_back(std::move(s));
  }
  return o;
}

std::string const& positional(options const& o, std::size_t i, std::string_view what) {
  if (o.positional.size() <= i) throw usage_error{fmt::format("missing {}", what)};
  return o.positional[i];
}

/// Thrown by `check` to leave with the error's one line.
struct sbx_failure {
  sbx::error e;
};

template <class T>
T check(sbx::result<T>&& r) {
  if (!r) throw sbx_failure{std::move(r).assume_error()};
  return std::move(r).assume_value();
}
inline void check(sbx::result<void>&& r) {
  if (!r) throw sbx_failure{std::move(r).assume_error()};
}

sbx::any_client make_client(std::string_view name) {
  if (name == "local") return sbx::any_client(sbx::client<sbx::local>{});
#ifdef SBX_HAVE_PROVIDER_DENO
  // Credentials and endpoints from DENO_DEPLOY_TOKEN, DENO_DEPLOY_ORG and the endpoint variables.
  if (name == "deno") return sbx::any_client(sbx::client<sbx::deno>{});
  constexpr std::string_view known = "local, deno";
#else
  constexpr std::string_view known = "local";
#endif
  throw usage_error{fmt::format("unknown provider \"{}\" (this build has: {})", name, known)};
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json to_json(sbx::sandbox_info const& i) {
  json j{{"id", i.id}, {"provider", i.provider}, {"status", sbx::to_string(i.status)},
         {"labels", i.labels}, {"created", iso_time(i.created)}};
  j["expires"] = i.expires ? json(iso_time(*i.expires)) : json(nullptr);
  return j;
}

std::string read_all_stdin() {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n > 0) data.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  return data;
}

/// Runs the command with output streamed to ours; returns its exit status.
int run_command(sbx::any_sandbox& box, options const& o) {
  if (o.command.empty()) throw usage_error{"missing command after --"};
  sbx::exec_request r(o.command);
  r.cwd = o.cwd;
  r.timeout = o.timeout;
  if (o.pass_stdin) r.stdin_data = read_all_stdin();
  r.on_output = [](sbx::output_stream s, std::string_view d) {
    std::FILE* f = s == sbx::output_stream::out ? stdout : stderr;
    std::fwrite(d.data(), 1, d.size(), f);
    std::fflush(f);
  };
  // The output went out as it came; keep no second copy.
  r.output_limit = 0;
  auto res = check(box.exec(r));
  if (res.oom_killed) std::fputs("sbx: the command was killed: out of memory\n", stderr);
  return res.exit_code;
}

/// `ID:/path` -> {ID, /path}; a local path -> {"", path}.
std::pair<std::string, std::string> split_remote(std::string const& s) {
  auto c = s.find(':');
  if (c == std::string::npos || c == 0 || s.find('/') < c) return {"", s};
  return {s.substr(0, c), s.substr(c + 1)};
}

int dispatch(std::string const& cmd, options& o) {
  if (cmd == "gc") {
    sbx::local l;
    auto ids = check(l.gc());
    if (o.json) std::cout << json(ids).dump() << '\n';
    else for (auto const& id : ids) std::cout << "removed " << id << '\n';
    return 0;
  }
  if (cmd == "serve") {
    if (o.dialect.empty()) throw usage_error{"serve needs --dialect deno"};
#ifdef SBX_HAVE_DENO_SERVER
    if (o.dialect == "deno") {
      sbx::server::serve_options so;
      so.listen = o.listen;
      so.trace_file = o.trace;
      if (char const* t = std::getenv("SBX_SERVE_TOKEN"); t && *t) so.token = t;
      // The bound port on stdout, first line, so scripts can start `sbx serve --listen
      // 127.0.0.1:0` and read where it is.
      return sbx::server::serve_deno(so, [](std::uint16_t port) {
        std::printf("listening on %u\n", static_cast<unsigned>(port));
        std::fflush(stdout);
      });
    }
#endif
    throw sbx_failure{sbx::make_error(sbx::error_kind::unsupported,
                                      fmt::format("this build has no server for dialect \"{}\"", o.dialect))};
  }

  sbx::any_client c = make_client(o.provider);
  if (cmd == "run") {
    if (!o.lifetime_given) o.request.lifetime.reset();  // session: gone when we are
    auto box = check(c.create(o.request));
    int status = run_command(box, o);
    (void)box.kill();
    return status;
  }
  if (cmd == "create") {
    if (!o.lifetime_given) o.request.lifetime = std::chrono::minutes(30);
    if (!o.request.lifetime) throw usage_error{"create makes a sandbox that outlives the command: give --lifetime a duration"};
    auto box = check(c.create(o.request));
    std::string id = box.id();
    box.close();
    if (o.json) std::cout << json{{"id", id}}.dump() << '\n';
    else std::cout << id << '\n';
    return 0;
  }
  if (cmd == "exec") {
    auto box = check(c.connect(positional(o, 0, "sandbox id")));
    return run_command(box, o);
  }
  if (cmd == "ls") {
    auto list = check(c.list(o.label_filter));
    if (o.json) {
      json arr = json::array();
      for (auto const& i : list) arr.push_back(to_json(i));
      std::cout << arr.dump() << '\n';
    } else {
      std::cout << fmt::format("{:<28} {:<8} {:<21} {}\n", "ID", "STATUS", "EXPIRES", "LABELS");
      for (auto const& i : list) {
        std::string labels;
        for (auto const& [k, v] : i.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
        std::cout << fmt::format("{:<28} {:<8} {:<21} {}\n", i.id, sbx::to_string(i.status),
                                 i.expires ? iso_time(*i.expires) : "session", labels);
      }
    }
    return 0;
  }
  if (cmd == "info") {
    auto box = check(c.connect(positional(o, 0, "sandbox id")));
    auto i = check(box.info());
    if (o.json) std::cout << to_json(i).dump() << '\n';
    else std::cout << to_json(i).dump(2) << '\n';
    return 0;
  }
  if (cmd == "kill") {
    if (o.positional.empty()) throw usage_error{"missing sandbox id"};
    for (auto const& id : o.positional) {
      auto box = check(c.connect(id));
      check(box.kill());
    }
    return 0;
  }
  if (cmd == "cp") {
    auto [src_id, src] = split_remote(positional(o, 0, "source"));
    auto [dst_id, dst] = split_remote(positional(o, 1, "destination"));
    if (src_id.empty() == dst_id.empty())
      throw usage_error{"cp copies between this machine and one sandbox: exactly one side must be ID:/path"};
    if (!src_id.empty()) {
      auto box = check(c.connect(src_id));
      check(box.download(src, dst));
    } else {
      auto box = check(c.connect(dst_id));
      check(box.upload(src, dst));
    }
    return 0;
  }
  if (cmd == "expose") {
    auto box = check(c.connect(positional(o, 0, "sandbox id")));
    std::string const& p = positional(o, 1, "port");
    char* end = nullptr;
    long port = std::strtol(p.c_str(), &end, 10);
    if (end == p.c_str() || *end != '\0' || port < 1 || port > 65535)
      throw usage_error{fmt::format("port must be 1..65535, got \"{}\"", p)};
    auto url = check(box.expose_port(static_cast<std::uint16_t>(port)));
    if (o.json) std::cout << json{{"url", url}}.dump() << '\n';
    else std::cout << url << '\n';
    return 0;
  }
  if (cmd == "snapshot") {
    auto box = check(c.connect(positional(o, 0, "sandbox id")));
    auto s = check(box.snapshot(positional(o, 1, "snapshot name")));
    if (o.json) std::cout << json{{"id", s.id}, {"name", s.name}, {"size", s.size_bytes}}.dump() << '\n';
    else std::cout << s.id << '\n';
    return 0;
  }
  if (cmd == "snapshots") {
    auto list = check(c.list_snapshots());
    if (o.json) {
      json arr = json::array();
      for (auto const& s : list)
        arr.push_back({{"id", s.id}, {"name", s.name}, {"source", s.source_sandbox}, {"size", s.size_bytes},
                       {"created", iso_time(s.created)}});
      std::cout << arr.dump() << '\n';
    } else {
      std::cout << fmt::format("{:<28} {:<20} {:>12}  {}\n", "ID", "NAME", "SIZE", "CREATED");
      for (auto const& s : list)
        std::cout << fmt::format("{:<28} {:<20} {:>12}  {}\n", s.id, s.name, s.size_bytes, iso_time(s.created));
    }
    return 0;
  }
  if (cmd == "snapshot-rm") {
    check(c.delete_snapshot(positional(o, 0, "snapshot id")));
    return 0;
  }
  if (cmd == "volume-create") {
    sbx::volume_request r;
    r.name = positional(o, 0, "volume name");
    r.labels = o.request.labels;
    auto v = check(c.create_volume(r));
    if (o.json) std::cout << json{{"id", v.id}, {"name", v.name}}.dump() << '\n';
    else std::cout << v.id << '\n';
    return 0;
  }
  if (cmd == "volumes") {
    auto list = check(c.list_volumes());
    if (o.json) {
      json arr = json::array();
      for (auto const& v : list)
        arr.push_back({{"id", v.id}, {"name", v.name}, {"used", v.used_bytes}, {"created", iso_time(v.created)}});
      std::cout << arr.dump() << '\n';
    } else {
      std::cout << fmt::format("{:<28} {:<20} {:>12}\n", "ID", "NAME", "USED");
      for (auto const& v : list) std::cout << fmt::format("{:<28} {:<20} {:>12}\n", v.id, v.name, v.used_bytes);
    }
    return 0;
  }
  if (cmd == "volume-rm") {
    check(c.delete_volume(positional(o, 0, "volume id")));
    return 0;
  }
  if (cmd == "pause" || cmd == "resume") {
    auto box = check(c.connect(positional(o, 0, "sandbox id")));
    check(cmd == "pause" ? box.pause() : box.resume());
    return 0;
  }
  throw usage_error{fmt::format("unknown command \"{}\"", cmd)};
}

}  // namespace

int main(int argc, char** argv) {
  args a(argc, argv);
  std::string cmd;
  try {
    if (a.empty() || a.peek() == "-h" || a.peek() == "--help" || a.peek() == "help") {
      std::cout << usage_text;
      return a.empty() ? exit_usage : 0;
    }
    cmd = a.next("command");
    options o = parse(a);
    return dispatch(cmd, o);
  } catch (usage_error const& u) {
    std::fprintf(stderr, "sbx: %s\n(see sbx --help)\n", u.message.c_str());
    return exit_usage;
  } catch (sbx_failure const& f) {
    std::fprintf(stderr, "sbx: %s\n", f.e.to_string().c_str());
    return exit_sbx_error;
  }
}
