#pragma once
// The work queues in PostgreSQL (sql/002_work_queues.sql): upload_jobs, publish_jobs and
// file_upload, for the sync, upload and publish handlers.
//
// A claim moves due rows of one region to the working status under a lease owned by a
// token (`owner`, unique per claim); rows are picked with FOR UPDATE SKIP LOCKED, so
// concurrent claimers never get the same row. Every later write is fenced by the owner and
// the working status: once another replica has taken a job over (its lease ran out), the
// late writer's completion, retry or release changes nothing and returns false / `lost`.
// Thread-safe; failures throw DbError (tickd/db/database.hpp).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tickd/db/database.hpp"
#include "tickd/db/queue.hpp"

namespace tickd {

struct UploadJob {
  std::int64_t id = 0;
  std::string target_entity_id;
  std::string job_type;
  std::string local_path;
  std::optional<std::string> object_key;  // NULL: <region code>/<id>/<file name>
  int retry_count = 0;
  int max_retries = 0;
};

struct PublishJob {
  std::int64_t id = 0;
  std::string source;
  int retry_count = 0;
  int max_retries = 0;
};

enum class RetryOutcome { retried, failed, lost };

struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;
};

struct SyncCounts {
  std::int64_t uploaded = 0;    // PENDING rows whose object exists, now UPLOADED
  std::int64_t missing = 0;     // PENDING rows too old and still absent, now MISSING
  std::int64_t pending = 0;     // PENDING rows still waiting
  std::int64_t unexpected = 0;  // listed objects without a row
};

struct QueueCount {
  std::string queue;  // upload, publish, file_upload
  std::string status;
  std::int64_t count = 0;
};

class QueueStore final {
 public:
  explicit QueueStore(Database& db) : db_(db) {}

  std::vector<UploadJob> claim_uploads(std::int64_t region_id, const std::string& owner,
                                       std::chrono::milliseconds lease, int limit);
  std::vector<PublishJob> claim_publishes(std::int64_t region_id, const std::string& owner,
                                          std::chrono::milliseconds lease, int limit);
  // Extends the lease of those of `ids` still held by `owner`; returns how many.
  std::size_t renew(Queue queue, const std::vector<std::int64_t>& ids, const std::string& owner,
                    std::chrono::milliseconds lease);

  bool complete_upload(std::int64_t id, const std::string& owner, const std::string& url);
  bool complete_publish(std::int64_t id, const std::string& owner,
                        const std::string& variants_json);
  // Back to pending after `backoff`, or failed when the job has no retries left.
  RetryOutcome retry(Queue queue, std::int64_t id, const std::string& owner,
                     const std::string& error, std::chrono::milliseconds backoff);
  // Failed now, no retry (a missing file, a refused key, a corrupt image).
  bool fail(Queue queue, std::int64_t id, const std::string& owner, const std::string& error);
  // Due again at once, no retry counted (shutdown).
  bool release(Queue queue, std::int64_t id, const std::string& owner);

  // Reconciles the region's PENDING file_upload rows against a listing of its prefix.
  SyncCounts sync_expected(std::int64_t region_id, const std::vector<ListedObject>& listed,
                           std::chrono::milliseconds missing_after);

  std::vector<QueueCount> count_by_status();

  // Deletes up to `batch` rows older than `days` from each of upload_jobs and publish_jobs
  // (completed and failed), file_upload (checked, not PENDING), region_audit and run_request
  // (handled). Returns the rows deleted in this call. (job_run goes a day partition at a
  // time: maintain_history_partitions.)
  std::int64_t delete_expired(unsigned days, int batch);

  // job_run's day partitions (sql/008): creates those from yesterday to kHistoryDaysAhead
  // days ahead that are missing, and drops those that ended `retention_days` ago or more.
  // Each waits at most 200 ms for its lock on job_run (a DDL lock waiting in the queue would
  // hold up every claim behind it) and then throws: the next pass tries again.
  struct PartitionChanges {
    int created = 0;
    int dropped = 0;
  };
  static constexpr int kHistoryDaysAhead = 3;
  PartitionChanges add_history_partitions();
  PartitionChanges maintain_history_partitions(unsigned retention_days);
  // Mends the statistics of the days from yesterday to kHistoryDaysAhead ahead that were
  // analyzed while empty (sql/011 says why): returns how many. Waits for locks as above.
  int forget_empty_history_statistics();

 private:
  Database& db_;
};

}  // namespace tickd
