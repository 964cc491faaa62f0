#pragma once
// Whether the database is reachable, as tickd_db_up and /readyz report it: up after any
// round trip that succeeded (a reconcile read, a liveness round), down after one that
// failed or when the liveness loop finds no success for too long. Logs each change once.
// When the database comes back, `back` runs (the change feed listens again at once).
// Lives on the event loop.

#include <chrono>
#include <functional>

#include "tickd/metrics/metrics.hpp"
#include "tickd/util/clock.hpp"

namespace tickd {

class DbHealth final {
 public:
  DbHealth(const Clock& clock, Metrics& metrics, std::function<void()> back);

  void set(bool up);
  bool up() const { return up_; }
  // When a round trip last succeeded (monotonic); the clock's epoch before the first.
  std::chrono::steady_clock::time_point last_contact() const { return last_contact_; }

 private:
  const Clock& clock_;
  Metrics& metrics_;
  std::function<void()> back_;
  bool up_ = false;
  std::chrono::steady_clock::time_point last_contact_{};
};

}  // namespace tickd
