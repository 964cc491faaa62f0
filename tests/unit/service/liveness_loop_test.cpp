// The liveness loop on simulated time against a scripted database: the cadence of rounds,
// what each asks, what a result changes (database up, ownership, the clock, the claims'
// heartbeat), in-doubt ticks, earlier runs, and the takeover of orphans. Rounds and
// takeovers wait, in flight, until the test completes them.

#include "../../../src/service/liveness_loop.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <set>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::Database;
using tickd::DueTick;
using tickd::LivenessLoop;
using tickd::Orphan;
using tickd::OrphanCause;
using tickd::RunRef;
using tickd::test::metric;
using tickd::test::row;
using tickd::test::utc;
using tickd::test::utc_ms;
using Keys = std::vector<tickd::TickRunner::TickKey>;

namespace {

class FakeStore final : public LivenessLoop::Store {
 public:
  Database::LivenessResult liveness_round(const Database::LivenessRound& round) override {
    rounds.push_back(round);
    if (round_error) throw *round_error;
    return answer(round);
  }
  std::vector<RunRef> take_over(const std::vector<Orphan>& orphans,
                                const std::string& replica_id) override {
    take_overs.push_back(orphans);
    if (take_error) throw *take_error;
    std::vector<RunRef> taken;
    for (const auto& o : orphans) {
      if (!taken_elsewhere.contains(o.run_id))
        taken.push_back({o.run_id, o.attempt + 1, replica_id});
    }
    return taken;
  }
  std::size_t abandon(const std::vector<Orphan>& orphans,
                      const std::vector<std::string>& errors) override {
    abandons.emplace_back(orphans, errors);
    if (abandon_error) throw *abandon_error;
    return orphans.size();
  }

  std::function<Database::LivenessResult(const Database::LivenessRound&)> answer;
  std::optional<tickd::DbError> round_error, take_error, abandon_error;
  std::set<std::int64_t> taken_elsewhere;  // take_over() does not return these run ids

  std::vector<Database::LivenessRound> rounds;
  std::vector<std::vector<Orphan>> take_overs;
  std::vector<std::pair<std::vector<Orphan>, std::vector<std::string>>> abandons;
};

class FakeSlots final : public LivenessLoop::Slots {
 public:
  std::size_t reserve(std::size_t n) override {
    const auto r = std::min(n, free);
    free -= r;
    reserves.push_back(n);
    return r;
  }
  void release_reserved(std::size_t n) override {
    free += n;
    releases.push_back(n);
  }
  void start_taken(std::vector<DueTick> ticks) override { started.push_back(std::move(ticks)); }

  std::size_t free = 4;
  std::vector<std::size_t> reserves, releases;
  std::vector<std::vector<DueTick>> started;
};

tickd::Config runner_config() {
  tickd::Config c;
  c.replica_id = "a";
  c.tick_lease = 2s;
  return c;
}

Orphan orphan(std::int64_t run_id, std::int64_t region, const char* instant,
              OrphanCause cause = OrphanCause::crashed) {
  return Orphan{run_id, region, utc(instant), "b", 1, cause};
}

struct Rig {
  Rig() {
    tickd::ReconcilePlan plan;
    plan.added = {row(1), row(2), row(3)};
    schedule.apply(plan, utc_ms("2026-05-01T10:00:00.000Z"));
    store->answer = [this](const Database::LivenessRound&) {
      Database::LivenessResult r;
      r.peers.live = {"a", "b"};
      // The database read its clock halfway through a 2 ms round trip.
      r.peers.db_clock = time.wall() - 1ms + db_ahead;
      r.peers.sent = time.mono() - 2ms;
      r.peers.received = time.mono();
      r.orphans = std::exchange(orphans, {});
      return r;
    };
  }

  tickd::test::SimTime time{utc_ms("2026-05-01T10:00:00.250Z")};
  tickd::AnchoredClock clock{time};
  boost::asio::io_context loop;
  tickd::Metrics metrics{"test"};
  tickd::HandlerRegistry handlers = tickd::builtin_handlers();
  tickd::Schedule schedule{handlers};
  tickd::Ownership ownership{"a"};
  tickd::DbHealth db{time, metrics, [] {}};
  // The runner's database side: the incarnation, and claims for the heartbeat test.
  tickd::test::FakeTickStore ticks;
  tickd::Database unused_db{"postgresql://tickd-unit-test.invalid/none", 1};
  tickd::Config config = runner_config();
  boost::asio::thread_pool workers{1};
  tickd::TickRunner runner{ticks, unused_db, handlers, metrics, time, config, workers, 1};

