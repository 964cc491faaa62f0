#include "tickd/notify/webhook.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <mutex>

#include "tickd/version.hpp"

namespace tickd::notify {
namespace {

std::once_flag curl_init_once;

size_t discard(char*, size_t size, size_t nmemb, void*) { return size * nmemb; }

CallResult call(const std::string& url, curl_slist* headers, const std::string* body,
                std::chrono::milliseconds timeout) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* c = curl_easy_init();
  if (c == nullptr) return {0, "cannot create a curl handle"};
  char errbuf[CURL_ERROR_SIZE] = {0};
  const std::string agent = std::string("tickd/") + kVersion;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &discard);
  if (headers != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  CallResult result;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &result.status);
    if (result.status < 200 || result.status >= 300) {
      result.error = "HTTP " + std::to_string(result.status) + " from " + shown_url(url);
    }
  } else {
    // errbuf may quote the URL: only the code's own text is kept.
    result.error = std::string(curl_easy_strerror(rc)) + " (" + shown_url(url) + ")";
  }
  curl_easy_cleanup(c);
  return result;
}

}  // namespace

std::string signature(std::string_view key, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 0xf];
  }
  return out;
}

CallResult post_event(const std::string& url, std::string_view event, const std::string& body,
                      const std::string& secret, std::chrono::milliseconds timeout) {
  curl_slist* headers = nullptr;
  const std::string event_header = "X-Tickd-Event: " + std::string(event);
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, event_header.c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  std::string signature_header;
  if (!secret.empty()) {
    signature_header = "X-Tickd-Signature: " + signature(secret, body);
    headers = curl_slist_append(headers, signature_header.c_str());
  }
  auto result = call(url, headers, &body, timeout);
  curl_slist_free_all(headers);
  return result;
}

CallResult ping(const std::string& url, std::chrono::milliseconds timeout) {
  return call(url, nullptr, nullptr, timeout);
}

std::string shown_url(std::string_view url) {
  std::string out(url.substr(0, url.find_first_of("?#")));
  const auto scheme = out.find("://");
  const auto from = scheme == std::string::npos ? 0 : scheme + 3;
  const auto at = out.find('@', from);
  const auto slash = out.find('/', from);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    out.erase(from, at + 1 - from);
  }
  return out;
}

}  // namespace tickd::notify
