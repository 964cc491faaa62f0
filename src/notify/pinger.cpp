#include "tickd/notify/pinger.hpp"

#include <spdlog/spdlog.h>

#include "tickd/notify/webhook.hpp"

namespace tickd {
namespace {

constexpr std::chrono::milliseconds kPingTimeout{5'000};

}  // namespace

Pinger::Pinger() : thread_([this](std::stop_token stop) { loop(stop); }) {}

Pinger::~Pinger() {
  thread_.request_stop();
  wake_.notify_one();
}

std::string Pinger::url_of(std::string_view ping_url, Kind kind) {
  std::string url(ping_url);
  if (kind == Kind::success) return url;
  // The suffix goes into the path, before any query.
  const auto query = url.find_first_of("?#");
  std::string path = url.substr(0, query);
  const std::string rest = query == std::string::npos ? "" : url.substr(query);
  if (!path.empty() && path.back() == '/') path.pop_back();
  return path + (kind == Kind::start ? "/start" : "/fail") + rest;
}

void Pinger::send(std::string_view ping_url, Kind kind) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kQueueLimit) {
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(url_of(ping_url, kind));
  }
  wake_.notify_one();
}

void Pinger::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::string url;
    std::size_t dropped = 0;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [this] { return !queue_.empty(); })) return;
      url = std::move(queue_.front());
      queue_.pop_front();
      dropped = std::exchange(dropped_, 0);
    }
    if (dropped > 0) spdlog::warn("pings: {} dropped (the queue was full)", dropped);
    const auto result = notify::ping(url, kPingTimeout);
    if (!result.ok()) spdlog::warn("ping failed: {}", result.error);
  }
}

}  // namespace tickd
