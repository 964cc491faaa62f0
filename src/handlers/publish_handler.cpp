// `publish`: claims the region's due publish_jobs, fetches each source (a storage key, or an
// http(s) URL, with PUBLISH_SOURCE_TOKEN only on PUBLISH_SOURCE_HOSTS), refuses images over
// PUBLISH_MAX_PIXELS from their header alone, writes WebP variants with libvips and uploads
// them under <region code>/<job id>/<variant>.webp. PUBLISH_CONCURRENCY bounds the images in
// work at once across the replica. A missing source, a refused token and a corrupt, unsupported
// or oversized image fail the job at once; transient failures retry with backoff, by the rule
// upload follows too (JobBook in work_shared.hpp).

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vips/vips8>

#include "tickd/db/database.hpp"
#include "tickd/handlers/source_token.hpp"
#include "tickd/util/json.hpp"
#include "work_shared.hpp"

namespace tickd::work {
namespace {

namespace fs = std::filesystem;

struct Variant {
  const char* name;
  int width;
};
constexpr Variant kVariants[] = {{"thumb", 400}, {"display", 1600}};

std::once_flag vips_once;

void init_vips() {
  std::call_once(vips_once, [] {
    if (VIPS_INIT("tickd") != 0) throw std::runtime_error("libvips could not be initialised");
    // Sources are temp files, each read once: caching operations would only hold memory
    // and descriptors of deleted files.
    vips_cache_set_max(0);
  });
}

// A job that cannot succeed however often it is tried.
struct Permanent : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string first_line(std::string s) {
  const auto nl = s.find('\n');
  if (nl != std::string::npos) s.erase(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

class TempDir final {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "tickd-publish-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error("cannot create a temp directory");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class PublishHandler final : public Handler {
 public:
  explicit PublishHandler(std::shared_ptr<WorkShared> shared) : shared_(std::move(shared)) {}

  HandlerCounts run(const TickContext& tick) override {
    init_vips();
    auto& storage = shared_->storage();
    QueueStore store(tick.db);
    const auto& config = shared_->config();
    JobBook book(*shared_, store, Queue::publish, shared_->new_owner());
    LeaseKeeper keeper(store, Queue::publish, book.owner(), config.job_lease);
    std::mutex failure_mutex;
    std::exception_ptr failure;  // storage unreachable or the database lost: the tick fails
    const int width = static_cast<int>(std::clamp(config.publish_concurrency, 1u, 64u));
    while (!tick.should_stop() && !failure) {
      const auto jobs =
          store.claim_publishes(tick.region.id, book.owner(), config.job_lease, width);
      if (jobs.empty()) break;
      book.claimed(jobs.size());
      for (const auto& job : jobs) keeper.hold(job.id);
      std::atomic<std::size_t> next{0};
      const auto worker = [&] {
        // The attempt's timeout aborts the transfer under way too (shutdown lets it finish).
        const storage::CancelScope cancel([&tick] { return tick.cut_short(); });
        for (std::size_t i; (i = next++) < jobs.size();) {
          const auto& job = jobs[i];
          bool stop_now = tick.should_stop();
          {
            const std::lock_guard lock(failure_mutex);
            stop_now = stop_now || failure != nullptr;
          }
          if (stop_now) {
            book.release(job.id);
          } else {
            shared_->publish_slots().acquire();
            try {
              work(tick, storage, store, book, job);
            } catch (...) {
              // A job left `processing` here is due again once its lease runs out.
              const std::lock_guard lock(failure_mutex);
              if (!failure) failure = std::current_exception();
            }
            shared_->publish_slots().release();
          }
          keeper.drop(job.id);
        }
      };
      std::vector<std::jthread> threads;
      for (int t = 1; t < std::min<int>(width, static_cast<int>(jobs.size())); ++t)
        threads.emplace_back(worker);
      worker();
      threads.clear();  // joins
    }
    if (failure) std::rethrow_exception(failure);
    return book.counts();
  }

 private:
  // Throws StorageError when storage (or the source) could not be reached, after
  // rescheduling the job.
  void work(const TickContext& tick, storage::Storage& storage, QueueStore& store, JobBook& book,
            const PublishJob& job) {
    const auto& config = shared_->config();
    const auto& code = tick.region.code;
    try {
      TempDir dir;
      const fs::path source = dir.path() / "source";
      fetch(storage, job.source, source);
      json::Writer variants;
      variants.begin_object();
      for (const auto& v : render(job.source, source, dir.path())) {
        const std::string key = code + "/" + std::to_string(job.id) + "/" + v.first + ".webp";
        storage.put_file(key, v.second, "image/webp");
        variants.key(v.first).value(storage::public_url(storage, config.cdn_base_url, key));
      }
      variants.end_object();
      const bool written = store.complete_publish(job.id, book.owner(), variants.str());
      if (!written) {
        spdlog::warn("region {}: publish job {} was taken over by another replica meanwhile", code,
                     job.id);
      }
      book.completed(written);
    } catch (const Permanent& e) {
      spdlog::warn("region {}: publish job {} failed: {}", code, job.id, e.what());
      book.fail(job.id, e.what());
    } catch (const storage::StorageError& e) {
      if (fault_of(e) == JobFault::permanent) {
        spdlog::warn("region {}: publish job {} failed: {}", code, job.id, e.what());
      } else {
        spdlog::warn("region {}: publish job {}: {}", code, job.id, e.what());
      }
      if (book.settle(job.id, job.retry_count, e) == JobFault::unreachable) throw;
    }
  }

  void fetch(storage::Storage& storage, const std::string& source, const fs::path& to) {
    const auto& config = shared_->config();
    if (source.starts_with("http://") || source.starts_with("https://")) {
      storage::Settings s;
      // The token only where the operator sends it (PUBLISH_SOURCE_HOSTS): a row may name
      // any URL, and must not be able to collect the token.
      const bool token =
          handlers::source_token_allowed(source, split_config_list(config.publish_source_hosts));
      storage::fetch_url(source, token ? config.publish_source_token : std::string(), to, s,
                         shared_->metrics());
      return;
    }
    if (auto problem = storage::check_key(source)) {
      throw Permanent("source: " + *problem + " (expected a storage key or an http(s) URL)");
    }
    storage.get_file(source, to);
  }

  // The variants as (name, file), written next to `source`.
  std::vector<std::pair<std::string, fs::path>> render(const std::string& shown,
                                                       const fs::path& source,
                                                       const fs::path& dir) {
    const auto& config = shared_->config();
    std::vector<std::pair<std::string, fs::path>> out;
    try {
      // Opening reads the header only: the pixel count is checked before anything is decoded.
      const auto header = vips::VImage::new_from_file(
          source.c_str(), vips::VImage::option()->set("access", VIPS_ACCESS_SEQUENTIAL));
      const auto pixels =
          static_cast<std::uint64_t>(header.width()) * static_cast<std::uint64_t>(header.height());
      if (pixels > config.publish_max_pixels) {
        throw Permanent("image " + shown + " is " + std::to_string(header.width()) + "x" +
                        std::to_string(header.height()) + " = " + std::to_string(pixels) +
                        " pixels, over PUBLISH_MAX_PIXELS (" +
                        std::to_string(config.publish_max_pixels) + ")");
      }
      for (const auto& v : kVariants) {
        const auto image = vips::VImage::thumbnail(source.c_str(), v.width,
                                                   vips::VImage::option()
                                                       ->set("height", VIPS_MAX_COORD)
                                                       ->set("size", VIPS_SIZE_DOWN)
                                                       ->set("fail_on", VIPS_FAIL_ON_ERROR));
        const fs::path file = dir / (std::string(v.name) + ".webp");
        image.webpsave(file.c_str(), vips::VImage::option()
                                         ->set("Q", static_cast<int>(config.publish_quality))
                                         ->set("strip", true));
        out.emplace_back(v.name, file);
      }
    } catch (const vips::VError& e) {
      vips_error_clear();
      throw Permanent("corrupt or unsupported image " + shown + ": " + first_line(e.what()));
    }
    return out;
  }

  std::shared_ptr<WorkShared> shared_;
};

}  // namespace

std::unique_ptr<Handler> make_publish_handler(std::shared_ptr<WorkShared> shared) {
  return std::make_unique<PublishHandler>(std::move(shared));
}

}  // namespace tickd::work
