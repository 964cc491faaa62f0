#pragma once
// Outgoing calls of notifications (spec: "Notifications"): a webhook POST of an event's
// JSON body, signed when a secret is set, and a healthchecks-style ping. Blocking, bounded
// by a short timeout, no redirects followed, http(s) only.

#include <chrono>
#include <string>
#include <string_view>

namespace tickd::notify {

// "sha256=<hex HMAC-SHA256 of body under key>", the X-Tickd-Signature header's value.
std::string signature(std::string_view key, std::string_view body);

struct CallResult {
  long status = 0;    // the HTTP status; 0: no response
  std::string error;  // empty: 2xx; else what went wrong, without the URL's query or user info
  bool ok() const { return error.empty(); }
};

// POSTs `body` (application/json) to `url` with X-Tickd-Event: `event` and, when `secret`
// is not empty, X-Tickd-Signature.
CallResult post_event(const std::string& url, std::string_view event, const std::string& body,
                      const std::string& secret, std::chrono::milliseconds timeout);

// GET `url` (a ping); the response body is discarded.
CallResult ping(const std::string& url, std::chrono::milliseconds timeout);

// The URL without its query, fragment and user info: what logs and errors may show.
std::string shown_url(std::string_view url);

}  // namespace tickd::notify
