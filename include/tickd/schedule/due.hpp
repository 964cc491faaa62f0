#pragma once
// What a region's timer does when it wakes: a pure function of the expression, the
// instant it was armed for and the wall clock.
//
// Every instant in (armed - 1 s, now] is due. Only the latest of them may run (misfires
// are coalesced); the earlier ones are missed. The latest runs only if `now` is within
// its start deadline: instant + min(misfire grace, one period of the schedule).

#include <chrono>
#include <cstddef>
#include <optional>

#include "tickd/cron/cron.hpp"

namespace tickd {

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

struct DueDecision {
  std::optional<std::chrono::sys_seconds> run;   // the instant to dispatch, if any
  Millis deadline{};                             // start deadline of `run`
  std::size_t missed = 0;                        // instants given up (not run)
  std::chrono::sys_seconds latest{};             // latest due instant (run or missed)
  std::optional<std::chrono::sys_seconds> next;  // the next instant to arm for (> now)
};

// Deadline window of an instant: min(grace, next instant after it - instant).
std::chrono::milliseconds start_window(const cron::Expr& e, const date::time_zone* zone,
                                       std::chrono::sys_seconds instant,
                                       std::chrono::milliseconds grace);

// Precondition: armed <= now.
DueDecision decide_due(const cron::Expr& e, const date::time_zone* zone,
                       std::chrono::sys_seconds armed, Millis now, std::chrono::milliseconds grace);

}  // namespace tickd
