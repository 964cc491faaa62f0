#pragma once
// Two readings of time, injected: wall time for cron instants, monotonic time for
// durations and timeouts. Scheduling decisions are pure functions of wall().

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

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

// A reading of a reference clock (the database's) and the monotonic time it was taken at.
struct ClockAnchor {
  std::chrono::system_clock::time_point reference{};
  std::chrono::steady_clock::time_point at{};

  // The reference clock carried forward (or back) to monotonic time `mono`.
  std::chrono::system_clock::time_point wall_at(std::chrono::steady_clock::time_point mono) const {
    return reference + std::chrono::duration_cast<std::chrono::system_clock::duration>(mono - at);
  }
};

// Wall time taken from a reference clock (the database's) and carried forward by the
// monotonic clock: after anchor(reference, mono), wall() = reference + (mono() - mono).
// Replicas whose system clocks differ agree on cron instants, and a step of this host's
// clock (NTP, an operator, a VM resume) changes nothing until the next anchor, which comes
// from the database again. Before the first anchor it is the system clock. Thread-safe.
class AnchoredClock final : public Clock {
 public:
  explicit AnchoredClock(const Clock& base) : base_(base) {}
  std::chrono::system_clock::time_point wall() const override {
    std::lock_guard lock(mutex_);
    if (!anchor_) return base_.wall();
    return anchor_->wall_at(base_.mono());
  }
  std::chrono::steady_clock::time_point mono() const override { return base_.mono(); }
  const Clock& base() const { return base_; }
  bool anchored() const {
    std::lock_guard lock(mutex_);
    return anchor_.has_value();
  }
  // The anchor wall() follows; nullopt before the first.
  std::optional<ClockAnchor> last_anchor() const {
    std::lock_guard lock(mutex_);
    return anchor_;
  }
  // `reference` was the reference clock's reading at monotonic time `at`.
  void anchor(std::chrono::system_clock::time_point reference,
              std::chrono::steady_clock::time_point at) {
    std::lock_guard lock(mutex_);
    anchor_ = ClockAnchor{reference, at};
  }

 private:
  const Clock& base_;
  mutable std::mutex mutex_;
  std::optional<ClockAnchor> anchor_;
};

}  // namespace tickd
