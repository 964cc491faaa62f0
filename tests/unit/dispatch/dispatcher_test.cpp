#include "tickd/dispatch/dispatcher.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <mutex>
#include <thread>

#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::DueTick;
using tickd::RunStatus;
using tickd::TickOutcome;
using tickd::TickReport;

namespace {

struct Rig {
  boost::asio::io_context loop;
  boost::asio::thread_pool workers{4};
  tickd::Metrics metrics{"test"};
  tickd::test::ManualClock clock{tickd::test::utc_ms("2026-05-01T10:00:00.000Z")};
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::mutex mutex;
  std::vector<std::int64_t> finished;
  std::atomic<bool> release{false};

  std::atomic<int> groups{0};
  // Like TickRunner::run_group: each tick of the group runs as its own task.
  tickd::Dispatcher::RunGroup run = [this](std::vector<DueTick> group,
                                           tickd::Dispatcher::Done done) {
    ++groups;
    for (auto& tick : group) {
      boost::asio::post(workers, [this, tick, done] {
        const int now = ++running;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        while (!release) std::this_thread::sleep_for(1ms);
        --running;
        done(tick, TickReport{.outcome = TickOutcome::ran, .status = RunStatus::ok});
      });
    }
  };
  tickd::Dispatcher dispatcher{
      loop, workers, run, metrics, clock, 2, [this](const DueTick& t, const TickReport&) {
        std::lock_guard lock(mutex);
        finished.push_back(t.region->row->id);
      }};

  DueTick tick(std::int64_t id, const char* deadline) {
    auto region = std::make_shared<tickd::ScheduledRegion>();
    auto row = std::make_shared<tickd::RegionRow>();
    row->id = id;
    region->row = row;
    return DueTick{region, tickd::test::utc("2026-05-01T10:00:00Z"), tickd::test::utc_ms(deadline)};
  }

  // Runs the loop (kept alive by a work guard, so run_for really waits) until `done`
  // or 10 s.
  void run_loop_until(const std::function<bool()>& done) {
    auto guard = boost::asio::make_work_guard(loop);
    for (int i = 0; i < 2000 && !done(); ++i) {
      loop.run_for(5ms);
      loop.restart();
    }
  }

  void wait_until_running(int n) {
    for (int i = 0; i < 10'000 && running.load() < n; ++i) std::this_thread::sleep_for(1ms);
  }
};

}  // namespace

TEST_CASE("no more than CONCURRENCY ticks run at once; the rest wait their turn") {
  Rig rig;
  std::vector<DueTick> ticks;
  for (int i = 1; i <= 5; ++i) ticks.push_back(rig.tick(i, "2026-05-01T10:01:00.000Z"));
  rig.dispatcher.submit(std::move(ticks));
  CHECK(rig.dispatcher.inflight() == 2);
  CHECK(rig.dispatcher.waiting() == 3);
  rig.wait_until_running(2);
  CHECK(rig.running.load() == 2);
  rig.release = true;
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 5;
  });
  CHECK(rig.finished.size() == 5);
  CHECK(rig.peak.load() == 2);
  CHECK(rig.dispatcher.inflight() == 0);
}

TEST_CASE("a waiting tick past its start deadline is skipped, never run late") {
  Rig rig;
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z"),
                         rig.tick(2, "2026-05-01T10:01:00.000Z"),
                         rig.tick(3, "2026-05-01T10:00:01.000Z")});
  CHECK(rig.dispatcher.waiting() == 1);
  rig.clock.set(tickd::test::utc_ms("2026-05-01T10:00:02.000Z"));
  rig.release = true;
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 2 && rig.dispatcher.waiting() == 0;
  });
  std::sort(rig.finished.begin(), rig.finished.end());
  CHECK(rig.finished == std::vector<std::int64_t>{1, 2});
  CHECK(rig.metrics.serialize().find("tickd_ticks_total{outcome=\"skipped\"} 1") !=
        std::string::npos);
}

TEST_CASE("after stop, waiting ticks are dropped and new ones are refused") {
  Rig rig;
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z"),
                         rig.tick(2, "2026-05-01T10:01:00.000Z"),
                         rig.tick(3, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.stop() == 1);
  rig.dispatcher.submit({rig.tick(4, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.waiting() == 0);
  rig.release = true;
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 2;
  });
  CHECK(rig.finished.size() == 2);
  CHECK(rig.dispatcher.inflight() == 0);
}

TEST_CASE("ticks of one instant that get slots together are handed over as one group") {
  Rig rig;
  rig.release = true;
  rig.dispatcher.submit(
      {rig.tick(1, "2026-05-01T10:01:00.000Z"), rig.tick(2, "2026-05-01T10:01:00.000Z")});
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 2;
  });
  CHECK(rig.groups.load() == 1);
}

TEST_CASE("a tick owned elsewhere is held until its release time, then claimed with a precheck") {
  Rig rig;
  rig.release = true;
  std::atomic<bool> prechecked{false};
  tickd::Dispatcher dispatcher{rig.loop,
                               rig.workers,
                               [&](std::vector<DueTick> group, tickd::Dispatcher::Done done) {
                                 prechecked = group.at(0).precheck;
                                 for (auto& t : group)
                                   done(t, TickReport{.outcome = TickOutcome::lost});
                               },
                               rig.metrics,
                               rig.clock,
                               2,
                               [&](const DueTick& t, const TickReport&) {
                                 std::lock_guard lock(rig.mutex);
                                 rig.finished.push_back(t.region->row->id);
                               }};
  dispatcher.submit_later(rig.tick(7, "2026-05-01T10:01:00.000Z"),
                          tickd::test::utc_ms("2026-05-01T10:00:00.050Z"));
  CHECK(dispatcher.held() == 1);
  rig.clock.set(tickd::test::utc_ms("2026-05-01T10:00:00.100Z"));
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 1;
  });
  CHECK(dispatcher.held() == 0);
  CHECK(rig.finished == std::vector<std::int64_t>{7});
  CHECK(prechecked.load());
}

