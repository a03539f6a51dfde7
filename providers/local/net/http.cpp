// SPDX-License-Identifier: Apache-2.0
#include "http.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace sbx::local_net {

int replace_all(std::string& s, substitutions const& subs) {
  int n = 0;
  for (auto const& [from, to] : subs) {
    if (from.empty()) continue;
    std::size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, from.size(), to);
      pos += to.size();
      ++n;
    }
  }
  return n;
}

namespace {
std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}
// The value of header `name` (lower case) in `head`, or nullopt-like empty + found flag.
bool header_value(std::string_view head, std::string_view name, std::string& value) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    std::size_t start = pos + 2;
    std::size_t end = head.find("\r\n", start);
    if (end == std::string_view::npos) end = head.size();
    std::string_view line = head.substr(start, end - start);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && lower(line.substr(0, colon)) == name) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      value = std::string(v);
      return true;
    }
    pos = end;
  }
  return false;
}
}  // namespace

void request_rewriter::on_head(std::string head, std::string& out) {
  ++requests_;
  replaced_ += replace_all(head, subs_);
  std::string te, cl, upgrade;
  bool chunked = header_value(head, "transfer-encoding", te) && lower(te).find("chunked") != std::string::npos;
  bool has_len = header_value(head, "content-length", cl);
  out += head;
  if (header_value(head, "upgrade", upgrade) || head.rfind("CONNECT ", 0) == 0) {
    // After an upgrade (WebSocket) the bytes are no longer HTTP.
    s_ = state::raw;
    return;
  }
  if (chunked) {
    s_ = state::chunk_size;
  } else if (has_len) {
    char* end = nullptr;
    remaining_ = std::strtoull(cl.c_str(), &end, 10);
    s_ = remaining_ ? state::body : state::head;
  } else {
    s_ = state::head;
  }
}

void request_rewriter::feed(std::string_view in, std::string& out) {
  while (!in.empty()) {
    switch (s_) {
      case state::raw: out.append(in); return;
      case state::head: {
        std::size_t old = acc_.size();
        acc_.append(in);
        // Search from a little before the new bytes: the terminator may straddle them.
        std::size_t from = old >= 3 ? old - 3 : 0;
        auto e = acc_.find("\r\n\r\n", from);
        if (e == std::string::npos) {
          if (acc_.size() > 256 * 1024) {  // not HTTP after all: pass it on untouched
            out += acc_;
            acc_.clear();
            s_ = state::raw;
          }
          return;
        }
        std::string head = acc_.substr(0, e + 4);
        std::string rest = acc_.substr(e + 4);
        acc_.clear();
        on_head(std::move(head), out);
        // `rest` may hold the body and further requests; feed it through the new state.
        if (!rest.empty()) {
          std::string tmp = std::move(rest);
          feed(tmp, out);
        }
        return;
      }
      case state::body: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        out.append(in.substr(0, n));
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) s_ = state::head;
        break;
      }
      case state::chunk_size:
      case state::trailer: {
        auto nl = in.find('\n');
        if (nl == std::string_view::npos) {
          acc_.append(in);
          if (acc_.size() > 64 * 1024) { out += acc_; acc_.clear(); s_ = state::raw; }
          return;
        }
        acc_.append(in.substr(0, nl + 1));
        in.remove_prefix(nl + 1);
        std::string line = std::move(acc_);
        acc_.clear();
        out += line;
        if (s_ == state::chunk_size) {
          std::uint64_t size = std::strtoull(line.c_str(), nullptr, 16);
          if (size == 0) s_ = state::trailer;
          else { remaining_ = size; s_ = state::chunk_data; }
        } else if (line == "\r\n" || line == "\n") {
          s_ = state::head;
        }
        break;
      }
      case state::chunk_data: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        out.append(in.substr(0, n));
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) { s_ = state::chunk_crlf; remaining_ = 2; }
        break;
      }
      case state::chunk_crlf: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        out.append(in.substr(0, n));
        in.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) s_ = state::chunk_size;
        break;
      }
    }
  }
}

stream_replacer::stream_replacer(substitutions subs) : subs_(std::move(subs)) {
  std::erase_if(subs_, [](auto const& p) { return p.first.empty(); });
  for (auto const& [f, t] : subs_) max_ = std::max(max_, f.size());
}

