#include "tickd/metrics/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "process_metrics.hpp"
#include "tickd/schedule/notify.hpp"
#include "tickd/util/json.hpp"

namespace tickd {

std::string_view to_string(DbPool p) {
  switch (p) {
    case DbPool::bookkeeping:
      return "bookkeeping";
    case DbPool::handlers:
      return "handlers";
  }
  return "unknown";
}

std::string_view to_string(QueueResult r) {
  switch (r) {
    case QueueResult::completed:
      return "completed";
    case QueueResult::retried:
      return "retried";
    case QueueResult::failed:
      return "failed";
    case QueueResult::released:
      return "released";
  }
  return "unknown";
}

std::string_view to_string(AttemptResult r) {
  switch (r) {
    case AttemptResult::ok:
      return "ok";
    case AttemptResult::failed:
      return "failed";
    case AttemptResult::timed_out:
      return "timed_out";
  }
  return "unknown";
}

std::string_view to_string(StorageOp op) {
  switch (op) {
    case StorageOp::put:
      return "put";
    case StorageOp::get:
      return "get";
    case StorageOp::head:
      return "head";
    case StorageOp::list:
      return "list";
    case StorageOp::remove:
      return "delete";
    case StorageOp::fetch:
      return "fetch";
  }
  return "unknown";
}

std::string_view to_string(Transfer t) { return t == Transfer::upload ? "upload" : "download"; }

namespace {

namespace prom = prometheus;

constexpr std::array kDbPools{DbPool::bookkeeping, DbPool::handlers};

constexpr std::array kOutcomes{TickOutcome::ran,     TickOutcome::failed, TickOutcome::lost,
                               TickOutcome::skipped, TickOutcome::missed, TickOutcome::abandoned};

// The handlers the service ships; their series exist from start so dashboards see zeros.
constexpr std::array<std::string_view, 4> kKnownHandlers{"region", "sync", "upload", "publish"};

// The work queues' label values: every series exists from start, and values outside these
// sets are ignored rather than invented (the exposition stays bounded).
struct QueueStatuses {
  std::string_view queue;
  std::array<std::string_view, 4> statuses;  // empty entries unused
};
constexpr std::array kQueueStatuses{
    QueueStatuses{"upload", {"PENDING", "UPLOADING", "COMPLETED", "FAILED"}},
    QueueStatuses{"publish", {"pending", "processing", "completed", "failed"}},
    QueueStatuses{"file_upload", {"PENDING", "UPLOADED", "MISSING", ""}},
};
constexpr std::array kQueues{Queue::upload, Queue::publish};
constexpr std::array kQueueResults{QueueResult::completed, QueueResult::retried,
                                   QueueResult::failed, QueueResult::released};
constexpr std::array kStorageOps{StorageOp::put,  StorageOp::get,    StorageOp::head,
                                 StorageOp::list, StorageOp::remove, StorageOp::fetch};
constexpr std::array kTransfers{Transfer::upload, Transfer::download};
constexpr std::array kAttemptResults{AttemptResult::ok, AttemptResult::failed,
                                     AttemptResult::timed_out};

// An enum's position in its label table (the enums count from 0 in declaration order).
template <typename E>
constexpr std::size_t index(E e) {
  return static_cast<std::size_t>(e);
}

// Lazily created handler series beyond this many fold into handler="other", so a bug that
// invents names cannot grow the exposition without bound.
constexpr std::size_t kMaxHandlerSeries = 64;

// 1 ms .. 60 s: a healthy tick starts within milliseconds; a minute late is a misfire.
prom::Histogram::BucketBoundaries lateness_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}
// Handlers range from a keepalive (ms) to object-storage transfers (minutes).
prom::Histogram::BucketBoundaries handler_buckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}
// A reconcile is one query plus a diff.
prom::Histogram::BucketBoundaries reconcile_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// Most acquisitions wait not at all (the first bucket); a wait of a second or more is what
// makes a tick late (TickdDbPoolSaturated).
prom::Histogram::BucketBoundaries db_pool_wait_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace

struct Metrics::Impl {
  explicit Impl(const std::string& version)
      : start_time(metrics::process_start_time()),
        schedules(prom::BuildGauge()
                      .Name("tickd_schedules")
                      .Help("Regions scheduled in this replica (valid, active and not paused).")
                      .Register(registry)
                      .Add({})),
        invalid_schedules(
            prom::BuildGauge()
                .Name("tickd_invalid_schedules")
                .Help("Active regions refused as invalid (expression, zone or handler).")
                .Register(registry)
                .Add({})),
        paused_schedules(
            prom::BuildGauge()
                .Name("tickd_paused_schedules")
                .Help("Active, valid regions that are paused (not in tickd_schedules).")
                .Register(registry)
                .Add({})),
        ticks(prom::BuildCounter()
                  .Name("tickd_ticks_total")
                  .Help("Ticks seen by this replica, by outcome: ran, failed, lost, skipped, "
                        "missed, abandoned.")
                  .Register(registry)),
        claim_attempts(prom::BuildCounter()
                           .Name("tickd_claim_attempts_total")
                           .Help("Claim transactions attempted by this replica.")
                           .Register(registry)
                           .Add({})),
        fenced(prom::BuildCounter()
                   .Name("tickd_fenced_writes_total")
                   .Help("Tick results this replica could not write because another replica had "
                         "marked the row abandoned.")
                   .Register(registry)
                   .Add({})),
        attempts(prom::BuildCounter()
                     .Name("tickd_tick_attempts_total")
                     .Help("Attempts of ticks run by this replica, retries included, by result: "
                           "ok, failed, timed_out.")
                     .Register(registry)),
        reruns(prom::BuildCounter()
                   .Name("tickd_ticks_rerun_total")
                   .Help("Ticks of dead replicas that this replica took over and ran again on "
                         "their row (attempt + 1).")
                   .Register(registry)
                   .Add({})),
        reconciles(prom::BuildCounter()
                       .Name("tickd_reconcile_total")
                       .Help("Reconciles of the schedule against region_index, by result.")
                       .Register(registry)),
        reconcile_ok(reconciles.Add({{"result", "ok"}})),
        reconcile_error(reconciles.Add({{"result", "error"}})),
        rearmed(prom::BuildCounter()
                    .Name("tickd_reconcile_rearmed_total")
                    .Help("Regions whose next instant a reconcile armed (added, replaced or "
                          "resumed); a pass that changed nothing adds 0.")
                    .Register(registry)
                    .Add({})),
        inflight(
            prom::BuildGauge()
                .Name("tickd_inflight")
                .Help("Ticks in flight in this replica (claimed or being claimed, not finished).")
                .Register(registry)
                .Add({})),
        concurrency_limit(prom::BuildGauge()
                              .Name("tickd_concurrency_limit")
                              .Help("CONCURRENCY: the most ticks in flight in this replica.")
                              .Register(registry)
                              .Add({})),
        regions_overdue(prom::BuildGauge()
                            .Name("tickd_regions_overdue")
                            .Help("Regions scheduled here whose latest tick claimed by any replica "
                                  "is two or more of their instants old.")
                            .Register(registry)
                            .Add({})),
        db_up(prom::BuildGauge()
                  .Name("tickd_db_up")
                  .Help("1 while the database is reachable, else 0.")
                  .Register(registry)
                  .Add({})),
        build_info(prom::BuildGauge()
                       .Name("tickd_build_info")
                       .Help("Always 1; the version label names the running build.")
                       .Register(registry)
                       .Add({{"version", json::sanitize_utf8(version)}})),
        lateness(prom::BuildHistogram()
                     .Name("tickd_tick_lateness_seconds")
                     .Help("For each tick claimed here: handler start minus scheduled instant.")
                     .Register(registry)
                     .Add({}, lateness_buckets())),
        handler_family(prom::BuildHistogram()
                           .Name("tickd_handler_duration_seconds")
                           .Help("Duration of each handler run, by handler name.")
                           .Register(registry)),
        reconcile_duration(prom::BuildHistogram()
                               .Name("tickd_reconcile_duration_seconds")
                               .Help("Duration of each reconcile, successful or not.")
                               .Register(registry)
                               .Add({}, reconcile_buckets())) {
    for (std::size_t i = 0; i < kOutcomes.size(); ++i) {
      tick_counters.at(i) = &ticks.Add({{"outcome", std::string(to_string(kOutcomes.at(i)))}});
    }
    for (const auto result : kAttemptResults) {
      attempt_results.at(index(result)) =
          &attempts.Add({{"result", std::string(to_string(result))}});
    }
    for (const auto name : kKnownHandlers) {
      handlers.emplace(std::string(name),
                       &handler_family.Add({{"handler", std::string(name)}}, handler_buckets()));
    }
    build_info.Set(1);
    db_up.Set(0);
    auto& pool_wait = prom::BuildHistogram()
                          .Name("tickd_db_pool_wait_seconds")
                          .Help(
                              "Time from asking a database pool for a connection to getting one, "
                              "by pool: bookkeeping (claims, ends, heartbeats) or handlers.")
                          .Register(registry);
    auto& pool_in_use = prom::BuildGauge()
                            .Name("tickd_db_pool_in_use")
                            .Help("Database connections lent out, by pool.")
                            .Register(registry);
    auto& pool_size = prom::BuildGauge()
                          .Name("tickd_db_pool_size")
                          .Help("Database connections a pool may hold (handlers: DB_POOL_SIZE).")
                          .Register(registry);
    for (std::size_t i = 0; i < kDbPools.size(); ++i) {
      const std::map<std::string, std::string> label{
          {"pool", std::string(to_string(kDbPools.at(i)))}};
      db_pool_wait.at(i) = &pool_wait.Add(label, db_pool_wait_buckets());
      db_pool_in_use.at(i) = &pool_in_use.Add(label);
      db_pool_size.at(i) = &pool_size.Add(label);
    }
    auto& queue_jobs = prom::BuildGauge()
                           .Name("tickd_queue_jobs")
                           .Help("Rows of each work queue by status, sampled on a timer.")
                           .Register(registry);
    for (const auto& q : kQueueStatuses) {
      for (const auto status : q.statuses) {
        if (status.empty()) continue;
        queue_gauges.emplace_back(
            std::pair(q.queue, status),
            &queue_jobs.Add({{"queue", std::string(q.queue)}, {"status", std::string(status)}}));
      }
    }
    auto& attempts = prom::BuildCounter()
                         .Name("tickd_queue_job_attempts_total")
                         .Help(
                             "Queue jobs worked by this replica, by result: completed, retried, "
                             "failed, released.")
                         .Register(registry);
    for (const auto queue : kQueues) {
      for (const auto result : kQueueResults) {
        attempt_counters.at(index(queue)).at(index(result)) = &attempts.Add(
            {{"queue", std::string(to_string(queue))}, {"result", std::string(to_string(result))}});
      }
    }
    auto& requests = prom::BuildCounter()
                         .Name("tickd_storage_requests_total")
                         .Help("Object storage requests (each attempt), by operation and result.")
                         .Register(registry);
    for (const auto op : kStorageOps) {
      for (const bool ok : {true, false}) {
        storage_requests.at(index(op)).at(ok ? 0 : 1) =
            &requests.Add({{"op", std::string(to_string(op))}, {"result", ok ? "ok" : "error"}});
      }
    }
    auto& bytes = prom::BuildCounter()
                      .Name("tickd_storage_bytes_total")
                      .Help("Bytes moved to (upload) and from (download) object storage.")
                      .Register(registry);
    for (const auto direction : kTransfers) {
      storage_bytes.at(index(direction)) =
          &bytes.Add({{"direction", std::string(to_string(direction))}});
    }
    auto& notifications =
        prom::BuildCounter()
            .Name("tickd_notifications_total")
            .Help(
                "Notification deliveries tried by this replica, by event and result: delivered, "
                "failed (tried again later), expired (given up 24 h after the event).")
            .Register(registry);
    for (std::size_t e = 0; e < kNotifyEvents.size(); ++e) {
      for (std::size_t r = 0; r < kNotificationResults.size(); ++r) {
        notification_counters.at(e).at(r) =
            &notifications.Add({{"event", std::string(kNotifyEvents.at(e))},
                                {"result", std::string(kNotificationResults.at(r))}});
      }
    }
    outbox_depth = &prom::BuildGauge()
                        .Name("tickd_notification_outbox_depth")
                        .Help("Notifications waiting for delivery (all replicas), sampled.")
                        .Register(registry)
                        .Add({});
    outbox_oldest = &prom::BuildGauge()
                         .Name("tickd_notification_outbox_oldest_seconds")
                         .Help("Age of the oldest notification waiting for delivery, sampled.")
                         .Register(registry)
                         .Add({});
  }