  std::unique_ptr<FakeStore> owned_store = std::make_unique<FakeStore>();
  FakeStore* store = owned_store.get();
  std::unique_ptr<FakeSlots> owned_slots = std::make_unique<FakeSlots>();
  FakeSlots* slots = owned_slots.get();
  std::deque<std::function<void()>> running;  // rounds and takeovers in flight
  bool known = true;                          // a reconcile has succeeded
  std::vector<Orphan> orphans;                // what the next round answers
  std::chrono::milliseconds db_ahead{0};      // the database's clock minus this host's

  LivenessLoop liveness{loop,
                        [this](std::function<void()> work) { running.push_back(work); },
                        std::move(owned_store),
                        runner,
                        std::move(owned_slots),
                        schedule,
                        ownership,
                        clock,
                        metrics,
                        db,
                        [this] { return known; },
                        time,
                        {"a", 2s, 60s}};

  // The oldest round or takeover in flight returns, and its result reaches the loop.
  void complete() {
    REQUIRE_FALSE(running.empty());
    auto work = std::move(running.front());
    running.pop_front();
    work();
    loop.restart();
    loop.poll();
  }
};

}  // namespace

TEST_CASE(
    "the intervals follow the lease: a round every lease/8 (50 to 250 ms), a crash "
    "convicted after 1.5 rounds, the witness's gap under half the lease") {
  CHECK(tickd::liveness_interval(10s) == 250ms);
  CHECK(tickd::liveness_interval(2s) == 250ms);
  CHECK(tickd::liveness_interval(1s) == 125ms);
  CHECK(tickd::liveness_interval(200ms) == 50ms);
  CHECK(tickd::crash_silence(10s) == 375ms);
  CHECK(tickd::witness_gap(10s) == 4'600ms);
  CHECK(tickd::witness_gap(2s) == 600ms);
  CHECK(tickd::witness_gap(1s) == 250ms);  // twice the interval at least
}

TEST_CASE("a round runs at start and every 250 ms; each renews the heartbeat with the lease") {
  Rig rig;
  rig.known = false;
  rig.liveness.start();
  REQUIRE(rig.running.size() == 1);
  rig.complete();
  REQUIRE(rig.store->rounds.size() == 1);
  const auto& first = rig.store->rounds[0];
  CHECK(first.replica_id == "a");
  CHECK(first.crash_silence == 375ms);
  CHECK(first.lease == 1s);
  CHECK_FALSE(first.witnessed_since);  // nothing witnessed yet
  CHECK_FALSE(first.incarnation);      // no reconcile yet: earlier runs not looked for
  CHECK(first.in_doubt.empty());
  CHECK_FALSE(first.check_unregistered);
  CHECK(rig.db.up());
  rig.time.advance(249ms);
  CHECK(rig.running.empty());
  rig.time.advance(1ms);
  REQUIRE(rig.running.size() == 1);
  rig.complete();
  // The second round counts silence from the first round's database time.
  CHECK(rig.store->rounds[1].witnessed_since == utc_ms("2026-05-01T10:00:00.249Z"));
}

TEST_CASE("every 16th round also looks for rows of replicas that left no heartbeat row") {
  Rig rig;
  rig.liveness.start();
  rig.complete();
  for (int i = 2; i <= 32; ++i) {
    rig.time.advance(250ms);
    rig.complete();
  }
  for (std::size_t i = 0; i < rig.store->rounds.size(); ++i) {
    CAPTURE(i);
    CHECK(rig.store->rounds[i].check_unregistered == ((i + 1) % 16 == 0));
  }
}

TEST_CASE(
    "a round still hanging is not doubled; the database counts as down once nothing "
    "reached it for 3 s") {
  Rig rig;
  rig.liveness.start();
  rig.complete();  // the last contact: 10:00:00.250
  REQUIRE(rig.db.up());
  rig.time.advance(3'000ms);  // eleven rounds' instants pass while the second hangs
  CHECK(rig.running.size() == 1);
  CHECK(rig.db.up());  // 3 s exactly: not yet
  rig.time.advance(250ms);
  CHECK_FALSE(rig.db.up());
  CHECK(metric(rig.metrics, "tickd_db_up") == 0);
  CHECK(rig.running.size() == 1);
  rig.complete();  // it comes back at last
  CHECK(rig.db.up());
  rig.time.advance(250ms);
  CHECK(rig.running.size() == 1);
}

TEST_CASE(
    "a round's result routes ownership over the live replicas and anchors the clock at "
    "the round trip's midpoint") {
  Rig rig;
  rig.db_ahead = 2s;  // this host is 2 s slow
  rig.liveness.start();
  CHECK(rig.ownership.live_count() == 1);
  CHECK_FALSE(rig.clock.anchored());
  rig.complete();
  CHECK(rig.ownership.live_count() == 2);
  const auto anchor = rig.clock.last_anchor();
  REQUIRE(anchor);
  CHECK(anchor->reference == utc_ms("2026-05-01T10:00:02.249Z"));
  CHECK(anchor->at == rig.time.mono() - 1ms);
  CHECK(rig.clock.wall() == utc_ms("2026-05-01T10:00:02.250Z"));
  // The next round agrees within its uncertainty: the anchor stays.
  rig.time.advance(250ms);
  rig.complete();
  CHECK(rig.clock.last_anchor()->at == anchor->at);
}

TEST_CASE(
    "a failed round reports the database down, breaks the witness, and gives the "
    "in-doubt ticks back for the next round") {
  Rig rig;
  rig.liveness.start();
  rig.complete();
  const Keys doubt{{2, utc("2026-05-01T10:00:00Z")}};
  rig.runner.restore_in_doubt(doubt);
  rig.store->round_error = tickd::test::unreachable();
  rig.time.advance(250ms);
  rig.complete();
  CHECK(rig.store->rounds[1].in_doubt == doubt);
  CHECK_FALSE(rig.db.up());
  rig.store->round_error.reset();
  rig.time.advance(250ms);
  rig.complete();
  CHECK(rig.store->rounds[2].in_doubt == doubt);
  CHECK_FALSE(rig.store->rounds[2].witnessed_since);
  CHECK(rig.db.up());
  CHECK(rig.runner.take_in_doubt().empty());  // the successful round took them
}

TEST_CASE("a round fails while the incarnation cannot be read (before any claim)") {
  Rig rig;
  rig.ticks.incarnation_error = tickd::test::unreachable();
  rig.liveness.start();
  rig.complete();
  CHECK(rig.store->rounds.empty());
  CHECK_FALSE(rig.db.up());
}

TEST_CASE(
    "rows of an earlier process of this replica id are looked for once the schedule is "
    "known, until a round finds none") {
  Rig rig;
  rig.known = false;
  rig.liveness.start();
  rig.complete();
  CHECK_FALSE(rig.store->rounds[0].incarnation);
  rig.known = true;
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z", OrphanCause::earlier_run)};
  for (int i = 1; i <= 3; ++i) {
    rig.time.advance(250ms);
    while (!rig.running.empty()) rig.complete();
  }
  REQUIRE(rig.store->rounds.size() == 4);
  CHECK(rig.store->rounds[1].incarnation == rig.ticks.incarnation);  // found one
  CHECK(rig.store->rounds[2].incarnation == rig.ticks.incarnation);  // found none
  CHECK_FALSE(rig.store->rounds[3].incarnation);
}

TEST_CASE("before the first reconcile, orphans are left for a later round") {
  Rig rig;
  rig.known = false;
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  rig.liveness.start();
  rig.complete();
  CHECK(rig.slots->reserves.empty());
  CHECK(rig.running.empty());
}

TEST_CASE(
    "takeover: what can still start runs again in a reserved slot (attempt + 1); what "
    "cannot is ended abandoned; without a slot it waits, an in-doubt one listed again") {
  Rig rig;
  rig.slots->free = 1;
  rig.orphans = {
      orphan(11, 1, "2026-05-01T10:00:00Z"),                         // runs again
      orphan(12, 2, "2026-05-01T10:00:00Z", OrphanCause::lease),     // no slot left
      orphan(13, 3, "2026-05-01T10:00:00Z", OrphanCause::in_doubt),  // no slot left
      orphan(14, 99, "2026-05-01T10:00:00Z"),                        // not scheduled here
      orphan(15, 1, "2026-05-01T09:59:58Z", OrphanCause::lease),     // past its deadline
  };
  rig.liveness.start();
  rig.complete();
  CHECK(rig.slots->reserves == std::vector<std::size_t>{5});
  CHECK(rig.slots->releases == std::vector<std::size_t>{0});
  CHECK(rig.runner.take_in_doubt() == Keys{{3, utc("2026-05-01T10:00:00Z")}});
  REQUIRE(rig.running.size() == 1);
  rig.complete();  // the takeover's writes
  REQUIRE(rig.store->take_overs.size() == 1);
  REQUIRE(rig.store->take_overs[0].size() == 1);
  CHECK(rig.store->take_overs[0][0].run_id == 11);
  REQUIRE(rig.store->abandons.size() == 1);
  const auto& [ended, errors] = rig.store->abandons[0];
  REQUIRE(ended.size() == 2);
  CHECK(ended[0].run_id == 14);
  CHECK(errors[0] ==
        "replica b died (its database session ended); not run again: the region is no longer "
        "scheduled");
  CHECK(ended[1].run_id == 15);
  CHECK(errors[1] ==
        "replica b stopped renewing its lease; not run again: past its start deadline");
  REQUIRE(rig.slots->started.size() == 1);
  REQUIRE(rig.slots->started[0].size() == 1);
  const auto& rerun = rig.slots->started[0][0];
  CHECK(rerun.region->row->id == 1);
  CHECK(rerun.instant == utc("2026-05-01T10:00:00Z"));
  CHECK(rerun.deadline == utc_ms("2026-05-01T10:00:01.000Z"));
  CHECK(rerun.run_id == 11);
  CHECK(rerun.attempt == 2);
  CHECK(rig.slots->releases == std::vector<std::size_t>{0, 0});
  CHECK(metric(rig.metrics, "tickd_ticks_rerun_total") == 1);
  CHECK(metric(rig.metrics, "tickd_ticks_total{outcome=\"abandoned\"}") == 2);
}

TEST_CASE("a tick is run again only if it can start 100 ms before its deadline") {
  Rig rig;
  rig.time.advance(650ms);  // 10:00:00.900: 100 ms before the deadline of 10:00:00
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  rig.liveness.start();
  rig.complete();
  rig.complete();
  CHECK(rig.slots->started[0].size() == 1);

  Rig late;
  late.time.advance(651ms);
  late.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  late.liveness.start();
  late.complete();
  late.complete();
  CHECK(late.store->take_overs[0].empty());
  CHECK(late.store->abandons[0].first.size() == 1);
}

TEST_CASE("a row taken by someone else meanwhile is not run: its slot is given back") {
  Rig rig;
  rig.store->taken_elsewhere = {11};
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  rig.liveness.start();
  rig.complete();
  rig.complete();
  CHECK(rig.slots->releases == std::vector<std::size_t>{0, 1});
  REQUIRE(rig.slots->started.size() == 1);
  CHECK(rig.slots->started[0].empty());
  CHECK(rig.slots->free == 4);
}

TEST_CASE(
    "a takeover the database did not record is retried next round: in-doubt ticks are "
    "listed again") {
  Rig rig;
  rig.store->take_error = tickd::test::unreachable();
  rig.store->abandon_error = tickd::test::unreachable();
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z", OrphanCause::in_doubt),
                 orphan(12, 2, "2026-05-01T10:00:00Z", OrphanCause::crashed),
                 orphan(13, 99, "2026-05-01T10:00:00Z", OrphanCause::in_doubt)};
  rig.liveness.start();
  rig.complete();
  rig.complete();
  CHECK(rig.runner.take_in_doubt() ==
        Keys{{1, utc("2026-05-01T10:00:00Z")}, {99, utc("2026-05-01T10:00:00Z")}});
  CHECK(rig.slots->releases == std::vector<std::size_t>{1, 2});
  CHECK(rig.slots->free == 4);
  CHECK(metric(rig.metrics, "tickd_ticks_rerun_total") == 0);
}

TEST_CASE(
    "claims pause when the heartbeat a round renewed is older than half the lease less "
    "a round") {
  Rig rig;
  rig.ticks.outcomes = {{1, tickd::ClaimOutcome::taken}};  // decided at once, nothing runs
  const auto claim = [&] {
    rig.runner.run_group(
        {tickd::test::tick(1, utc("2026-05-01T10:00:00Z"), utc_ms("2026-05-01T10:01:00.000Z"))}, {},
        [](const DueTick&, tickd::TickReport) {});
    return rig.ticks.locked([&] { return rig.ticks.claims.size(); });
  };
  rig.liveness.start();
  rig.complete();           // renewed now
  rig.time.advance(750ms);  // the rounds after it hang
  CHECK(claim() == 1);
  rig.time.advance(1ms);
  CHECK(claim() == 1);  // paused
  rig.complete();       // a round ends: renewed
  CHECK(claim() == 2);
}

TEST_CASE("after stop no round starts, and orphans found by a round in flight are left") {
  Rig rig;
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  rig.liveness.start();
  rig.liveness.stop();
  CHECK(rig.time.armed() == 0);
  rig.complete();
  CHECK(rig.slots->reserves.empty());
  rig.time.advance(1s);
  CHECK(rig.running.empty());
}

TEST_CASE("a shutting-down replica keeps its heartbeat but takes nothing over") {
  // Its ticks in flight have SHUTDOWN_GRACE_MS: without rounds, the others would convict
  // it by the lease meanwhile and run those ticks again.
  Rig rig;
  rig.liveness.start();
  rig.complete();
  rig.liveness.stop_taking_over();
  rig.orphans = {orphan(11, 1, "2026-05-01T10:00:00Z")};
  const auto rounds = rig.store->rounds.size();
  rig.time.advance(tickd::liveness_interval(2s));
  rig.complete();
  CHECK(rig.store->rounds.size() == rounds + 1);
  CHECK(rig.slots->reserves.empty());
  CHECK(rig.store->take_overs.empty());
  CHECK(rig.store->abandons.empty());
  CHECK(rig.time.armed() == 1);  // the next round
  rig.liveness.stop();
  CHECK(rig.time.armed() == 0);
}
