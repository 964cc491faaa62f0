#include "tickd/notify/sender.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "tickd/db/database.hpp"
#include "tickd/db/notification_store.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/notify/webhook.hpp"

namespace tickd {
namespace notify {

std::chrono::milliseconds delivery_backoff(int attempts_made, std::uint64_t draw) {
  const int doublings = std::clamp(attempts_made - 1, 0, 20);
  const auto ceiling = std::min<std::int64_t>(
      kBackoffCap.count(), kBackoffBase.count() * (std::int64_t{1} << doublings));
  const auto half = ceiling / 2;
  return std::chrono::milliseconds(
      half + static_cast<std::int64_t>(draw % static_cast<std::uint64_t>(ceiling - half + 1)));
}

}  // namespace notify

namespace {

constexpr std::size_t kBatch = 8;  // leased at once: 8 deliveries of at most 10 s fit the lease
constexpr std::chrono::milliseconds kLease{120'000};
constexpr std::chrono::seconds kPoll{1};
constexpr std::chrono::seconds kSampleEvery{15};
constexpr std::chrono::hours kPruneEvery{1};
constexpr std::size_t kPruneBatch = 5'000;

}  // namespace

NotificationSender::NotificationSender(NotificationStore& store, Metrics& metrics,
                                       Settings settings)
    : store_(store), metrics_(metrics), settings_(std::move(settings)) {}

NotificationSender::~NotificationSender() { stop(); }

void NotificationSender::start() {
  thread_ = std::jthread([this](std::stop_token stop) { loop(stop); });
}

void NotificationSender::notified() {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
  }
  wake_.notify_one();
}

void NotificationSender::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  wake_.notify_one();
  thread_.join();
}

void NotificationSender::loop(std::stop_token stop) {
  std::chrono::milliseconds backoff{0};  // after a database error
  while (!stop.stop_requested()) {
    bool more = false;
    try {
      housekeeping(std::chrono::steady_clock::now());
      more = deliver_due();
      backoff = {};
    } catch (const DbError& e) {
      backoff = std::min<std::chrono::milliseconds>(
          std::max(backoff * 2, std::chrono::milliseconds(1'000)), std::chrono::seconds(30));
      spdlog::warn("notifications: {} (next look in {} ms)", e.what(), backoff.count());
    }
    if (more && backoff.count() == 0) continue;
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, backoff.count() > 0 ? backoff : kPoll, [this] { return notified_; });
    notified_ = false;
  }
}

bool NotificationSender::deliver_due() {
  const auto leased = store_.lease(settings_.replica_id, kBatch, kLease);
  static thread_local std::mt19937_64 random{std::random_device{}()};
  for (const auto& n : leased) {
    const auto result =
        notify::post_event(n.url, n.event, n.payload, settings_.secret, notify::kDeliveryTimeout);
    if (result.ok()) {
      store_.delivered(n.id, settings_.replica_id);
      metrics_.count_notification(n.event, "delivered");
      continue;
    }
    const int attempts = n.attempts + 1;
    const auto retry_in = notify::delivery_backoff(attempts, random());
    const bool expired =
        store_.failed(n.id, settings_.replica_id, result.error, retry_in, notify::kGiveUpAfter);
    metrics_.count_notification(n.event, expired ? "expired" : "failed");
    if (expired) {
      spdlog::error("notification {} ({}) given up after {} attempts in 24 h: {}", n.id, n.event,
                    attempts, result.error);
    } else {
      spdlog::warn("notification {} ({}) attempt {} failed: {}; tried again in {} s", n.id, n.event,
                   attempts, result.error, retry_in.count() / 1000);
    }
  }
  return leased.size() == kBatch;
}

void NotificationSender::housekeeping(std::chrono::steady_clock::time_point now) {
  if (now >= next_sample_) {
    next_sample_ = now + kSampleEvery;
    const auto outbox = store_.outbox();
    metrics_.set_notification_outbox(outbox.depth, outbox.oldest_seconds);
  }
  if (now >= next_prune_) {
    next_prune_ = now + kPruneEvery;
    std::size_t pruned = 0;
    for (std::size_t n = kPruneBatch; n == kPruneBatch;) {
      n = store_.prune(settings_.retention_days, kPruneBatch);
      pruned += n;
    }
    if (pruned > 0) spdlog::info("notifications: pruned {} old row(s)", pruned);
  }
}

}  // namespace tickd
