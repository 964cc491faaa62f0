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
using Ms = std::chrono::duration<double, std::milli>;

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
  Pass pass{.full = !scope, .t0 = clock_.mono()};
  if (!scope && read_versions_ && schedule_.known().size() > 0) {
    read_versions(pass);
  } else {
    read_rows(std::move(scope), pass);
  }
}

void ReconcileLoop::read_rows(Scope scope, Pass pass) {
  offload_([this, scope = std::move(scope), pass]() mutable {
    try {
      const auto from = clock_.mono();
      auto rows = read_(scope);
      pass.read += clock_.mono() - from;
      boost::asio::post(loop_,
                        [this, scope = std::move(scope), rows = std::move(rows), pass]() mutable {
                          finish(std::move(scope), std::move(rows), pass);
                        });
    } catch (const DbError& e) {
      fail_later(e.what(), pass);
    }
  });
}

void ReconcileLoop::read_versions(Pass pass) {
  offload_([this, pass]() mutable {
    try {
      auto versions = read_versions_();
      pass.read = clock_.mono() - pass.t0;
      boost::asio::post(loop_, [this, versions = std::move(versions), pass]() mutable {
        compare(std::move(versions), pass);
      });
    } catch (const DbError& e) {
      fail_later(e.what(), pass);
    }
  });
}

void ReconcileLoop::compare(std::vector<RegionVersion> versions, Pass pass) {
  const auto from = clock_.mono();
  auto stale = stale_ids(schedule_.known(), versions);
  pass.versions = versions.size();
  versions = {};
  pass.compared = clock_.mono() - from;
  if (stale.size() > kMaxScopedIds) {
    read_rows(std::nullopt, pass);
  } else if (!stale.empty()) {
    read_rows(std::move(stale), pass);
  } else {
    // Nothing changed: no row to read, no region touched.
    finish(std::vector<std::int64_t>{}, {}, pass);
  }
}

void ReconcileLoop::fail_later(const std::string& error, Pass pass) {
  const double seconds = Seconds(clock_.mono() - pass.t0).count();
  boost::asio::post(loop_, [this, error, seconds] { failed(error, seconds); });
}

void ReconcileLoop::finish(Scope scope, std::vector<RegionRow> rows, Pass pass) {
  reconciling_ = false;
  const auto diff_from = clock_.mono();
  backoff_ = milliseconds(250);
  db_.set(true);
  const auto read_rows = rows.size();
  // The rows move into the plan, and from it into the schedule: no copy of them at the peak.
  auto plan = plan_reconcile(schedule_.known(), std::move(rows), scope);
  const bool changed = !plan.empty();
  const auto result =
      schedule_.apply(std::move(plan), Millis(std::chrono::floor<milliseconds>(clock_.wall())));
  for (const auto& bad : result.newly_invalid) {
    spdlog::warn("region {}: not scheduled until fixed: {}", bad.code, bad.error);
  }
  if (changed) {
    spdlog::info(
        "reconciled ({}): {} added, {} replaced, {} updated, {} removed; {} scheduled, {} invalid",
        pass.full ? "full" : "changes", result.added, result.replaced, result.updated,
        result.removed, schedule_.scheduled_count(), schedule_.invalid_count());
  }
  metrics_.set_schedules(schedule_.scheduled_count());
  metrics_.set_invalid_schedules(schedule_.invalid_count());
  metrics_.set_paused_schedules(schedule_.paused_count());
  metrics_.count_rearmed(result.armed);
  // The whole pass, diff and apply included: at a million regions they are a large part.
  const auto done = clock_.mono();
  metrics_.count_reconcile(true, Seconds(done - pass.t0).count());
  spdlog::debug(
      "reconcile ({}): {}{} rows read in {:.1f} ms, diffed and applied in {:.1f} ms; {} re-armed",
      pass.full ? "full" : "changes",
      pass.versions > 0 ? fmt::format("{} versions, ", pass.versions) : std::string(), read_rows,
      Ms(pass.read).count(), Ms(pass.compared + (done - diff_from)).count(), result.armed);
  if (read_rows >= 10'000) {
    // The rows just read (and libpq's copy of them) were freed, but glibc keeps the pages;
    // hand them back so RSS reflects the schedule, not the last big read. (The rows and the
    // plan were moved into the schedule and freed by now: pages still in use when
    // malloc_trim runs stay resident.)
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
