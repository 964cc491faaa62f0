// Housekeeping and the queue gauges. Every replica runs a maintenance thread on a database
// connection of its own: every 15 s it samples tickd_queue_jobs (so a scrape never runs a
// query) and mends the statistics of days analyzed while empty (sql/011); it creates job_run's
// day partitions ahead at start, and every hour creates and drops them (sql/008) and deletes
// the other expired rows in small batches. Several replicas doing the same is harmless: the
// partition work takes one lock, each batch is one short statement. The `housekeeping`
// handler runs one pass on a region's tick, for operators who want it on a schedule of their
// own.

#include <spdlog/spdlog.h>

#include <array>
#include <map>

#include "tickd/db/database.hpp"
#include "work_shared.hpp"

namespace tickd::work {

namespace {

constexpr std::chrono::seconds kSamplePeriod{15};
constexpr std::chrono::minutes kHousekeepingPeriod{60};
constexpr int kBatch = 500;

void log_partition_changes(const QueueStore::PartitionChanges& changes) {
  if (changes.created > 0 || changes.dropped > 0) {
    spdlog::info("job_run partitions: {} created, {} dropped", changes.created, changes.dropped);
  }
}

class HousekeepingHandler final : public Handler {
 public:
  explicit HousekeepingHandler(std::shared_ptr<WorkShared> shared) : shared_(std::move(shared)) {}
  HandlerCounts run(const TickContext& tick) override {
    QueueStore store(tick.db);
    const auto done = housekeep(store, shared_->config().retention_days, kBatch,
                                std::chrono::seconds(60), tick.stop);
    return {{"deleted", done.deleted},
            {"partitions_created", done.partitions.created},
            {"partitions_dropped", done.partitions.dropped}};
  }

 private:
  std::shared_ptr<WorkShared> shared_;
};

}  // namespace

class Maintenance final {
 public:
  Maintenance(const Config& config, Metrics* metrics)
      : db_(config.database_url, 1),
        retention_days_(config.retention_days),
        metrics_(metrics),
        thread_([this](std::stop_token stop) { loop(stop); }) {}
  ~Maintenance() {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }

 private:
  void loop(std::stop_token stop) {
    QueueStore store(db_);
    // The first housekeeping pass waits a minute: a replica that starts does its real work
    // first. The partitions ahead come first of all (a replica of a long-stopped set may
    // start on a day without one), until done once.
    auto next_housekeeping = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    bool partitions_ahead = false;
    bool warned = false;
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      lock.unlock();
      try {
        if (!partitions_ahead) {
          log_partition_changes(store.add_history_partitions());
          partitions_ahead = true;
        }
        sample(store);
        if (const int mended = store.forget_empty_history_statistics(); mended > 0) {
          spdlog::info("job_run partitions: statistics of {} day(s) analyzed while empty mended",
                       mended);
        }
        if (std::chrono::steady_clock::now() >= next_housekeeping) {
          const auto done =
              housekeep(store, retention_days_, kBatch, std::chrono::seconds(60), stop);
          if (done.deleted > 0)
            spdlog::info("housekeeping: deleted {} rows older than {} days", done.deleted,
                         retention_days_);
          next_housekeeping = std::chrono::steady_clock::now() + kHousekeepingPeriod;
        }
        warned = false;
      } catch (const std::exception& e) {
        // Tables not migrated yet, or the database down: the service reports that itself.
        if (!warned) spdlog::debug("maintenance: {}", e.what());
        warned = true;
      }
      lock.lock();
      wake_.wait_for(lock, stop, kSamplePeriod, [] { return false; });
    }
  }

  void sample(QueueStore& store) {
    if (metrics_ == nullptr) return;
    std::map<std::pair<std::string, std::string>, std::int64_t, std::less<>> counts;
    for (const auto& c : store.count_by_status()) counts[{c.queue, c.status}] = c.count;
    metrics_->set_queue_jobs([&](std::string_view queue, std::string_view status) {
      const auto it = counts.find(std::pair(std::string(queue), std::string(status)));
      return it == counts.end() ? 0.0 : static_cast<double>(it->second);
    });
  }

  Database db_;
  const unsigned retention_days_;
  Metrics* const metrics_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};

std::shared_ptr<Maintenance> start_maintenance(const Config& config, Metrics* metrics) {
  return std::make_shared<Maintenance>(config, metrics);
}

void stop_maintenance(std::shared_ptr<Maintenance>& m) { m.reset(); }

Housekept housekeep(QueueStore& store, unsigned retention_days, int batch,
                    std::chrono::milliseconds budget, std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  Housekept done;
  try {
    done.partitions = store.maintain_history_partitions(retention_days);
    log_partition_changes(done.partitions);
  } catch (const std::exception& e) {
    // Most likely a lock not granted within 200 ms: the next pass tries again.
    spdlog::warn("job_run partitions: {}", e.what());
  }
  while (!stop.stop_requested() && std::chrono::steady_clock::now() < deadline) {
    const auto deleted = store.delete_expired(retention_days, batch);
    done.deleted += deleted;
    if (deleted == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let other writers in
  }
  return done;
}

std::unique_ptr<Handler> make_housekeeping_handler(std::shared_ptr<WorkShared> shared) {
  return std::make_unique<HousekeepingHandler>(std::move(shared));
}

}  // namespace tickd::work
