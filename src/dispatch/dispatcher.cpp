#include "tickd/dispatcher.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace tickd {

Dispatcher::Dispatcher(boost::asio::io_context& loop, boost::asio::thread_pool& workers,
                       Run run, Metrics& metrics, const Clock& clock,
                       unsigned concurrency, OnFinished on_finished)
    : loop_(loop),
      workers_(workers),
      run_(std::move(run)),
      metrics_(metrics),
      clock_(clock),
      concurrency_(concurrency),
      on_finished_(std::move(on_finished)),
      expiry_(loop) {}

void Dispatcher::submit(DueTick tick) {
  if (stopped_) {
    metrics_.count_tick(TickOutcome::skipped);
    return;
  }
  waiting_.push_back(std::move(tick));
  pump();
}

void Dispatcher::pump() {
  const auto now = clock_.wall();
  std::size_t expired = 0;
  // Expired ticks are dropped wherever they wait, not only at the head: a full
  // replica must still count them when their deadline passes.
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (now > it->deadline) {
      ++expired;
      metrics_.count_tick(TickOutcome::skipped);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  if (expired > 0) {
    spdlog::warn("{} tick(s) skipped: no free slot (CONCURRENCY={}) before their deadline",
                 expired, concurrency_);
  }
  while (inflight_ < concurrency_ && !waiting_.empty()) {
    DueTick tick = std::move(waiting_.front());
    waiting_.pop_front();
    start(std::move(tick));
  }
  arm_expiry();
}

void Dispatcher::arm_expiry() {
  if (waiting_.empty()) {
    expiry_.cancel();
    return;
  }
  auto earliest = waiting_.front().deadline;
  for (const auto& t : waiting_) earliest = std::min(earliest, t.deadline);
  const auto wait = earliest - clock_.wall() + std::chrono::milliseconds(1);
  expiry_.expires_after(std::max<std::chrono::steady_clock::duration>(wait, {}));
  expiry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) pump();
  });
}

void Dispatcher::start(DueTick tick) {
  ++inflight_;
  metrics_.set_inflight(inflight_);
  boost::asio::post(workers_, [this, tick = std::move(tick)]() mutable {
    TickReport report = run_(tick);
    boost::asio::post(loop_, [this, tick = std::move(tick), report = std::move(report)] {
      --inflight_;
      metrics_.set_inflight(inflight_);
      if (on_finished_) on_finished_(tick, report);
      if (!stopped_) pump();
    });
  });
}

std::size_t Dispatcher::stop() {
  stopped_ = true;
  const std::size_t dropped = waiting_.size();
  for (std::size_t i = 0; i < dropped; ++i) metrics_.count_tick(TickOutcome::skipped);
  waiting_.clear();
  expiry_.cancel();
  return dropped;
}

}  // namespace tickd
