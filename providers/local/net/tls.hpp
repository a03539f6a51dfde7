// SPDX-License-Identifier: Apache-2.0
#pragma once

// TLS for the engine: a per-sandbox CA (EC P-256, in memory only; its certificate is what the
// sandbox trusts), leaf certificates minted per host and cached, and the upstream client
// context that verifies real certificates against the host's trust store.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sbx::local_net {

struct ssl_ctx_free { void operator()(SSL_CTX* c) const { SSL_CTX_free(c); } };
struct x509_free { void operator()(X509* x) const { X509_free(x); } };
struct pkey_free { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

/// A fresh EC P-256 key.
pkey_ptr make_key();
/// A certificate for `subject_cn` with subjectAltName `host` (a DNS name or IP literal),
/// signed by `issuer` (self-signed CA when `is_ca`). Validity: 1 day back, `days` ahead.
x509_ptr make_cert(EVP_PKEY* key, std::string const& subject_cn, std::string const& host, X509* issuer_cert,
                   EVP_PKEY* issuer_key, bool is_ca, int days);
std::string to_pem(X509* x);
std::string to_pem(EVP_PKEY* k);  ///< private key, PKCS#8

/// The sandbox's CA and the server contexts of the hosts it intercepts.
class authority {
 public:
  explicit authority(std::string const& name);
  std::string const& ca_pem() const { return ca_pem_; }
  /// A server context presenting a leaf for `host`, minted on first use.
  SSL_CTX* server_for(std::string const& host);

 private:
  pkey_ptr ca_key_, leaf_key_;
  x509_ptr ca_;
  std::string ca_pem_;
  std::mutex mu_;
  std::map<std::string, ssl_ctx_ptr> leaves_;
};

/// A client context verifying peers against the host's default store plus `extra_ca_file`
/// (test-only, may be empty). ALPN http/1.1.
ssl_ctx_ptr make_upstream_context(std::string const& extra_ca_file, std::string* why);

/// The OpenSSL error queue as text (cleared).
std::string ssl_errors();

}  // namespace sbx::local_net
