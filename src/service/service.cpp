#include "service.hpp"

#include <date/date.h>
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
// How often the tick timer looks again while the database's clock is not known yet.
constexpr milliseconds kUnanchoredRetry{20};
// A notification naming more regions than this is cheaper as a full reconcile.
constexpr std::size_t kMaxScopedIds = 5'000;

unsigned worker_threads(const Config& c) { return std::clamp(c.concurrency, 1u, 64u); }
// Claims run in batches per instant; two threads let one instant's claim proceed while
// another's waits on the database (the bookkeeping pool has four connections).
constexpr unsigned kClaimThreads = 2;

// Liveness rounds (heartbeat, judging the others, takeover) run this often. A crashed
// replica (its session gone) is convicted once its heartbeat is 1.5 rounds old, so its
// rows are taken over within about two and a half rounds of the crash; a frozen or partitioned one
// once its heartbeat is older than half the lease, within TICK_LEASE_MS of its last one.
milliseconds liveness_interval(const Config& c) {
  return std::clamp(c.tick_lease / 8, milliseconds(50), milliseconds(250));
}
milliseconds crash_silence(const Config& c) { return liveness_interval(c) * 3 / 2; }
// The longest gap between liveness rounds that keeps this replica's view of the database
// unbroken. An outage hidden in a gap leaves another replica silent for about the gap plus
// its own next round and reconnect; that must stay under the lease (TICK_LEASE_MS/2) with
// room to spare, or a live replica could be convicted for the database's outage.
milliseconds witness_gap(const Config& c) {
  return std::max(2 * liveness_interval(c),
                  c.tick_lease / 2 - liveness_interval(c) - milliseconds(150));
}
// A check for rows of replicas that left no heartbeat row (a costlier scan) every this
// many rounds.
constexpr std::uint64_t kUnregisteredEvery = 16;
// A re-run must be able to start before its deadline once the takeover's write is back.
constexpr milliseconds kTakeoverMargin{100};

// tickd_db_up goes to 0 when no database round trip has succeeded for this long.
constexpr milliseconds kDbSilenceLimit{3'000};

}  // namespace

Service::Service(Config config, const Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      control_(2),
      liveness_thread_(1),
      claimers_(kClaimThreads),
      workers_(worker_threads(config_)),
      metrics_(kVersion),
      handlers_(builtin_handlers(config_, &metrics_)),
      db_(config_.database_url, config_.db_pool_size, &metrics_),
      listener_(
          config_.database_listen_url.empty() ? config_.database_url : config_.database_listen_url,
          config_.replica_id),
      schedule_(handlers_),
      ownership_(config_.replica_id),
      runner_(db_, handlers_, metrics_, clock_, config_, workers_, worker_threads(config_)),
      dispatcher_(
          loop_, claimers_,
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
      shutdown_timer_(loop_),
      witness_(witness_gap(config_)) {
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
  // Claims pause a round before the others could judge this replica dead by the lease.
  runner_.set_claims_stale_after(config_.tick_lease / 2 - liveness_interval(config_));
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
  liveness_thread_.join();
  claimers_.join();
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
  listener_waiting_ = true;
  listener_retry_.async_wait([this](boost::system::error_code ec) {
    if (ec || !listener_waiting_) return;
    listener_waiting_ = false;
    connect_listener();
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
  if (!clock_.anchored()) {
    // This host's clock may be off by seconds: nothing is due before the database's clock
    // is known (the first liveness round). Instants that pass meanwhile are decided then,
    // as misfires.
    tick_timer_.expires_after(kUnanchoredRetry);
    tick_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) on_tick_timer();
    });
    return;
  }
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
    if (listener_waiting_) {
      // The database is back (a restart, a failover): listen again now, not after the
      // backoff, so that changes apply within a second again.
      listener_waiting_ = false;
      listener_retry_.cancel();
      listener_backoff_ = milliseconds(250);
      connect_listener();
    }
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
    const auto began = clock_.mono();
    Database::LivenessRound round;
    round.replica_id = config_.replica_id;
    round.crash_silence = crash_silence(config_);
    round.lease = config_.tick_lease / 2;
    round.witnessed_since = witness_.since(began);
    round.check_unregistered = ++liveness_rounds_ % kUnregisteredEvery == 0;
    const bool earlier_runs = earlier_runs_pending_ && first_reconcile_done_;
    boost::asio::post(
        liveness_thread_, [this, round = std::move(round), began, earlier_runs]() mutable {
          bool ok = true;
          Database::LivenessResult result;
          auto ended = began;
          auto in_doubt = runner_.take_in_doubt();
          try {
            const auto incarnation = runner_.begin_incarnation();
            if (earlier_runs) round.incarnation = incarnation;
            round.in_doubt = in_doubt;
            result = db_.liveness_round(round);
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
                liveness_done(ok, began, ended, earlier_runs, std::move(result));
              });
        });
  }
  liveness_timer_.expires_after(liveness_interval(config_));
  liveness_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) liveness();
  });
}

