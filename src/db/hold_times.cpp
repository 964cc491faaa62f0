#include "hold_times.hpp"

namespace tickd::db {
namespace {

// Weight of the newest run. Misjudging slow work as short is what starves short work, so
// one slow run must be enough to count as long: a 10 ms region that once takes 1 s
// expects 0.31 s at once. A region that became fast for good is short again after a few
// runs (3 s -> under 0.25 s after 8 runs of 10 ms), and is served meanwhile, only not from
// the connections kept for short work.
constexpr double kWeight = 0.3;

}  // namespace

std::chrono::milliseconds HoldTimes::expected(std::int64_t key) const {
  std::lock_guard lock(mutex_);
  const auto it = mean_ms_.find(key);
  return std::chrono::milliseconds(
      it == mean_ms_.end() ? 0 : static_cast<std::chrono::milliseconds::rep>(it->second));
}

void HoldTimes::record(std::int64_t key, std::chrono::steady_clock::duration held) {
  const double ms = std::chrono::duration<double, std::milli>(held).count();
  std::lock_guard lock(mutex_);
  const auto [it, first] = mean_ms_.try_emplace(key, ms);
  if (!first) it->second += kWeight * (ms - it->second);
}

}  // namespace tickd::db
