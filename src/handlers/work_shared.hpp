#pragma once
// Internal to src/handlers: what the sync, upload, publish and housekeeping handlers share.
// One WorkShared per registry; every member is thread-safe (handlers run on worker threads).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <semaphore>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "tickd/config.hpp"
#include "tickd/handler.hpp"
#include "tickd/metrics.hpp"
#include "tickd/queue_store.hpp"
#include "tickd/storage.hpp"

namespace tickd::work {

class Maintenance;

class WorkShared final {
 public:
  WorkShared(const Config& config, Metrics* metrics);
  ~WorkShared();
  WorkShared(const WorkShared&) = delete;
  WorkShared& operator=(const WorkShared&) = delete;

  const Config& config() const { return config_; }
  Metrics* metrics() const { return metrics_; }
  // The backend of STORAGE_URL, opened on first use. Throws StorageError when unset or bad.
  storage::Storage& storage();
  // A lease owner token unique to one claim: "<replica id>/<counter>-<random>".
  std::string new_owner();
  // Bounds the images in work at once in this replica (PUBLISH_CONCURRENCY).
  std::counting_semaphore<64>& publish_slots() { return publish_slots_; }
  void count_attempt(Queue q, std::string_view result) const;

 private:
  const Config config_;
  Metrics* const metrics_;
  std::mutex storage_mutex_;
  std::unique_ptr<storage::Storage> storage_;
  std::counting_semaphore<64> publish_slots_;
  std::shared_ptr<Maintenance> maintenance_;
};

// Renews the leases of the jobs it holds every lease/3 on a thread of its own, so a long
// transfer keeps its job; stops (and stops renewing) when destroyed.
class LeaseKeeper final {
 public:
  LeaseKeeper(QueueStore& store, Queue queue, std::string owner, std::chrono::milliseconds lease);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;
  void hold(std::int64_t id);
  void drop(std::int64_t id);

 private:
  void loop(std::stop_token stop);
  QueueStore& store_;
  const Queue queue_;
  const std::string owner_;
  const std::chrono::milliseconds lease_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::set<std::int64_t> ids_;
  std::jthread thread_;
};

// Exponential backoff with jitter for the `retry_count`-th retry: 2 s * 2^n, capped at one
// hour, scaled by a random factor in [0.5, 1].
std::chrono::milliseconds retry_backoff(int retry_count);

// Content-Type by file extension (application/octet-stream when unknown).
std::string content_type_of(std::string_view file_name);

// Handlers (each in its own file).
std::unique_ptr<Handler> make_sync_handler(std::shared_ptr<WorkShared> shared);
std::unique_ptr<Handler> make_upload_handler(std::shared_ptr<WorkShared> shared);
std::unique_ptr<Handler> make_publish_handler(std::shared_ptr<WorkShared> shared);
std::unique_ptr<Handler> make_housekeeping_handler(std::shared_ptr<WorkShared> shared);

// The background thread of a replica: samples tickd_queue_jobs every 15 s and runs
// housekeeping every hour, on a database connection of its own.
std::shared_ptr<Maintenance> start_maintenance(const Config& config, Metrics* metrics);
void stop_maintenance(std::shared_ptr<Maintenance>& m);

// One housekeeping pass: deletes expired rows in batches of `batch` until none are left,
// `stop` is requested or `budget` has passed. Returns the rows deleted.
std::int64_t housekeep(QueueStore& store, unsigned retention_days, int batch,
                       std::chrono::milliseconds budget, std::stop_token stop);

}  // namespace tickd::work
