// The dispatcher on simulated time: the concurrency cap, start deadlines, held and
// claimed-ahead ticks, stop and takeover slots, at exact instants. Nothing runs until the
// test says so: a group's claim waits (offloaded) until claim(), a tick's handlers run
// until end(), and each end reaches the dispatcher's loop when the test drains it.

#include "tickd/dispatch/dispatcher.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::Dispatcher;
using tickd::DueTick;
using tickd::RunStatus;
using tickd::TickOutcome;
using tickd::TickReport;
using tickd::test::utc;
using tickd::test::utc_ms;
using Ids = std::vector<std::int64_t>;

namespace {

const TickReport kRan{.outcome = TickOutcome::ran, .status = RunStatus::ok};

struct Rig {
  explicit Rig(unsigned concurrency = 2, const char* now = "2026-05-01T10:00:00.000Z")
      : time(utc_ms(now)), concurrency(concurrency) {}

  tickd::test::SimTime time;
  unsigned concurrency;
  tickd::Metrics metrics{"test"};
  std::deque<std::function<void()>> claims;  // groups handed to the claim offload, not run yet
  std::deque<std::function<void()>> posted;  // work posted back to the loop, not run yet
  std::vector<std::pair<DueTick, Dispatcher::Done>> running;  // claimed, handlers running
  std::vector<std::vector<std::int64_t>> groups;              // each claimed group's ids
  std::vector<bool> prechecks;                                // each claimed tick's precheck
  Ids finished;                                               // in the order they ended
  std::size_t peak = 0;

  // What a claimed group does (TickRunner::run_group in the service): by default each
  // tick is claimed and its handlers run until end().
  Dispatcher::RunGroup behaviour = [this](std::vector<DueTick> group, Dispatcher::Done done) {
    for (auto& tick : group) running.emplace_back(std::move(tick), done);
    peak = std::max(peak, running.size());
  };

  Dispatcher dispatcher{
      time,
      {.claim = [this](std::function<void()> w) { claims.push_back(w); },
       .loop = [this](std::function<void()> w) { posted.push_back(w); }},
      [this](std::vector<DueTick> group, Dispatcher::Done done) {
        Ids ids;
        for (const auto& t : group) {
          ids.push_back(t.region->row->id);
          prechecks.push_back(t.precheck);
        }
        groups.push_back(ids);
        behaviour(std::move(group), std::move(done));
      },
      metrics,
      time,
      concurrency,
      [this](const DueTick& t, const TickReport&) { finished.push_back(t.region->row->id); }};

  DueTick tick(std::int64_t id, const char* deadline,
               const char* instant = "2026-05-01T10:00:00Z") {
    auto region = std::make_shared<tickd::ScheduledRegion>();
    auto row = std::make_shared<tickd::RegionRow>();
    row->id = id;
    region->row = row;
    return DueTick{region, utc(instant), utc_ms(deadline)};
  }

  // Runs every claim handed off so far, and what they post back to the loop.
  void claim() {
    while (!claims.empty()) {
      auto work = std::move(claims.front());
      claims.pop_front();
      work();
    }
    drain();
  }
  void drain() {
    while (!posted.empty()) {
      auto work = std::move(posted.front());
      posted.pop_front();
      work();
    }
  }
  // The handlers of running tick `id` end with `report`; the end reaches the loop.
  void end(std::int64_t id, const TickReport& report = kRan) {
    auto it = std::find_if(running.begin(), running.end(),
                           [&](const auto& r) { return r.first.region->row->id == id; });
    REQUIRE(it != running.end());
    auto [tick, done] = std::move(*it);
    running.erase(it);
    done(tick, report);
    drain();
  }
  Ids running_ids() const {
    Ids ids;
    for (const auto& r : running) ids.push_back(r.first.region->row->id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  double skipped() {
    return tickd::test::metric(metrics, "tickd_ticks_total{outcome=\"skipped\"}");
  }
};

}  // namespace

TEST_CASE("no more than CONCURRENCY ticks run at once; the rest wait their turn in order") {
  Rig rig;
  std::vector<DueTick> ticks;
  for (int i = 1; i <= 5; ++i) ticks.push_back(rig.tick(i, "2026-05-01T10:01:00.000Z"));
  rig.dispatcher.submit(std::move(ticks));
  CHECK(rig.dispatcher.inflight() == 2);
  CHECK(rig.dispatcher.waiting() == 3);
  rig.claim();
  CHECK(rig.running_ids() == Ids{1, 2});
  rig.end(2);
  CHECK(rig.dispatcher.inflight() == 2);  // tick 3 took the freed slot
  rig.claim();
  CHECK(rig.running_ids() == Ids{1, 3});
  for (std::int64_t id : {1, 3, 4, 5}) {
    rig.end(id);
    rig.claim();
  }
  CHECK(rig.finished == Ids{2, 1, 3, 4, 5});
  CHECK(rig.peak == 2);
  CHECK(rig.dispatcher.inflight() == 0);
  CHECK(rig.dispatcher.waiting() == 0);
}

TEST_CASE("a waiting tick is skipped the moment its start deadline passes, never run late") {
  Rig rig;
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z"),
                         rig.tick(2, "2026-05-01T10:01:00.000Z"),
                         rig.tick(3, "2026-05-01T10:00:01.000Z")});
  rig.claim();
  CHECK(rig.dispatcher.waiting() == 1);
  rig.time.advance(1000ms);  // 10:00:01.000: at its deadline it may still start
  rig.dispatcher.submit({rig.tick(4, "2026-05-01T10:01:00.000Z", "2026-05-01T10:00:01Z")});
  CHECK(rig.dispatcher.waiting() == 2);
  rig.time.advance(1ms);
  CHECK(rig.dispatcher.waiting() == 1);
  CHECK(rig.skipped() == 1);
  rig.end(1);
  rig.end(2);
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{1, 2}, {4}});  // tick 3 was never claimed
  rig.end(4);
  CHECK(rig.dispatcher.inflight() == 0);
}

