// `upload`: claims the region's due upload_jobs in batches, uploads each local file to
// object storage and marks it COMPLETED with its URL. A missing or unreadable local file, a
// refused object_key and a storage error that no retry can fix (4xx) fail the job at once; a
// 5xx, 429 or 408 sends it back to PENDING with backoff (or FAILED after max_retries).
// Storage that cannot be reached at all fails the tick (after rescheduling the job at hand
// and handing back the rest). The rule is publish's too: JobBook (work_shared.hpp).

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "tickd/db/database.hpp"
#include "work_shared.hpp"

namespace tickd::work {
namespace {

constexpr int kBatch = 16;

// Why `path` is not a readable regular file (naming the full path), if it is not.
std::optional<std::string> check_local_file(const std::string& path) {
  const auto where = "local file " + path + ": ";
  if (path.empty() || path.front() != '/') return where + "not an absolute path";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return where + std::strerror(errno);
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) return where + "not a regular file";
  return std::nullopt;
}

class UploadHandler final : public Handler {
 public:
  explicit UploadHandler(std::shared_ptr<WorkShared> shared) : shared_(std::move(shared)) {}

  HandlerCounts run(const TickContext& tick) override {
    auto& storage = shared_->storage();  // throws: no storage, no work
    // The attempt's timeout aborts the transfer under way too (shutdown lets it finish).
    const storage::CancelScope cancel([&tick] { return tick.cut_short(); });
    QueueStore store(tick.db);
    const auto& config = shared_->config();
    JobBook book(*shared_, store, Queue::upload, shared_->new_owner());
    LeaseKeeper keeper(store, Queue::upload, book.owner(), config.job_lease);
    while (!tick.should_stop()) {
      const auto jobs = store.claim_uploads(tick.region.id, book.owner(), config.job_lease, kBatch);
      if (jobs.empty()) break;
      book.claimed(jobs.size());
      for (const auto& job : jobs) keeper.hold(job.id);
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        const auto& job = jobs[i];
        if (tick.should_stop()) {
          book.release(job.id);
          keeper.drop(job.id);
          continue;
        }
        try {
          work(tick, storage, store, book, job);
        } catch (const storage::StorageError&) {
          // Storage unreachable: work() rescheduled this job; hand back the rest, fail the tick.
          for (std::size_t k = i + 1; k < jobs.size(); ++k) book.release(jobs[k].id);
          throw;
        }
        keeper.drop(job.id);
      }
    }
    return book.counts();
  }

 private:
  // Throws StorageError when storage could not be reached (after rescheduling the job).
  void work(const TickContext& tick, storage::Storage& storage, QueueStore& store, JobBook& book,
            const UploadJob& job) {
    const auto& region = tick.region;
    const auto file_name = std::filesystem::path(job.local_path).filename().string();
    const std::string key = job.object_key
                                ? *job.object_key
                                : region.code + "/" + std::to_string(job.id) + "/" + file_name;
    auto problem = check_local_file(job.local_path);
    if (!problem) problem = storage::check_key(key);
    if (problem) {
      spdlog::warn("region {}: upload job {} failed: {}", region.code, job.id, *problem);
      book.fail(job.id, *problem);
      return;
    }
    try {
      storage.put_file(key, job.local_path, content_type_of(file_name));
    } catch (const storage::StorageError& e) {
      // Unreachable storage is the tick's error, logged with it.
      if (fault_of(e) != JobFault::unreachable)
        spdlog::warn("region {}: upload job {} ({}): {}", region.code, job.id, key, e.what());
      if (book.settle(job.id, job.retry_count, e) == JobFault::unreachable) throw;
      return;
    }
    const auto url = storage::public_url(storage, shared_->config().cdn_base_url, key);
    const bool written = store.complete_upload(job.id, book.owner(), url);
    if (!written) {
      // Another replica took the job over after our lease ran out; it completes it.
      spdlog::warn("region {}: upload job {} was taken over by another replica meanwhile",
                   region.code, job.id);
    }
    book.completed(written);
  }

  std::shared_ptr<WorkShared> shared_;
};

}  // namespace

std::unique_ptr<Handler> make_upload_handler(std::shared_ptr<WorkShared> shared) {
  return std::make_unique<UploadHandler>(std::move(shared));
}

}  // namespace tickd::work
