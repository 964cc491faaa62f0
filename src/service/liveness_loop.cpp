#include "liveness_loop.hpp"

#include <date/date.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "tickd/dispatch/dispatcher.hpp"

namespace tickd {
namespace {

using std::chrono::milliseconds;

// A check for rows of replicas that left no heartbeat row (a costlier scan) every this
// many rounds.
constexpr std::uint64_t kUnregisteredEvery = 16;
// A re-run must be able to start before its deadline once the takeover's write is back.
constexpr milliseconds kTakeoverMargin{100};
// tickd_db_up goes to 0 when no database round trip has succeeded for this long.
constexpr milliseconds kDbSilenceLimit{3'000};

class DatabaseStore final : public LivenessLoop::Store {
 public:
  explicit DatabaseStore(Database& db) : db_(db) {}
  Database::LivenessResult liveness_round(const Database::LivenessRound& round) override {
    return db_.liveness_round(round);
  }
  std::vector<RunRef> take_over(const std::vector<Orphan>& orphans,
                                const std::string& replica_id) override {
    return db_.take_over(orphans, replica_id);
  }
  std::size_t abandon(const std::vector<Orphan>& orphans,
                      const std::vector<std::string>& errors) override {
    return db_.abandon(orphans, errors);
  }

 private:
  Database& db_;
};

class DispatcherSlots final : public LivenessLoop::Slots {
 public:
  explicit DispatcherSlots(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  std::size_t reserve(std::size_t n) override { return dispatcher_.reserve(n); }
  void release_reserved(std::size_t n) override { dispatcher_.release_reserved(n); }
  void start_taken(std::vector<DueTick> ticks) override {
    dispatcher_.start_taken(std::move(ticks));
  }

 private:
  Dispatcher& dispatcher_;
};

}  // namespace

std::unique_ptr<LivenessLoop::Store> liveness_store(Database& db) {
  return std::make_unique<DatabaseStore>(db);
}

std::unique_ptr<LivenessLoop::Slots> takeover_slots(Dispatcher& dispatcher) {
  return std::make_unique<DispatcherSlots>(dispatcher);
}

milliseconds liveness_interval(milliseconds tick_lease) {
  return std::clamp(tick_lease / 8, milliseconds(50), milliseconds(250));
}

milliseconds crash_silence(milliseconds tick_lease) {
  return liveness_interval(tick_lease) * 3 / 2;
}

milliseconds witness_gap(milliseconds tick_lease) {
  return std::max(2 * liveness_interval(tick_lease),
                  tick_lease / 2 - liveness_interval(tick_lease) - milliseconds(150));
}

std::optional<ClockAnchor> align_clock(const std::optional<ClockAnchor>& current,
                                       std::chrono::steady_clock::time_point sent,
                                       std::chrono::steady_clock::time_point received,
                                       std::chrono::system_clock::time_point db_clock) {
  // The database read its clock about halfway through the round trip.
  const auto midpoint = sent + (received - sent) / 2;
  // The first measurement always anchors: until then the host clock, steps and all, rules.
  if (!current) return ClockAnchor{db_clock, midpoint};
  const auto error = db_clock - current->wall_at(midpoint);
  // Re-anchor only beyond the round trip's own uncertainty, so jitter does not move instants.
  const auto tolerance = std::max<std::chrono::system_clock::duration>(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(received - sent),
      milliseconds(5));
  if (error < tolerance && error > -tolerance) return std::nullopt;
  return ClockAnchor{db_clock, midpoint};
}

LivenessLoop::LivenessLoop(boost::asio::io_context& loop, Offload offload,
                           std::unique_ptr<Store> store, TickRunner& runner,
                           std::unique_ptr<Slots> slots, const Schedule& schedule,
                           Ownership& ownership, AnchoredClock& clock, Metrics& metrics,
                           DbHealth& db, std::function<bool()> schedule_known, Timers& timers,
                           Settings settings)
    : loop_(loop),
      offload_(std::move(offload)),
      store_(std::move(store)),
      runner_(runner),
      slots_(std::move(slots)),
      schedule_(schedule),
      ownership_(ownership),
      clock_(clock),
      metrics_(metrics),
      db_(db),
      schedule_known_(std::move(schedule_known)),
      settings_(std::move(settings)),
      timer_(timers.make()),
      witness_(witness_gap(settings_.tick_lease)) {
  // Claims pause a round before the others could judge this replica dead by the lease.
  runner_.set_claims_stale_after(settings_.tick_lease / 2 -
                                 liveness_interval(settings_.tick_lease));
}

void LivenessLoop::start() { round(); }

void LivenessLoop::stop_taking_over() { taking_over_ = false; }

void LivenessLoop::stop() {
  stopped_ = true;
  taking_over_ = false;
  timer_->cancel();
}

void LivenessLoop::round() {
  if (stopped_) return;
  if (running_) {
    // The previous round trip is still hanging (a black-holed connection).
    if (clock_.mono() - db_.last_contact() > kDbSilenceLimit) db_.set(false);
  } else {
    running_ = true;
    const auto began = clock_.mono();
    Database::LivenessRound round;
    round.replica_id = settings_.replica_id;
    round.crash_silence = crash_silence(settings_.tick_lease);
    round.lease = settings_.tick_lease / 2;
    round.witnessed_since = witness_.since(began);
    round.check_unregistered = ++rounds_ % kUnregisteredEvery == 0;
    const bool earlier_runs = earlier_runs_pending_ && schedule_known_();
    offload_([this, round = std::move(round), began, earlier_runs]() mutable {
      bool ok = true;
      Database::LivenessResult result;
      auto ended = began;
      auto in_doubt = runner_.take_in_doubt();
      try {
        const auto incarnation = runner_.begin_incarnation();
        if (earlier_runs) round.incarnation = incarnation;
        round.in_doubt = in_doubt;
        result = store_->liveness_round(round);
        ended = clock_.mono();
      } catch (const DbError& e) {
        ok = false;
        runner_.restore_in_doubt(std::move(in_doubt));
        // Unreachable shows as tickd_db_up 0 (logged once); anything else is a bug to see.
        if (e.unavailable()) {
          spdlog::debug("liveness round failed: {}", e.what());
        } else {
          spdlog::warn("liveness round failed: {}", e.what());
        }
      }
      boost::asio::post(
          loop_, [this, ok, began, ended, earlier_runs, result = std::move(result)]() mutable {
            round_done(ok, began, ended, earlier_runs, std::move(result));
          });
    });
  }
  timer_->arm(liveness_interval(settings_.tick_lease), [this] { round(); });
}

void LivenessLoop::round_done(bool ok, std::chrono::steady_clock::time_point began,
                              std::chrono::steady_clock::time_point ended,
                              bool looked_for_earlier_runs, Database::LivenessResult result) {
  running_ = false;
  db_.set(ok);
  if (!ok) {
    witness_.failed();
    return;
  }
  witness_.succeeded(began, ended, result.peers.db_clock);
  runner_.heartbeat_renewed(ended);
  ownership_.set_live(result.peers.live);
  align(result.peers.sent, result.peers.received, result.peers.db_clock);
  if (looked_for_earlier_runs &&
      std::none_of(result.orphans.begin(), result.orphans.end(),
                   [](const Orphan& o) { return o.cause == OrphanCause::earlier_run; })) {
    earlier_runs_pending_ = false;
  }
  // Before the first reconcile nothing is known of the regions: leave orphans to a later
  // round (nothing claimed here yet, so none of them is in doubt).
  if (!result.orphans.empty() && schedule_known_() && taking_over_) {
    take_over(std::move(result.orphans));
  }
}

void LivenessLoop::restore_in_doubt(const std::vector<Orphan>& orphans) {
  // Found through the in-doubt list only, so looked for again only if listed again.
  std::vector<TickRunner::TickKey> keys;
  for (const auto& o : orphans) {
    if (o.cause == OrphanCause::in_doubt) keys.emplace_back(o.region_id, o.scheduled_for);
  }
  runner_.restore_in_doubt(std::move(keys));
}

void LivenessLoop::take_over(std::vector<Orphan> orphans) {
  if (requested_orphans_) {
    std::vector<Orphan> requested;
    std::erase_if(orphans, [&](Orphan& o) {
      if (!o.requested) return false;
      requested.push_back(std::move(o));
      return true;
    });
    if (!requested.empty()) requested_orphans_(std::move(requested));
    if (orphans.empty()) return;
  }
  const auto now = std::chrono::floor<milliseconds>(clock_.wall());
  const auto reserved = slots_->reserve(orphans.size());
  std::vector<Orphan> rerun, ended;
  std::vector<DueTick> ticks;
  std::vector<std::string> errors;
  std::vector<TickRunner::TickKey> still_in_doubt;  // left for a later round
  for (auto& o : orphans) {
    auto tick = schedule_.tick_of(o.region_id, o.scheduled_for, settings_.misfire_grace, o.attempt);
    const TakeoverInputs inputs{tick.has_value(), tick ? tick->deadline : Millis{},
                                now + kTakeoverMargin, rerun.size() < reserved,
                                !tick || o.attempt < tick->region->row->policy.max_attempts ||
                                    schedule_.handlers().repeatable(*tick->region->row)};
    const auto decision = decide_takeover(inputs);
    if (decision == Takeover::rerun) {
      ticks.push_back(std::move(*tick));
      rerun.push_back(std::move(o));
    } else if (decision == Takeover::abandon) {
      errors.push_back(abandon_reason(o, inputs));
      ended.push_back(std::move(o));
    } else if (o.cause == OrphanCause::in_doubt) {
      still_in_doubt.emplace_back(o.region_id, o.scheduled_for);
    }
  }
  runner_.restore_in_doubt(std::move(still_in_doubt));
  slots_->release_reserved(reserved - rerun.size());
  if (rerun.empty() && ended.empty()) return;
  offload_([this, rerun = std::move(rerun), ended = std::move(ended), ticks = std::move(ticks),
            errors = std::move(errors)]() mutable {
    std::vector<RunRef> taken;
    std::size_t abandoned = 0;
    try {
      taken = store_->take_over(rerun, settings_.replica_id);
    } catch (const DbError& e) {
      spdlog::warn("could not take over {} tick(s) (retried next round): {}", rerun.size(),
                   e.what());
      restore_in_doubt(rerun);
    }
    try {
      abandoned = store_->abandon(ended, errors);
    } catch (const DbError& e) {
      spdlog::warn("could not mark {} tick(s) abandoned (retried next round): {}", ended.size(),
                   e.what());
      restore_in_doubt(ended);
    }
    boost::asio::post(loop_, [this, rerun = std::move(rerun), ticks = std::move(ticks),
                              taken = std::move(taken), abandoned]() mutable {
      std::vector<DueTick> runs;
      for (std::size_t i = 0; i < rerun.size(); ++i) {
        const auto it = std::find_if(taken.begin(), taken.end(),
                                     [&](const RunRef& r) { return r.run_id == rerun[i].run_id; });
        if (it == taken.end()) continue;  // someone else took it, or it ended meanwhile
        spdlog::warn(
            "region {}: tick {} taken over from replica {} ({}): running it again, "
            "attempt {}",
            ticks[i].region->row->code, date::format("%FT%TZ", ticks[i].instant),
            rerun[i].replica_id, to_string(rerun[i].cause), it->attempt);
        ticks[i].run_id = it->run_id;
        ticks[i].attempt = it->attempt;
        metrics_.count_rerun();
        runs.push_back(std::move(ticks[i]));
      }
      slots_->release_reserved(rerun.size() - runs.size());
      slots_->start_taken(std::move(runs));
      if (abandoned > 0) {
        spdlog::warn("marked {} tick(s) of dead replicas abandoned", abandoned);
        for (std::size_t i = 0; i < abandoned; ++i) metrics_.count_tick(TickOutcome::abandoned);
      }
    });
  });
}

void LivenessLoop::align(std::chrono::steady_clock::time_point sent,
                         std::chrono::steady_clock::time_point received,
                         std::chrono::system_clock::time_point db_clock) {
  const auto current = clock_.last_anchor();
  const auto anchor = align_clock(current, sent, received, db_clock);
  if (!anchor) return;
  clock_.anchor(anchor->reference, anchor->at);
  // This host's own clock at the midpoint, and what this replica's clock predicted there
  // (the host's before the first anchor): warn when both are far off.
  const auto host =
      clock_.base().wall() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(clock_.mono() - anchor->at);
  const auto host_offset = db_clock - host;
  const auto error = current ? db_clock - current->wall_at(anchor->at) : host_offset;
  if (std::chrono::abs(host_offset) > milliseconds(100) &&
      std::chrono::abs(error) > milliseconds(100)) {
    spdlog::warn(
        "this host's clock differs from the database's by {:.3f} s; scheduling by the "
        "database's clock",
        -std::chrono::duration<double>(host_offset).count());
  }
}

}  // namespace tickd
