// The s3:// backend: S3's REST protocol over libcurl, signed by libcurl's SigV4
// (CURLOPT_AWS_SIGV4). libcurl 7.88 signs the URL exactly as given and leaves the payload
// hash to us, so this file builds canonical URLs itself: every key byte but
// A-Za-z0-9-_.~ percent-encoded ('/' kept between segments), query parameters sorted,
// every value encoded, and x-amz-content-sha256 sent on every request.

#include <curl/curl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

#include "backends.hpp"
#include "transfer.hpp"

namespace tickd::storage::detail {
namespace {

namespace fs = std::filesystem;
using Query = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::uint64_t kMinPart = 5ull << 20;
constexpr std::uint64_t kMaxParts = 10'000;

std::string xml_unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string_view::npos) {
      out += s[i];
      continue;
    }
    const auto entity = s.substr(i + 1, semi - i - 1);
    if (entity == "amp")
      out += '&';
    else if (entity == "lt")
      out += '<';
    else if (entity == "gt")
      out += '>';
    else if (entity == "quot")
      out += '"';
    else if (entity == "apos")
      out += '\'';
    else if (entity.starts_with("#")) {
      unsigned long cp = 0;
      try {
        cp = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X')
                 ? std::stoul(std::string(entity.substr(2)), nullptr, 16)
                 : std::stoul(std::string(entity.substr(1)));
      } catch (const std::exception&) {
        out += s.substr(i, semi - i + 1);
        i = semi;
        continue;
      }
      // UTF-8 encoding of the code point.
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += s.substr(i, semi - i + 1);
    }
    i = semi;
  }
  return out;
}

// The text of each <tag>...</tag> inside `xml`, in order (S3's responses are flat enough).
std::vector<std::string_view> xml_all(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  for (std::size_t pos = 0;;) {
    const auto a = xml.find(open, pos);
    if (a == std::string_view::npos) break;
    const auto b = xml.find(close, a + open.size());
    if (b == std::string_view::npos) break;
    out.push_back(xml.substr(a + open.size(), b - a - open.size()));
    pos = b + close.size();
  }
  return out;
}

std::string xml_first(std::string_view xml, std::string_view tag) {
  const auto all = xml_all(xml, tag);
  return all.empty() ? std::string() : xml_unescape(all.front());
}

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

// Where a request body comes from: nothing, memory, or a byte range of a file.
struct Body {
  const std::string* memory = nullptr;
  FILE* file = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t sent = 0;
};

// Where a response body goes: memory (capped), or a file.
struct Sink {
  std::string memory;
  FILE* file = nullptr;
  std::uint64_t received = 0;
  bool write_failed = false;
};

struct Response {
  long status = 0;
  std::string body;
  std::string etag;
  std::uint64_t content_length = 0;
  bool has_length = false;
};

size_t read_body(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* body = static_cast<Body*>(userdata);
  const std::uint64_t want = std::min<std::uint64_t>(size * nitems, body->length - body->sent);
  if (want == 0) return 0;
  if (body->memory != nullptr) {
    std::memcpy(buffer, body->memory->data() + body->sent, want);
    body->sent += want;
    return want;
  }
  const size_t n = std::fread(buffer, 1, want, body->file);
  if (n == 0) return CURL_READFUNC_ABORT;
  body->sent += n;
  return n;
}

size_t write_body(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* sink = static_cast<Sink*>(userdata);
  const size_t n = size * nmemb;
  sink->received += n;
  if (sink->file != nullptr) {
    if (std::fwrite(data, 1, n, sink->file) != n) {
      sink->write_failed = true;
      return 0;
    }
    return n;
  }
  if (sink->memory.size() < (16u << 20)) sink->memory.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t nitems, void* userdata) {
  auto* r = static_cast<Response*>(userdata);
  const std::string_view line(data, size * nitems);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.remove_suffix(1);
    if (name == "etag") r->etag = strip_quotes(std::string(value));
    if (name == "content-length") {
      try {
        r->content_length = std::stoull(std::string(value));
        r->has_length = true;
      } catch (const std::exception&) {
      }
    }
  }
  return size * nitems;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

class S3Storage final : public Storage {
 public:
  S3Storage(S3Location where, Settings settings, Metrics* metrics)
      : where_(std::move(where)),
        settings_(std::move(settings)),
        metrics_(metrics),
        sigv4_("aws:amz:" + where_.region + ":s3") {}

