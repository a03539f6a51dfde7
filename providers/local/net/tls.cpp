// SPDX-License-Identifier: Apache-2.0
#include "tls.hpp"

#include "policy.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace sbx::local_net {

std::string ssl_errors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

pkey_ptr make_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) throw std::runtime_error("EC key generation failed: " + ssl_errors());
  return pkey_ptr(k);
}

namespace {
void add_ext(X509* cert, X509* issuer, int nid, std::string const& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ex = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ex) throw std::runtime_error("X509 extension failed: " + ssl_errors());
  X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
}
}  // namespace

x509_ptr make_cert(EVP_PKEY* key, std::string const& subject_cn, std::string const& host, X509* issuer_cert,
                   EVP_PKEY* issuer_key, bool is_ca, int days) {
  x509_ptr x(X509_new());
  X509_set_version(x.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400L * days);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<unsigned char const*>("sbx"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<unsigned char const*>(subject_cn.c_str()), -1, -1, 0);
  X509* issuer = issuer_cert ? issuer_cert : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer));
  if (is_ca) {
    add_ext(x.get(), issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(x.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(x.get(), issuer, NID_subject_key_identifier, "hash");
  } else {
    add_ext(x.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x.get(), issuer, NID_key_usage, "critical,digitalSignature");
    add_ext(x.get(), issuer, NID_ext_key_usage, "serverAuth");
    add_ext(x.get(), issuer, NID_authority_key_identifier, "keyid");
  }
  if (!host.empty()) {
    std::string san;
    std::size_t start = 0;
    // `host` may list several entries separated by commas (test servers).
    while (start <= host.size()) {
      auto end = host.find(',', start);
      std::string h = host.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!h.empty()) san += (san.empty() ? "" : ",") + std::string(address::parse(h) ? "IP:" : "DNS:") + h;
      if (end == std::string::npos) break;
      start = end + 1;
    }
    add_ext(x.get(), issuer, NID_subject_alt_name, san);
  }
  if (!X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256())) throw std::runtime_error("signing failed: " + ssl_errors());
  return x;
}

std::string to_pem(X509* x) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char* data;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

std::string to_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

authority::authority(std::string const& name) : ca_key_(make_key()), leaf_key_(make_key()) {
  ca_ = make_cert(ca_key_.get(), "sbx sandbox " + name + " interception CA", "", nullptr, nullptr, true, 3650);
  ca_pem_ = to_pem(ca_.get());
}

namespace {
int alpn_select(SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in, unsigned int inlen, void*) {
  static unsigned char const h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, h11, sizeof h11, in, inlen) != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}
}  // namespace

SSL_CTX* authority::server_for(std::string const& host) {
  std::lock_guard lk(mu_);
  auto& slot = leaves_[host];
  if (slot) return slot.get();
  auto leaf = make_cert(leaf_key_.get(), host, host, ca_.get(), ca_key_.get(), false, 30);
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_use_certificate(ctx.get(), leaf.get());
  SSL_CTX_add1_chain_cert(ctx.get(), ca_.get());
  SSL_CTX_use_PrivateKey(ctx.get(), leaf_key_.get());
  SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  slot = std::move(ctx);
  return slot.get();
}

ssl_ctx_ptr make_upstream_context(std::string const& extra_ca_file, std::string* why) {
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_default_verify_paths(ctx.get());
  if (!extra_ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), extra_ca_file.c_str(), nullptr) != 1) {
    if (why) *why = "loading the upstream test CA " + extra_ca_file + " failed: " + ssl_errors();
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  static unsigned char const h11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), h11, sizeof h11);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

}  // namespace sbx::local_net
