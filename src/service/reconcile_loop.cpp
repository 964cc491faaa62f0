#include "reconcile_loop.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "tickd/db/database.hpp"
#include "tickd/schedule/reconcile.hpp"

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim: a glibc extension
#endif

namespace tickd {
namespace {

using std::chrono::milliseconds;
using Seconds = std::chrono::duration<double>;

constexpr milliseconds kMaxBackoff{10'000};

}  // namespace

ReconcileLoop::ReconcileLoop(boost::asio::io_context& loop, Offload offload, Read read,
                             Timers& timers, const Clock& clock, Schedule& schedule,
                             Metrics& metrics, DbHealth& db, std::function<void()> applied,
                             Settings settings)
    : loop_(loop),
      offload_(std::move(offload)),
      read_(std::move(read)),
      clock_(clock),
      schedule_(schedule),
      metrics_(metrics),
      db_(db),
      applied_(std::move(applied)),
      settings_(settings),
      refresh_(timers.make()),
      retry_(timers.make()) {}

void ReconcileLoop::start() {
  request(std::nullopt);
  arm_refresh();
}

void ReconcileLoop::stop() {
  stopped_ = true;
  refresh_->cancel();
  retry_->cancel();
}

void ReconcileLoop::request(Scope ids) {
  if (ids) {
    pending_ids_.insert(pending_ids_.end(), ids->begin(), ids->end());
  } else {
    pending_full_ = true;
  }
  pending_ = true;
  if (!reconciling_) start_pass();
}

void ReconcileLoop::start_pass() {
  if (stopped_ || !pending_) return;
  reconciling_ = true;
  Scope scope;
  if (!pending_full_ && pending_ids_.size() <= kMaxScopedIds) {
    auto ids = std::move(pending_ids_);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    scope = std::move(ids);
  }
  pending_ids_.clear();
  pending_full_ = false;
  pending_ = false;
  const auto t0 = clock_.mono();
  offload_([this, scope = std::move(scope), t0]() mutable {
    try {
      auto rows = read_(scope);
      const double seconds = Seconds(clock_.mono() - t0).count();
      boost::asio::post(
          loop_, [this, scope = std::move(scope), rows = std::move(rows), seconds]() mutable {
            finish(std::move(scope), std::move(rows), seconds);
          });
    } catch (const DbError& e) {
      const double seconds = Seconds(clock_.mono() - t0).count();
      boost::asio::post(loop_,
                        [this, error = std::string(e.what()), seconds] { failed(error, seconds); });
    }
  });
}

void ReconcileLoop::finish(Scope scope, std::vector<RegionRow> rows, double seconds) {
  reconciling_ = false;
  backoff_ = milliseconds(250);
  db_.set(true);
  auto plan = plan_reconcile(schedule_.known(), rows, scope);
  const auto result =
      schedule_.apply(plan, Millis(std::chrono::floor<milliseconds>(clock_.wall())));
  for (const auto& bad : result.newly_invalid) {
    spdlog::warn("region {}: not scheduled until fixed: {}", bad.code, bad.error);
  }
  if (!plan.empty()) {
    spdlog::info(
        "reconciled ({}): {} added, {} replaced, {} updated, {} removed; {} scheduled, {} invalid",
        scope ? "changes" : "full", result.added, result.replaced, result.updated, result.removed,
        schedule_.scheduled_count(), schedule_.invalid_count());
  }
  metrics_.set_schedules(schedule_.scheduled_count());
  metrics_.set_invalid_schedules(schedule_.invalid_count());
  metrics_.set_paused_schedules(schedule_.paused_count());
  metrics_.count_reconcile(true, seconds);
  if (rows.size() >= 10'000) {
    // The rows just read (and libpq's copy of them) were freed, but glibc keeps the pages;
    // hand them back so RSS reflects the schedule, not the last big read. The plan's copies
    // go first: pages still in use when malloc_trim runs stay resident.
    rows = {};
    plan = {};
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
  }
  first_done_ = true;
  applied_();
  if (pending_) start_pass();
}

void ReconcileLoop::failed(const std::string& error, double seconds) {
  reconciling_ = false;
  metrics_.count_reconcile(false, seconds);
  spdlog::warn("reconcile failed (keeping the last known schedule; retry in {} ms): {}",
               backoff_.count(), error);
  db_.set(false);
  // Whatever this pass was for is redone as a full pass.
  pending_full_ = true;
  pending_ = true;
  retry_->arm(backoff_, [this] {
    if (!reconciling_) start_pass();
  });
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

void ReconcileLoop::arm_refresh() {
  refresh_->arm(settings_.refresh_interval, [this] {
    if (stopped_) return;
    request(std::nullopt);
    arm_refresh();
  });
}

}  // namespace tickd