  ObjectInfo put_file(const std::string& key, const fs::path& path,
                      std::string_view content_type) override {
    require_key("put", key);
    FilePtr file(std::fopen(path.c_str(), "rb"));
    if (!file) {
      const int err = errno;
      throw StorageError(
          "storage put '" + key + "': cannot read " + path.string() + ": " + std::strerror(err), 0,
          err == ENOENT || err == EACCES || err == EISDIR);
    }
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
      throw StorageError(
          "storage put '" + key + "': cannot read " + path.string() + ": " + ec.message(), 0, true);
    if (size > settings_.multipart_threshold)
      return put_multipart(key, file.get(), size, content_type);
    Body body{nullptr, file.get(), 0, size, 0};
    std::vector<std::string> headers{
        "x-amz-content-sha256: UNSIGNED-PAYLOAD",
        "Content-Type: " +
            std::string(content_type.empty() ? "application/octet-stream" : content_type)};
    const auto r = perform(StorageOp::put, "PUT", key, {}, headers, &body, nullptr);
    check(r, "put", key);
    return ObjectInfo{key, size, r.etag};
  }

  void get_file(const std::string& key, const fs::path& path) override {
    require_key("get", key);
    const fs::path temp = path.parent_path() / (".tickd-get-" + path.filename().string());
    FilePtr file(std::fopen(temp.c_str(), "wb"));
    if (!file)
      throw StorageError(
          "storage get '" + key + "': cannot create " + temp.string() + ": " + std::strerror(errno),
          0, false);
    Sink sink;
    sink.file = file.get();
    Response r;
    try {
      r = perform(StorageOp::get, "GET", key, {},
                  {"x-amz-content-sha256: " + std::string(kEmptySha256)}, nullptr, &sink);
      check(r, "get", key);
      if (std::fflush(file.get()) != 0)
        throw StorageError("storage get '" + key + "': cannot write " + temp.string(), 0, false);
      file.reset();
      if (std::rename(temp.c_str(), path.c_str()) != 0) {
        throw StorageError("storage get '" + key + "': cannot rename into " + path.string() + ": " +
                               std::strerror(errno),
                           0, false);
      }
    } catch (...) {
      file.reset();
      std::remove(temp.c_str());
      throw;
    }
  }

  std::optional<ObjectInfo> head(const std::string& key) override {
    require_key("head", key);
    const auto r =
        perform(StorageOp::head, "HEAD", key, {},
                {"x-amz-content-sha256: " + std::string(kEmptySha256)}, nullptr, nullptr);
    if (r.status == 404) return std::nullopt;
    check(r, "head", key);
    return ObjectInfo{key, r.content_length, r.etag};
  }

  std::vector<ObjectInfo> list(const std::string& prefix) override {
    std::vector<ObjectInfo> out;
    std::string token;
    for (int page = 0;; ++page) {
      Query q{{"list-type", "2"}, {"max-keys", "1000"}, {"prefix", prefix}};
      if (!token.empty()) q.emplace_back("continuation-token", token);
      const auto r =
          perform(StorageOp::list, "GET", "", q,
                  {"x-amz-content-sha256: " + std::string(kEmptySha256)}, nullptr, nullptr);
      check(r, "list", prefix + "*");
      for (const auto contents : xml_all(r.body, "Contents")) {
        ObjectInfo info;
        info.key = xml_first(contents, "Key");
        info.etag = strip_quotes(xml_first(contents, "ETag"));
        try {
          info.size = std::stoull(xml_first(contents, "Size"));
        } catch (const std::exception&) {
          info.size = 0;
        }
        out.push_back(std::move(info));
      }
      if (xml_first(r.body, "IsTruncated") != "true") break;
      token = xml_first(r.body, "NextContinuationToken");
      if (token.empty()) {
        throw StorageError("storage list '" + prefix + "*': page " + std::to_string(page + 1) +
                               " is truncated but has no NextContinuationToken",
                           r.status, false);
      }
    }
    return out;
  }

  void remove(const std::string& key) override {
    require_key("delete", key);
    const auto r =
        perform(StorageOp::remove, "DELETE", key, {},
                {"x-amz-content-sha256: " + std::string(kEmptySha256)}, nullptr, nullptr);
    if (r.status == 404) return;
    check(r, "delete", key);
  }

  std::string url(const std::string& key) const override { return object_url(key, {}); }

 private:
  static void require_key(const char* op, const std::string& key) {
    if (auto problem = check_key(key)) {
      throw StorageError(std::string("storage ") + op + ": " + *problem, 400, true);
    }
  }

