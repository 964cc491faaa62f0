#pragma once
// The schedule's one timer: sleeps until CLAIM_AHEAD_MS before the earliest instant (at
// most a second, so a jump of the wall clock is noticed within one), then takes what is
// due (Schedule::take_due), counts the missed ticks and routes the rest (route_due): this
// replica's to `submit`, the others' to `submit_later` at their release time. Nothing is
// due before the clock is anchored to the database's. Lives on the event loop.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "tickd/dispatch/ownership.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

// How long the timer sleeps at `now`, with the schedule's earliest instant `earliest`.
std::chrono::steady_clock::duration tick_sleep(std::optional<std::chrono::sys_seconds> earliest,
                                               std::chrono::milliseconds claim_ahead,
                                               std::chrono::system_clock::time_point now);

class TickLoop final {
 public:
  struct Settings {
    std::chrono::milliseconds misfire_grace{60'000};  // MISFIRE_GRACE_MS
    std::chrono::milliseconds claim_ahead{500};       // CLAIM_AHEAD_MS
    std::chrono::milliseconds claim_grace{500};       // CLAIM_GRACE_MS
  };
  using Submit = std::function<void(std::vector<DueTick>)>;
  using SubmitLater = std::function<void(DueTick, Millis release)>;

  // Regions that missed instants (their first missed instant and how many), for the
  // `missed` notifications; called on the loop, only with a non-empty list.
  using Missed = std::function<void(std::vector<Schedule::Due::Missed>)>;
  void on_missed(Missed missed) { missed_ = std::move(missed); }

  TickLoop(Timers& timers, const AnchoredClock& clock, Schedule& schedule,
           const Ownership& ownership, Metrics& metrics, Settings settings, Submit submit,
           SubmitLater submit_later);

  // (Re-)arms the timer for the schedule's earliest instant; call after the schedule changed.
  void arm();
  void stop();

 private:
  void wake();

  std::unique_ptr<Timer> timer_;
  const AnchoredClock& clock_;
  Schedule& schedule_;
  const Ownership& ownership_;
  Metrics& metrics_;
  const Settings settings_;
  Submit submit_;
  SubmitLater submit_later_;
  Missed missed_;
  bool stopped_ = false;
};

}  // namespace tickd