TEST_CASE(
    "a tick claimed ahead while its region was busy is held and claimed again at its instant") {
  Rig rig;
  rig.clock.set(tickd::test::utc_ms("2026-05-01T09:59:59.600Z"));
  std::atomic<int> attempts{0};
  tickd::Dispatcher dispatcher{
      rig.loop,
      rig.workers,
      [&](std::vector<DueTick> group, tickd::Dispatcher::Done done) {
        const bool first = ++attempts == 1;
        for (auto& t : group) {
          done(t, first ? TickReport{.outcome = TickOutcome::skipped, .claim_at_instant = true}
                        : TickReport{.outcome = TickOutcome::ran, .status = RunStatus::ok});
        }
      },
      rig.metrics,
      rig.clock,
      2,
      [&](const DueTick& t, const TickReport& report) {
        std::lock_guard lock(rig.mutex);
        CHECK(report.status == std::optional(RunStatus::ok));
        rig.finished.push_back(t.region->row->id);
      }};
  dispatcher.submit({rig.tick(7, "2026-05-01T10:00:01.000Z")});
  rig.run_loop_until([&] { return attempts.load() == 1 && dispatcher.held() == 1; });
  CHECK(dispatcher.held() == 1);
  CHECK(dispatcher.inflight() == 0);  // its slot is free while it waits
  {
    std::lock_guard lock(rig.mutex);
    CHECK(rig.finished.empty());
  }
  rig.clock.set(tickd::test::utc_ms("2026-05-01T10:00:00.000Z"));
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 1;
  });
  CHECK(attempts.load() == 2);
  CHECK(rig.finished == std::vector<std::int64_t>{7});
  CHECK(dispatcher.held() == 0);
}

TEST_CASE("ticks handed out ahead of their instant take only the slots due ticks leave") {
  Rig rig;
  rig.clock.set(tickd::test::utc_ms("2026-05-01T10:00:00.600Z"));
  std::vector<std::int64_t> started;  // in claim order
  tickd::Dispatcher dispatcher{
      rig.loop,
      rig.workers,
      [&](std::vector<DueTick> group, tickd::Dispatcher::Done done) {
        for (auto& t : group) {
          {
            std::lock_guard lock(rig.mutex);
            started.push_back(t.region->row->id);
          }
          done(t, TickReport{.outcome = TickOutcome::ran, .status = RunStatus::ok});
        }
      },
      rig.metrics,
      rig.clock,
      1,
      [&](const DueTick& t, const TickReport&) {
        std::lock_guard lock(rig.mutex);
        rig.finished.push_back(t.region->row->id);
      }};
  auto ahead = [&](std::int64_t id) {
    auto t = rig.tick(id, "2026-05-01T10:00:02.000Z");
    t.instant = tickd::test::utc("2026-05-01T10:00:01Z");
    return t;
  };
  // A held tick of an earlier instant (owned elsewhere, released at .700) comes first too.
  dispatcher.submit_later(rig.tick(3, "2026-05-01T10:00:01.000Z"),
                          tickd::test::utc_ms("2026-05-01T10:00:00.700Z"));
  // One slot; the tick claimed ahead is listed before the due one.
  dispatcher.submit({ahead(1), rig.tick(2, "2026-05-01T10:00:01.000Z")});
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 1;
  });
  {
    // Time for a wrongly started claim ahead to show.
    auto guard = boost::asio::make_work_guard(rig.loop);
    rig.loop.run_for(100ms);
    rig.loop.restart();
  }
  {
    std::lock_guard lock(rig.mutex);
    CHECK(started == std::vector<std::int64_t>{2});  // not 1: tick 3's instant is earlier
  }
  rig.clock.set(tickd::test::utc_ms("2026-05-01T10:00:00.700Z"));
  rig.run_loop_until([&] {
    std::lock_guard lock(rig.mutex);
    return rig.finished.size() == 3;
  });
  std::lock_guard lock(rig.mutex);
  CHECK(started == std::vector<std::int64_t>{2, 3, 1});
}

TEST_CASE("taken-over ticks run in reserved slots, no more than the free ones; unused come back") {
  Rig rig;
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.reserve(5) == 1);  // CONCURRENCY 2, one in flight
  CHECK(rig.dispatcher.inflight() == 2);
  CHECK(rig.dispatcher.reserve(1) == 0);  // full: a takeover waits for a later round
  // A due tick waits meanwhile: the reserved slot is not its to take.
  rig.dispatcher.submit({rig.tick(2, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.waiting() == 1);
  auto taken = rig.tick(3, "2026-05-01T10:01:00.000Z");
  taken.run_id = 42;
  taken.attempt = 2;
  rig.dispatcher.start_taken({taken});
  rig.wait_until_running(2);
  CHECK(rig.dispatcher.inflight() == 2);
  rig.release = true;
  rig.run_loop_until([&] { return rig.dispatcher.inflight() == 0; });
  std::sort(rig.finished.begin(), rig.finished.end());
  CHECK(rig.finished == std::vector<std::int64_t>{1, 2, 3});
  // A reservation the takeover did not use frees its slot.
  CHECK(rig.dispatcher.reserve(2) == 2);
  rig.dispatcher.release_reserved(2);
  CHECK(rig.dispatcher.inflight() == 0);
}