  std::string object_url(const std::string& key, const Query& query) const {
    std::string url;
    if (where_.path_style) {
      url = where_.endpoint + "/" + percent_encode(where_.bucket, false) + "/" +
            percent_encode(key, true);
    } else {
      const auto scheme_end = where_.endpoint.find("://");
      url = where_.endpoint.substr(0, scheme_end + 3) + where_.bucket + "." +
            where_.endpoint.substr(scheme_end + 3) + "/" + percent_encode(key, true);
    }
    if (!query.empty()) {
      // SigV4's canonical query: names and values encoded, sorted by name (then value).
      std::vector<std::pair<std::string, std::string>> encoded;
      for (const auto& [k, v] : query)
        encoded.emplace_back(percent_encode(k, false), percent_encode(v, false));
      std::sort(encoded.begin(), encoded.end());
      char sep = '?';
      for (const auto& [k, v] : encoded) {
        url += sep;
        url += k + "=" + v;
        sep = '&';
      }
    }
    return url;
  }

  // "storage put 'a/b.wav': HTTP 403 AccessDenied: Access Denied"
  [[noreturn]] static void fail(const Response& r, const char* op, const std::string& key) {
    std::string what =
        std::string("storage ") + op + " '" + key + "': HTTP " + std::to_string(r.status);
    const auto code = xml_first(r.body, "Code");
    const auto message = xml_first(r.body, "Message");
    if (!code.empty()) what += " " + code;
    if (!message.empty()) what += ": " + message;
    throw StorageError(what, static_cast<int>(r.status), !retryable_status(r.status));
  }

  static void check(const Response& r, const char* op, const std::string& key) {
    if (r.status < 200 || r.status >= 300) fail(r, op, key);
  }

  CurlPtr take_handle() {
    {
      const std::lock_guard lock(handles_mutex_);
      if (!handles_.empty()) {
        CurlPtr h = std::move(handles_.back());
        handles_.pop_back();
        curl_easy_reset(h.get());
        return h;
      }
    }
    CurlPtr h(curl_easy_init());
    if (!h) throw StorageError("storage: curl_easy_init failed", 0, false);
    return h;
  }

  void give_handle(CurlPtr h) {
    const std::lock_guard lock(handles_mutex_);
    if (handles_.size() < 16) handles_.push_back(std::move(h));
  }

