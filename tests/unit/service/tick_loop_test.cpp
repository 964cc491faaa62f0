// The schedule's timer on simulated time: when it wakes, what it hands out, and to whom.

#include "../../../src/service/tick_loop.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::DueTick;
using tickd::Millis;
using tickd::tick_sleep;
using tickd::test::metric;
using tickd::test::row;
using tickd::test::utc;
using tickd::test::utc_ms;

namespace {

tickd::ReconcilePlan adding(std::vector<tickd::RegionRow> rows) {
  tickd::ReconcilePlan plan;
  plan.added = std::move(rows);
  return plan;
}

struct Rig {
  tickd::test::SimTime time{utc_ms("2026-05-01T10:00:00.250Z")};
  tickd::AnchoredClock clock{time};
  tickd::Metrics metrics{"test"};
  tickd::HandlerRegistry handlers = tickd::builtin_handlers();
  tickd::Schedule schedule{handlers};
  tickd::Ownership ownership{"a"};
  std::vector<std::vector<DueTick>> submitted;
  std::vector<std::pair<DueTick, Millis>> later;
  tickd::TickLoop ticks{time,
                        clock,
                        schedule,
                        ownership,
                        metrics,
                        {60s, 500ms, 500ms},
                        [this](std::vector<DueTick> t) { submitted.push_back(std::move(t)); },
                        [this](DueTick t, Millis release) { later.emplace_back(t, release); }};

  // The database's clock reads as this host's from now on.
  void anchor() { clock.anchor(time.wall(), time.mono()); }
  void add(std::vector<tickd::RegionRow> rows) {
    schedule.apply(adding(std::move(rows)),
                   Millis(std::chrono::floor<std::chrono::milliseconds>(clock.wall())));
  }
};

}  // namespace

TEST_CASE("the timer sleeps until CLAIM_AHEAD_MS before the earliest instant, at most 1 s") {
  const auto now = utc_ms("2026-05-01T10:00:00.250Z");
  CHECK(tick_sleep(utc("2026-05-01T10:00:01Z"), 500ms, now) == 250ms);
  CHECK(tick_sleep(utc("2026-05-01T10:00:00Z"), 500ms, now) == 0ms);  // overdue: at once
  CHECK(tick_sleep(utc("2026-05-01T10:00:01Z"), 0ms, now) == 750ms);
  CHECK(tick_sleep(utc("2026-05-01T11:00:00Z"), 500ms, now) == 1s);  // a jump is seen within 1 s
  CHECK(tick_sleep(std::nullopt, 500ms, now) == 1s);                 // nothing scheduled
}

TEST_CASE("on waking it hands out the instant ahead, to be claimed ahead of it") {
  Rig rig;
  rig.anchor();
  rig.add({tickd::test::row(1), tickd::test::row(2)});
  rig.ticks.arm();
  CHECK(rig.time.next_alarm() == 250ms);
  rig.time.advance(249ms);
  CHECK(rig.submitted.empty());
  rig.time.advance(1ms);
  REQUIRE(rig.submitted.size() == 1);
  REQUIRE(rig.submitted[0].size() == 2);
  CHECK(rig.submitted[0][0].instant == utc("2026-05-01T10:00:01Z"));
  CHECK(rig.submitted[0][0].deadline == utc_ms("2026-05-01T10:00:02.000Z"));
  CHECK(rig.time.next_alarm() == 1s);  // re-armed for 10:00:02 less the 500 ms ahead
}

TEST_CASE(
    "nothing is due before the clock is anchored; instants passed meanwhile are "
    "decided then, as misfires") {
  Rig rig;
  rig.add({row(1)});
  rig.ticks.arm();
  rig.time.advance(250ms);
  CHECK(rig.time.next_alarm() == 20ms);  // looks again every 20 ms
  rig.time.advance(4'860ms);             // 10:00:05.360
  CHECK(rig.submitted.empty());
  rig.anchor();
  rig.time.advance(20ms);
  REQUIRE(rig.submitted.size() == 1);
  REQUIRE(rig.submitted[0].size() == 1);
  // 10:00:01 to 10:00:05 came and went: the latest starts (within its 1 s window), the rest
  // are missed; 10:00:06, 620 ms away, is beyond the 500 ms ahead.
  CHECK(rig.submitted[0][0].instant == utc("2026-05-01T10:00:05Z"));
  CHECK(metric(rig.metrics, "tickd_ticks_total{outcome=\"missed\"}") == 4);
}

TEST_CASE(
    "a tick another live replica owns waits for its release: the claim grace after "
    "its instant") {
  Rig rig;
  rig.anchor();
  rig.ownership.set_live({"a", "b"});
  std::vector<tickd::RegionRow> rows;
  for (int id = 1; id <= 20; ++id) rows.push_back(row(id));
  rig.add(rows);
  rig.ticks.arm();
  rig.time.advance(250ms);
  REQUIRE(rig.submitted.size() == 1);
  for (const auto& t : rig.submitted[0]) CHECK(rig.ownership.mine(t.region->row->id));
  CHECK(rig.submitted[0].size() + rig.later.size() == 20);
  REQUIRE_FALSE(rig.later.empty());
  for (const auto& [t, release] : rig.later) {
    CHECK_FALSE(rig.ownership.mine(t.region->row->id));
    CHECK(release == utc_ms("2026-05-01T10:00:01.500Z"));
  }
}

TEST_CASE("after stop the timer stays disarmed") {
  Rig rig;
  rig.anchor();
  rig.add({row(1)});
  rig.ticks.arm();
  rig.ticks.stop();
  CHECK(rig.time.armed() == 0);
  rig.ticks.arm();  // e.g. a reconcile applied after the stop
  CHECK(rig.time.armed() == 0);
  rig.time.advance(5s);
  CHECK(rig.submitted.empty());
}
