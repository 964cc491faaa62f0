#include "service.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdlib>

#include "tickd/version.hpp"

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim, mallopt: glibc extensions
#endif

namespace tickd {
namespace {

using std::chrono::milliseconds;
using Seconds = std::chrono::duration<double>;

constexpr milliseconds kMaxBackoff{10'000};
// The tick timer never sleeps longer than this, so a jump of the wall clock is noticed
// (and the next instant re-evaluated against it) within a second.
constexpr milliseconds kMaxTimerSleep{1'000};
// A notification naming more regions than this is cheaper as a full reconcile.
constexpr std::size_t kMaxScopedIds = 5'000;

unsigned worker_threads(const Config& c) { return std::clamp(c.concurrency, 1u, 64u); }

// Heartbeats (and the check for dead replicas) run this often; a replica is dead when
// its heartbeat is older than half the lease, so its running ticks are marked abandoned
// within TICK_LEASE_MS of its last heartbeat.
milliseconds liveness_interval(const Config& c) {
  return std::clamp(c.tick_lease / 4, milliseconds(100), milliseconds(1'000));
}

// tickd_db_up goes to 0 when no database round trip has succeeded for this long.
constexpr milliseconds kDbSilenceLimit{3'000};

}  // namespace

Service::Service(Config config, const Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      control_(2),
      workers_(worker_threads(config_)),
      metrics_(kVersion),
      handlers_(builtin_handlers(config_, &metrics_)),
      db_(config_.database_url, config_.db_pool_size, &metrics_),
      listener_(config_.database_listen_url.empty() ? config_.database_url
                                                    : config_.database_listen_url),
      schedule_(handlers_),
      ownership_(config_.replica_id),
      runner_(db_, handlers_, metrics_, clock_, config_, workers_, worker_threads(config_)),
      dispatcher_(
          loop_, workers_,
          [this](std::vector<DueTick> group, Dispatcher::Done done) {
            runner_.run_group(std::move(group), stop_source_.get_token(), std::move(done));
          },
          metrics_, clock_, config_.concurrency,
          [this](const DueTick& tick, const TickReport& report) {
            if (report.status) {
              schedule_.record_outcome(tick.region->row->id, tick.instant, *report.status);
            }
            if (report.status || report.outcome == TickOutcome::lost) {
              schedule_.record_claimed(tick.region->row->id, tick.instant);
            }
            if (stopping_ && dispatcher_.inflight() == 0) finish_shutdown();
          }),
      signals_(loop_, SIGINT, SIGTERM),
      tick_timer_(loop_),
      refresh_timer_(loop_),
      liveness_timer_(loop_),
      listener_retry_(loop_),
      reconcile_retry_(loop_),
      shutdown_timer_(loop_) {
#ifdef __GLIBC__
  // glibc lets its trim threshold grow to twice the largest block it has unmapped (~34 MB
  // after one full reconcile of 100,000 regions); the control threads' arenas then keep the
  // freed pages of each read (~16 MB apiece: malloc_trim never shrinks a thread arena's top).
  // A fixed threshold hands them back; large blocks stay mmapped, unmapped when freed.
  ::mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
  HttpRoutes routes;
  routes.metrics = [this] { return metrics_.serialize(); };
  routes.ready = [this] { return first_reconcile_done_ && db_up_ && !stopping_; };
  routes.status_json = [this] { return render_status_json(schedule_.status(config_.replica_id)); };
  routes.status_json_for = [this](std::string_view code) {
    return render_status_json(schedule_.status_of(config_.replica_id, code));
  };
  // /metrics reads the overdue count fresh, so an alert needs no extra timer here.
  routes.metrics = [this] {
    metrics_.set_regions_overdue(
        schedule_.overdue(Millis(std::chrono::floor<milliseconds>(clock_.wall()))));
    return metrics_.serialize();
  };
  http_ = std::make_unique<HttpServer>(loop_, config_.http_host, config_.http_port, routes);
  metrics_.set_db_up(false);
  metrics_.set_concurrency_limit(config_.concurrency);
}

Service::~Service() = default;

int Service::run() {
  spdlog::info("tickd {} starting: replica {}, database {}, http {}:{}, concurrency {}", kVersion,
               config_.replica_id, redact_database_url(config_.database_url), config_.http_host,
               http_->port(), config_.concurrency);
  signals_.async_wait([this](boost::system::error_code ec, int sig) {
    if (!ec) begin_shutdown(sig);
  });
  connect_listener();
  request_reconcile(std::nullopt);
  liveness();
  arm_refresh_timer();
  arm_tick_timer();

  loop_.run();

  if (dispatcher_.inflight() > 0) {
    // Handlers still running past the grace period: their rows are already marked
    // failed; exiting closes their connections, which ends their transactions.
    spdlog::warn("exiting with {} tick(s) still in flight", dispatcher_.inflight());
    spdlog::default_logger()->flush();
    std::_Exit(exit_status_);
  }
  workers_.join();
  control_.join();
  spdlog::info("stopped");
  return exit_status_;
}

// ---- reconcile -----------------------------------------------------------------------

void Service::request_reconcile(std::optional<std::vector<std::int64_t>> ids) {
  if (ids) {
    reconcile_pending_ids_.insert(reconcile_pending_ids_.end(), ids->begin(), ids->end());
  } else {
    reconcile_pending_full_ = true;
  }
  reconcile_pending_ = true;
  if (!reconciling_) start_reconcile();
}

void Service::start_reconcile() {
  if (stopping_ || !reconcile_pending_) return;
  reconciling_ = true;
  std::optional<std::vector<std::int64_t>> scope;
  if (!reconcile_pending_full_ && reconcile_pending_ids_.size() <= kMaxScopedIds) {
    auto ids = std::move(reconcile_pending_ids_);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    scope = std::move(ids);
  }
  reconcile_pending_ids_.clear();
  reconcile_pending_full_ = false;
  reconcile_pending_ = false;
  const auto t0 = clock_.mono();
  boost::asio::post(control_, [this, scope = std::move(scope), t0]() mutable {
    try {
      auto rows = scope ? db_.load_active_regions(*scope) : db_.load_active_regions();
      const double seconds = Seconds(clock_.mono() - t0).count();
      boost::asio::post(
          loop_, [this, scope = std::move(scope), rows = std::move(rows), seconds]() mutable {
            finish_reconcile(std::move(scope), std::move(rows), seconds);
          });
    } catch (const DbError& e) {
      const double seconds = Seconds(clock_.mono() - t0).count();
      boost::asio::post(loop_, [this, error = std::string(e.what()), seconds] {
        reconcile_failed(error, seconds);
      });
    }
  });
}

void Service::finish_reconcile(std::optional<std::vector<std::int64_t>> scope,
                               std::vector<RegionRow> rows, double seconds) {
  reconciling_ = false;
  reconcile_backoff_ = milliseconds(250);
  set_db_up(true);
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
  first_reconcile_done_ = true;
  arm_tick_timer();
  if (reconcile_pending_) start_reconcile();
}

void Service::reconcile_failed(const std::string& error, double seconds) {
  reconciling_ = false;
  metrics_.count_reconcile(false, seconds);
  spdlog::warn("reconcile failed (keeping the last known schedule; retry in {} ms): {}",
               reconcile_backoff_.count(), error);
  set_db_up(false);
  // Whatever this pass was for is redone as a full pass.
  reconcile_pending_full_ = true;
  reconcile_pending_ = true;
  reconcile_retry_.expires_after(reconcile_backoff_);
  reconcile_backoff_ = std::min(reconcile_backoff_ * 2, kMaxBackoff);
  reconcile_retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !reconciling_) start_reconcile();
  });
}

void Service::arm_refresh_timer() {
  refresh_timer_.expires_after(config_.region_refresh_interval);
  refresh_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    request_reconcile(std::nullopt);
    arm_refresh_timer();
  });
}

// ---- change notifications ------------------------------------------------------------

void Service::connect_listener() {
  if (stopping_) return;
  boost::asio::post(control_, [this] {
    try {
      listener_.connect();
      boost::asio::post(loop_, [this] {
        if (stopping_) return;
        listener_backoff_ = milliseconds(250);
        // A duplicate descriptor: Asio closes its own copy, libpq keeps the original.
        listener_socket_.emplace(loop_, ::dup(listener_.socket()));
        spdlog::info("listening for region changes");
        wait_for_notifications();
        // Anything changed while not listening is caught by a full pass.
        request_reconcile(std::nullopt);
      });
    } catch (const DbError& e) {
      boost::asio::post(loop_, [this, error = std::string(e.what())] { listener_lost(error); });
    }
  });
}

void Service::wait_for_notifications() {
  listener_socket_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                               [this](boost::system::error_code ec) {
                                 if (ec || stopping_) return;
                                 ChangeListener::Changes changes;
                                 try {
                                   changes = listener_.drain();
                                 } catch (const DbError& e) {
                                   listener_lost(e.what());
                                   return;
                                 }
                                 if (changes.unparsed) {
                                   request_reconcile(std::nullopt);
                                 } else if (!changes.ids.empty()) {
                                   request_reconcile(std::move(changes.ids));
                                 }
                                 wait_for_notifications();
                               });
}

void Service::listener_lost(const std::string& error) {
  if (stopping_) return;
  listener_socket_.reset();
  listener_.close();
  spdlog::warn("change notifications unavailable (retry in {} ms): {}", listener_backoff_.count(),
               error);
  listener_retry_.expires_after(listener_backoff_);
  listener_backoff_ = std::min(listener_backoff_ * 2, kMaxBackoff);
  listener_retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) connect_listener();
  });
}

