#pragma once
// Helpers that let cron tests read as tables of readable timestamps.

#include <date/date.h>
#include <date/tz.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tickd/cron/cron.hpp"

namespace cron_test {

namespace cron = tickd::cron;

inline cron::Expr expr(std::string_view text) {
  auto parsed = cron::parse(text);
  if (auto* err = std::get_if<cron::ParseError>(&parsed)) {
    FAIL("'" << std::string(text) << "' does not parse: " << err->message);
  }
  return std::get<cron::Expr>(parsed);
}

// The error message for text that must not parse ("" if it parses).
inline std::string error(std::string_view text) {
  auto parsed = cron::parse(text);
  if (auto* err = std::get_if<cron::ParseError>(&parsed)) return err->message;
  return "";
}

inline const date::time_zone* zone(std::string_view name) {
  auto z = cron::find_zone(name);
  REQUIRE(std::holds_alternative<const date::time_zone*>(z));
  return std::get<const date::time_zone*>(z);
}

// "2026-03-08T06:00:00Z" -> instant.
inline std::chrono::sys_seconds utc(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  const std::string str(text);
  REQUIRE(std::sscanf(str.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s) == 6);
  return date::sys_days{date::year{y} / mo / d} + std::chrono::hours{h} + std::chrono::minutes{mi} +
         std::chrono::seconds{s};
}

inline std::string text(std::chrono::sys_seconds t) { return date::format("%FT%TZ", t); }

// The next `count` fire instants of `expression` in `zone_name` strictly after `from`, as
// readable UTC timestamps; stops early if the expression stops firing.
inline std::vector<std::string> fires(std::string_view expression, std::string_view zone_name,
                                      std::string_view from, int count) {
  const cron::Expr e = expr(expression);
  const date::time_zone* z = zone(zone_name);
  std::vector<std::string> out;
  std::chrono::sys_seconds t = utc(from);
  for (int i = 0; i < count; ++i) {
    const auto next = cron::next_after(e, z, t);
    if (!next) break;
    out.push_back(text(*next));
    t = *next;
  }
  return out;
}

inline std::vector<std::string> fires_utc(std::string_view expression, std::string_view from,
                                          int count) {
  return fires(expression, "UTC", from, count);
}

using List = std::vector<std::string>;

}  // namespace cron_test
