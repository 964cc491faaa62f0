#pragma once
// Delivers the notification outbox (sql/006_handlers.sql) from this replica, on a thread of
// its own: woken when events are added (tickd_control) and every second anyway, it leases
// a few due rows (replicas share the work through FOR UPDATE SKIP LOCKED), POSTs each, and
// records the outcome. A failed delivery is tried again with backoff until 24 h after its
// event, then expired. Also samples the outbox for the metrics and prunes old rows.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace tickd {

class Metrics;
class NotificationStore;

namespace notify {

inline constexpr std::chrono::milliseconds kDeliveryTimeout{10'000};
inline constexpr std::chrono::hours kGiveUpAfter{24};
inline constexpr std::chrono::milliseconds kBackoffBase{2'000};
inline constexpr std::chrono::milliseconds kBackoffCap{3'600'000};

// The wait after `attempts_made` failed deliveries (>= 1): base * 2^(n-1), capped at 1 h,
// "equal jitter" (in [d/2, d], the point chosen by `draw`) so that rows failed together do
// not come back together.
std::chrono::milliseconds delivery_backoff(int attempts_made, std::uint64_t draw);

}  // namespace notify

class NotificationSender final {
 public:
  struct Settings {
    std::string replica_id;
    std::string secret;  // NOTIFY_SECRET; empty: unsigned
    unsigned retention_days = 30;
  };
  NotificationSender(NotificationStore& store, Metrics& metrics, Settings settings);
  ~NotificationSender();  // stops
  NotificationSender(const NotificationSender&) = delete;
  NotificationSender& operator=(const NotificationSender&) = delete;

  void start();
  void notified();  // events were added: look now
  void stop();      // waits for a delivery in progress (at most its timeout)

 private:
  void loop(std::stop_token stop);
  bool deliver_due();  // true: a full batch was leased (look again at once)
  void housekeeping(std::chrono::steady_clock::time_point now);

  NotificationStore& store_;
  Metrics& metrics_;
  const Settings settings_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool notified_ = false;
  std::chrono::steady_clock::time_point next_sample_{}, next_prune_{};
  std::jthread thread_;
};

}  // namespace tickd
