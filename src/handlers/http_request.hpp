#pragma once
// Internal to the `http` handler: one HTTP request over libcurl that can be cut short, with
// redirects followed by hand so that every hop's host is checked before it is called.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tickd::http_handler {

struct Request {
  std::string url;  // expanded
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // expanded values
  std::optional<std::string> body;
  std::chrono::milliseconds timeout{30'000};  // the whole exchange, redirects included
  std::chrono::milliseconds connect_timeout{10'000};
  int max_redirects = 0;  // 0: a 3xx is the answer
  // Polled during the transfer (about once a second, and on every received block): true
  // aborts it.
  std::function<bool()> cancelled;
  // Whether a redirect may go to this host (host lower case, authority host[:port]).
  std::function<bool(const std::string& host, const std::string& authority)> host_allowed;
  std::size_t keep_body_bytes = 1024;  // the head of the body kept for a failure's details
};

struct Response {
  // Transport: CURLE_OK (0) when an answer came back, else libcurl's code and words.
  int curl_code = 0;
  std::string curl_error;
  bool timed_out = false;  // libcurl's own timeout (Request::timeout) ran out
  bool aborted = false;    // Request::cancelled said so
  bool malformed = false;  // libcurl refused the URL itself: no attempt would do better
  std::optional<std::string> refused_host;  // a redirect to a host not allowed (not called)
  bool bad_redirect = false;                // a redirect to no http(s) URL (not called)
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last response, names lower case
  std::uint64_t bytes = 0;                     // body bytes received, all hops
  std::string body_head;                       // the first keep_body_bytes of the last body
  int redirects = 0;

  bool answered() const { return curl_code == 0 && !refused_host && !bad_redirect; }
  std::optional<std::string> header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
};

// Performs `request`. Never throws for what the peer or the network did: that is in the
// Response. Throws std::runtime_error only when libcurl itself cannot be set up.
Response perform(const Request& request);

}  // namespace tickd::http_handler
