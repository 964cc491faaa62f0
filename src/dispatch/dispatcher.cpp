#include "tickd/dispatch/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tickd {
namespace {
// Larger groups make one claim statement too long to hold its locks; 500 rows take a
// few milliseconds.
constexpr std::size_t kMaxGroup = 500;
// Whether a held tick keeps claims ahead of later instants waiting (a tick of another
// owner, released after the claim grace, comes first). A buffered or jittered one does
// not: it may wait up to a whole period.
bool holds_back_ahead(const DueTick& tick) {
  return !tick.buffered && tick.start() == Millis(tick.instant);
}

}  // namespace

Dispatcher::Dispatcher(Timers& timers, Offloads offloads, RunGroup run, Metrics& metrics,
                       const Clock& clock, unsigned concurrency, OnFinished on_finished)
    : offloads_(std::move(offloads)),
      run_(std::move(run)),
      metrics_(metrics),
      clock_(clock),
      concurrency_(concurrency),
      on_finished_(std::move(on_finished)),
      expiry_(timers.make()),
      release_(timers.make()) {}

void Dispatcher::submit(std::vector<DueTick> ticks) {
  if (ticks.empty()) return;
  if (stopped_) {
    for (std::size_t i = 0; i < ticks.size(); ++i) metrics_.count_tick(TickOutcome::skipped);
    return;
  }
  const auto now = clock_.wall();
  for (auto& tick : ticks) {
    if (const auto start = tick.start(); start > Millis(tick.instant) && start > now) {
      // Jittered: claimed at its start, not ahead of its instant.
      hold(std::move(tick), start);
    } else if (Millis(tick.instant) > now) {
      ahead_.push_back(std::move(tick));
    } else {
      enqueue(std::move(tick));
    }
  }
  pump();
}

void Dispatcher::enqueue(DueTick tick) {
  earliest_deadline_ = std::min(earliest_deadline_, tick.deadline);
  waiting_.push_back(std::move(tick));
}

void Dispatcher::submit_later(DueTick tick, Millis release) {
  if (stopped_) {
    metrics_.count_tick(TickOutcome::skipped);
    return;
  }
  tick.precheck = true;
  hold(std::move(tick), release);
}

void Dispatcher::hold(DueTick tick, Millis release) {
  const bool first = held_.empty() || release < held_.front().first;
  const auto at = std::upper_bound(held_.begin(), held_.end(), release,
                                   [](Millis r, const auto& held) { return r < held.first; });
  if (holds_back_ahead(tick)) held_instants_.insert(tick.instant);
  held_.emplace(at, release, std::move(tick));
  if (first) arm_release();
}

void Dispatcher::arm_release() {
  if (held_.empty()) return;
  const auto wait = held_.front().first - clock_.wall();
  release_->arm(std::max<std::chrono::steady_clock::duration>(wait, {}),
                [this] { release_held(); });
}

void Dispatcher::release_held() {
  if (stopped_) return;
  const auto now = clock_.wall();
  while (!held_.empty() && held_.front().first <= now) {
    if (holds_back_ahead(held_.front().second)) {
      held_instants_.erase(held_instants_.find(held_.front().second.instant));
    }
    enqueue(std::move(held_.front().second));
    held_.pop_front();
  }
  pump();
  arm_release();
}

void Dispatcher::pump() {
  const auto now = clock_.wall();
  while (!ahead_.empty() && Millis(ahead_.front().instant) <= now) {
    enqueue(std::move(ahead_.front()));
    ahead_.pop_front();
  }
  // Expired ticks are dropped wherever they wait: a full replica must still count them
  // when their deadline passes. The queue is scanned only once the earliest deadline
  // among the waiting ticks has passed, so a long queue costs nothing per pump.
  if (!waiting_.empty() && now > earliest_deadline_) {
    std::size_t expired = 0;
    earliest_deadline_ = Millis::max();
    std::erase_if(waiting_, [&](const DueTick& t) {
      if (now <= t.deadline) {
        earliest_deadline_ = std::min(earliest_deadline_, t.deadline);
        return false;
      }
      ++expired;
      return true;
    });
    if (expired > 0) {
      for (std::size_t i = 0; i < expired; ++i) metrics_.count_tick(TickOutcome::skipped);
      spdlog::warn("{} tick(s) skipped: no free slot (CONCURRENCY={}) before their deadline",
                   expired, concurrency_);
    }
  }
  while (inflight_ < concurrency_ && !waiting_.empty()) start_group(take_group(waiting_));
  // Claims ahead get the slots left over, and only once no tick of an earlier instant
  // waits here or is held: a claimed-ahead tick keeps its slot until its instant, and must
  // not starve a tick whose start deadline comes sooner.
  while (inflight_ < concurrency_ && waiting_.empty() && !ahead_.empty() &&
         (held_instants_.empty() || *held_instants_.begin() >= ahead_.front().instant)) {
    if (auto group = take_group(ahead_, true); !group.empty()) start_group(std::move(group));
  }
  if (waiting_.empty()) earliest_deadline_ = Millis::max();
  metrics_.set_inflight(inflight_);
  arm_expiry();
}

