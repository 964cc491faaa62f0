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
#include <utility>
#include <variant>
#include <vector>

#include "tickd/db/database.hpp"
#include "work_shared.hpp"

namespace tickd::work {
namespace {

constexpr int kBatch = 16;

// A file descriptor, closed with its owner.
class Fd final {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens `path` for reading only if it lies inside `root` (UPLOAD_ROOT): absolute and under
// the root, or relative to it; walked one name at a time from the root's descriptor with
// O_NOFOLLOW, so that neither '..' nor a symlink (anywhere on the way) can lead out, and
// nothing can be swapped between a check and the read. A regular file, or why not (naming
// the path).
std::variant<Fd, std::string> open_confined(const std::string& root, const std::string& path) {
  const auto where = "local file " + path + ": ";
  if (root.empty()) return where + "UPLOAD_ROOT is not set: upload reads no local file";
  std::string_view rest = path;
  if (rest.starts_with('/')) {
    if (!rest.starts_with(root) ||
        (rest.size() > root.size() && rest[root.size()] != '/' && root != "/")) {
      return where + "outside UPLOAD_ROOT (" + root + ")";
    }
    rest.remove_prefix(root.size());
  }
  Fd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0) return where + "UPLOAD_ROOT " + root + ": " + std::strerror(errno);
  std::vector<std::string> names;
  for (std::size_t start = 0; start <= rest.size();) {
    const auto slash = std::min(rest.find('/', start), rest.size());
    const auto name = rest.substr(start, slash - start);
    start = slash + 1;
    if (name.empty() || name == ".") continue;
    if (name == "..") return where + "'..' may not lead out of UPLOAD_ROOT";
    names.emplace_back(name);
  }
  if (names.empty()) return where + "names no file";
  for (std::size_t i = 0; i < names.size(); ++i) {
    const bool last = i + 1 == names.size();
    const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY);
    Fd next(::openat(dir.get(), names[i].c_str(), flags));
    if (next.get() < 0) {
      const int e = errno;
      if (e == ELOOP || (e == ENOTDIR && !last))
        return where + "a symlink or not a directory on the way";
      return where + std::strerror(e);
    }
    dir = std::move(next);
  }
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0 || !S_ISREG(st.st_mode)) return where + "not a regular file";
  return dir;
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
    auto opened = open_confined(shared_->config().upload_root, job.local_path);
    std::optional<std::string> problem;
    if (const auto* error = std::get_if<std::string>(&opened)) problem = *error;
    if (!problem) problem = storage::check_key(key);
    if (problem) {
      spdlog::warn("region {}: upload job {} failed: {}", region.code, job.id, *problem);
      book.fail(job.id, *problem);
      return;
    }
    // The backend reads the very file opened above, through its descriptor.
    const auto opened_path = "/proc/self/fd/" + std::to_string(std::get<Fd>(opened).get());
    try {
      storage.put_file(key, opened_path, content_type_of(file_name));
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
