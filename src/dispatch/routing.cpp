#include "tickd/dispatch/routing.hpp"

#include <algorithm>

namespace tickd {

Millis release_time(const DueTick& tick, std::chrono::milliseconds claim_grace) {
  // Step in after the grace if the owner has not claimed it, leaving at least half the
  // start window.
  const auto start = tick.start();
  const auto window = tick.deadline - start;
  const auto grace = std::min<std::chrono::milliseconds>(claim_grace, window / 2);
  return start + grace;
}

Routed route_due(std::vector<DueTick> due, const Ownership& ownership,
                 std::chrono::milliseconds claim_grace) {
  Routed routed;
  routed.mine.reserve(due.size());
  for (auto& tick : due) {
    if (ownership.mine(tick.region->row->id)) {
      routed.mine.push_back(std::move(tick));
      continue;
    }
    const auto release = release_time(tick, claim_grace);
    routed.others.emplace_back(std::move(tick), release);
  }
  return routed;
}

}  // namespace tickd
