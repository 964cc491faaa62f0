// `upload`: claims the region's due upload_jobs in batches, uploads each local file to
// object storage and marks it COMPLETED with its URL. A failed transfer goes back to
// PENDING with backoff (or FAILED after max_retries); a missing or unreadable local file
// and a refused object_key fail the job at once. Storage that cannot be reached at all
// fails the tick (after rescheduling the job at hand and handing back the rest).

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tickd/database.hpp"
#include "work_shared.hpp"

namespace tickd::work {
namespace {

constexpr int kBatch = 16;

struct Counts {
  std::int64_t claimed = 0, completed = 0, retried = 0, failed = 0, released = 0, lost = 0;
};

// Empty when `path` is a readable regular file, else why not (naming the full path).
std::string check_local_file(const std::string& path) {
  const auto where = "local file " + path + ": ";
  if (path.empty() || path.front() != '/') return where + "not an absolute path";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return where + std::strerror(errno);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) return where + "not a regular file";
  return {};
}

class UploadHandler final : public Handler {
 public:
  explicit UploadHandler(std::shared_ptr<WorkShared> shared) : shared_(std::move(shared)) {}

  HandlerCounts run(const TickContext& tick) override {
    auto& storage = shared_->storage();  // throws: no storage, no work
    QueueStore store(tick.db);
    const auto& config = shared_->config();
    const auto owner = shared_->new_owner();
    LeaseKeeper keeper(store, Queue::upload, owner, config.job_lease);
    Counts n;
    while (!tick.stop.stop_requested()) {
      const auto jobs = store.claim_uploads(tick.region.id, owner, config.job_lease, kBatch);
      if (jobs.empty()) break;
      n.claimed += static_cast<std::int64_t>(jobs.size());
      for (const auto& job : jobs) keeper.hold(job.id);
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        const auto& job = jobs[i];
        if (tick.stop.stop_requested()) {
          release(store, job, owner, n);
          keeper.drop(job.id);
          continue;
        }
        try {
          work(tick, storage, store, job, owner, n);
        } catch (const storage::StorageError& e) {
          // Storage unreachable: reschedule this job, hand back the rest, fail the tick.
          note_retry(
              store.retry(Queue::upload, job.id, owner, e.what(), retry_backoff(job.retry_count)),
              n);
          for (std::size_t k = i + 1; k < jobs.size(); ++k) release(store, jobs[k], owner, n);
          throw;
        }
        keeper.drop(job.id);
      }
    }
    return {{"claimed", n.claimed}, {"completed", n.completed}, {"retried", n.retried},
            {"failed", n.failed},   {"released", n.released},   {"lost", n.lost}};
  }

 private:
  void work(const TickContext& tick, storage::Storage& storage, QueueStore& store,
            const UploadJob& job, const std::string& owner, Counts& n) {
    const auto& region = tick.region;
    const auto file_name = std::filesystem::path(job.local_path).filename().string();
    const std::string key = job.object_key
                                ? *job.object_key
                                : region.code + "/" + std::to_string(job.id) + "/" + file_name;
    std::string problem = check_local_file(job.local_path);
    if (problem.empty()) problem = storage::check_key(key);
    if (!problem.empty()) {
      spdlog::warn("region {}: upload job {} failed: {}", region.code, job.id, problem);
      if (store.fail(Queue::upload, job.id, owner, problem)) {
        ++n.failed;
        shared_->count_attempt(Queue::upload, "failed");
      } else {
        ++n.lost;
      }
      return;
    }
    try {
      storage.put_file(key, job.local_path, content_type_of(file_name));
    } catch (const storage::StorageError& e) {
      // Unreachable (no HTTP status, not a local problem): the caller fails the tick.
      if (e.status() == 0 && !e.permanent()) throw;
      // A local file that vanished between the check and the read fails at once.
      const bool local = e.status() == 0 && e.permanent();
      spdlog::warn("region {}: upload job {} ({}): {}", region.code, job.id, key, e.what());
      if (local) {
        if (store.fail(Queue::upload, job.id, owner, e.what())) {
          ++n.failed;
          shared_->count_attempt(Queue::upload, "failed");
        } else {
          ++n.lost;
        }
      } else {
        note_retry(
            store.retry(Queue::upload, job.id, owner, e.what(), retry_backoff(job.retry_count)), n);
      }
      return;
    }
    const auto url = storage::public_url(storage, shared_->config().cdn_base_url, key);
    if (store.complete_upload(job.id, owner, url)) {
      ++n.completed;
      shared_->count_attempt(Queue::upload, "completed");
    } else {
      // Another replica took the job over after our lease ran out; it completes it.
      spdlog::warn("region {}: upload job {} was taken over by another replica meanwhile",
                   region.code, job.id);
      ++n.lost;
    }
  }

  void note_retry(RetryOutcome outcome, Counts& n) {
    switch (outcome) {
      case RetryOutcome::retried:
        ++n.retried;
        shared_->count_attempt(Queue::upload, "retried");
        break;
      case RetryOutcome::failed:
        ++n.failed;
        shared_->count_attempt(Queue::upload, "failed");
        break;
      case RetryOutcome::lost:
        ++n.lost;
        break;
    }
  }

  void release(QueueStore& store, const UploadJob& job, const std::string& owner, Counts& n) {
    try {
      if (store.release(Queue::upload, job.id, owner)) {
        ++n.released;
        shared_->count_attempt(Queue::upload, "released");
      }
    } catch (const std::exception& e) {
      // Its lease runs out and it becomes due again by itself.
      spdlog::warn("upload job {}: could not hand it back: {}", job.id, e.what());
    }
  }

  std::shared_ptr<WorkShared> shared_;
};

}  // namespace

std::unique_ptr<Handler> make_upload_handler(std::shared_ptr<WorkShared> shared) {
  return std::make_unique<UploadHandler>(std::move(shared));
}

}  // namespace tickd::work
