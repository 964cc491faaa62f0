#include "tickd/dispatch/finisher.hpp"

#include <spdlog/spdlog.h>

#include <unordered_set>

namespace tickd {
namespace {
constexpr std::size_t kMaxBatch = 2'000;
}

Finisher::Finisher(TickStore& store, std::string replica_id,
                   std::chrono::milliseconds give_up_after, const Clock& clock, Pause pause)
    : store_(store),
      replica_id_(std::move(replica_id)),
      give_up_after_(give_up_after),
      clock_(clock),
      pause_(pause ? std::move(pause)
                   : Pause([](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); })),
      thread_([this] { loop(); }) {}

Finisher::~Finisher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Finisher::submit(Database::Finish finish, Callback done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(finish), std::move(done), clock_.mono()});
  }
  wake_.notify_one();
}

void Finisher::loop() {
  std::vector<Item> batch;
  auto pause = std::chrono::milliseconds(100);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !batch.empty(); });
      if (queue_.empty() && batch.empty()) return;  // stopping with nothing left
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.back()));
        queue_.pop_back();
      }
    }
    std::vector<Database::Finish> finishes;
    finishes.reserve(batch.size());
    for (const auto& item : batch) finishes.push_back(item.finish);
    try {
      const auto fenced_ids = store_.finish_batch(finishes, replica_id_);
      const std::unordered_set<std::int64_t> fenced(fenced_ids.begin(), fenced_ids.end());
      for (auto& item : batch) {
        item.done(fenced.contains(item.finish.run_id) ? Result::fenced : Result::written);
      }
      batch.clear();
      pause = std::chrono::milliseconds(100);
    } catch (const DbError& e) {
      // Keep the batch and retry. While the database is unreachable (a restart, a failover)
      // keep at it for as long as it takes: nobody takes over a live replica's rows, so an
      // end given up would leave its row `running` for good. A statement error, or a stop,
      // gives up ends older than the lease (shutdown marks its rows failed anyway).
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        stopping = stopping_;
      }
      const auto now = clock_.mono();
      std::erase_if(batch, [&](Item& item) {
        if ((!stopping && e.unavailable()) || now - item.since < give_up_after_) return false;
        spdlog::error("run {}: could not record its end: {}", item.finish.run_id, e.what());
        item.done(Result::gave_up);
        return true;
      });
      pause_(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(2'000));
    }
  }
}

}  // namespace tickd
