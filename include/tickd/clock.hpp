#pragma once
// Two readings of time, injected: wall time for cron instants, monotonic time for
// durations and timeouts. Scheduling decisions are pure functions of wall().

#include <atomic>
#include <chrono>
#include <cstdint>

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

// Wall time shifted by an offset measured against a reference (the database's clock),
// so that replicas whose system clocks differ still agree on cron instants. Thread-safe.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(const Clock& base) : base_(base) {}
  std::chrono::system_clock::time_point wall() const override {
    return base_.wall() + std::chrono::microseconds(offset_us_.load(std::memory_order_relaxed));
  }
  std::chrono::steady_clock::time_point mono() const override { return base_.mono(); }
  const Clock& base() const { return base_; }
  std::chrono::microseconds offset() const {
    return std::chrono::microseconds(offset_us_.load(std::memory_order_relaxed));
  }
  void set_offset(std::chrono::microseconds offset) {
    offset_us_.store(offset.count(), std::memory_order_relaxed);
  }

 private:
  const Clock& base_;
  std::atomic<std::int64_t> offset_us_{0};
};

}  // namespace tickd
