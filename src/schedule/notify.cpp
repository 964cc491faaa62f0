#include "tickd/schedule/notify.hpp"

#include <algorithm>

namespace tickd {
namespace {

// An http(s) URL with a host and no spaces or control characters.
bool http_url(std::string_view url) {
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return false;
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.starts_with(scheme)) {
      const auto rest = url.substr(scheme.size());
      return !rest.empty() && rest.front() != '/' && rest.front() != '?' && rest.front() != '#';
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> notify_target(const RegionRow& row, std::string_view default_url) {
  if (row.extras->notify_url) return *row.extras->notify_url;
  if (default_url.empty()) return std::nullopt;
  return std::string(default_url);
}

bool wants_event(const RegionRow& row, std::string_view event) {
  if (const auto& on = row.extras->notify_on) {
    return std::find(on->begin(), on->end(), event) != on->end();
  }
  return std::find(kDefaultNotifyEvents.begin(), kDefaultNotifyEvents.end(), event) !=
         kDefaultNotifyEvents.end();
}

std::optional<std::string> check_notify(const RegionRow& row) {
  const auto& e = *row.extras;
  if (e.notify_url && !http_url(*e.notify_url)) {
    return "notify_url: not an http:// or https:// URL with a host";
  }
  if (e.notify_on) {
    for (const auto& event : *e.notify_on) {
      if (std::find(kNotifyEvents.begin(), kNotifyEvents.end(), event) == kNotifyEvents.end()) {
        return "notify_on: '" + event +
               "' is not one of failed, abandoned, missed, recovered, cancelled, ok";
      }
    }
  }
  if (e.ping_url && !http_url(*e.ping_url)) {
    return "ping_url: not an http:// or https:// URL with a host";
  }
  return std::nullopt;
}

}  // namespace tickd
