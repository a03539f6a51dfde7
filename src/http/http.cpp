// SPDX-License-Identifier: Apache-2.0
#include "http/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <string>

namespace sbx::http {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct transfer {
  response* res;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  t->res->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  std::string_view line(data, size * n);
  // A new status line (after 100 Continue, or a second response) starts a new header set.
  if (line.starts_with("HTTP/")) {
    t->res->headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  auto name = lower(line.substr(0, colon));
  auto value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  t->res->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

}  // namespace

std::optional<std::string> response::header(std::string_view name) const {
  for (auto const& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

struct client::pool {
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
  mutable std::mutex idle_mutex;
  std::vector<CURL*> idle;

  pool() {
    global_init();
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, +[](CURL*, curl_lock_data d, curl_lock_access, void* u) {
      static_cast<pool*>(u)->locks[d].lock();
    });
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, +[](CURL*, curl_lock_data d, void* u) {
      static_cast<pool*>(u)->locks[d].unlock();
    });
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~pool() {
    for (auto* h : idle) curl_easy_cleanup(h);
    curl_share_cleanup(share);
  }
  CURL* take() {
    {
      std::lock_guard lk(idle_mutex);
      if (!idle.empty()) {
        auto* h = idle.back();
        idle.pop_back();
        curl_easy_reset(h);
        return h;
      }
    }
    return curl_easy_init();
  }
  void give_back(CURL* h) {
    std::lock_guard lk(idle_mutex);
    if (idle.size() < 16) idle.push_back(h);
    else curl_easy_cleanup(h);
  }
};

client::client() : pool_(std::make_shared<pool>()) {}

std::size_t client::idle_handles() const {
  std::lock_guard lk(pool_->idle_mutex);
  return pool_->idle.size();
}

result<response> client::perform(request const& r) const {
  CURL* h = pool_->take();
  if (!h) return make_error(error_kind::internal, "could not allocate a libcurl handle");
  response res;
  transfer t{&res};
  curl_slist* headers = nullptr;
  for (auto const& [k, v] : r.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
  // Without this, curl adds "Expect: 100-continue" to larger bodies and waits a second for it.
  headers = curl_slist_append(headers, "Expect:");

  curl_easy_setopt(h, CURLOPT_SHARE, pool_->share);
  curl_easy_setopt(h, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long long>(r.timeout.count(), 10000)));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (r.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (r.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  if (r.body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body->size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body->data());
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // The URL never carries credentials (they travel in headers), so quoting it is safe.
    std::string msg = r.method + " " + r.url + " failed: " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    curl_easy_cleanup(h);  // a failed handle may hold a broken connection; do not pool it
    return make_error(kind_for_curl(rc), std::move(msg));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
  // Drop the pointers into this call's memory before the handle waits in the pool.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  pool_->give_back(h);
  return res;
}

}  // namespace sbx::http