void Service::liveness_done(bool ok, std::chrono::steady_clock::time_point began,
                            std::chrono::steady_clock::time_point ended,
                            bool looked_for_earlier_runs, Database::LivenessResult result) {
  liveness_running_ = false;
  set_db_up(ok);
  if (!ok) {
    witness_.failed();
    return;
  }
  witness_.succeeded(began, ended, result.peers.db_clock);
  runner_.heartbeat_renewed(ended);
  ownership_.set_live(result.peers.live);
  align_clock(result.peers.sent, result.peers.received, result.peers.db_clock);
  if (looked_for_earlier_runs &&
      std::none_of(result.orphans.begin(), result.orphans.end(),
                   [](const Orphan& o) { return o.cause == OrphanCause::earlier_run; })) {
    earlier_runs_pending_ = false;
  }
  // Before the first reconcile nothing is known of the regions: leave orphans to a later
  // round (nothing claimed here yet, so none of them is in doubt).
  if (!result.orphans.empty() && first_reconcile_done_ && !stopping_) {
    take_over(std::move(result.orphans));
  }
}

void Service::restore_in_doubt(const std::vector<Orphan>& orphans) {
  // Found through the in-doubt list only, so looked for again only if listed again.
  std::vector<TickRunner::TickKey> keys;
  for (const auto& o : orphans) {
    if (o.cause == OrphanCause::in_doubt) keys.emplace_back(o.region_id, o.scheduled_for);
  }
  runner_.restore_in_doubt(std::move(keys));
}

void Service::take_over(std::vector<Orphan> orphans) {
  const auto now = std::chrono::floor<milliseconds>(clock_.wall());
  const auto reserved = dispatcher_.reserve(orphans.size());
  std::vector<Orphan> rerun, ended;
  std::vector<DueTick> ticks;
  std::vector<std::string> errors;
  std::vector<TickRunner::TickKey> still_in_doubt;  // left for a later round
  for (auto& o : orphans) {
    auto tick = schedule_.tick_of(o.region_id, o.scheduled_for, config_.misfire_grace);
    const auto decision = decide_takeover({tick.has_value(), tick ? tick->deadline : Millis{},
                                           now + kTakeoverMargin, rerun.size() < reserved});
    if (decision == Takeover::rerun) {
      ticks.push_back(std::move(*tick));
      rerun.push_back(std::move(o));
    } else if (decision == Takeover::abandon) {
      errors.push_back(abandon_reason(o, tick.has_value()));
      ended.push_back(std::move(o));
    } else if (o.cause == OrphanCause::in_doubt) {
      still_in_doubt.emplace_back(o.region_id, o.scheduled_for);
    }
  }
  runner_.restore_in_doubt(std::move(still_in_doubt));
  dispatcher_.release_reserved(reserved - rerun.size());
  if (rerun.empty() && ended.empty()) return;
  boost::asio::post(liveness_thread_, [this, rerun = std::move(rerun), ended = std::move(ended),
                                       ticks = std::move(ticks),
                                       errors = std::move(errors)]() mutable {
    std::vector<RunRef> taken;
    std::size_t abandoned = 0;
    try {
      taken = db_.take_over(rerun, config_.replica_id);
    } catch (const DbError& e) {
      spdlog::warn("could not take over {} tick(s) (retried next round): {}", rerun.size(),
                   e.what());
      restore_in_doubt(rerun);
    }
    try {
      abandoned = db_.abandon(ended, errors);
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
      dispatcher_.release_reserved(rerun.size() - runs.size());
      dispatcher_.start_taken(std::move(runs));
      if (abandoned > 0) {
        spdlog::warn("marked {} tick(s) of dead replicas abandoned", abandoned);
        for (std::size_t i = 0; i < abandoned; ++i) metrics_.count_tick(TickOutcome::abandoned);
      }
    });
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
