#pragma once
// Simulated time for the service's parts: a Clock whose two readings the test moves, and
// the Timers that run on it (time owns the alarms, as in Envoy's simulated time).
// advance() moves both readings and fires each timer due on the way at its exact instant,
// in order (ties in the order they were armed); step_wall() steps the wall reading alone,
// as NTP or an operator steps a host's clock. Nothing sleeps and no thread is started.
// The readings may be read from any thread; timers are armed and fired on the test's.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "tickd/util/timer.hpp"
#include "tickd/util/clock.hpp"

namespace tickd::test {

class SimTime final : public Clock, public Timers {
 public:
  using Wall = std::chrono::system_clock::time_point;
  using Mono = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  // Monotonic time starts at an arbitrary 1,000 s, unrelated to the wall reading.
  explicit SimTime(Wall wall, Mono mono = Mono(std::chrono::seconds(1'000)))
      : wall_(wall.time_since_epoch().count()), mono_(mono.time_since_epoch().count()) {}

  Wall wall() const override { return Wall(Wall::duration(wall_.load())); }
  Mono mono() const override { return Mono(Mono::duration(mono_.load())); }

  std::unique_ptr<Timer> make() override { return std::make_unique<SimTimer>(*this); }

  // Moves both readings by `d`, firing every timer that comes due on the way at its instant.
  void advance(Duration d) {
    if (d < Duration::zero()) throw std::invalid_argument("SimTime: monotonic time goes forward");
    const auto target = mono() + d;
    for (int fired = 0;; ++fired) {
      if (fired > 1'000'000) throw std::logic_error("SimTime: a timer re-arms without end");
      auto next = alarms_.begin();
      if (next == alarms_.end() || next->first.first > target) break;
      const auto at = next->first.first;
      auto fire = std::move(next->second.fire);
      next->second.timer->key_.reset();
      alarms_.erase(next);
      move_to(at);
      fire();
    }
    move_to(target);
  }

  // Steps the wall reading alone (monotonic time does not move; no timer fires).
  void step_wall(std::chrono::system_clock::duration d) { wall_ += d.count(); }

  std::size_t armed() const { return alarms_.size(); }
  // How long until the next timer fires; nullopt when none is armed.
  std::optional<Duration> next_alarm() const {
    if (alarms_.empty()) return std::nullopt;
    return alarms_.begin()->first.first - mono();
  }

 private:
  using Key = std::pair<Mono, std::uint64_t>;  // expiry, then arming order

  class SimTimer final : public Timer {
   public:
    explicit SimTimer(SimTime& time) : time_(time) {}
    ~SimTimer() override { cancel(); }
    void arm(Duration after, std::function<void()> fire) override {
      cancel();
      key_ = Key{time_.mono() + after, ++time_.armed_count_};
      time_.alarms_.emplace(*key_, Alarm{this, std::move(fire)});
    }
    void cancel() override {
      if (key_) time_.alarms_.erase(*key_);
      key_.reset();
    }

   private:
    friend class SimTime;
    SimTime& time_;
    std::optional<Key> key_;
  };

  struct Alarm {
    SimTimer* timer;
    std::function<void()> fire;
  };

  void move_to(Mono at) {
    const auto by = at - mono();
    mono_ += by.count();
    wall_ += std::chrono::duration_cast<Wall::duration>(by).count();
  }

  std::atomic<Wall::rep> wall_;
  std::atomic<Mono::rep> mono_;
  std::map<Key, Alarm> alarms_;
  std::uint64_t armed_count_ = 0;
};

}  // namespace tickd::test
