// SPDX-License-Identifier: Apache-2.0
#pragma once

// HTTP/1 stream handling for the engine: the request rewriter that swaps secret
// placeholders for real values in every request head of a connection (request line and
// every header), following the framing (Content-Length, chunked) so that bodies are never
// mistaken for heads; the response scrubber that turns a real value echoed back by an
// upstream into its placeholder again; and peeking at a first flight for the TLS SNI or the
// HTTP Host a transparent client meant.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sbx::local_net {

using substitutions = std::vector<std::pair<std::string, std::string>>;  ///< from -> to

/// Replaces every occurrence of each `from` in `s`. Returns how many were replaced.
int replace_all(std::string& s, substitutions const& subs);

/// The client -> upstream direction of an intercepted HTTP/1 connection.
class request_rewriter {
 public:
  explicit request_rewriter(substitutions subs) : subs_(std::move(subs)) {}
  /// Appends the rewritten form of `in` to `out`.
  void feed(std::string_view in, std::string& out);
  int replaced() const { return replaced_; }
  int requests() const { return requests_; }

 private:
  enum class state { head, body, chunk_size, chunk_data, chunk_crlf, trailer, raw };
  void on_head(std::string head, std::string& out);
  substitutions subs_;
  state s_ = state::head;
  std::string acc_;
  std::uint64_t remaining_ = 0;
  int replaced_ = 0, requests_ = 0;
};

/// Streaming replace of `from` by `to` across chunk boundaries: holds back only a tail that
/// is a prefix of some `from` (the relay flushes it when the stream pauses).
class stream_replacer {
 public:
  explicit stream_replacer(substitutions subs);
  void feed(std::string_view in, std::string& out);
  void flush(std::string& out);
  bool empty() const { return subs_.empty(); }
  /// Bytes held back because they might begin a match.
  bool holding() const { return !carry_.empty(); }

 private:
  substitutions subs_;
  std::size_t max_ = 0;
  std::string carry_;
};

/// The server name of a TLS ClientHello at the start of `data` ("" if none or incomplete;
/// `incomplete` says whether more bytes could still bring one).
std::string tls_sni(std::string_view data, bool* incomplete = nullptr);
/// The Host header (without port) of an HTTP request at the start of `data` ("" if none).
std::string http_host(std::string_view data, bool* incomplete = nullptr);
/// Whether `data` starts like an HTTP/1 request ("GET ", "POST "...).
bool looks_like_http(std::string_view data);

}  // namespace sbx::local_net
