#pragma once
// Two readings of time, injected: wall time for cron instants, monotonic time for
// durations and timeouts. Scheduling decisions are pure functions of wall().

#include <chrono>

namespace tickd {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point wall() const = 0;
  virtual std::chrono::steady_clock::time_point mono() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point wall() const override {
    return std::chrono::system_clock::now();
  }
  std::chrono::steady_clock::time_point mono() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace tickd
