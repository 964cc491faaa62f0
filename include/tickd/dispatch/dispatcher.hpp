#pragma once
// The concurrency cap. Due ticks enter here on the event loop; at most `concurrency`
// are in flight at once (claimed or being claimed, running, or having their end
// written). A tick that finds every slot taken waits, unclaimed, in arrival order until
// its start deadline; past that it is counted `skipped` and dropped, never run late in a
// burst. Ticks of one instant that get slots together are claimed together, in groups.
//
// Ticks handed out ahead of their instant (CLAIM_AHEAD_MS) are claimed with the slots
// that the due ticks leave free, once no tick of an earlier instant is waiting or held;
// when their instant comes they queue like any other.
//
// A tick owned by another replica is held back until its release time (its instant plus
// the claim grace) and then claimed only if its owner has not. A tick claimed ahead of
// its instant while its region's previous tick was still running is held until its
// instant and claimed again then; one whose region's overlap is buffer_one is held and
// claimed again every kBufferedRetry until the previous tick ends or its deadline passes.

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <unordered_map>

#include "tickd/dispatch/tick_runner.hpp"  // TickReport
#include "tickd/metrics/metrics.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class Dispatcher final {
 public:
  using Done = std::function<void(const DueTick&, TickReport)>;
  // Runs a group of ticks of one instant on a worker thread (TickRunner::run_group in the
  // service); calls `done` once per tick, from any thread.
  using RunGroup = std::function<void(std::vector<DueTick>, Done)>;
  // Called on the loop once a tick is done and its slot is free.
  using OnFinished = std::function<void(const DueTick&, const TickReport&)>;

  // Where the dispatcher's work runs: `claim` takes each group's RunGroup off the loop (a
  // thread pool in the service); `loop` brings each tick's end back onto the event loop,
  // where every other member function is called.
  struct Offloads {
    Offload claim;
    Offload loop;
  };

  Dispatcher(Timers& timers, Offloads offloads, RunGroup run, Metrics& metrics, const Clock& clock,
             unsigned concurrency, OnFinished on_finished);

  void submit(std::vector<DueTick> ticks);
  // A tick owned by another replica: enters the queue at `release` (with precheck set).
  void submit_later(DueTick tick, Millis release);
  // Slots for ticks taken over from a dead replica (already claimed): reserve() holds up
  // to `n` free slots and returns how many; start_taken() runs taken ticks in them;
  // release_reserved() frees those not used.
  std::size_t reserve(std::size_t n);
  void start_taken(std::vector<DueTick> ticks);
  void release_reserved(std::size_t n);
  // Stop taking ticks: the waiting and held ones are dropped (counted skipped), in-flight
  // ones finish. Returns how many were dropped.
  std::size_t stop();
  std::size_t inflight() const { return inflight_; }
  std::size_t waiting() const { return waiting_.size() + ahead_.size(); }
  std::size_t held() const { return held_.size(); }

 private:
  void pump();
  void pump_soon();  // once, after the work already queued on the loop
  void enqueue(DueTick tick);
  // The next group of `queue` to claim. From ahead_ (`ahead`), a tick whose region is busy
  // here is held until its instant instead.
  std::vector<DueTick> take_group(std::deque<DueTick>& queue, bool ahead = false);
  void start_group(std::vector<DueTick> group);
  void arm_expiry();
  void arm_release();
  void release_held();
  // Keeps `tick` out of the queue until `release`.
  void hold(DueTick tick, Millis release);

  Offloads offloads_;
  RunGroup run_;
  Metrics& metrics_;
  const Clock& clock_;
  const unsigned concurrency_;
  OnFinished on_finished_;
  std::deque<DueTick> waiting_;  // due: their instant has come
  std::deque<DueTick> ahead_;    // handed out ahead of their instant, in instant order
  std::deque<std::pair<Millis, DueTick>> held_;            // sorted by release time
  std::multiset<std::chrono::sys_seconds> held_instants_;  // the instants of held_
  std::unique_ptr<Timer> expiry_;   // the earliest deadline of a waiting tick, or an instant
  std::unique_ptr<Timer> release_;  // the release time of the first held tick
  Millis earliest_deadline_ = Millis::max();  // no later than any waiting tick's deadline
  Millis expiry_armed_for_ = Millis::max();
  std::size_t inflight_ = 0;
  // Regions with a tick handed to run_ and not yet reported done (which comes after its end
  // is recorded): how many each.
  std::unordered_map<std::int64_t, unsigned> busy_regions_;
  bool stopped_ = false;
  bool pump_posted_ = false;  // a pump_soon() is queued on the loop
};

}  // namespace tickd