  prom::Histogram& handler(std::string_view name) {
    const std::lock_guard lock(handlers_mutex);
    if (const auto it = handlers.find(name); it != handlers.end()) return *it->second;
    std::string label = name.empty() ? std::string("unnamed") : json::sanitize_utf8(name);
    if (handlers.size() >= kMaxHandlerSeries) label = "other";
    if (const auto it = handlers.find(label); it != handlers.end()) return *it->second;
    auto* h = &handler_family.Add({{"handler", label}}, handler_buckets());
    handlers.emplace(std::move(label), h);
    return *h;
  }

  // Declaration order is construction order: the registry first, the series after it.
  prom::Registry registry;
  const double start_time;
  prom::Gauge& schedules;
  prom::Gauge& invalid_schedules;
  prom::Gauge& paused_schedules;
  prom::Family<prom::Counter>& ticks;
  std::array<prom::Counter*, kOutcomes.size()> tick_counters{};
  prom::Counter& claim_attempts;
  prom::Counter& fenced;
  prom::Family<prom::Counter>& attempts;
  std::array<prom::Counter*, kAttemptResults.size()> attempt_results{};
  prom::Counter& reruns;
  prom::Family<prom::Counter>& reconciles;
  prom::Counter& reconcile_ok;
  prom::Counter& reconcile_error;
  prom::Counter& rearmed;
  prom::Gauge& inflight;
  prom::Gauge& concurrency_limit;
  prom::Gauge& regions_overdue;
  prom::Gauge& db_up;
  prom::Gauge& build_info;
  prom::Histogram& lateness;
  prom::Family<prom::Histogram>& handler_family;
  prom::Histogram& reconcile_duration;
  std::array<prom::Histogram*, kDbPools.size()> db_pool_wait{};
  std::array<prom::Gauge*, kDbPools.size()> db_pool_in_use{};
  std::array<prom::Gauge*, kDbPools.size()> db_pool_size{};