void stream_replacer::feed(std::string_view in, std::string& out) {
  if (subs_.empty()) { out.append(in); return; }
  std::string buf;
  std::string_view b;
  if (carry_.empty()) {
    b = in;
  } else {
    buf = std::move(carry_);
    buf.append(in);
    b = buf;
  }
  carry_.clear();
  std::size_t i = 0;
  for (;;) {
    std::size_t best = std::string_view::npos;
    std::size_t which = 0;
    for (std::size_t k = 0; k < subs_.size(); ++k) {
      auto p = b.find(subs_[k].first, i);
      if (p < best) { best = p; which = k; }
    }
    if (best == std::string_view::npos) break;
    out.append(b.substr(i, best - i));
    out.append(subs_[which].second);
    i = best + subs_[which].first.size();
  }
  // Hold back only a tail that could still become a match (a prefix of some `from`).
  std::size_t rest = b.size() - i;
  std::size_t hold = 0;
  for (std::size_t k = std::min(rest, max_ - 1); k > 0; --k) {
    auto tail = b.substr(b.size() - k);
    if (std::any_of(subs_.begin(), subs_.end(), [&](auto const& p) { return p.first.compare(0, k, tail) == 0; })) {
      hold = k;
      break;
    }
  }
  out.append(b.substr(i, rest - hold));
  carry_.assign(b.substr(b.size() - hold));
}

void stream_replacer::flush(std::string& out) {
  out += carry_;
  carry_.clear();
}

std::string tls_sni(std::string_view d, bool* incomplete) {
  auto more = [&] { if (incomplete) *incomplete = true; return std::string(); };
  if (incomplete) *incomplete = false;
  auto u8 = [&](std::size_t i) { return static_cast<unsigned>(static_cast<unsigned char>(d[i])); };
  if (d.empty()) return more();
  if (u8(0) != 0x16) return {};
  if (d.size() < 5) return more();
  std::size_t rec = (u8(3) << 8) | u8(4);
  if (d.size() < 5 + rec) return more();
  std::size_t p = 5;
  if (rec < 4 || u8(p) != 1) return {};
  std::size_t end = 5 + rec;
  p += 4 + 2 + 32;  // handshake header, version, random
  if (p >= end) return {};
  p += 1 + u8(p);  // session id
  if (p + 2 > end) return {};
  p += 2 + ((u8(p) << 8) | u8(p + 1));  // cipher suites
  if (p + 1 > end) return {};
  p += 1 + u8(p);  // compression
  if (p + 2 > end) return {};
  std::size_t ext_end = p + 2 + ((u8(p) << 8) | u8(p + 1));
  p += 2;
  if (ext_end > end) ext_end = end;
  while (p + 4 <= ext_end) {
    unsigned type = (u8(p) << 8) | u8(p + 1);
    std::size_t len = (u8(p + 2) << 8) | u8(p + 3);
    p += 4;
    if (p + len > ext_end) return {};
    if (type == 0 && len >= 5) {
      std::size_t q = p + 2;
      if (u8(q) == 0) {
        std::size_t n = (u8(q + 1) << 8) | u8(q + 2);
        if (q + 3 + n <= p + len) return std::string(d.substr(q + 3, n));
      }
      return {};
    }
    p += len;
  }
  return {};
}

bool looks_like_http(std::string_view d) {
  static constexpr std::string_view methods[] = {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "PATCH ", "OPTIONS ", "TRACE "};
  return std::any_of(std::begin(methods), std::end(methods), [&](std::string_view m) { return d.substr(0, m.size()) == m; });
}

std::string http_host(std::string_view d, bool* incomplete) {
  if (incomplete) *incomplete = false;
  if (!looks_like_http(d)) {
    if (incomplete && d.size() < 8) *incomplete = true;
    return {};
  }
  auto e = d.find("\r\n\r\n");
  if (e == std::string_view::npos) {
    if (incomplete) *incomplete = true;
    return {};
  }
  std::string v;
  if (!header_value(d.substr(0, e + 2), "host", v)) return {};
  if (!v.empty() && v.front() == '[') {
    auto c = v.find(']');
    return c == std::string::npos ? v : v.substr(1, c - 1);
  }
  if (auto c = v.rfind(':'); c != std::string::npos && v.find(':') == c) v.resize(c);
  return v;
}

}  // namespace sbx::local_net
