#pragma once
// Internal to src/handlers: what the sync, upload, publish and housekeeping handlers share.
// One WorkShared per registry; every member is thread-safe (handlers run on worker threads).

#include <atomic>
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

#include "tickd/config/config.hpp"
#include "tickd/db/queue_store.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/storage/storage.hpp"

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
  void count_attempt(Queue q, QueueResult result) const;

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

// What a StorageError means for the upload or publish job at hand: one rule for both queues.
enum class JobFault {
  permanent,    // the job cannot succeed as it is (a refused request, a missing object, a
                // local file that cannot be read): FAILED now
  transient,    // an HTTP answer worth waiting for (5xx after the storage layer's own
                // attempts, 429, 408): PENDING again after retry_backoff
  unreachable,  // no answer at all (a network error, a full disk): rescheduled like
                // `transient`, and the tick fails, since the next job would fare no better
};
JobFault fault_of(const storage::StorageError& e);

// The bookkeeping of one claim of upload or publish jobs: every way a claimed job ends goes
// through here, so both queues move their rows and count the same way. Thread-safe (the
// publish workers share one). Store calls throw DbError, except in release().
class JobBook final {
 public:
  JobBook(WorkShared& shared, QueueStore& store, Queue queue, std::string owner);

  const std::string& owner() const { return owner_; }
  void claimed(std::size_t n) { claimed_ += static_cast<std::int64_t>(n); }
  // The store's answer to complete_upload / complete_publish: false means another replica
  // took the job over meanwhile (`lost`).
  void completed(bool written);
  // FAILED now, no retry.
  void fail(std::int64_t id, const std::string& error);
  // PENDING after retry_backoff(retry_count), or FAILED once max_retries are spent.
  void retry(std::int64_t id, int retry_count, const std::string& error);
  // fail() or retry() as fault_of(e) says; returns what it said.
  JobFault settle(std::int64_t id, int retry_count, const storage::StorageError& e);
  // Due again at once, no retry counted (shutdown, or the tick gave up on the batch). A
  // failure is logged, not thrown: the lease runs out and the job is due again by itself.
  void release(std::int64_t id);

  // claimed completed retried failed released lost, as job_run.details holds them.
  HandlerCounts counts() const;

 private:
  WorkShared& shared_;
  QueueStore& store_;
  const Queue queue_;
  const std::string owner_;
  std::atomic<std::int64_t> claimed_{0}, completed_{0}, retried_{0}, failed_{0}, released_{0},
      lost_{0};
};

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

// One housekeeping pass: job_run's day partitions made ahead and dropped past the retention,
// then expired rows deleted in batches of `batch` until none are left, `stop` is requested or
// `budget` has passed.
struct Housekept {
  QueueStore::PartitionChanges partitions;
  std::int64_t deleted = 0;  // rows, by the batched deletes
};
Housekept housekeep(QueueStore& store, unsigned retention_days, int batch,
                    std::chrono::milliseconds budget, std::stop_token stop);

}  // namespace tickd::work