  std::mutex handlers_mutex;
  std::map<std::string, prom::Histogram*, std::less<>> handlers;

  // Filled in the constructor, read-only afterwards (prometheus series are thread-safe).
  std::vector<std::pair<std::pair<std::string_view, std::string_view>, prom::Gauge*>> queue_gauges;
  std::array<std::array<prom::Counter*, kQueueResults.size()>, kQueues.size()> attempt_counters{};
  std::array<std::array<prom::Counter*, 2>, kStorageOps.size()> storage_requests{};  // ok, error
  std::array<prom::Counter*, kTransfers.size()> storage_bytes{};
  std::array<std::array<prom::Counter*, kNotificationResults.size()>, kNotifyEvents.size()>
      notification_counters{};
  prom::Gauge* outbox_depth = nullptr;
  prom::Gauge* outbox_oldest = nullptr;
};

Metrics::Metrics(std::string version) : impl_(std::make_unique<Impl>(version)) {}
Metrics::~Metrics() = default;

void Metrics::set_schedules(std::size_t n) { impl_->schedules.Set(static_cast<double>(n)); }
void Metrics::set_invalid_schedules(std::size_t n) {
  impl_->invalid_schedules.Set(static_cast<double>(n));
}
void Metrics::set_paused_schedules(std::size_t n) {
  impl_->paused_schedules.Set(static_cast<double>(n));
}

void Metrics::count_tick(TickOutcome outcome) {
  const auto i = static_cast<std::size_t>(outcome);
  if (i < impl_->tick_counters.size()) impl_->tick_counters.at(i)->Increment();
}

