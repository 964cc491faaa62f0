#pragma once
// healthchecks.io-style pings of a region's ping_url (spec: "Notifications"):
// `<ping_url>/start` when a tick starts, `<ping_url>` when it ends ok, `<ping_url>/fail`
// otherwise. Best effort: queued and sent by a thread of their own with a short timeout, so
// a slow ping endpoint never delays a tick; when the queue is full the oldest is dropped
// (counted in the log).

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace tickd {

class Pinger final {
 public:
  static constexpr std::size_t kQueueLimit = 1'000;
  Pinger();
  ~Pinger();  // drops what is queued, waits for a ping in flight
  Pinger(const Pinger&) = delete;
  Pinger& operator=(const Pinger&) = delete;

  enum class Kind { start, success, fail };
  // The URL of a ping of `kind` on `ping_url` (a trailing slash is not doubled).
  static std::string url_of(std::string_view ping_url, Kind kind);
  void send(std::string_view ping_url, Kind kind);

 private:
  void loop(std::stop_token stop);

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<std::string> queue_;
  std::size_t dropped_ = 0;
  std::jthread thread_;
};

}  // namespace tickd