TEST_CASE("after stop, waiting ticks are dropped and new ones refused; in-flight ones finish") {
  Rig rig;
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z"),
                         rig.tick(2, "2026-05-01T10:01:00.000Z"),
                         rig.tick(3, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.stop() == 1);
  rig.dispatcher.submit({rig.tick(4, "2026-05-01T10:01:00.000Z")});
  CHECK(rig.dispatcher.waiting() == 0);
  CHECK(rig.skipped() == 2);
  rig.claim();
  rig.end(1);
  rig.end(2);
  rig.claim();
  CHECK(rig.finished == Ids{1, 2});
  CHECK(rig.dispatcher.inflight() == 0);
  CHECK(rig.time.armed() == 0);  // no timer left to wake a stopped dispatcher
}

TEST_CASE("ticks of one instant that get slots together are claimed as one group") {
  Rig rig(3);
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:01:00.000Z"),
                         rig.tick(2, "2026-05-01T10:01:00.000Z"),
                         rig.tick(3, "2026-05-01T10:01:01.000Z", "2026-05-01T10:00:01Z")});
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{1, 2}, {3}});  // one group per instant
}

TEST_CASE("a tick owned elsewhere is held until its release time, then claimed with a precheck") {
  Rig rig;
  rig.dispatcher.submit_later(rig.tick(7, "2026-05-01T10:01:00.000Z"),
                              utc_ms("2026-05-01T10:00:00.050Z"));
  CHECK(rig.dispatcher.held() == 1);
  rig.time.advance(49ms);
  rig.claim();
  CHECK(rig.dispatcher.held() == 1);
  CHECK(rig.groups.empty());
  rig.time.advance(1ms);
  rig.claim();
  CHECK(rig.dispatcher.held() == 0);
  CHECK(rig.groups == std::vector<Ids>{{7}});
  CHECK(rig.prechecks == std::vector<bool>{true});
}

TEST_CASE(
    "a tick claimed ahead while its region was busy is held and claimed again at its instant") {
  Rig rig(2, "2026-05-01T09:59:59.600Z");
  int attempts = 0;
  rig.behaviour = [&](std::vector<DueTick> group, Dispatcher::Done done) {
    const bool first = ++attempts == 1;
    for (auto& t : group) {
      done(t, first ? TickReport{.outcome = TickOutcome::skipped,
                                 .claim_again_at = tickd::Millis(t.instant)}
                    : kRan);
    }
  };
  rig.dispatcher.submit({rig.tick(7, "2026-05-01T10:00:01.000Z")});
  rig.claim();
  CHECK(attempts == 1);
  CHECK(rig.dispatcher.held() == 1);
  CHECK(rig.dispatcher.inflight() == 0);  // its slot is free while it waits
  rig.time.advance(399ms);
  rig.claim();
  CHECK(attempts == 1);
  rig.time.advance(1ms);  // 10:00:00.000, its instant
  rig.claim();
  CHECK(attempts == 2);
  CHECK(rig.finished == Ids{7});
  CHECK(rig.dispatcher.held() == 0);
  CHECK(rig.skipped() == 0);  // the early claim is not an outcome
}

TEST_CASE(
    "a tick of a region whose previous tick runs here is not claimed ahead, but at its instant") {
  Rig rig(4, "2026-05-01T10:00:00.000Z");
  rig.dispatcher.submit(
      {rig.tick(7, "2026-05-01T10:00:01.000Z"), rig.tick(8, "2026-05-01T10:00:01.000Z")});
  rig.claim();
  CHECK(rig.running_ids() == Ids{7, 8});
  rig.end(8);
  rig.time.advance(400ms);  // 10:00:00.400: the next instant's ticks, handed out ahead
  rig.dispatcher.submit({rig.tick(7, "2026-05-01T10:00:02.000Z", "2026-05-01T10:00:01Z"),
                         rig.tick(8, "2026-05-01T10:00:02.000Z", "2026-05-01T10:00:01Z")});
  rig.claim();
  // Region 8 is free: claimed ahead. Region 7's tick still runs: its next one waits.
  CHECK(rig.groups == std::vector<Ids>{{7, 8}, {8}});
  CHECK(rig.dispatcher.held() == 1);
  CHECK(rig.dispatcher.inflight() == 2);  // 7's first tick and 8's second
  rig.end(7);
  rig.claim();
  CHECK(rig.groups.size() == 2);  // free now, but not claimed before its instant
  rig.time.advance(600ms);        // 10:00:01.000
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{7, 8}, {8}, {7}});
  CHECK(rig.dispatcher.held() == 0);
  CHECK(rig.skipped() == 0);
}

