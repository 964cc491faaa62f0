// libFuzzer target: cron::parse on arbitrary text, then next_after on whatever parses, checked
// against an independent, slow matcher (date::year_month_day, one day or second at a time).
//
// Input: the expression text, then (consumed from the end by FuzzedDataProvider) a zone index
// and an instant between 1900 and 2200.

#include <date/date.h>
#include <date/tz.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "tickd/cron/cron.hpp"
#include "zone_rules.hpp"

namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;
namespace cron = tickd::cron;

constexpr std::array kZones = {"UTC",           "America/New_York", "Australia/Lord_Howe",
                               "Europe/London", "Asia/Kathmandu",   "Pacific/Apia"};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

bool bit(std::uint64_t mask, unsigned v) { return ((mask >> v) & 1u) != 0; }

// Does day `day` (a civil date) match the day fields? Written from the contract, not from
// next.cpp: one rule at a time.
bool day_matches(const cron::Expr& e, date::sys_days day) {
  const date::year_month_day ymd{day};
  if (!bit(e.months, static_cast<unsigned>(ymd.month()))) return false;
  const unsigned d = static_cast<unsigned>(ymd.day());
  const unsigned last = static_cast<unsigned>((ymd.year() / ymd.month() / date::last).day());
  const unsigned wd = date::weekday{day}.c_encoding();
  auto weekday_of = [&](unsigned dd) {
    return date::weekday{date::sys_days{ymd.year() / ymd.month() / date::day{dd}}}.c_encoding();
  };
  auto is_workday = [&](unsigned dd) { return weekday_of(dd) != 0 && weekday_of(dd) != 6; };

  bool dom = bit(e.days_of_month, d);
  for (unsigned k = 0; k <= 30; ++k) {
    if (bit(e.dom_last_offsets, k) && last > k && d == last - k) dom = true;
  }
  for (unsigned n = 1; n <= last; ++n) {
    if (!bit(e.dom_nearest_weekday, n)) continue;
    // The weekday nearest to n within the month: n itself, else the closer of n-1 / n+1,
    // else n-2 / n+2 (when n is the 1st or the last and falls on a weekend).
    unsigned target = n;
    if (!is_workday(n)) {
      if (n > 1 && is_workday(n - 1) && weekday_of(n) == 6) {
        target = n - 1;
      } else if (n < last && is_workday(n + 1) && weekday_of(n) == 0) {
        target = n + 1;
      } else if (n == 1) {
        target = 3;
      } else {
        target = n - 2;
      }
    }
    if (d == target) dom = true;
  }
  if (e.dom_last_weekday) {
    unsigned lw = last;
    while (!is_workday(lw)) --lw;
    if (d == lw) dom = true;
  }

  bool dow = bit(e.days_of_week, wd);
  if (bit(e.dow_last, wd) && d + 7 > last) dow = true;
  if (bit(e.dow_nth[wd], (d - 1) / 7)) dow = true;

  if (e.dom_restricted && e.dow_restricted) return dom || dow;
  if (e.dom_restricted) return dom;
  if (e.dow_restricted) return dow;
  return true;
}

bool time_matches(const cron::Expr& e, seconds since_midnight) {
  const auto s = static_cast<unsigned>(since_midnight.count());
  return bit(e.hours, s / 3600) && bit(e.minutes, s / 60 % 60) && bit(e.seconds, s % 60);
}

bool local_matches(const cron::Expr& e, date::local_seconds l) {
  const auto day = date::floor<date::days>(l);
  return day_matches(e, date::sys_days{day.time_since_epoch()}) && time_matches(e, l - day);
}

void check_error(const cron::ParseError& err, std::size_t size) {
  if (err.message.empty()) fail("empty error message");
  if (err.column == 0 || err.column > size + 1) fail("error column outside the text");
  if (err.message.find("(column " + std::to_string(err.column) + ")") == std::string::npos) {
    fail("error message does not name its column");
  }
}

void check_next(const cron::Expr& e, const date::time_zone* zone, bool utc, sys_seconds t) {
  const auto next = cron::next_after(e, zone, t);
  if (!next) {
    // Only a day pattern that matches no day of 400 years may never fire.
    if (utc) {
      const auto start = date::floor<date::days>(t);
      for (auto d = start + date::days{1}; d < start + date::days{800}; d += date::days{1}) {
        if (day_matches(e, d)) fail("nullopt, yet a day within 800 days matches");
      }
    }
    return;
  }
  const sys_seconds r = *next;
  if (r <= t) fail("next_after is not strictly after t");
  if (cron::next_after(e, zone, r - seconds{1}) != r) fail("next_after(r - 1s) != r");

  // The zone's offsets as the engine sees them (listed transitions, then the zone's rule).
  const date::sys_info info = tickd::cron::detail::sys_info_at(*zone, r);
  const date::local_seconds local{(r + info.offset).time_since_epoch()};
  if (!local_matches(e, local)) {
    // Wall-clock rule only: a time in a spring-forward gap fires at the end of the gap.
    if (e.all_hours || info.begin != r) fail("result does not match the expression");
  }
  if (!utc) {
    // Close results: no second strictly between t and r may show a matching wall time,
    // except the second pass through a repeated hour under the wall-clock rule.
    if (r - t > seconds{7200}) return;
    for (sys_seconds s = t + seconds{1}; s < r; s += seconds{1}) {
      const auto at = tickd::cron::detail::sys_info_at(*zone, s);
      const date::local_seconds l{(s + at.offset).time_since_epoch()};
      if (!local_matches(e, l)) continue;
      if (e.all_hours) fail("real-time rule: a matching second between t and r was skipped");
      const auto li = tickd::cron::detail::local_info_at(*zone, l);
      const bool second_pass = li.result == date::local_info::ambiguous &&
                               s == sys_seconds{(l - li.second.offset).time_since_epoch()};
      if (!second_pass) fail("wall-clock rule: a matching second between t and r was skipped");
    }
    return;
  }
  // Nothing may match strictly between t and r: whole days in between, and every second when
  // the two are close.
  const auto first_day = date::floor<date::days>(t) + date::days{1};
  const auto last_day = date::floor<date::days>(r);
  int budget = 800;
  for (auto d = first_day; d < last_day && budget > 0; d += date::days{1}, --budget) {
    if (day_matches(e, d)) fail("a whole day between t and the result matches");
  }
  if (r - t <= seconds{7200}) {
    for (sys_seconds s = t + seconds{1}; s < r; s += seconds{1}) {
      if (local_matches(e, date::local_seconds{s.time_since_epoch()})) {
        fail("a second between t and the result matches");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 512) return 0;
  FuzzedDataProvider in(data, size);
  const auto zone_index = in.ConsumeIntegralInRange<std::size_t>(0, kZones.size() - 1);
  // 1900-01-01 .. 2200-01-01
  const auto t = in.ConsumeIntegralInRange<std::int64_t>(-2208988800, 7258118400);
  const std::string text = in.ConsumeRemainingBytesAsString();

  const auto parsed = cron::parse(text);
  if (const auto* err = std::get_if<cron::ParseError>(&parsed)) {
    check_error(*err, text.size());
    return 0;
  }
  const auto& e = std::get<cron::Expr>(parsed);
  if (cron::parse(text) != parsed) fail("parse is not deterministic");
  const auto* zone = std::get<const date::time_zone*>(cron::find_zone(kZones[zone_index]));
  check_next(e, zone, zone_index == 0, sys_seconds{seconds{t}});
  return 0;
}
