#include "work_shared.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <random>

namespace tickd::work {

WorkShared::WorkShared(const Config& config, Metrics* metrics)
    : config_(config),
      metrics_(metrics),
      publish_slots_(static_cast<std::ptrdiff_t>(std::clamp(config.publish_concurrency, 1u, 64u))),
      maintenance_(config.database_url.empty() ? nullptr : start_maintenance(config, metrics)) {}

WorkShared::~WorkShared() { stop_maintenance(maintenance_); }

storage::Storage& WorkShared::storage() {
  const std::lock_guard lock(storage_mutex_);
  if (!storage_) {
    storage::Settings s;
    s.url = config_.storage_url;
    s.access_key_id = config_.storage_access_key_id;
    s.secret_access_key = config_.storage_secret_access_key;
    s.multipart_threshold = config_.storage_multipart_threshold;
    storage_ = storage::open(s, metrics_);
  }
  return *storage_;
}

std::string WorkShared::new_owner() {
  static std::atomic<std::uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06llx", static_cast<unsigned long long>(rng() & 0xffffff));
  return config_.replica_id + "/" + std::to_string(++counter) + "-" + buf;
}

void WorkShared::count_attempt(Queue q, QueueResult result) const {
  if (metrics_ != nullptr) metrics_->count_queue_attempt(q, result);
}

LeaseKeeper::LeaseKeeper(QueueStore& store, Queue queue, std::string owner,
                         std::chrono::milliseconds lease)
    : store_(store),
      queue_(queue),
      owner_(std::move(owner)),
      lease_(lease),
      thread_([this](std::stop_token stop) { loop(stop); }) {}

LeaseKeeper::~LeaseKeeper() {
  thread_.request_stop();
  wake_.notify_all();
}

void LeaseKeeper::hold(std::int64_t id) {
  const std::lock_guard lock(mutex_);
  ids_.insert(id);
}

void LeaseKeeper::drop(std::int64_t id) {
  const std::lock_guard lock(mutex_);
  ids_.erase(id);
}

void LeaseKeeper::loop(std::stop_token stop) {
  const auto period = std::max(lease_ / 3, std::chrono::milliseconds(100));
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    wake_.wait_for(lock, stop, period, [] { return false; });
    if (stop.stop_requested()) break;
    std::vector<std::int64_t> ids(ids_.begin(), ids_.end());
    lock.unlock();
    try {
      const auto renewed = store_.renew(queue_, ids, owner_, lease_);
      if (renewed < ids.size()) {
        spdlog::warn("{} jobs: {} of {} leases of {} could not be renewed (taken over?)",
                     to_string(queue_), ids.size() - renewed, ids.size(), owner_);
      }
    } catch (const std::exception& e) {
      spdlog::warn("{} jobs: renewing leases: {}", to_string(queue_), e.what());
    }
    lock.lock();
  }
}

std::chrono::milliseconds retry_backoff(int retry_count) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const std::int64_t base =
      std::min<std::int64_t>(3'600'000, 2'000LL << std::clamp(retry_count, 0, 20));
  std::uniform_int_distribution<std::int64_t> jitter(base / 2, base);
  return std::chrono::milliseconds(jitter(rng));
}

JobFault fault_of(const storage::StorageError& e) {
  if (e.permanent()) return JobFault::permanent;
  return e.status() == 0 ? JobFault::unreachable : JobFault::transient;
}

JobBook::JobBook(WorkShared& shared, QueueStore& store, Queue queue, std::string owner)
    : shared_(shared), store_(store), queue_(queue), owner_(std::move(owner)) {}

void JobBook::completed(bool written) {
  if (written) {
    ++completed_;
    shared_.count_attempt(queue_, QueueResult::completed);
  } else {
    ++lost_;
  }
}

void JobBook::fail(std::int64_t id, const std::string& error) {
  if (store_.fail(queue_, id, owner_, error)) {
    ++failed_;
    shared_.count_attempt(queue_, QueueResult::failed);
  } else {
    ++lost_;
  }
}

void JobBook::retry(std::int64_t id, int retry_count, const std::string& error) {
  switch (store_.retry(queue_, id, owner_, error, retry_backoff(retry_count))) {
    case RetryOutcome::retried:
      ++retried_;
      shared_.count_attempt(queue_, QueueResult::retried);
      break;
    case RetryOutcome::failed:
      ++failed_;
      shared_.count_attempt(queue_, QueueResult::failed);
      break;
    case RetryOutcome::lost:
      ++lost_;
      break;
  }
}

JobFault JobBook::settle(std::int64_t id, int retry_count, const storage::StorageError& e) {
  const JobFault fault = fault_of(e);
  if (fault == JobFault::permanent) {
    fail(id, e.what());
  } else {
    retry(id, retry_count, e.what());
  }
  return fault;
}

void JobBook::release(std::int64_t id) {
  try {
    if (store_.release(queue_, id, owner_)) {
      ++released_;
      shared_.count_attempt(queue_, QueueResult::released);
    }
  } catch (const std::exception& e) {
    spdlog::warn("{} job {}: could not hand it back: {}", to_string(queue_), id, e.what());
  }
}

HandlerCounts JobBook::counts() const {
  return {{"claimed", claimed_.load()},   {"completed", completed_.load()},
          {"retried", retried_.load()},   {"failed", failed_.load()},
          {"released", released_.load()}, {"lost", lost_.load()}};
}

std::string content_type_of(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::pair<const char*, const char*> kTypes[] = {
      {"wav", "audio/wav"},       {"mp3", "audio/mpeg"},      {"flac", "audio/flac"},
      {"ogg", "audio/ogg"},       {"m4a", "audio/mp4"},       {"aac", "audio/aac"},
      {"jpg", "image/jpeg"},      {"jpeg", "image/jpeg"},     {"png", "image/png"},
      {"webp", "image/webp"},     {"gif", "image/gif"},       {"json", "application/json"},
      {"txt", "text/plain"},      {"pdf", "application/pdf"}, {"mp4", "video/mp4"},
      {"zip", "application/zip"},
  };
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

}  // namespace tickd::work
