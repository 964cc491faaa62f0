#include "request_feed.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace tickd {

RequestFeed::RequestFeed(Offload loop, Offload offload, Database& db, TickRunner& runner,
                         std::unique_ptr<LivenessLoop::Slots> slots,
                         const HandlerRegistry& handlers, Timers& timers, Metrics& metrics,
                         std::string replica_id)
    : loop_(std::move(loop)),
      offload_(std::move(offload)),
      db_(db),
      runner_(runner),
      slots_(std::move(slots)),
      handlers_(handlers),
      metrics_(metrics),
      poll_(timers.make()),
      replica_id_(std::move(replica_id)) {}

void RequestFeed::start() { poll(); }

void RequestFeed::stop() {
  stopped_ = true;
  poll_->cancel();
}

void RequestFeed::poll() {
  if (stopped_) return;
  // Slots are reserved only once requests are known to wait: a reservation holds them from
  // the due ticks for a round trip.
  if (!looking_) {
    offload_([this] {
      bool pending = false;
      try {
        pending = db_.requests_pending();
      } catch (const DbError& e) {
        spdlog::debug("could not look for run requests: {}", e.what());
      }
      if (pending) loop_([this] { look_for_requests(); });
    });
  }
  look_for_cancels(runner_.running_ids());
  poll_->arm(kPollInterval, [this] { poll(); });
}

void RequestFeed::notified(bool requests, std::vector<std::int64_t> cancels) {
  if (stopped_) return;
  if (requests) look_for_requests();
  if (!cancels.empty()) look_for_cancels(std::move(cancels));
}

void RequestFeed::look_for_requests() {
  if (stopped_) return;
  if (looking_) {
    again_ = true;
    return;
  }
  const auto slots = slots_->reserve(kMaxBatch);
  if (slots == 0) return;  // busy: the next poll looks again
  looking_ = true;
  offload_([this, slots] {
    std::vector<Database::RequestedRun> runs;
    try {
      runs = db_.start_requests(replica_id_, slots);
    } catch (const DbError& e) {
      spdlog::warn("could not start run requests (looked for again within {} s): {}",
                   kPollInterval.count(), e.what());
    }
    for (const auto& run : runs) {
      spdlog::info("region {}: {} run {} requested by {}, starting", run.row->code, run.trigger,
                   run.run_id, run.requested_by);
    }
    auto ticks = ticks_of(std::move(runs));
    loop_([this, slots, ticks = std::move(ticks)]() mutable {
      looking_ = false;
      const bool full = ticks.size() == slots;
      slots_->release_reserved(slots - ticks.size());
      slots_->start_taken(std::move(ticks));
      if (std::exchange(again_, false) || full) look_for_requests();
    });
  });
}

std::vector<DueTick> RequestFeed::ticks_of(std::vector<Database::RequestedRun> runs) {
  std::vector<DueTick> ticks;
  std::vector<Database::Finish> refused;
  for (auto& run : runs) {
    auto valid = validate_region(*run.row, handlers_);
    if (const auto* error = std::get_if<std::string>(&valid)) {
      refused.push_back({run.run_id, run.scheduled_for, RunStatus::failed,
                         "region " + run.row->code + " cannot run: " + *error, "{}", run.attempt});
      continue;
    }
    auto& v = std::get<ValidRegion>(valid);
    // Asked for, a run starts whenever a replica gets to it: no start deadline (one far
    // off, not Millis::max(), which overflows when compared with the clock's nanoseconds).
    const auto instant = std::chrono::floor<std::chrono::seconds>(run.scheduled_for);
    DueTick tick{std::make_shared<const ScheduledRegion>(ScheduledRegion{run.row, v.expr, v.zone}),
                 instant, Millis(instant) + std::chrono::hours(24 * 365 * 100)};
    tick.run_id = run.run_id;
    tick.attempt = run.attempt;
    tick.requested = true;
    tick.fraction = run.scheduled_for - instant;
    ticks.push_back(std::move(tick));
  }
  if (!refused.empty()) {
    try {
      db_.finish_batch(refused, replica_id_);
    } catch (const DbError& e) {
      // The rows stay running under this replica: its next start takes them as an earlier
      // process's (or another replica, should this one die).
      spdlog::warn("could not end {} requested run(s) of invalid regions: {}", refused.size(),
                   e.what());
    }
    for (const auto& f : refused) spdlog::warn("run {}: {}", f.run_id, f.error.value_or(""));
  }
  return ticks;
}

void RequestFeed::take_over(std::vector<Orphan> orphans) {
  if (stopped_ || orphans.empty()) return;
  const auto slots = slots_->reserve(orphans.size());
  if (slots == 0) return;  // a later round finds them again
  orphans.resize(slots);
  offload_([this, slots, orphans = std::move(orphans)] {
    std::vector<Database::RequestedRun> runs;
    try {
      const auto taken = db_.take_over(orphans, replica_id_);
      std::vector<std::int64_t> region_ids;
      for (const auto& o : orphans) region_ids.push_back(o.region_id);
      const auto rows = db_.load_regions(region_ids);
      for (const auto& o : orphans) {
        const auto t = std::find_if(taken.begin(), taken.end(),
                                    [&](const RunRef& r) { return r.run_id == o.run_id; });
        const auto row = std::find_if(rows.begin(), rows.end(),
                                      [&](const RegionRow& r) { return r.id == o.region_id; });
        if (t == taken.end() || row == rows.end()) continue;  // taken or ended by another
        spdlog::warn(
            "region {}: requested run {} taken over from replica {}: running it again, "
            "attempt {}",
            row->code, o.run_id, o.replica_id, t->attempt);
        metrics_.count_rerun();
        Database::RequestedRun run;
        run.run_id = o.run_id;
        run.row = std::make_shared<const RegionRow>(*row);
        run.scheduled_for = o.scheduled_for + o.fraction;
        run.attempt = t->attempt;
        runs.push_back(std::move(run));
      }
    } catch (const DbError& e) {
      spdlog::warn("could not take over {} requested run(s) (retried next round): {}",
                   orphans.size(), e.what());
    }
    auto ticks = ticks_of(std::move(runs));
    loop_([this, slots, ticks = std::move(ticks)]() mutable {
      slots_->release_reserved(slots - ticks.size());
      slots_->start_taken(std::move(ticks));
    });
  });
}

void RequestFeed::look_for_cancels(std::vector<std::int64_t> run_ids) {
  if (run_ids.empty() || stopped_) return;
  offload_([this, run_ids = std::move(run_ids)] {
    try {
      for (const auto& [run_id, by] : db_.cancels_requested(run_ids)) {
        if (runner_.cancel(run_id, by)) {
          spdlog::info("run {}: cancel asked by {}: stopping it", run_id, by);
        }
      }
    } catch (const DbError& e) {
      spdlog::debug("could not look for cancels: {}", e.what());
    }
  });
}

}  // namespace tickd