// ---- timers --------------------------------------------------------------------------

void Service::arm_tick_timer() {
  if (stopping_) return;
  auto sleep = std::chrono::steady_clock::duration(kMaxTimerSleep);
  if (const auto earliest = schedule_.earliest()) {
    // Wake early enough to claim the owned ticks of the instant ahead of it.
    sleep = std::clamp<std::chrono::steady_clock::duration>(
        *earliest - config_.claim_ahead - clock_.wall(), {}, kMaxTimerSleep);
  }
  tick_timer_.expires_after(sleep);
  tick_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) on_tick_timer();
  });
}

void Service::on_tick_timer() {
  if (stopping_) return;
  const auto now = std::chrono::floor<milliseconds>(clock_.wall());
  auto due = schedule_.take_due(now, config_.misfire_grace, config_.claim_ahead);
  if (due.missed > 0) {
    spdlog::warn("{} tick(s) missed: already past their start deadline when due", due.missed);
    for (std::size_t i = 0; i < due.missed; ++i) metrics_.count_tick(TickOutcome::missed);
  }
  std::vector<DueTick> mine;
  mine.reserve(due.ticks.size());
  for (auto& tick : due.ticks) {
    if (ownership_.mine(tick.region->row->id)) {
      mine.push_back(std::move(tick));
      continue;
    }
    // Another live replica owns it: step in after the grace if it has not claimed it,
    // leaving at least half the start window.
    const auto window = tick.deadline - Millis(tick.instant);
    const auto grace = std::min<std::chrono::milliseconds>(config_.claim_grace, window / 2);
    const auto release = Millis(tick.instant) + grace;
    dispatcher_.submit_later(std::move(tick), release);
  }
  dispatcher_.submit(std::move(mine));
  arm_tick_timer();
}

