// SPDX-License-Identifier: Apache-2.0
// Files: whole-file and streamed reads and writes, listings, stat, mkdir -p, remove, rename,
// and directory upload / download built on them (protocol §8.2-§8.4, §9.3).
#include "internal.hpp"

#include <filesystem>
#include <fstream>

namespace sbx {
namespace deno_impl {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t inline_limit = std::size_t{4} << 20;  // larger writes are streamed
constexpr std::size_t chunk_size = std::size_t{1} << 20;
constexpr std::size_t small_read_limit = std::size_t{8} << 20;  // larger reads use a file handle
constexpr int window = 16;                                      // requests in flight for bulk work

/// Permission bits of a local path, kept by upload.
unsigned mode_of(fs::path const& p) {
  std::error_code ec;
  auto st = fs::status(p, ec);
  if (ec) return 0644;
  return static_cast<unsigned>(st.permissions()) & 07777;
}

result<session*> live(deno::handle const& h) {
  if (!h.session) return make(error_kind::connection, "sandbox " + h.id + " has no session", h.id);
  return h.session.get();
}

std::string join(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string parent_of(std::string_view path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string base_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.find_last_of('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

/// Renames the error's kind while keeping its text.
error rekind(error const& e, error_kind k) {
  error_detail d = e.detail();
  return make_error(k, std::move(d), e.http_status());
}

result<std::string> decode(json const& v, std::string_view what, std::string_view id) {
  if (!v.is_string()) return make(error_kind::internal, std::string(what) + ": the data is not a base64 string", id);
  auto b = jh::base64_decode(v.get_ref<std::string const&>());
  if (!b) return make(error_kind::internal, std::string(what) + ": the data is not valid base64", id);
  return std::move(*b);
}

/// Streams `path` to `sink` through a file handle (open / fileRead / fileClose).
result<void> read_streamed(session& s, std::string_view path, byte_sink const& sink) {
  SBX_TRY(fh, s.call("open", {{"path", path}, {"options", {{"read", true}}}}));
  auto hid = jh::get_int(fh, "fileHandleId");
  if (!hid) return make(error_kind::internal, "open: the reply has no fileHandleId", s.id());
  auto close = [&] { (void)s.call("fileClose", {{"fileHandleId", *hid}}); };
  for (;;) {
    auto r = s.call("fileRead", {{"fileHandleId", *hid}, {"length", chunk_size}});
    if (!r) {
      close();
      return r.error();
    }
    auto d = r.value().find("data");
    if (d == r.value().end() || d->is_null()) break;  // EOF
    auto bytes = decode(*d, "fileRead", s.id());
    if (!bytes) {
      close();
      return bytes.error();
    }
    if (auto w = sink(bytes.value()); !w) {
      close();
      return w.error();
    }
  }
  close();
  return success();
}

/// `writeFile` fed from a client stream; the source runs while the request is in flight.
result<void> write_streamed(session& s, std::string_view path, byte_source const& source, json options) {
  SBX_TRY(sid, s.open_upload());
  json params = {{"path", path}, {"contentStreamId", sid}};
  if (!options.is_null()) params["options"] = std::move(options);
  SBX_TRY(rid, s.start("writeFile", std::move(params)));
  std::string buf(chunk_size, '\0');
  for (;;) {
    auto n = source(std::span<char>(buf.data(), buf.size()));
    if (!n) {
      (void)s.upload_error(sid, "the source failed");
      (void)s.wait(rid, s.default_deadline());
      return n.error();
    }
    if (n.value() == 0) break;
    if (auto c = s.upload_chunk(sid, std::string_view(buf.data(), n.value())); !c) {
      s.forget(rid);
      return c.error();
    }
  }
  SBX_TRYV(s.upload_end(sid));
  SBX_TRYV(s.wait(rid, s.default_deadline()));
  return success();
}

json write_opts(write_options const& o) { return {{"mode", o.mode}}; }

result<void> make_parents(session& s, std::string_view path) {
  auto parent = parent_of(path);
  if (parent == "/") return success();
  auto r = s.call("mkdir", {{"path", parent}, {"options", {{"recursive", true}}}});
  if (!r && r.error().kind() == error_kind::already_exists) return rekind(r.error(), error_kind::invalid_request);
  if (!r) return r.error();
  return success();
}

/// Waits for every request in `rids`, returning the first error.
result<void> wait_all(session& s, std::vector<std::int64_t> const& rids) {
  std::optional<error> first;
  auto by = s.default_deadline();
  for (auto rid : rids) {
    auto r = s.wait(rid, by);
    if (!r && !first) first = r.error();
  }
  if (first) return *first;
  return success();
}

}  // namespace

file_info to_file_info(json const& fi, std::string path) {
  file_info f;
  f.name = base_name(path);
  f.path = std::move(path);
  bool dir = jh::get_bool(fi, "isDirectory").value_or(false);
  bool link = jh::get_bool(fi, "isSymlink").value_or(false);
  bool file = jh::get_bool(fi, "isFile").value_or(false);
  f.type = link ? file_type::symlink : dir ? file_type::directory : file ? file_type::regular : file_type::other;
  f.size = static_cast<std::uint64_t>(jh::get_int(fi, "size").value_or(0));
  f.mode = static_cast<std::uint32_t>(jh::get_int(fi, "mode").value_or(0)) & 07777;
  if (auto m = jh::get_string(fi, "mtime")) f.modified = parse_date(*m);
  return f;
}

result<void> check_path(std::string_view path, std::string_view what) {
  if (path.empty() || path.front() != '/') {
    error_detail d;
    d.provider = "deno";
    d.field = "path";
    d.message = std::string(what) + ": \"" + std::string(path) + "\" is not an absolute path";
    return make_error(error_kind::invalid_request, std::move(d));
  }
  if (path.find('\0') != std::string_view::npos) return make(error_kind::invalid_request, std::string(what) + ": the path contains a NUL byte");
  return success();
}

}  // namespace deno_impl

using namespace deno_impl;

result<std::string> deno::read_file(handle const& h, std::string_view path) {
  SBX_TRYV(check_path(path, "read_file"));
  SBX_TRY(s, live(h));
  SBX_TRY(v, s->call("readFile", {{"path", path}}));
  return decode(v, "readFile", h.id);
}

result<void> deno::read_file(handle const& h, std::string_view path, byte_sink sink) {
  SBX_TRYV(check_path(path, "read_file"));
  SBX_TRY(s, live(h));
  return read_streamed(*s, path, sink);
}

result<void> deno::write_file(handle const& h, std::string_view path, std::string_view data, write_options const& o) {
  SBX_TRYV(check_path(path, "write_file"));
  SBX_TRY(s, live(h));
  if (data.size() <= inline_limit) {
    // Write first and create the parents only when they are missing: one round trip in the
    // common case instead of two.
    json params = {{"path", path}, {"options", write_opts(o)}, {"content", jh::base64_encode(data)}};
    auto w = s->call("writeFile", params);
    if (!w && w.error().kind() == error_kind::not_found && o.create_parents) {
      SBX_TRYV(make_parents(*s, path));
      w = s->call("writeFile", std::move(params));
    }
    if (!w) return w.error();
    return success();
  }
  if (o.create_parents) SBX_TRYV(make_parents(*s, path));
  std::size_t at = 0;
  return write_streamed(*s, path, [&](std::span<char> buf) -> result<std::size_t> {
    auto n = std::min(buf.size(), data.size() - at);
    std::copy_n(data.data() + at, n, buf.data());
    at += n;
    return n;
  }, write_opts(o));
}

result<void> deno::write_file(handle const& h, std::string_view path, byte_source source, write_options const& o) {
  SBX_TRYV(check_path(path, "write_file"));
  SBX_TRY(s, live(h));
  if (o.create_parents) SBX_TRYV(make_parents(*s, path));
  return write_streamed(*s, path, source, write_opts(o));
}

result<std::vector<file_info>> deno::list_dir(handle const& h, std::string_view path) {
  SBX_TRYV(check_path(path, "list"));
  SBX_TRY(s, live(h));
  SBX_TRY(entries, s->call("readDir", {{"path", path}}));
  if (!entries.is_array()) return make(error_kind::internal, "readDir: the reply is not an array", h.id);
  // One lstat per entry, all in flight at once (§6.2: the server answers concurrently).
  std::vector<std::string> paths;
  std::vector<std::int64_t> rids;
  for (auto const& e : entries) {
    auto name = jh::get_string(e, "name");
    if (!name) continue;
    paths.push_back(join(path, *name));
    SBX_TRY(rid, s->start("lstat", {{"path", paths.back()}}));
    rids.push_back(rid);
  }
  std::vector<file_info> out;
  std::vector<std::pair<std::size_t, std::int64_t>> links;
  auto by = s->default_deadline();
  for (std::size_t i = 0; i < rids.size(); ++i) {
    auto st = s->wait(rids[i], by);
    if (!st) {
      if (st.error().kind() == error_kind::not_found) continue;  // removed meanwhile
      for (std::size_t j = i + 1; j < rids.size(); ++j) s->forget(rids[j]);
      return st.error();
    }
    out.push_back(to_file_info(st.value(), paths[i]));
  }
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i].type == file_type::symlink) {
      SBX_TRY(rid, s->start("readLink", {{"path", out[i].path}}));
      links.emplace_back(i, rid);
    }
  for (auto [i, rid] : links)
    if (auto t = s->wait(rid, by); t && t.value().is_string()) out[i].link_target = t.value().get<std::string>();
  return out;
}

result<file_info> deno::stat(handle const& h, std::string_view path) {
  SBX_TRYV(check_path(path, "stat"));
  SBX_TRY(s, live(h));
  SBX_TRY(v, s->call("lstat", {{"path", path}}));
  auto f = to_file_info(v, std::string(path));
  if (f.type == file_type::symlink)
    if (auto t = s->call("readLink", {{"path", path}}); t && t.value().is_string()) f.link_target = t.value().get<std::string>();
  return f;
}

result<bool> deno::exists(handle const& h, std::string_view path) {
  SBX_TRYV(check_path(path, "exists"));
  SBX_TRY(s, live(h));
  auto v = s->call("lstat", {{"path", path}});
  if (v) return true;
  if (v.error().kind() == error_kind::not_found) return false;
  return v.error();
}

result<void> deno::make_dir(handle const& h, std::string_view path) {
  SBX_TRYV(check_path(path, "make_dir"));
  SBX_TRY(s, live(h));
  auto r = s->call("mkdir", {{"path", path}, {"options", {{"recursive", true}}}});
  // mkdir -p only fails on existing paths when a file is in the way.
  if (!r && r.error().kind() == error_kind::already_exists) return rekind(r.error(), error_kind::invalid_request);
  if (!r) return r.error();
  return success();
}

result<void> deno::remove(handle const& h, std::string_view path, bool recursive) {
  SBX_TRYV(check_path(path, "remove"));
  SBX_TRY(s, live(h));
  // Like the SDK: `options` only when it says something.
  json params = {{"path", path}};
  if (recursive) params["options"] = {{"recursive", true}};
  SBX_TRYV(s->call("remove", std::move(params)));
  return success();
}

result<void> deno::rename(handle const& h, std::string_view from, std::string_view to) {
  SBX_TRYV(check_path(from, "rename"));
  SBX_TRYV(check_path(to, "rename"));
  SBX_TRY(s, live(h));
  SBX_TRYV(s->call("rename", {{"oldPath", from}, {"newPath", to}}));
  return success();
}

result<void> deno::upload(handle const& h, std::string_view local_path, std::string_view remote_path) {
  SBX_TRYV(check_path(remote_path, "upload"));
  SBX_TRY(s, live(h));
  std::error_code ec;
  fs::path root(local_path);
  auto st = fs::symlink_status(root, ec);
  if (ec || !fs::exists(st))
    return make(error_kind::not_found, "upload: no local file or directory \"" + std::string(local_path) + "\"");

  auto send_file = [&](fs::path const& from, std::string const& to, std::vector<std::int64_t>& inflight) -> result<void> {
    auto size = fs::file_size(from, ec);
    if (ec) return make(error_kind::not_found, "upload: cannot read \"" + from.string() + "\": " + ec.message());
    std::ifstream in(from, std::ios::binary);
    if (!in) return make(error_kind::not_found, "upload: cannot open \"" + from.string() + "\"");
    if (size <= inline_limit) {
      std::string data(size, '\0');
      in.read(data.data(), static_cast<std::streamsize>(size));
      data.resize(static_cast<std::size_t>(in.gcount()));
      SBX_TRY(rid, s->start("writeFile", {{"path", to}, {"options", {{"mode", mode_of(from)}}}, {"content", jh::base64_encode(data)}}));
      inflight.push_back(rid);
      return success();
    }
    return write_streamed(*s, to, [&](std::span<char> buf) -> result<std::size_t> {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (in.bad()) return make(error_kind::internal, "upload: reading \"" + from.string() + "\" failed");
      return static_cast<std::size_t>(in.gcount());
    }, json{{"mode", mode_of(from)}});
  };

  if (fs::is_symlink(st)) {
    SBX_TRYV(make_parents(*s, remote_path));
    SBX_TRYV(s->call("symlink", {{"target", fs::read_symlink(root, ec).string()}, {"path", remote_path}}));
    return success();
  }
  if (!fs::is_directory(st)) {
    SBX_TRYV(make_parents(*s, remote_path));
    std::vector<std::int64_t> one;
    SBX_TRYV(send_file(root, std::string(remote_path), one));
    return wait_all(*s, one);
  }
  // A directory becomes `remote_path` itself: directories first (in walk order, so parents
  // come before children), then the files and links, many in flight at a time.
  SBX_TRYV(make_dir(h, remote_path));
  std::vector<std::pair<fs::path, std::string>> files, links;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    // lexically: fs::relative would resolve a symlink entry to its target.
    auto rel = it->path().lexically_relative(root).generic_string();
    std::string to = join(remote_path, rel);
    auto est = it->symlink_status(ec);
    if (fs::is_symlink(est)) {
      links.emplace_back(it->path(), to);
    } else if (fs::is_directory(est)) {
      SBX_TRYV(s->call("mkdir", {{"path", to}, {"options", {{"recursive", true}, {"mode", mode_of(it->path())}}}}));
    } else if (fs::is_regular_file(est)) {
      files.emplace_back(it->path(), to);
    }
  }
  if (ec) return make(error_kind::internal, "upload: walking \"" + std::string(local_path) + "\" failed: " + ec.message());
  std::vector<std::int64_t> inflight;
  for (auto const& [from, to] : files) {
    SBX_TRYV(send_file(from, to, inflight));
    if (inflight.size() >= static_cast<std::size_t>(window)) {
      SBX_TRYV(wait_all(*s, inflight));
      inflight.clear();
    }
  }
  for (auto const& [from, to] : links) {
    SBX_TRY(rid, s->start("symlink", {{"target", fs::read_symlink(from, ec).string()}, {"path", to}}));
    inflight.push_back(rid);
  }
  return wait_all(*s, inflight);
}