  // One request with retries: 5xx, 429, 408 and network errors are tried again after
  // backoff_delay (exponential, equal jitter; transfer.hpp), up to Settings' max_attempts;
  // anything else is returned for the caller to judge.
  Response perform(StorageOp op, const char* method, const std::string& key, const Query& query,
                   const std::vector<std::string>& headers, Body* body, Sink* sink) {
    const std::string url = object_url(key, query);
    const auto policy = retry_policy(settings_);
    std::string last_error;
    for (unsigned attempt = 1;; ++attempt) {
      Sink memory_sink;
      Sink* out = sink != nullptr ? sink : &memory_sink;
      if (body != nullptr) {
        body->sent = 0;
        if (body->file != nullptr &&
            fseeko(body->file, static_cast<off_t>(body->offset), SEEK_SET) != 0) {
          throw StorageError("storage " + std::string(to_string(op)) + " '" + key +
                                 "': cannot seek the source file",
                             0, false);
        }
      }
      if (out->file != nullptr) {
        std::rewind(out->file);
        if (::ftruncate(fileno(out->file), 0) != 0) {
          throw StorageError("storage " + std::string(to_string(op)) + " '" + key +
                                 "': cannot truncate the target file",
                             0, false);
        }
      }
      out->received = 0;
      out->memory.clear();
      Response r;
      CURLcode rc = CURLE_OK;
      char errbuf[CURL_ERROR_SIZE] = {0};
      {
        CurlPtr h = take_handle();
        CURL* c = h.get();
        std::unique_ptr<curl_slist, SlistDeleter> list;
        for (const auto& hd : headers) list.reset(curl_slist_append(list.release(), hd.c_str()));
        // libcurl would add "Expect: 100-continue" to large PUTs; not every server answers it.
        list.reset(curl_slist_append(list.release(), "Expect:"));
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        set_transfer_options(c, settings_, errbuf);
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_.c_str());
        curl_easy_setopt(c, CURLOPT_USERNAME, settings_.access_key_id.c_str());
        curl_easy_setopt(c, CURLOPT_PASSWORD, settings_.secret_access_key.c_str());
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
        const std::string_view m(method);
        if (m == "HEAD") {
          curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        } else if (m == "PUT") {
          curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
          curl_easy_setopt(c, CURLOPT_READFUNCTION, &read_body);
          curl_easy_setopt(c, CURLOPT_READDATA, body);
          curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                           static_cast<curl_off_t>(body != nullptr ? body->length : 0));
        } else if (m == "POST") {
          curl_easy_setopt(c, CURLOPT_POST, 1L);
          if (body != nullptr && body->memory != nullptr) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->memory->data());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(body->memory->size()));
          } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
          }
        } else if (m != "GET") {
          curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        }
        rc = curl_easy_perform(c);
        if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
        give_handle(std::move(h));
      }
      const bool ok_status = rc == CURLE_OK && r.status >= 200 && r.status < 300;
      if (metrics_ != nullptr) {
        metrics_->count_storage_request(
            op,
            ok_status || (r.status == 404 && (op == StorageOp::head || op == StorageOp::remove)));
        if (body != nullptr && body->sent > 0)
          metrics_->count_storage_bytes(Transfer::upload, body->sent);
        if (sink != nullptr && out->received > 0)
          metrics_->count_storage_bytes(Transfer::download, out->received);
      }
      if (out == &memory_sink) r.body = std::move(memory_sink.memory);
      if (out->write_failed) {
        throw StorageError("storage " + std::string(to_string(op)) + " '" + key +
                               "': cannot write the target file",
                           0, false);
      }
      bool retryable;
      if (rc != CURLE_OK) {
        last_error = transfer_error(rc, errbuf);
        retryable = rc != CURLE_ABORTED_BY_CALLBACK;
        if (!retryable || attempt >= policy.max_attempts) {
          throw StorageError("storage " + std::string(to_string(op)) + " '" +
                                 (key.empty() ? query_prefix(query) : key) + "': " + last_error +
                                 " after " + std::to_string(attempt) + " attempt(s)",
                             0, false);
        }
      } else {
        retryable = retryable_status(r.status);
        if (!retryable || attempt >= policy.max_attempts) return r;
      }
      sleep_before_retry(policy, attempt);
    }
  }

  static std::string query_prefix(const Query& q) {
    for (const auto& [k, v] : q) {
      if (k == "prefix") return v + "*";
    }
    return "";
  }

  ObjectInfo put_multipart(const std::string& key, FILE* file, std::uint64_t size,
                           std::string_view content_type) {
    const std::uint64_t part_size =
        std::max({kMinPart, std::min<std::uint64_t>(settings_.multipart_threshold, 64ull << 20),
                  (size + kMaxParts - 1) / kMaxParts});
    const std::vector<std::string> empty_hash{"x-amz-content-sha256: " + std::string(kEmptySha256)};
    std::vector<std::string> create_headers = empty_hash;
    create_headers.push_back("Content-Type: " + std::string(content_type.empty()
                                                                ? "application/octet-stream"
                                                                : content_type));
    const auto created =
        perform(StorageOp::put, "POST", key, {{"uploads", ""}}, create_headers, nullptr, nullptr);
    check(created, "put (create multipart upload)", key);
    const std::string upload_id = xml_first(created.body, "UploadId");
    if (upload_id.empty()) {
      throw StorageError(
          "storage put '" + key + "': the create-multipart-upload answer has no UploadId",
          created.status, false);
    }
    try {
      std::string complete = "<CompleteMultipartUpload>";
      unsigned part = 1;
      for (std::uint64_t offset = 0; offset < size; offset += part_size, ++part) {
        Body body{nullptr, file, offset, std::min(part_size, size - offset), 0};
        const auto r = perform(StorageOp::put, "PUT", key,
                               {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}},
                               {"x-amz-content-sha256: UNSIGNED-PAYLOAD"}, &body, nullptr);
        check(r, ("put (part " + std::to_string(part) + ")").c_str(), key);
        complete += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>\"" + r.etag +
                    "\"</ETag></Part>";
      }
      complete += "</CompleteMultipartUpload>";
      Body body{&complete, nullptr, 0, complete.size(), 0};
      const auto done = perform(
          StorageOp::put, "POST", key, {{"uploadId", upload_id}},
          {"x-amz-content-sha256: " + sha256_hex(complete), "Content-Type: application/xml"}, &body,
          nullptr);
      check(done, "put (complete multipart upload)", key);
      // S3 may answer 200 with an <Error> body for a failed completion.
      if (done.body.find("<Error>") != std::string::npos)
        fail(Response{500, done.body, "", 0, false}, "put (complete multipart upload)", key);
      return ObjectInfo{key, size, strip_quotes(xml_first(done.body, "ETag"))};
    } catch (...) {
      try {
        perform(StorageOp::put, "DELETE", key, {{"uploadId", upload_id}}, empty_hash, nullptr,
                nullptr);
      } catch (const std::exception&) {
        // The upload expires by the bucket's lifecycle rules; nothing more to do here.
      }
      throw;
    }
  }

  const S3Location where_;
  const Settings settings_;
  Metrics* const metrics_;
  const std::string sigv4_;
  std::mutex handles_mutex_;
  std::vector<CurlPtr> handles_;
};

std::once_flag curl_init_once;

}  // namespace

std::unique_ptr<Storage> open_s3_storage(const S3Location& where, const Settings& settings,
                                         Metrics* metrics) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<S3Storage>(where, settings, metrics);
}

}  // namespace tickd::storage::detail