// ---- liveness ------------------------------------------------------------------------

void Service::set_db_up(bool up) {
  if (up) last_db_contact_ = clock_.mono();
  if (up == db_up_) return;
  db_up_ = up;
  metrics_.set_db_up(up);
  if (up) {
    spdlog::info("database reachable");
  } else {
    spdlog::warn("database unreachable");
  }
}

void Service::liveness() {
  if (stopping_) return;
  if (liveness_running_) {
    // The previous round trip is still hanging (a black-holed connection).
    if (clock_.mono() - last_db_contact_ > kDbSilenceLimit) set_db_up(false);
  } else {
    liveness_running_ = true;
    boost::asio::post(control_, [this] {
      bool ok = true;
      std::size_t abandoned = 0;
      Database::Peers peers;
      try {
        runner_.clear_earlier_runs();
        db_.heartbeat(config_.replica_id);
        abandoned += db_.abandon_expired(config_.tick_lease / 2);
        peers = db_.live_replicas(config_.replica_id, config_.tick_lease / 2);
      } catch (const DbError& e) {
        ok = false;
        spdlog::debug("heartbeat failed: {}", e.what());
      }
      boost::asio::post(loop_, [this, ok, abandoned, peers = std::move(peers)] {
        liveness_running_ = false;
        set_db_up(ok);
        if (ok) {
          ownership_.set_live(peers.live);
          align_clock(peers.sent, peers.received, peers.db_clock);
        }
        if (abandoned > 0) {
          spdlog::warn("marked {} tick(s) of dead replicas abandoned", abandoned);
          for (std::size_t i = 0; i < abandoned; ++i) metrics_.count_tick(TickOutcome::abandoned);
        }
      });
    });
  }
  liveness_timer_.expires_after(liveness_interval(config_));
  liveness_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) liveness();
  });
}

