#pragma once
// How the service's parts wait and hand work off the event loop, as interfaces, so that
// their decisions run in tests on simulated time (tests/unit/sim_time.hpp) with no thread,
// socket or sleep:
// - Timer: one re-armable alarm on the event loop. arm() replaces whatever was armed;
//   `fire` runs on the loop once `after` has passed, unless cancel() or arm() came first.
//   (As with an Asio timer, a firing already queued on the loop when cancel() is called
//   still runs: callers that cancel keep their own flag when that matters.)
// - Timers: makes Timers; AsioTimers (src/service/asio_timers.hpp) makes them on an
//   io_context.
// - Offload: runs blocking work (database round trips) off the loop, e.g. on a thread
//   pool; the work posts its result back to the loop itself.

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

}  // namespace tickd
