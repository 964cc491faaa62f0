#pragma once
// Stand-ins for the database and the handlers, and small builders, shared by the unit
// tests of the dispatch and service parts. No I/O: a test scripts what the "database"
// answers and reads back what was asked of it.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "tickd/cron/cron.hpp"
#include "tickd/db/database.hpp"
#include "tickd/dispatch/tick_store.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/schedule/schedule.hpp"

namespace tickd::test {

// The value of the unlabelled (or fully labelled) series `series` in `metrics`, e.g.
// metric(m, "tickd_db_up") or metric(m, "tickd_ticks_total{outcome=\"skipped\"}").
inline double metric(Metrics& metrics, const std::string& series) {
  std::istringstream text(metrics.serialize());
  for (std::string line; std::getline(text, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  FAIL("no series " << series);
  return 0;
}

inline RegionRow row(std::int64_t id, std::string cron = "* * * * * *",
                     std::vector<std::string> handlers = {"region"}) {
  return RegionRow{id, "r" + std::to_string(id), std::move(cron), "UTC", std::move(handlers), {}};
}

// `r` as scheduled: its expression parsed, its zone found (both valid, or the test fails).
inline RegionPtr scheduled(RegionRow r) {
  auto expr = cron::parse(r.cron_schedule);
  auto zone = cron::find_zone(r.timezone);
  REQUIRE(std::holds_alternative<cron::Expr>(expr));
  REQUIRE(std::holds_alternative<const date::time_zone*>(zone));
  auto region = std::make_shared<ScheduledRegion>();
  region->expr = std::get<cron::Expr>(expr);
  region->zone = std::get<const date::time_zone*>(zone);
  region->row = std::make_shared<RegionRow>(std::move(r));
  return region;
}

// A tick of region `id` (every second, UTC) at `instant`, startable until `deadline`.
inline DueTick tick(std::int64_t id, std::chrono::sys_seconds instant, Millis deadline,
                    std::vector<std::string> handlers = {"region"}) {
  return DueTick{scheduled(row(id, "* * * * * *", std::move(handlers))), instant, deadline};
}

// A handler that does what the test says (by default: nothing, successfully) and counts
// its runs.
class FakeHandler final : public Handler {
 public:
  std::function<HandlerCounts(const TickContext&)> body = [](const TickContext&) {
    return HandlerCounts{};
  };
  HandlerCounts run(const TickContext& tick) override {
    {
      std::lock_guard lock(mutex);
      ++runs;
    }
    return body(tick);
  }
  std::mutex mutex;
  int runs = 0;
};

// A registry whose `region` handler is `handler` (owned by the registry).
inline HandlerRegistry registry_with(FakeHandler*& handler, const std::string& name = "region") {
  HandlerRegistry registry;
  auto h = std::make_unique<FakeHandler>();
  handler = h.get();
  registry.add(name, std::move(h));
  return registry;
}

// What other threads report, collected; wait() blocks (on a condition, not a sleep) until
// `n` have come, failing the test after 30 s.
template <typename T>
class Inbox {
 public:
  void add(T item) {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(item));
    arrived_.notify_all();
  }
  std::vector<T> wait(std::size_t n) {
    std::unique_lock lock(mutex_);
    const bool came =
        arrived_.wait_for(lock, std::chrono::seconds(30), [&] { return items_.size() >= n; });
    REQUIRE_MESSAGE(came, "waited for " << n << ", " << items_.size() << " came");
    return items_;
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<T> items_;
};

inline DbError unreachable() {
  return DbError("database unreachable (test)", DbError::Kind::retry);
}
inline DbError statement_error() { return DbError("syntax error (test)", DbError::Kind::give_up); }

// The database of ticks, scripted. Each call is recorded; a call throws the error set
// for it, if any. Thread-safe (TickRunner and Finisher call it from their threads).
class FakeTickStore final : public TickStore {
 public:
  struct ClaimCall {
    std::vector<std::int64_t> ids;
    std::chrono::sys_seconds instant;
    std::vector<Database::Deadline> deadlines;
  };

  std::chrono::system_clock::time_point begin_incarnation() override {
    std::lock_guard lock(mutex_);
    ++incarnation_reads;
    if (incarnation_error) throw *incarnation_error;
    return incarnation;
  }
  std::vector<std::int64_t> already_claimed(const std::vector<std::int64_t>& region_ids,
                                            std::chrono::sys_seconds) override {
    std::lock_guard lock(mutex_);
    prechecks.push_back(region_ids);
    std::vector<std::int64_t> out;
    for (auto id : region_ids) {
      for (auto c : claimed_elsewhere) {
        if (c == id) out.push_back(id);
      }
    }
    return out;
  }
  std::vector<Claim> claim_batch(const std::vector<Database::ClaimRequest>& ticks,
                                 std::chrono::sys_seconds scheduled_for,
                                 const std::string&) override {
    std::lock_guard lock(mutex_);
    std::vector<std::int64_t> region_ids;
    std::vector<Database::Deadline> deadlines;
    for (const auto& t : ticks) {
      region_ids.push_back(t.row->id);
      deadlines.push_back(t.deadline);
    }
    claims.push_back({region_ids, scheduled_for, deadlines});
    if (claim_error) throw *claim_error;
    std::vector<Claim> out;
    for (auto id : region_ids) {
      const auto it = outcomes.find(id);
      const auto outcome = it == outcomes.end() ? ClaimOutcome::won : it->second;
      out.push_back({outcome, outcome == ClaimOutcome::won ? 1000 + id : 0});
    }
    return out;
  }
  bool record_attempt(const Database::Finish& failed, const std::string&) override {
    std::lock_guard lock(mutex_);
    attempts.push_back(failed);
    if (attempt_error) throw *attempt_error;
    return std::find(fenced.begin(), fenced.end(), failed.run_id) == fenced.end();
  }
  std::vector<std::int64_t> finish_batch(const std::vector<Database::Finish>& finishes,
                                         const std::string&) override {
    std::unique_lock lock(mutex_);
    ++finish_calls;
    if (hold_finishes) {
      finish_waiting = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold_finishes; });
      finish_waiting = false;
    }
    if (!finish_errors.empty()) {
      auto e = finish_errors.front();
      finish_errors.erase(finish_errors.begin());
      changed_.notify_all();
      throw e;
    }
    if (finish_error) {
      changed_.notify_all();
      throw *finish_error;
    }
    batches.push_back(finishes);
    changed_.notify_all();
    std::vector<std::int64_t> out;
    for (const auto& f : finishes) {
      for (auto id : fenced) {
        if (id == f.run_id) out.push_back(id);
      }
    }
    return out;
  }

  // Blocks until `ready` holds (checked under the store's lock after each change).
  void wait(const std::function<bool()>& ready) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, ready);
  }
  void release_finishes() {
    std::lock_guard lock(mutex_);
    hold_finishes = false;
    changed_.notify_all();
  }
  template <typename F>
  auto locked(F&& f) {
    std::lock_guard lock(mutex_);
    return f();
  }

  // Script (set before use, or under locked()).
  std::chrono::system_clock::time_point incarnation{std::chrono::seconds(1'790'000'000)};
  std::optional<DbError> incarnation_error;
  std::vector<std::int64_t> claimed_elsewhere;    // already_claimed() answers these
  std::map<std::int64_t, ClaimOutcome> outcomes;  // by region id; won when absent
  std::optional<DbError> claim_error;
  std::vector<DbError> finish_errors;    // thrown by the next finish_batch calls, in turn
  std::optional<DbError> finish_error;   // then thrown by every call while set
  std::vector<std::int64_t> fenced;      // run ids finish_batch reports fenced
  bool hold_finishes = false;            // finish_batch waits for release_finishes()
  std::optional<DbError> attempt_error;  // thrown by record_attempt while set

  // Record.
  int incarnation_reads = 0;
  std::vector<std::vector<std::int64_t>> prechecks;
  std::vector<ClaimCall> claims;
  int finish_calls = 0;
  bool finish_waiting = false;
  std::vector<std::vector<Database::Finish>> batches;
  std::vector<Database::Finish> attempts;  // record_attempt calls

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace tickd::test