void Service::align_clock(std::chrono::steady_clock::time_point sent,
                          std::chrono::steady_clock::time_point received,
                          std::chrono::system_clock::time_point db_clock) {
  // The database read its clock about halfway through the round trip.
  const auto midpoint = sent + (received - sent) / 2;
  const auto predicted =
      clock_.wall() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(clock_.mono() - midpoint);
  const auto error = db_clock - predicted;
  // Re-anchor only beyond the round trip's own uncertainty, so jitter does not move instants.
  const auto tolerance = std::max<std::chrono::system_clock::duration>(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(received - sent),
      milliseconds(5));
  // The first measurement always anchors: until then the host clock, steps and all, rules.
  if (clock_.anchored() && error < tolerance && error > -tolerance) return;
  clock_.anchor(db_clock, midpoint);
  const auto host_offset =
      db_clock -
      (clock_.base().wall() -
       std::chrono::duration_cast<std::chrono::system_clock::duration>(clock_.mono() - midpoint));
  if (std::chrono::abs(host_offset) > milliseconds(100) &&
      std::chrono::abs(error) > milliseconds(100)) {
    spdlog::warn(
        "this host's clock differs from the database's by {:.3f} s; scheduling by the "
        "database's clock",
        -std::chrono::duration<double>(host_offset).count());
  }
}

// ---- shutdown ------------------------------------------------------------------------

void Service::begin_shutdown(int sig) {
  signals_.async_wait([](boost::system::error_code ec, int second) {
    if (ec) return;
    spdlog::warn("second signal {}: exiting at once", second);
    spdlog::default_logger()->flush();
    std::_Exit(128 + second);
  });
  stopping_ = true;
  stop_source_.request_stop();
  tick_timer_.cancel();
  refresh_timer_.cancel();
  liveness_timer_.cancel();
  listener_retry_.cancel();
  reconcile_retry_.cancel();
  listener_socket_.reset();
  const auto dropped = dispatcher_.stop();
  spdlog::info("signal {}: stopping; {} waiting tick(s) dropped, {} in flight (grace {} ms)", sig,
               dropped, dispatcher_.inflight(), config_.shutdown_grace.count());
  if (dispatcher_.inflight() == 0) {
    finish_shutdown();
    return;
  }
  shutdown_timer_.expires_after(config_.shutdown_grace);
  shutdown_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) finish_shutdown();
  });
}

void Service::finish_shutdown() {
  // Once, whichever of the grace timer and the last tick comes first.
  if (shutdown_finishing_) return;
  shutdown_finishing_ = true;
  shutdown_timer_.cancel();
  boost::asio::post(control_, [this] {
    try {
      const auto reason = "shutdown: still running after SHUTDOWN_GRACE_MS=" +
                          std::to_string(config_.shutdown_grace.count());
      if (const auto n = db_.fail_own_running(config_.replica_id, reason); n > 0) {
        spdlog::warn("marked {} unfinished tick(s) failed: {}", n, reason);
      }
      db_.retire(config_.replica_id);
    } catch (const DbError& e) {
      spdlog::warn("could not record the shutdown in the database: {}", e.what());
    }
    boost::asio::post(loop_, [this] {
      listener_.close();
      http_->stop();
      loop_.stop();
    });
  });
}

}  // namespace tickd