void Metrics::count_claim_attempt() { impl_->claim_attempts.Increment(); }

void Metrics::count_fenced() { impl_->fenced.Increment(); }
void Metrics::count_attempt(AttemptResult result) {
  impl_->attempt_results.at(index(result))->Increment();
}
void Metrics::count_rerun() { impl_->reruns.Increment(); }

// Negative values (a timer that woke a hair early) are clamped to 0 so _sum never
// decreases, which rate() relies on.
void Metrics::observe_lateness(double seconds) {
  impl_->lateness.Observe(seconds > 0 ? seconds : 0);
}

void Metrics::observe_handler(std::string_view handler, double seconds) {
  impl_->handler(handler).Observe(seconds > 0 ? seconds : 0);
}

void Metrics::count_reconcile(bool ok, double seconds) {
  (ok ? impl_->reconcile_ok : impl_->reconcile_error).Increment();
  impl_->reconcile_duration.Observe(seconds > 0 ? seconds : 0);
}

void Metrics::count_rearmed(std::size_t regions) {
  impl_->rearmed.Increment(static_cast<double>(regions));
}

void Metrics::set_inflight(std::size_t n) { impl_->inflight.Set(static_cast<double>(n)); }

void Metrics::set_concurrency_limit(std::size_t n) {
  impl_->concurrency_limit.Set(static_cast<double>(n));
}

void Metrics::set_regions_overdue(std::size_t n) {
  impl_->regions_overdue.Set(static_cast<double>(n));
}
void Metrics::set_db_up(bool up) { impl_->db_up.Set(up ? 1 : 0); }

void Metrics::observe_db_pool_wait(DbPool pool, double seconds) {
  const auto i = static_cast<std::size_t>(pool);
  if (i < impl_->db_pool_wait.size()) impl_->db_pool_wait.at(i)->Observe(seconds > 0 ? seconds : 0);
}

void Metrics::set_db_pool_in_use(DbPool pool, std::size_t n) {
  const auto i = static_cast<std::size_t>(pool);
  if (i < impl_->db_pool_in_use.size()) impl_->db_pool_in_use.at(i)->Set(static_cast<double>(n));
}

void Metrics::set_db_pool_size(DbPool pool, std::size_t n) {
  const auto i = static_cast<std::size_t>(pool);
  if (i < impl_->db_pool_size.size()) impl_->db_pool_size.at(i)->Set(static_cast<double>(n));
}

void Metrics::set_queue_jobs(const QueueRows& rows) {
  for (const auto& [key, gauge] : impl_->queue_gauges) gauge->Set(rows(key.first, key.second));
}

void Metrics::count_queue_attempt(Queue queue, QueueResult result) {
  impl_->attempt_counters.at(index(queue)).at(index(result))->Increment();
}

void Metrics::count_storage_request(StorageOp op, bool ok) {
  impl_->storage_requests.at(index(op)).at(ok ? 0 : 1)->Increment();
}

void Metrics::count_notification(std::string_view event, std::string_view result) {
  const auto e = std::find(kNotifyEvents.begin(), kNotifyEvents.end(), event);
  const auto r = std::find(kNotificationResults.begin(), kNotificationResults.end(), result);
  if (e == kNotifyEvents.end() || r == kNotificationResults.end()) return;
  impl_->notification_counters.at(static_cast<std::size_t>(e - kNotifyEvents.begin()))
      .at(static_cast<std::size_t>(r - kNotificationResults.begin()))
      ->Increment();
}

void Metrics::set_notification_outbox(std::size_t depth, double oldest_seconds) {
  impl_->outbox_depth->Set(static_cast<double>(depth));
  impl_->outbox_oldest->Set(oldest_seconds);
}

void Metrics::count_storage_bytes(Transfer direction, std::uint64_t bytes) {
  impl_->storage_bytes.at(index(direction))->Increment(static_cast<double>(bytes));
}

std::string Metrics::serialize() const {
  auto families = impl_->registry.Collect();
  metrics::append_process_metrics(families, impl_->start_time);
  std::string text = prom::TextSerializer().Serialize(families);
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace tickd
