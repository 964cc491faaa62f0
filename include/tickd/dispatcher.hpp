#pragma once
// The concurrency cap. Due ticks enter here on the event loop; at most `concurrency`
// run at once (each on a worker thread, via TickRunner). A tick that finds every slot
// taken waits, unclaimed, in arrival order until its start deadline; past that it is
// counted `skipped` and dropped, never run late in a burst.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>

#include "tickd/clock.hpp"
#include "tickd/metrics.hpp"
#include "tickd/schedule.hpp"
#include "tickd/tick_runner.hpp"  // TickReport

namespace tickd {

class Dispatcher final {
 public:
  // Runs one tick to its end on a worker thread (TickRunner::run in the service).
  using Run = std::function<TickReport(const DueTick&)>;
  // Called on the loop once a tick is done and its slot is free.
  using OnFinished = std::function<void(const DueTick&, const TickReport&)>;

  Dispatcher(boost::asio::io_context& loop, boost::asio::thread_pool& workers, Run run,
             Metrics& metrics, const Clock& clock, unsigned concurrency, OnFinished on_finished);

  void submit(DueTick tick);
  // Stop taking ticks: the waiting ones are dropped (counted skipped), in-flight ones
  // finish. Returns how many were dropped.
  std::size_t stop();
  std::size_t inflight() const { return inflight_; }
  std::size_t waiting() const { return waiting_.size(); }

 private:
  void pump();
  void start(DueTick tick);
  void arm_expiry();

  boost::asio::io_context& loop_;
  boost::asio::thread_pool& workers_;
  Run run_;
  Metrics& metrics_;
  const Clock& clock_;
  const unsigned concurrency_;
  OnFinished on_finished_;
  std::deque<DueTick> waiting_;
  boost::asio::steady_timer expiry_;
  std::size_t inflight_ = 0;
  bool stopped_ = false;
};

}  // namespace tickd