result<void> deno::download(handle const& h, std::string_view remote_path, std::string_view local_path) {
  SBX_TRYV(check_path(remote_path, "download"));
  SBX_TRY(s, live(h));
  std::error_code ec;
  fs::path dest(local_path);
  SBX_TRY(top, s->call("lstat", {{"path", remote_path}}));
  auto top_info = to_file_info(top, std::string(remote_path));

  auto fetch_file = [&](std::string const& from, fs::path const& to, std::uint64_t size) -> result<void> {
    fs::create_directories(to.parent_path(), ec);
    std::ofstream out(to, std::ios::binary | std::ios::trunc);
    if (!out) return make(error_kind::invalid_request, "download: cannot write \"" + to.string() + "\"");
    if (size <= small_read_limit) {
      SBX_TRY(v, s->call("readFile", {{"path", from}}));
      SBX_TRY(bytes, decode(v, "readFile", h.id));
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    } else {
      SBX_TRYV(read_streamed(*s, from, [&](std::string_view piece) -> result<void> {
        out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
        if (!out) return make(error_kind::internal, "download: writing \"" + to.string() + "\" failed");
        return success();
      }));
    }
    if (!out) return make(error_kind::internal, "download: writing \"" + to.string() + "\" failed");
    return success();
  };
  auto make_link = [&](std::string const& from, fs::path const& to) -> result<void> {
    SBX_TRY(t, s->call("readLink", {{"path", from}}));
    if (!t.is_string()) return make(error_kind::internal, "readLink: the reply is not a string", h.id);
    fs::create_directories(to.parent_path(), ec);
    fs::remove(to, ec);
    // The link is recreated, never followed: its target is data, not a path we write to.
    fs::create_symlink(t.get<std::string>(), to, ec);
    if (ec) return make(error_kind::invalid_request, "download: cannot create link \"" + to.string() + "\": " + ec.message());
    return success();
  };

  if (top_info.type == file_type::symlink) return make_link(std::string(remote_path), dest);
  if (top_info.type != file_type::directory) return fetch_file(std::string(remote_path), dest, top_info.size);

  // A directory: `walk` streams one JSON entry per chunk (§8.4).
  SBX_TRY(root_v, s->call("realPath", {{"path", remote_path}}));
  std::string root = root_v.is_string() ? root_v.get<std::string>() : std::string(remote_path);
  SBX_TRY(w, s->call("walk", {{"path", root}, {"followSymlinks", false}, {"canonicalize", false}}));
  auto sid = jh::get_int(w, "streamId");
  if (!sid) return make(error_kind::internal, "walk: the reply has no streamId", h.id);
  s->bind(*sid);
  struct entry {
    std::string path;
    fs::path local;
    file_type type;
  };
  std::vector<entry> entries;
  auto by = s->default_deadline();
  for (;;) {
    auto c = s->next_chunk(*sid, by);
    if (!c) {
      s->unbind(*sid);
      return c.error();
    }
    if (!c.value()) break;
    auto e = jh::parse(*c.value());
    if (!e) {
      s->unbind(*sid);
      return make(error_kind::internal, "walk: an entry is not JSON", h.id);
    }
    auto p = jh::get_string(*e, "path").value_or("");
    // Only paths under the root, without "..": a server cannot make us write elsewhere.
    if (p != root && !p.starts_with(root.back() == '/' ? root : root + "/")) continue;
    std::string rel = p.size() > root.size() ? p.substr(root.size() + (root.back() == '/' ? 0 : 1)) : "";
    if (rel.find("..") != std::string::npos) {
      bool bad = false;
      for (auto& part : fs::path(rel)) bad = bad || part == "..";
      if (bad) continue;
    }
    file_type t = jh::get_bool(*e, "isSymlink").value_or(false)   ? file_type::symlink
                  : jh::get_bool(*e, "isDirectory").value_or(false) ? file_type::directory
                  : jh::get_bool(*e, "isFile").value_or(false)      ? file_type::regular
                                                                      : file_type::other;
    entries.push_back({p, rel.empty() ? dest : dest / rel, t});
  }
  s->unbind(*sid);
  fs::create_directories(dest, ec);
  if (ec) return make(error_kind::invalid_request, "download: cannot create \"" + dest.string() + "\": " + ec.message());
  // Sizes first (pipelined), then small files pipelined, large ones streamed.
  std::vector<std::pair<entry const*, std::int64_t>> stats;
  for (auto const& e : entries) {
    if (e.type == file_type::directory) fs::create_directories(e.local, ec);
    else if (e.type == file_type::symlink) SBX_TRYV(make_link(e.path, e.local));
    else if (e.type == file_type::regular) {
      SBX_TRY(rid, s->start("lstat", {{"path", e.path}}));
      stats.emplace_back(&e, rid);
    }
  }
  std::vector<std::pair<entry const*, std::uint64_t>> files;
  for (auto [e, rid] : stats) {
    SBX_TRY(v, s->wait(rid, by));
    files.emplace_back(e, static_cast<std::uint64_t>(jh::get_int(v, "size").value_or(0)));
  }
  std::vector<std::pair<entry const*, std::int64_t>> reads;
  auto flush = [&]() -> result<void> {
    auto by2 = s->default_deadline();
    for (auto [e, rid] : reads) {
      SBX_TRY(v, s->wait(rid, by2));
      SBX_TRY(bytes, decode(v, "readFile", h.id));
      std::ofstream out(e->local, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out) return make(error_kind::internal, "download: writing \"" + e->local.string() + "\" failed");
    }
    reads.clear();
    return success();
  };
  for (auto [e, size] : files) {
    if (size > small_read_limit) {
      SBX_TRYV(fetch_file(e->path, e->local, size));
      continue;
    }
    SBX_TRY(rid, s->start("readFile", {{"path", e->path}}));
    reads.emplace_back(e, rid);
    if (reads.size() >= static_cast<std::size_t>(window)) SBX_TRYV(flush());
  }
  return flush();
}

}  // namespace sbx
