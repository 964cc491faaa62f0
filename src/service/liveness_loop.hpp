#pragma once
// The liveness rounds (liveness.hpp) and what follows from them, on a thread of their own:
// every liveness_interval() a round renews this replica's heartbeat, judges the others and
// lists the orphaned rows; on the loop its result then renews the claims' heartbeat,
// routes ownership over the live replicas, re-anchors the clock to the database's
// (align_clock) and hands the orphans to the takeover, which runs each again (attempt + 1)
// in a reserved slot while it can still start, or ends it `abandoned`. A round still
// hanging is not doubled; the database counts as down once nothing has reached it for 3 s.
// Lives on the event loop; database work runs through `offload` (one thread: rounds and
// takeovers in turn).

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "db_health.hpp"
#include "tickd/db/database.hpp"
#include "tickd/dispatch/liveness.hpp"
#include "tickd/dispatch/ownership.hpp"
#include "tickd/dispatch/tick_runner.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class Dispatcher;

// Liveness rounds (heartbeat, judging the others, takeover) run this often. A crashed
// replica (its session gone) is convicted once its heartbeat is 1.5 rounds old, so its
// rows are taken over within about two and a half rounds of the crash; a frozen or partitioned one
// once its heartbeat is older than half the lease, within TICK_LEASE_MS of its last one.
std::chrono::milliseconds liveness_interval(std::chrono::milliseconds tick_lease);
std::chrono::milliseconds crash_silence(std::chrono::milliseconds tick_lease);
// The longest gap between liveness rounds that keeps this replica's view of the database
// unbroken. An outage hidden in a gap leaves another replica silent for about the gap plus
// its own next round and reconnect; that must stay under the lease (TICK_LEASE_MS/2) with
// room to spare, or a live replica could be convicted for the database's outage.
std::chrono::milliseconds witness_gap(std::chrono::milliseconds tick_lease);

// The clock's anchor after a round trip sent at `sent` and answered at `received`
// (monotonic) during which the database's clock read `db_clock`; `current` is the anchor
// the clock follows now (nullopt before the first). Returns the anchor to take, or nullopt
// to keep `current`: a prediction within the round trip's own uncertainty (at least 5 ms)
// keeps it, so that jitter does not move instants.
std::optional<ClockAnchor> align_clock(const std::optional<ClockAnchor>& current,
                                       std::chrono::steady_clock::time_point sent,
                                       std::chrono::steady_clock::time_point received,
                                       std::chrono::system_clock::time_point db_clock);

class LivenessLoop final {
 public:
  // What a round and a takeover ask of the database (Database in production). Blocking,
  // thread-safe; throw DbError.
  class Store {
   public:
    virtual ~Store() = default;
    virtual Database::LivenessResult liveness_round(const Database::LivenessRound& round) = 0;
    virtual std::vector<RunRef> take_over(const std::vector<Orphan>& orphans,
                                          const std::string& replica_id) = 0;
    virtual std::size_t abandon(const std::vector<Orphan>& orphans,
                                const std::vector<std::string>& errors) = 0;
  };
  // The slots taken-over ticks run in (Dispatcher in production; see its reserve()).
  class Slots {
   public:
    virtual ~Slots() = default;
    virtual std::size_t reserve(std::size_t n) = 0;
    virtual void release_reserved(std::size_t n) = 0;
    virtual void start_taken(std::vector<DueTick> ticks) = 0;
  };

  struct Settings {
    std::string replica_id;
    std::chrono::milliseconds tick_lease{10'000};     // TICK_LEASE_MS
    std::chrono::milliseconds misfire_grace{60'000};  // MISFIRE_GRACE_MS
  };

  // `schedule_known` says whether a reconcile has succeeded: before it, nothing is known of
  // the regions, so neither earlier runs nor orphans are looked at. Sets how stale the
  // runner's heartbeat may get before claims pause.
  LivenessLoop(boost::asio::io_context& loop, Offload offload, std::unique_ptr<Store> store,
               TickRunner& runner, std::unique_ptr<Slots> slots, const Schedule& schedule,
               Ownership& ownership, AnchoredClock& clock, Metrics& metrics, DbHealth& db,
               std::function<bool()> schedule_known, Timers& timers, Settings settings);

  void start();  // the first round now, then one every liveness_interval()
  // From a shutdown's start: rounds go on, so the heartbeat keeps this replica alive while
  // its ticks in flight finish (others would otherwise convict it by the lease and run them
  // again), but nothing is taken over: this replica runs no new tick.
  void stop_taking_over();
  void stop();  // no round or takeover starts after this
  // Orphans that are manual or backfill runs go here (RequestFeed::take_over), not to the
  // schedule: their regions may be paused or inactive, and they have no start deadline.
  void on_requested_orphans(std::function<void(std::vector<Orphan>)> f) {
    requested_orphans_ = std::move(f);
  }

 private:
  void round();
  void round_done(bool ok, std::chrono::steady_clock::time_point began,
                  std::chrono::steady_clock::time_point ended, bool looked_for_earlier_runs,
                  Database::LivenessResult result);
  // Orphans of dead replicas: run again (attempt + 1) what can still start, end the rest.
  void take_over(std::vector<Orphan> orphans);
  void restore_in_doubt(const std::vector<Orphan>& orphans);  // thread-safe
  void align(std::chrono::steady_clock::time_point sent,
             std::chrono::steady_clock::time_point received,
             std::chrono::system_clock::time_point db_clock);

  boost::asio::io_context& loop_;
  Offload offload_;
  std::unique_ptr<Store> store_;
  TickRunner& runner_;
  std::unique_ptr<Slots> slots_;
  const Schedule& schedule_;
  Ownership& ownership_;
  AnchoredClock& clock_;
  Metrics& metrics_;
  DbHealth& db_;
  std::function<bool()> schedule_known_;
  std::function<void(std::vector<Orphan>)> requested_orphans_;
  const Settings settings_;
  std::unique_ptr<Timer> timer_;

  bool running_ = false;
  bool taking_over_ = true;
  bool stopped_ = false;
  Witness witness_;
  std::uint64_t rounds_ = 0;
  bool earlier_runs_pending_ = true;  // rows of an earlier process of this id may remain
};

// The Store and Slots of production.
std::unique_ptr<LivenessLoop::Store> liveness_store(Database& db);
std::unique_ptr<LivenessLoop::Slots> takeover_slots(Dispatcher& dispatcher);

}  // namespace tickd
