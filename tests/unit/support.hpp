#pragma once
// Helpers shared by the unit tests: readable instants and a clock the test moves.

#include <date/date.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <variant>

#include "tickd/cron/cron.hpp"
#include "tickd/util/clock.hpp"

namespace tickd::test {

// "2026-03-08T06:00:00Z" or "2026-03-08T06:00:00.250Z".
inline std::chrono::sys_time<std::chrono::milliseconds> utc_ms(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  const int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms);
  if (n < 6) throw std::invalid_argument("bad test timestamp " + text);
  const auto day = date::sys_days(date::year(y) / mo / d);
  return day + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s) +
         std::chrono::milliseconds(ms);
}

inline std::chrono::sys_seconds utc(const std::string& text) {
  return std::chrono::floor<std::chrono::seconds>(utc_ms(text));
}

inline cron::Expr expr(const std::string& text) { return std::get<cron::Expr>(cron::parse(text)); }

inline const date::time_zone* zone(const std::string& name) {
  return std::get<const date::time_zone*>(cron::find_zone(name));
}

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point wall) : wall_(wall) {}
  std::chrono::system_clock::time_point wall() const override { return wall_; }
  std::chrono::steady_clock::time_point mono() const override {
    return std::chrono::steady_clock::time_point(wall_.time_since_epoch());
  }
  void set(std::chrono::system_clock::time_point t) { wall_ = t; }

 private:
  std::chrono::system_clock::time_point wall_;
};

}  // namespace tickd::test
