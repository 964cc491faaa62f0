#pragma once
// How the service's parts wait and hand work off the event loop, as interfaces, so that
// their decisions run in tests on simulated time (tests/unit/sim_time.hpp) with no thread,
// socket or sleep:
// - Timer: one re-armable alarm on the event loop. arm() replaces whatever was armed;
//   `fire` runs on the loop once `after` has passed, unless cancel() or arm() came first.
//   (As with an Asio timer, a firing already queued on the loop when cancel() is called
//   still runs: callers that cancel keep their own flag when that matters.)
// - Timers: makes Timers; AsioTimers makes them on an io_context.
// - Offload: runs blocking work (database round trips) off the loop, e.g. on a thread
//   pool; the work posts its result back to the loop itself.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace tickd {

class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm(std::chrono::steady_clock::duration after, std::function<void()> fire) = 0;
  virtual void cancel() = 0;
};

class Timers {
 public:
  virtual std::unique_ptr<Timer> make() = 0;

 protected:
  ~Timers() = default;
};

using Offload = std::function<void(std::function<void()>)>;

// Timers on an Asio event loop: a steady_timer each, firing only when not cancelled.
class AsioTimers final : public Timers {
 public:
  explicit AsioTimers(boost::asio::io_context& loop) : loop_(loop) {}
  std::unique_ptr<Timer> make() override { return std::make_unique<AsioTimer>(loop_); }

 private:
  class AsioTimer final : public Timer {
   public:
    explicit AsioTimer(boost::asio::io_context& loop) : timer_(loop) {}
    void arm(std::chrono::steady_clock::duration after, std::function<void()> fire) override {
      timer_.expires_after(after);
      timer_.async_wait([fire = std::move(fire)](boost::system::error_code ec) {
        if (!ec) fire();
      });
    }
    void cancel() override { timer_.cancel(); }

   private:
    boost::asio::steady_timer timer_;
  };

  boost::asio::io_context& loop_;
};

}  // namespace tickd
