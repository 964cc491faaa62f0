#pragma once
// Object storage: one small interface, two backends chosen by STORAGE_URL.
//
//   file:///abs/dir                                  a directory; writes are atomic (temp + rename)
//   s3://BUCKET?endpoint=URL&region=R&path_style=true|false
//                                                    any S3-compatible store, SigV4 by libcurl
//
// Keys are UTF-8 strings of at most 1024 bytes, '/'-separated, never starting with '/' and
// without '.' or '..' segments (check_key). Every operation is thread-safe and blocking; it
// throws StorageError, whose text says which operation, which object and which status (and
// never a credential). The S3 backend retries 5xx, 429 and network errors with exponential
// backoff and jitter, never other 4xx.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tickd {
class Metrics;
}

namespace tickd::storage {

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  // without quotes; the MD5 hex of the content for single-part objects
};

class StorageError : public std::runtime_error {
 public:
  // `status` is the HTTP status, or 0 for a network or local error. `permanent` errors
  // (a refused credential, a missing object, a refused key) are not worth retrying.
  StorageError(const std::string& what, int status, bool permanent)
      : std::runtime_error(what), status_(status), permanent_(permanent) {}
  int status() const { return status_; }
  bool permanent() const { return permanent_; }

 private:
  int status_;
  bool permanent_;
};

struct Settings {
  std::string url;                                  // STORAGE_URL
  std::string access_key_id;                        // STORAGE_ACCESS_KEY_ID
  std::string secret_access_key;                    // STORAGE_SECRET_ACCESS_KEY (never logged)
  std::uint64_t multipart_threshold = 64ull << 20;  // STORAGE_MULTIPART_THRESHOLD_BYTES
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds low_speed_window{30'000};  // abort a transfer stalled this long
  unsigned max_attempts = 5;                           // per request, for retryable failures
  std::chrono::milliseconds backoff_base{200};         // doubled per attempt, with jitter
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Streams the file at `path` to `key` (multipart above the threshold); returns its info.
  virtual ObjectInfo put_file(const std::string& key, const std::filesystem::path& path,
                              std::string_view content_type) = 0;
  // Streams `key` to `path` (atomically: a temp file renamed at the end). A missing object
  // throws StorageError with status 404.
  virtual void get_file(const std::string& key, const std::filesystem::path& path) = 0;
  virtual std::optional<ObjectInfo> head(const std::string& key) = 0;
  // Every object whose key starts with `prefix`, all pages, in key order.
  virtual std::vector<ObjectInfo> list(const std::string& prefix) = 0;
  // Deleting an absent object is not an error.
  virtual void remove(const std::string& key) = 0;
  // The object's own URL (file:///... or the S3 endpoint URL), with the key percent-encoded.
  virtual std::string url(const std::string& key) const = 0;
};

// While alive, the transfers this thread makes abort once `cancelled()` returns true (a
// tick's attempt timing out; asked about once a second and at each retry): the call then
// throws StorageError ("... cancelled ..."), not retried. Scopes nest; the innermost rules.
class CancelScope final {
 public:
  explicit CancelScope(std::function<bool()> cancelled);
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  // Whether the innermost scope of this thread says cancel (false without one).
  static bool cancelled_now();

 private:
  std::function<bool()> cancelled_;
  const CancelScope* outer_;
};

// Opens the backend of `settings.url` (its syntax: tickd/util/storage_url.hpp). Throws StorageError
// (permanent) for a bad URL. `metrics` (optional) counts requests and bytes.
std::unique_ptr<Storage> open(const Settings& settings, Metrics* metrics = nullptr);

// Why `key` is not acceptable ("object key 'a/../b': has a '..' segment"), if it is not.
std::optional<std::string> check_key(std::string_view key);

// RFC 3986 percent-encoding of every byte but A-Z a-z 0-9 - _ . ~ (and '/' when
// `keep_slash`).
std::string percent_encode(std::string_view s, bool keep_slash);

// CDN_BASE_URL + "/" + the key with each segment percent-encoded; without a base, the
// object's storage URL.
std::string public_url(const Storage& storage, std::string_view cdn_base, const std::string& key);

// GETs an http(s) `url` into `path` (atomically), sending "Authorization: Bearer <token>"
// when `bearer_token` is not empty. Retries 5xx and network errors like the S3 backend;
// 401, 403, 404 and other 4xx throw a permanent StorageError. The token never appears in
// errors.
void fetch_url(const std::string& url, const std::string& bearer_token,
               const std::filesystem::path& path, const Settings& settings,
               Metrics* metrics = nullptr);

// Hex digests, for etags and tests.
std::string md5_hex_of_file(const std::filesystem::path& path);

}  // namespace tickd::storage
