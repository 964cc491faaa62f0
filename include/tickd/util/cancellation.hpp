#pragma once
// A cancel request for one running tick (`tickd region cancel`, POST .../cancel), shared
// by whoever cancels it (the replica's control feed) and whatever blocks on the tick's
// behalf: handlers poll requested(), and a blocking call that polling cannot reach (a
// statement on the server) registers an interrupt for the time it runs. Thread-safe.

#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace tickd {

class Cancellation final {
 public:
  // Asks the tick to stop, naming who asked; runs the registered interrupt, if any. Only
  // the first request counts.
  void cancel(const std::string& by) {
    std::function<void()> interrupt;
    {
      std::lock_guard lock(mutex_);
      if (by_) return;
      by_ = by;
      interrupt = interrupt_;
    }
    if (interrupt) interrupt();
  }
  bool requested() const {
    std::lock_guard lock(mutex_);
    return by_.has_value();
  }
  std::optional<std::string> by() const {
    std::lock_guard lock(mutex_);
    return by_;
  }

  // While alive, a cancel also calls `interrupt` (from the cancelling thread); a cancel
  // that came before calls it at once, here.
  class Interrupt final {
   public:
    Interrupt(Cancellation* c, std::function<void()> interrupt) : c_(c) {
      if (c_ == nullptr) return;
      bool already;
      {
        std::lock_guard lock(c_->mutex_);
        c_->interrupt_ = interrupt;
        already = c_->by_.has_value();
      }
      if (already) interrupt();
    }
    ~Interrupt() {
      if (c_ == nullptr) return;
      std::lock_guard lock(c_->mutex_);
      c_->interrupt_ = nullptr;
    }
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;

   private:
    Cancellation* c_;
  };

 private:
  mutable std::mutex mutex_;
  std::optional<std::string> by_;
  std::function<void()> interrupt_;
};

}  // namespace tickd
