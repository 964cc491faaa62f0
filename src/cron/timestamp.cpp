// RFC 3339 parsing and formatting with plain integer calendar arithmetic.

#include "tickd/cron/timestamp.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "calendar.hpp"
#include "text.hpp"

namespace tickd::cron {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at pos; -1 when they are not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

bool at(std::string_view s, std::size_t pos, char c) { return pos < s.size() && s[pos] == c; }

std::string out_of_range(std::string_view what, int v, int lo, int hi) {
  return detail::cat(what, " ", v, " is out of range ", lo, "-", hi);
}

void put(std::string& out, unsigned v, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, static_cast<std::size_t>(width));
}

}  // namespace

std::variant<std::chrono::sys_seconds, std::string> parse_rfc3339(std::string_view s) {
  const int year = digits(s, 0, 4);
  const int month = digits(s, 5, 2);
  const int day = digits(s, 8, 2);
  const int hour = digits(s, 11, 2);
  const int minute = digits(s, 14, 2);
  const int second = digits(s, 17, 2);
  if (year < 0 || !at(s, 4, '-') || month < 0 || !at(s, 7, '-') || day < 0 ||
      !(at(s, 10, 'T') || at(s, 10, 't') || at(s, 10, ' ')) || hour < 0 || !at(s, 13, ':') ||
      minute < 0 || !at(s, 16, ':') || second < 0) {
    return std::string("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset");
  }
  if (month < 1 || month > 12) return out_of_range("month", month, 1, 12);
  const auto days_in = static_cast<int>(detail::days_in_month(year, static_cast<unsigned>(month)));
  if (day < 1 || day > days_in) return out_of_range("day", day, 1, days_in);
  if (hour > 23) return out_of_range("hour", hour, 0, 23);
  if (minute > 59) return out_of_range("minute", minute, 0, 59);
  if (second > 59) return out_of_range("second", second, 0, 59);
  std::size_t pos = 19;
  if (at(s, pos, '.') || at(s, pos, ',')) {
    ++pos;
    const std::size_t fraction = pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == fraction) return std::string("a fraction of a second needs digits");
  }
  std::int64_t offset = 0;
  if (at(s, pos, 'Z') || at(s, pos, 'z')) {
    ++pos;
  } else if (at(s, pos, '+') || at(s, pos, '-')) {
    const int oh = digits(s, pos + 1, 2);
    const int om = digits(s, pos + 4, 2);
    if (oh < 0 || !at(s, pos + 3, ':') || om < 0) {
      return std::string("the UTC offset must look like +HH:MM or -HH:MM");
    }
    if (oh > 23) return out_of_range("offset hour", oh, 0, 23);
    if (om > 59) return out_of_range("offset minute", om, 0, 59);
    offset = (s[pos] == '-' ? -1 : 1) * (std::int64_t{oh} * 3600 + std::int64_t{om} * 60);
    pos += 6;
  } else {
    return std::string("needs a time zone: Z or an offset such as +01:00");
  }
  if (pos != s.size()) return detail::cat("unexpected '", s.substr(pos), "' at the end");
  const std::int64_t days =
      detail::days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t local = days * detail::kSecondsPerDay + hour * 3600 + minute * 60 + second;
  return std::chrono::sys_seconds{std::chrono::seconds{local - offset}};
}

std::string format_rfc3339(std::chrono::sys_seconds t) {
  const std::int64_t s = t.time_since_epoch().count();
  const std::int64_t days = detail::floor_div(s, detail::kSecondsPerDay);
  const auto sod = static_cast<unsigned>(s - days * detail::kSecondsPerDay);
  const detail::Civil c = detail::civil_from_days(days);
  std::string out;
  out.reserve(20);
  put(out, static_cast<unsigned>(c.year), 4);
  out += '-';
  put(out, c.month, 2);
  out += '-';
  put(out, c.day, 2);
  out += 'T';
  put(out, sod / 3600, 2);
  out += ':';
  put(out, sod / 60 % 60, 2);
  out += ':';
  put(out, sod % 60, 2);
  out += 'Z';
  return out;
}

}  // namespace tickd::cron
