#pragma once
// Proleptic Gregorian calendar arithmetic on plain integers (Howard Hinnant's days_from_civil
// and civil_from_days), so the hot path of next_after() needs no library calls. Internal to
// src/cron.

#include <cstdint>

namespace tickd::cron::detail {

constexpr std::int64_t kSecondsPerDay = 86400;

struct Civil {
  std::int64_t year;
  unsigned month;  // 1-12
  unsigned day;    // 1-31
};

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(std::int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr unsigned char kDays[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29u : kDays[m];
}

// 0 = Sunday.
constexpr unsigned weekday_from_days(std::int64_t z) {
  return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);
static_assert(civil_from_days(11017).year == 2000 && civil_from_days(11017).month == 3);
static_assert(weekday_from_days(0) == 4);   // Thursday
static_assert(weekday_from_days(-1) == 3);  // Wednesday
static_assert(weekday_from_days(-5) == 6);  // Saturday 1969-12-27
static_assert(weekday_from_days(-7) == 4);

// Seconds from 0000-01-01 and to 9999-12-31T23:59:59 (local or UTC): the searched range.
constexpr std::int64_t kMinSeconds = days_from_civil(0, 1, 1) * kSecondsPerDay;
constexpr std::int64_t kMaxSeconds = days_from_civil(10000, 1, 1) * kSecondsPerDay - 1;
// The earliest instant next_after() searches from: two days after kMinSeconds, so that no
// zone's local time falls before year 0. `tickd cron next --from` refuses anything earlier.
constexpr std::int64_t kMinSearchSeconds = kMinSeconds + 2 * kSecondsPerDay;

}  // namespace tickd::cron::detail