TEST_CASE("ticks handed out ahead of their instant take only the slots due ticks leave") {
  Rig rig(1, "2026-05-01T10:00:00.600Z");
  // A held tick of an earlier instant (owned elsewhere, released at .700), then one slot
  // and a tick claimed ahead (instant 10:00:01) listed before a due one.
  rig.dispatcher.submit_later(rig.tick(3, "2026-05-01T10:00:01.000Z"),
                              utc_ms("2026-05-01T10:00:00.700Z"));
  rig.dispatcher.submit({rig.tick(1, "2026-05-01T10:00:02.000Z", "2026-05-01T10:00:01Z"),
                         rig.tick(2, "2026-05-01T10:00:01.000Z")});
  rig.claim();
  CHECK(rig.running_ids() == Ids{2});
  rig.end(2);
  rig.claim();
  // The slot is free, but tick 3's instant is earlier than tick 1's: it waits for tick 3.
  CHECK(rig.running.empty());
  rig.time.advance(100ms);  // 10:00:00.700: tick 3 released
  rig.claim();
  CHECK(rig.running_ids() == Ids{3});
  rig.end(3);
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{2}, {3}, {1}});
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
  rig.claim();
  CHECK(rig.running_ids() == Ids{1, 3});
  rig.end(3);
  rig.claim();
  CHECK(rig.running_ids() == Ids{1, 2});
  rig.end(1);
  rig.end(2);
  CHECK(rig.finished == Ids{3, 1, 2});
  CHECK(rig.dispatcher.inflight() == 0);
  // A reservation the takeover did not use frees its slot.
  CHECK(rig.dispatcher.reserve(2) == 2);
  rig.dispatcher.release_reserved(2);
  CHECK(rig.dispatcher.inflight() == 0);
}

TEST_CASE("a buffered tick waits held, and does not hold back claims ahead of later instants") {
  Rig rig(1, "2026-05-01T10:00:00.400Z");
  int attempts = 0;
  rig.behaviour = [&](std::vector<DueTick> group, Dispatcher::Done done) {
    for (auto& t : group) {
      if (t.region->row->id == 7 && ++attempts == 1) {
        t.buffered = true;
        done(t, TickReport{.outcome = TickOutcome::skipped,
                           .claim_again_at = tickd::test::utc_ms("2026-05-01T10:00:00.900Z")});
      } else {
        done(t, kRan);
      }
    }
  };
  rig.dispatcher.submit({rig.tick(7, "2026-05-01T10:00:01.000Z")});
  rig.claim();
  CHECK(rig.dispatcher.held() == 1);
  // A tick of the next instant, handed out ahead, is claimed with the free slot at once.
  rig.dispatcher.submit({rig.tick(8, "2026-05-01T10:00:02.000Z", "2026-05-01T10:00:01Z")});
  rig.claim();
  CHECK(rig.finished == Ids{8});
  rig.time.advance(500ms);  // 10:00:00.900: claimed again
  rig.claim();
  CHECK(attempts == 2);
  CHECK(rig.finished == Ids{8, 7});
  CHECK(rig.skipped() == 0);
}

TEST_CASE("a jittered tick is held until its start, claimed then, and holds back no other") {
  Rig rig(2, "2026-05-01T09:59:59.500Z");
  auto jittered = rig.tick(7, "2026-05-01T10:01:00.000Z");
  auto row = std::make_shared<tickd::RegionRow>(*jittered.region->row);
  row->policy.jitter = tickd::ColumnMs(10'000);
  auto region = std::make_shared<tickd::ScheduledRegion>();
  region->row = row;
  jittered.region = region;
  const auto start = jittered.start();
  REQUIRE(start > utc_ms("2026-05-01T10:00:00.000Z"));
  rig.dispatcher.submit({jittered, rig.tick(8, "2026-05-01T10:01:00.000Z")});
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{8}});  // claimed ahead; 7 waits for its start
  CHECK(rig.dispatcher.held() == 1);
  rig.time.advance(start - utc_ms("2026-05-01T09:59:59.500Z") - 1ms);
  rig.claim();
  CHECK(rig.groups.size() == 1);
  rig.time.advance(1ms);
  rig.claim();
  CHECK(rig.groups == std::vector<Ids>{{8}, {7}});
  CHECK(rig.prechecks == std::vector<bool>{false, false});
}
