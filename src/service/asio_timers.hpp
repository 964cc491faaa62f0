#pragma once
// Timers on an Asio event loop (the production Timers; see tickd/util/timer.hpp).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tickd/util/timer.hpp"

namespace tickd {

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
