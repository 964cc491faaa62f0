#pragma once
// How long each region's tick_sql has recently held a connection: an exponentially weighted
// mean per region id, which the handler pool uses as the expected hold time of the next run
// (basic_pool.hpp). A region not seen yet expects zero (short). Thread-safe.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace tickd::db {

class HoldTimes final {
 public:
  std::chrono::milliseconds expected(std::int64_t key) const;
  void record(std::int64_t key, std::chrono::steady_clock::duration held);

  // Records, when it goes out of scope (returning or throwing), how long it lived.
  class Timing final {
   public:
    Timing(HoldTimes& times, std::int64_t key)
        : times_(times), key_(key), start_(std::chrono::steady_clock::now()) {}
    Timing(const Timing&) = delete;
    Timing& operator=(const Timing&) = delete;
    ~Timing() { times_.record(key_, std::chrono::steady_clock::now() - start_); }

   private:
    HoldTimes& times_;
    const std::int64_t key_;
    const std::chrono::steady_clock::time_point start_;
  };
  [[nodiscard]] Timing time(std::int64_t key) { return Timing(*this, key); }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, double> mean_ms_;
};

}  // namespace tickd::db
