// What a response means for the tick: success, retry (and after how long), or a permanent
// failure that no further attempt would change.

#include <algorithm>
#include <array>
#include <charconv>

#include "tickd/handlers/http_spec.hpp"

namespace tickd::http_handler {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

template <typename T>
std::optional<T> number(std::string_view s) {
  if (!all_digits(s)) return std::nullopt;
  T out{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return out;
}

// IMF-fixdate, the only form RFC 9110 lets a sender generate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::sys_seconds> parse_imf_fixdate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // "Www, DD Mon YYYY HH:MM:SS GMT" is exactly 29 bytes.
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  const auto day = number<unsigned>(s.substr(5, 2));
  const auto month = std::find(kMonths.begin(), kMonths.end(), s.substr(8, 3));
  const auto year = number<int>(s.substr(12, 4));
  const auto hh = number<int>(s.substr(17, 2));
  const auto mm = number<int>(s.substr(20, 2));
  const auto ss = number<int>(s.substr(23, 2));
  if (!day || month == kMonths.end() || !year || !hh || !mm || !ss || *hh > 23 || *mm > 59 ||
      *ss > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{
      std::chrono::year(*year),
      std::chrono::month(static_cast<unsigned>(month - kMonths.begin()) + 1),
      std::chrono::day(*day)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(*hh) + std::chrono::minutes(*mm) +
         std::chrono::seconds(*ss);
}

}  // namespace

Outcome classify(long status, bool conditional, const std::vector<int>& ok_statuses) {
  if (std::find(ok_statuses.begin(), ok_statuses.end(), status) != ok_statuses.end()) {
    return Outcome::ok;
  }
  if (status >= 200 && status < 300) return Outcome::ok;
  if (status == 304 && conditional) return Outcome::not_modified;
  if (status == 408 || status == 429 || (status >= 500 && status < 600)) return Outcome::retry;
  return Outcome::permanent;
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    // More digits than an hour needs is simply "long": capped, never an overflow.
    if (value.size() > 7) return kMaxRetryAfter;
    const auto seconds = number<std::int64_t>(value);
    if (!seconds) return std::nullopt;
    return std::min<std::chrono::milliseconds>(std::chrono::seconds(*seconds), kMaxRetryAfter);
  }
  const auto at = parse_imf_fixdate(value);
  if (!at) return std::nullopt;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*at - now);
  return std::clamp<std::chrono::milliseconds>(wait, std::chrono::milliseconds(0), kMaxRetryAfter);
}

std::string_view reason_phrase(long status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

}  // namespace tickd::http_handler
