#include "service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdlib>

#include "tickd/http/http_server.hpp"
#include "tickd/schedule/notify.hpp"
#include "tickd/version.hpp"

#ifdef __GLIBC__
#include <malloc.h>  // mallopt: a glibc extension
#endif

namespace tickd {
namespace {

unsigned worker_threads(const Config& c) { return std::clamp(c.concurrency, 1u, 64u); }
// Claims run in batches per instant; two threads let one instant's claim proceed while
// another's waits on the database (the bookkeeping pool has four connections).
constexpr unsigned kClaimThreads = 2;

// Work posted to a thread pool or to the event loop.
template <typename Context>
Offload on(Context& context) {
  return [&context](std::function<void()> work) { boost::asio::post(context, std::move(work)); };
}

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
      notifications_(notification_store_, metrics_,
                     {config_.replica_id, config_.notify_secret, config_.retention_days}),
      db_health_(clock_, metrics_, [this] { feed_.database_back(); }),
      feed_(loop_, on(control_),
            listen_connection(config_.database_listen_url.empty() ? config_.database_url
                                                                  : config_.database_listen_url,
                              config_.replica_id),
            timers_, [this](auto ids) { reconcile_.request(std::move(ids)); }),
      schedule_(handlers_),
      ownership_(config_.replica_id),
      runner_(tick_store_, db_, handlers_, metrics_, clock_, config_, workers_,
              worker_threads(config_)),
      dispatcher_(
          timers_, {.claim = on(claimers_), .loop = on(loop_)},
          [this](std::vector<DueTick> group, Dispatcher::Done done) {
            runner_.run_group(std::move(group), stop_source_.get_token(), std::move(done));
          },
          metrics_, clock_, config_.concurrency,
          [this](const DueTick& tick, const TickReport& report) { tick_done(tick, report); }),
      reconcile_(
          loop_, on(control_),
          [this](const ReconcileLoop::Scope& scope) {
            return scope ? db_.load_active_regions(*scope) : db_.load_active_regions();
          },
          timers_, clock_, schedule_, metrics_, db_health_, [this] { ticks_.arm(); },
          {config_.region_refresh_interval}),
      ticks_(
          timers_, clock_, schedule_, ownership_, metrics_,
          {config_.misfire_grace, config_.claim_ahead, config_.claim_grace},
          [this](std::vector<DueTick> mine) { dispatcher_.submit(std::move(mine)); },
          [this](DueTick tick, Millis release) {
            dispatcher_.submit_later(std::move(tick), release);
          }),
      liveness_(loop_, on(liveness_thread_), liveness_store(db_), runner_,
                takeover_slots(dispatcher_), schedule_, ownership_, clock_, metrics_, db_health_,
                [this] { return reconcile_.first_done(); }, timers_,
                {config_.replica_id, config_.tick_lease, config_.misfire_grace}),
      requests_(on(loop_), on(control_), db_, runner_, takeover_slots(dispatcher_), handlers_,
                timers_, metrics_, config_.replica_id),
      control_store_(config_.database_url),
      api_(control_store_, {config_.api_token, config_.api_auth_all, config_.tick_lease}),
      shutdown_(loop_, on(control_), timers_, config_.shutdown_grace,
                {[this] { return stop_parts(); }, [this] { return dispatcher_.inflight(); },
                 // A round in flight may still renew the heartbeat after `record` removed
                 // it: a stale row like a killed replica's, judged by the lease, no harm.
                 [this] { liveness_.stop(); },
                 [this] { record_shutdown(db_, config_.replica_id, config_.shutdown_grace); },
                 [this] {
                   feed_.close();
                   http_->stop();
                   loop_.stop();
                 }}),
      signals_(loop_, SIGINT, SIGTERM) {
#ifdef __GLIBC__
  // glibc lets its trim threshold grow to twice the largest block it has unmapped (~34 MB
  // after one full reconcile of 100,000 regions); the control threads' arenas then keep the
  // freed pages of each read (~16 MB apiece: malloc_trim never shrinks a thread arena's top).
  // A fixed threshold hands them back; large blocks stay mmapped, unmapped when freed.
  ::mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
  reconcile_.compare_versions([this] { return db_.load_active_versions(); });
  HttpRoutes routes;
  routes.ready = [this] {
    return reconcile_.first_done() && db_health_.up() && !shutdown_.stopping();
  };
  routes.status_json = [this] { return render_status_json(schedule_.status(config_.replica_id)); };
  routes.status_json_for = [this](std::string_view code) {
    return render_status_json(schedule_.status_of(config_.replica_id, code));
  };
  // /metrics reads the overdue count fresh, so an alert needs no extra timer here.
  routes.metrics = [this] {
    metrics_.set_regions_overdue(
        schedule_.overdue(Millis(std::chrono::floor<std::chrono::milliseconds>(clock_.wall()))));
    return metrics_.serialize();
  };
  routes.api = [this](ApiRequest request, std::function<void(ApiResponse)> respond) {
    boost::asio::post(api_threads_,
                      [this, request = std::move(request), respond = std::move(respond)] {
                        respond(api_.handle(request));
                      });
  };
  routes.may_read = [this](std::string_view authorization) { return api_.may_read(authorization); };
  liveness_.on_requested_orphans(
      [this](std::vector<Orphan> orphans) { requests_.take_over(std::move(orphans)); });
  feed_.on_control([this](bool requests, std::vector<std::int64_t> cancels) {
    requests_.notified(requests, std::move(cancels));
  });
  feed_.on_notifications([this] { notifications_.notified(); });
  ticks_.on_missed([this](auto missed) { record_missed(std::move(missed)); });
  db_.set_default_notify_url(config_.notify_url);
  runner_.set_pinger(&pinger_);
  http_ = std::make_unique<HttpServer>(loop_, config_.http_host, config_.http_port, routes);
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
  feed_.start();
  reconcile_.start();
  liveness_.start();
  requests_.start();
  notifications_.start();
  ticks_.arm();

  loop_.run();
  notifications_.stop();

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
  api_threads_.join();
  spdlog::info("stopped");
  return exit_status_;
}

void Service::tick_done(const DueTick& tick, const TickReport& report) {
  if (report.status) {
    schedule_.record_outcome(tick.region->row->id, tick.instant, *report.status);
  }
  // A requested run (manual, backfill) is not one of the schedule's instants.
  if (!tick.requested && (report.status || report.outcome == TickOutcome::lost)) {
    schedule_.record_claimed(tick.region->row->id, tick.instant);
  }
  // The region's next request (a backfill's next instant) may start now.
  if (tick.requested) requests_.notified(true, {});
  shutdown_.tick_done();
}

void Service::record_missed(std::vector<Schedule::Due::Missed> missed) {
  std::vector<Database::Missed> wanted;
  for (const auto& m : missed) {
    const auto& row = *m.region->row;
    if (notify_target(row, config_.notify_url) && wants_event(row, "missed")) {
      wanted.push_back({row.id, m.first, static_cast<int>(m.count)});
    }
  }
  if (wanted.empty()) return;
  boost::asio::post(control_, [this, wanted = std::move(wanted)] {
    try {
      db_.record_missed(wanted, config_.replica_id);
    } catch (const DbError& e) {
      spdlog::warn("could not record {} region(s)' missed notifications: {}", wanted.size(),
                   e.what());
    }
  });
}

void Service::begin_shutdown(int sig) {
  signals_.async_wait([](boost::system::error_code ec, int second) {
    if (ec) return;
    spdlog::warn("second signal {}: exiting at once", second);
    spdlog::default_logger()->flush();
    std::_Exit(128 + second);
  });
  shutdown_.begin(sig);
}

std::size_t Service::stop_parts() {
  stop_source_.request_stop();
  ticks_.stop();
  reconcile_.stop();
  liveness_.stop_taking_over();  // its heartbeat covers the ticks in flight
  requests_.stop();
  feed_.stop();
  return dispatcher_.stop();
}

}  // namespace tickd
