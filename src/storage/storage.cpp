// What both backends share: key rules, percent-encoding, public URLs, digests, and the
// choice of backend from STORAGE_URL.

#include "tickd/storage/storage.hpp"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "backends.hpp"

namespace tickd::storage {

std::optional<std::string> check_key(std::string_view key) {
  const auto refuse = [&](std::string_view why) {
    std::string shown(key.substr(0, 200));
    if (key.size() > 200) shown += "...";
    return "object key '" + shown + "': " + std::string(why);
  };
  if (key.empty()) return "object key '': is empty";
  if (key.size() > 1024) return refuse("longer than 1024 bytes");
  if (key.front() == '/') return refuse("starts with '/'");
  for (const char c : key) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return refuse("contains a control character");
  }
  std::size_t start = 0;
  while (true) {
    const auto slash = key.find('/', start);
    const auto segment = key.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (segment == "..") return refuse("has a '..' segment");
    if (segment == ".") return refuse("has a '.' segment");
    if (segment.empty()) return refuse("has an empty segment ('//' or a trailing '/')");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return std::nullopt;
}

std::string percent_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                            (u >= '0' && u <= '9') || u == '-' || u == '_' || u == '.' || u == '~';
    if (unreserved || (keep_slash && u == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string public_url(const Storage& storage, std::string_view cdn_base, const std::string& key) {
  if (cdn_base.empty()) return storage.url(key);
  while (!cdn_base.empty() && cdn_base.back() == '/') cdn_base.remove_suffix(1);
  return std::string(cdn_base) + "/" + percent_encode(key, true);
}

std::string md5_hex_of_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StorageError("md5 of " + path.string() + ": " + std::strerror(errno), 0, true);
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr);
  std::array<char, 1 << 16> buf{};
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0)
      EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return detail::finish_hex(ctx.get());
}

namespace detail {

std::string finish_hex(EVP_MD_CTX* ctx) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, digest.data(), &n);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx.get(), data.data(), data.size());
  return finish_hex(ctx.get());
}

}  // namespace detail

std::unique_ptr<Storage> open(const Settings& settings, Metrics* metrics) {
  if (settings.url.empty()) {
    throw StorageError("STORAGE_URL is not set: the sync, upload and publish handlers need it", 0,
                       true);
  }
  auto parsed = parse_storage_url(settings.url);
  if (const auto* e = std::get_if<StorageUrlError>(&parsed)) {
    throw StorageError("STORAGE_URL: " + e->message, 0, true);
  }
  auto& location = std::get<Location>(parsed);
  if (const auto* file = std::get_if<FileLocation>(&location)) {
    return detail::open_file_storage(file->root, metrics);
  }
  return detail::open_s3_storage(std::get<S3Location>(location), settings, metrics);
}

}  // namespace tickd::storage