void Dispatcher::arm_expiry() {
  // Wake at the earliest deadline of a waiting tick, or at the instant of the first tick
  // handed out ahead (from then on it waits as a due tick, deadline and all).
  auto wake = waiting_.empty() ? Millis::max() : earliest_deadline_;
  if (!ahead_.empty()) wake = std::min(wake, Millis(ahead_.front().instant));
  if (wake == Millis::max()) {
    if (expiry_armed_for_ != Millis::max()) expiry_->cancel();
    expiry_armed_for_ = Millis::max();
    return;
  }
  if (expiry_armed_for_ == wake) return;
  expiry_armed_for_ = wake;
  const auto wait = wake - clock_.wall() + std::chrono::milliseconds(1);
  expiry_->arm(std::max<std::chrono::steady_clock::duration>(wait, {}), [this] {
    expiry_armed_for_ = Millis::max();
    pump();
  });
}

std::vector<DueTick> Dispatcher::take_group(std::deque<DueTick>& queue, bool ahead) {
  // Consecutive ticks of one instant, as many as there are free slots.
  std::vector<DueTick> group;
  const auto instant = queue.front().instant;
  while (!queue.empty() && inflight_ < concurrency_ && group.size() < kMaxGroup &&
         queue.front().instant == instant) {
    auto tick = std::move(queue.front());
    queue.pop_front();
    if (ahead && busy_regions_.contains(tick.region->row->id)) {
      // Its region's previous tick still runs here, or its end is not recorded yet: a claim
      // now would find that tick running and be made again at the instant (as an overlap
      // reported by the database is), a claim statement's row wasted per tick of a region
      // that fires every second. It waits for its instant unclaimed instead.
      hold(std::move(tick), Millis(instant));
      continue;
    }
    group.push_back(std::move(tick));
    ++inflight_;
  }
  return group;
}

void Dispatcher::start_group(std::vector<DueTick> group) {
  for (const auto& tick : group) ++busy_regions_[tick.region->row->id];
  offloads_.claim([this, group = std::move(group)]() mutable {
    run_(std::move(group), [this](const DueTick& tick, TickReport report) {
      offloads_.loop([this, tick, report = std::move(report)] {
        if (const auto it = busy_regions_.find(tick.region->row->id);
            it != busy_regions_.end() && --it->second == 0) {
          busy_regions_.erase(it);
        }
        --inflight_;
        metrics_.set_inflight(inflight_);
        if (report.claim_again_at) {
          // Its region's previous tick still ran: it waits, unclaimed, to be claimed again.
          // After a stop it is dropped like any waiting tick.
          if (stopped_) {
            metrics_.count_tick(TickOutcome::skipped);
          } else {
            hold(tick, *report.claim_again_at);
          }
        } else if (on_finished_) {
          on_finished_(tick, report);
        }
        pump_soon();
      });
    });
  });
}

void Dispatcher::pump_soon() {
  // Ends come back one by one. Pumping after each would hand every freed slot to a group of
  // one tick: a claim statement per tick just when the replica is busiest, so that a replica
  // short of slots once stays behind. One pump after the ends already queued on the loop
  // claims their slots' ticks together.
  if (stopped_ || pump_posted_) return;
  pump_posted_ = true;
  offloads_.loop([this] {
    pump_posted_ = false;
    if (!stopped_) pump();
  });
}

std::size_t Dispatcher::reserve(std::size_t n) {
  if (stopped_) return 0;
  const auto granted =
      std::min<std::size_t>(n, concurrency_ - std::min<std::size_t>(inflight_, concurrency_));
  inflight_ += granted;
  metrics_.set_inflight(inflight_);
  return granted;
}

void Dispatcher::start_taken(std::vector<DueTick> ticks) {
  for (auto& tick : ticks) start_group({std::move(tick)});
}

void Dispatcher::release_reserved(std::size_t n) {
  inflight_ -= std::min(n, inflight_);
  metrics_.set_inflight(inflight_);
  if (!stopped_) pump();
}

std::size_t Dispatcher::stop() {
  stopped_ = true;
  const std::size_t dropped = waiting_.size() + ahead_.size() + held_.size();
  for (std::size_t i = 0; i < dropped; ++i) metrics_.count_tick(TickOutcome::skipped);
  waiting_.clear();
  ahead_.clear();
  held_.clear();
  held_instants_.clear();
  earliest_deadline_ = Millis::max();
  expiry_->cancel();
  release_->cancel();
  return dropped;
}

}  // namespace tickd
