#include "tick_loop.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "tickd/dispatch/routing.hpp"

namespace tickd {
namespace {

using std::chrono::milliseconds;

// The tick timer never sleeps longer than this, so a jump of the wall clock is noticed
// (and the next instant re-evaluated against it) within a second.
constexpr milliseconds kMaxTimerSleep{1'000};
// How often the tick timer looks again while the database's clock is not known yet.
constexpr milliseconds kUnanchoredRetry{20};

}  // namespace

std::chrono::steady_clock::duration tick_sleep(std::optional<std::chrono::sys_seconds> earliest,
                                               milliseconds claim_ahead,
                                               std::chrono::system_clock::time_point now) {
  auto sleep = std::chrono::steady_clock::duration(kMaxTimerSleep);
  if (earliest) {
    // Wake early enough to claim the owned ticks of the instant ahead of it.
    sleep = std::clamp<std::chrono::steady_clock::duration>(*earliest - claim_ahead - now, {},
                                                            kMaxTimerSleep);
  }
  return sleep;
}

TickLoop::TickLoop(Timers& timers, const AnchoredClock& clock, Schedule& schedule,
                   const Ownership& ownership, Metrics& metrics, Settings settings, Submit submit,
                   SubmitLater submit_later)
    : timer_(timers.make()),
      clock_(clock),
      schedule_(schedule),
      ownership_(ownership),
      metrics_(metrics),
      settings_(settings),
      submit_(std::move(submit)),
      submit_later_(std::move(submit_later)) {}

void TickLoop::arm() {
  if (stopped_) return;
  timer_->arm(tick_sleep(schedule_.earliest(), settings_.claim_ahead, clock_.wall()),
              [this] { wake(); });
}

void TickLoop::stop() {
  stopped_ = true;
  timer_->cancel();
}

void TickLoop::wake() {
  if (stopped_) return;
  if (!clock_.anchored()) {
    // This host's clock may be off by seconds: nothing is due before the database's clock
    // is known (the first liveness round). Instants that pass meanwhile are decided then,
    // as misfires.
    timer_->arm(kUnanchoredRetry, [this] { wake(); });
    return;
  }
  const auto now = std::chrono::floor<milliseconds>(clock_.wall());
  auto due = schedule_.take_due(now, settings_.misfire_grace, settings_.claim_ahead);
  if (due.missed > 0) {
    spdlog::warn("{} tick(s) missed: already past their start deadline when due", due.missed);
    for (std::size_t i = 0; i < due.missed; ++i) metrics_.count_tick(TickOutcome::missed);
  }
  if (missed_ && !due.missed_by_region.empty()) missed_(std::move(due.missed_by_region));
  auto routed = route_due(std::move(due.ticks), ownership_, settings_.claim_grace);
  for (auto& [tick, release] : routed.others) submit_later_(std::move(tick), release);
  submit_(std::move(routed.mine));
  arm();
}

}  // namespace tickd
