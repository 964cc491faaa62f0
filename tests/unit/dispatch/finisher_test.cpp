// The Finisher against a scripted store: batching, fencing, and how long an end is retried.
// Its waits between tries move a simulated clock instead of sleeping.

#include "tickd/dispatch/finisher.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::Finisher;
using tickd::RunStatus;
using Result = tickd::Finisher::Result;

namespace {

struct Rig {
  tickd::test::FakeTickStore store;
  tickd::test::SimTime time{tickd::test::utc_ms("2026-05-01T10:00:00.000Z")};
  std::mutex pauses_mutex;
  std::vector<std::chrono::milliseconds> pauses;
  std::unique_ptr<Finisher> finisher =
      std::make_unique<Finisher>(store, "a", 250ms, time, [this](std::chrono::milliseconds d) {
        {
          std::lock_guard lock(pauses_mutex);
          pauses.push_back(d);
        }
        time.advance(d);
      });
  tickd::test::Inbox<std::pair<std::int64_t, Result>> results;

  void submit(std::int64_t run_id, RunStatus status = RunStatus::ok,
              std::optional<std::string> error = {}) {
    finisher->submit({run_id, {}, status, std::move(error), "{}", 1}, [this, run_id](Result r) {
      results.add({run_id, r});
    });
  }
};

}  // namespace

TEST_CASE("an end is written at once, under this replica's id") {
  Rig rig;
  rig.submit(7, RunStatus::failed, "handler region: boom");
  CHECK(rig.results.wait(1)[0] == std::pair<std::int64_t, Result>{7, Result::written});
  rig.store.locked([&] {
    REQUIRE(rig.store.batches.size() == 1);
    REQUIRE(rig.store.batches[0].size() == 1);
    CHECK(rig.store.batches[0][0].run_id == 7);
    CHECK(rig.store.batches[0][0].status == RunStatus::failed);
    CHECK(rig.store.batches[0][0].error == "handler region: boom");
    return 0;
  });
}

TEST_CASE("ends that queue up while a statement runs go out together in the next one") {
  Rig rig;
  rig.store.locked([&] { return rig.store.hold_finishes = true; });
  rig.submit(1);
  rig.store.wait([&] { return rig.store.finish_waiting; });
  rig.submit(2);
  rig.submit(3);
  rig.submit(4);
  rig.store.release_finishes();
  rig.results.wait(4);
  rig.store.locked([&] {
    REQUIRE(rig.store.batches.size() == 2);
    CHECK(rig.store.batches[0].size() == 1);
    std::vector<std::int64_t> second;
    for (const auto& f : rig.store.batches[1]) second.push_back(f.run_id);
    std::sort(second.begin(), second.end());
    CHECK(second == std::vector<std::int64_t>{2, 3, 4});
    return 0;
  });
}

TEST_CASE("an end the database fenced (the row was taken over) is reported fenced") {
  Rig rig;
  rig.store.locked([&] {
    rig.store.hold_finishes = true;
    rig.store.fenced = {2};
    return 0;
  });
  rig.submit(1);
  rig.store.wait([&] { return rig.store.finish_waiting; });
  rig.submit(2);
  rig.submit(3);
  rig.store.release_finishes();
  auto results = rig.results.wait(3);
  std::sort(results.begin(), results.end());
  CHECK(results == std::vector<std::pair<std::int64_t, Result>>{
                       {1, Result::written}, {2, Result::fenced}, {3, Result::written}});
}

TEST_CASE(
    "while the database is unreachable an end is retried for as long as it takes, "
    "backing off from 100 ms to 2 s") {
  Rig rig;
  rig.store.locked([&] {
    rig.store.finish_errors.assign(8, tickd::test::unreachable());
    return 0;
  });
  rig.submit(1);
  CHECK(rig.results.wait(1)[0].second == Result::written);  // 8.1 s on, well past the lease
  std::lock_guard lock(rig.pauses_mutex);
  CHECK(rig.pauses == std::vector<std::chrono::milliseconds>{100ms, 200ms, 400ms, 800ms, 1'600ms,
                                                             2'000ms, 2'000ms, 2'000ms});
}

TEST_CASE("an end failing with a statement error is given up once older than the lease") {
  Rig rig;
  rig.store.locked([&] { return rig.store.finish_error = tickd::test::statement_error(); });
  rig.submit(1);
  CHECK(rig.results.wait(1)[0].second == Result::gave_up);
  // Tries at 0, 100 and 300 ms: the third is past the 250 ms lease.
  CHECK(rig.store.locked([&] { return rig.store.finish_calls; }) == 3);
}

TEST_CASE("stopping: an end still unreachable is given up once older than the lease") {
  Rig rig;
  rig.store.locked([&] { return rig.store.finish_error = tickd::test::unreachable(); });
  rig.submit(1);
  rig.store.wait([&] { return rig.store.finish_calls >= 2; });
  rig.finisher.reset();  // the destructor stops the finisher and waits for it
  const auto results = rig.results.wait(1);
  CHECK(results[0].second == Result::gave_up);
}

TEST_CASE("the destructor writes what is queued before it returns") {
  Rig rig;
  rig.store.locked([&] { return rig.store.hold_finishes = true; });
  rig.submit(1);
  rig.store.wait([&] { return rig.store.finish_waiting; });
  rig.submit(2);
  rig.store.release_finishes();
  rig.finisher.reset();
  CHECK(rig.results.size() == 2);
}
