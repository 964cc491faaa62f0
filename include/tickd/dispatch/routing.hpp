#pragma once
// Which replica runs what: a due tick that this replica owns (Ownership) is claimed at
// once; one that another live replica owns is held back and claimed here only if its owner
// has not claimed it by its release time: the claim grace after its instant, leaving at
// least half its start window. So a healthy set makes about one claim attempt per tick, and
// a tick whose owner died or stalled still starts within its window. Pure.

#include <chrono>
#include <utility>
#include <vector>

#include "tickd/dispatch/ownership.hpp"
#include "tickd/schedule/schedule.hpp"

namespace tickd {

struct Routed {
  std::vector<DueTick> mine;                       // claim now
  std::vector<std::pair<DueTick, Millis>> others;  // each with its release time, in order
};

Routed route_due(std::vector<DueTick> due, const Ownership& ownership,
                 std::chrono::milliseconds claim_grace);

// When a tick owned by another replica may be claimed here.
Millis release_time(const DueTick& tick, std::chrono::milliseconds claim_grace);

}  // namespace tickd
