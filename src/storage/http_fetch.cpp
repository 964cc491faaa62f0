// Fetching a publish source over http(s): a plain GET with an optional bearer token.

#include <curl/curl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "backends.hpp"
#include "transfer.hpp"

namespace tickd::storage {
namespace {

size_t write_file(char* data, size_t size, size_t nmemb, void* userdata) {
  return std::fwrite(data, 1, size * nmemb, static_cast<FILE*>(userdata));
}

// The URL without its query and user info, for error messages (a query may carry a token).
std::string shown(const std::string& url) {
  std::string out = url.substr(0, url.find_first_of("?#"));
  const auto scheme = out.find("://");
  const auto at = out.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  const auto slash = out.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme != std::string::npos && at != std::string::npos &&
      (slash == std::string::npos || at < slash)) {
    out.erase(scheme + 3, at - scheme - 2);
  }
  return out;
}

std::once_flag curl_init_once;

}  // namespace

void fetch_url(const std::string& url, const std::string& bearer_token,
               const std::filesystem::path& path, const Settings& settings, Metrics* metrics) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  const std::string where = "fetch " + shown(url);
  const std::filesystem::path temp =
      path.parent_path() / (".tickd-fetch-" + path.filename().string());
  const auto policy = detail::retry_policy(settings);
  for (unsigned attempt = 1;; ++attempt) {
    FILE* file = std::fopen(temp.c_str(), "wb");
    if (file == nullptr)
      throw StorageError(where + ": cannot create " + temp.string() + ": " + std::strerror(errno),
                         0, false);
    CURL* c = curl_easy_init();
    curl_slist* headers = nullptr;
    const std::string auth = "Authorization: Bearer " + bearer_token;
    if (!bearer_token.empty()) headers = curl_slist_append(headers, auth.c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    detail::set_transfer_options(c, settings, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would carry the token elsewhere
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_file);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, file);
    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_off_t received = 0;
    if (rc == CURLE_OK) {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
      curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &received);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    const bool closed = std::fclose(file) == 0;
    const bool ok = rc == CURLE_OK && status >= 200 && status < 300 && closed;
    if (metrics != nullptr) {
      metrics->count_storage_request(StorageOp::fetch, ok);
      if (received > 0)
        metrics->count_storage_bytes(Transfer::download, static_cast<std::uint64_t>(received));
    }
    if (ok) {
      if (std::rename(temp.c_str(), path.c_str()) != 0) {
        throw StorageError(
            where + ": cannot rename into " + path.string() + ": " + std::strerror(errno), 0,
            false);
      }
      return;
    }
    std::remove(temp.c_str());
    const bool retryable = rc != CURLE_OK
                               ? rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT &&
                                     rc != CURLE_ABORTED_BY_CALLBACK
                               : detail::retryable_status(status);
    if (!retryable || attempt >= policy.max_attempts) {
      if (rc != CURLE_OK) {
        throw StorageError(where + ": " + detail::transfer_error(rc, errbuf) + " after " +
                               std::to_string(attempt) + " attempt(s)",
                           0, !retryable);
      }
      std::string what = where + ": HTTP " + std::to_string(status);
      if ((status == 401 || status == 403) && !bearer_token.empty()) {
        what += " (the source refused PUBLISH_SOURCE_TOKEN)";
      } else if (status == 401 || status == 403) {
        what +=
            " (sent without PUBLISH_SOURCE_TOKEN: unset, or the host is not in "
            "PUBLISH_SOURCE_HOSTS over https)";
      }
      if (status == 404) what += " (no such source)";
      throw StorageError(what, static_cast<int>(status), !retryable);
    }
    detail::sleep_before_retry(policy, attempt);
  }
}

}  // namespace tickd::storage
