// The reconcile loop on simulated time: one pass at a time, requests merged into the next,
// scoped and full passes, the periodic full pass, and the retry after a failed read. The
// "database" is a table of rows the test edits; each read waits, in flight, until the test
// completes it.

#include "../../../src/service/reconcile_loop.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <deque>

#include "../fakes.hpp"
#include "../sim_time.hpp"
#include "../support.hpp"

using namespace std::chrono_literals;
using tickd::ReconcileLoop;
using tickd::RegionRow;
using tickd::test::metric;
using tickd::test::row;
using Ids = std::vector<std::int64_t>;

namespace {

struct Rig {
  tickd::test::SimTime time{tickd::test::utc_ms("2026-05-01T10:00:00.250Z")};
  boost::asio::io_context loop;
  tickd::Metrics metrics{"test"};
  tickd::HandlerRegistry handlers = tickd::builtin_handlers();
  tickd::Schedule schedule{handlers};
  tickd::DbHealth db{time, metrics, [] {}};

  std::vector<RegionRow> table;               // the active rows of region_index
  std::vector<ReconcileLoop::Scope> reads;    // the scope of each read, in order
  std::deque<std::function<void()>> running;  // reads in flight (offloaded, not run yet)
  bool fail = false;
  int applied = 0;

  ReconcileLoop reconcile{loop,
                          [this](std::function<void()> work) { running.push_back(work); },
                          [this](const ReconcileLoop::Scope& scope) {
                            reads.push_back(scope);
                            if (fail) throw tickd::test::unreachable();
                            std::vector<RegionRow> rows;
                            for (const auto& r : table) {
                              if (!scope || std::count(scope->begin(), scope->end(), r.id)) {
                                rows.push_back(r);
                              }
                            }
                            return rows;
                          },
                          time,
                          time,
                          schedule,
                          metrics,
                          db,
                          [this] { ++applied; },
                          {60s}};

  // The read in flight returns (rows, or the error) and its result reaches the loop.
  void complete() {
    REQUIRE(running.size() == 1);
    auto work = std::move(running.front());
    running.pop_front();
    work();
    loop.restart();
    loop.poll();
  }
  std::size_t in_flight() const { return running.size(); }
};

}  // namespace

TEST_CASE("the first pass reads every active row and schedules them") {
  Rig rig;
  rig.table = {row(1), row(2)};
  rig.reconcile.start();
  CHECK(rig.in_flight() == 1);
  CHECK_FALSE(rig.reconcile.first_done());
  rig.complete();
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt});
  CHECK(rig.schedule.scheduled_count() == 2);
  CHECK(rig.reconcile.first_done());
  CHECK(rig.applied == 1);
  CHECK(rig.db.up());
  CHECK(metric(rig.metrics, "tickd_schedules") == 2);
  CHECK(metric(rig.metrics, "tickd_reconcile_total{result=\"ok\"}") == 1);
}

TEST_CASE("a paused region counts in tickd_paused_schedules, not in tickd_schedules") {
  Rig rig;
  auto paused = row(2);
  paused.pause = tickd::Pause{std::chrono::sys_time<std::chrono::microseconds>{}, {}, {}};
  rig.table = {row(1), paused};
  rig.reconcile.start();
  rig.complete();
  CHECK(metric(rig.metrics, "tickd_schedules") == 1);
  CHECK(metric(rig.metrics, "tickd_paused_schedules") == 1);
  rig.table = {row(1), row(2)};  // resumed
  rig.reconcile.request(Ids{2});
  rig.complete();
  CHECK(metric(rig.metrics, "tickd_schedules") == 2);
  CHECK(metric(rig.metrics, "tickd_paused_schedules") == 0);
}

TEST_CASE("requests made while a pass reads are merged into one next pass, ids sorted once") {
  Rig rig;
  rig.reconcile.start();
  rig.reconcile.request(Ids{5, 3});
  rig.reconcile.request(Ids{3, 9});
  CHECK(rig.in_flight() == 1);  // one pass at a time
  rig.complete();
  CHECK(rig.in_flight() == 1);  // the merged pass starts as soon as the first is applied
  rig.complete();
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt, Ids{3, 5, 9}});
  CHECK(rig.in_flight() == 0);
}

TEST_CASE("a full request merged with scoped ones makes the next pass full") {
  Rig rig;
  rig.reconcile.start();
  rig.reconcile.request(Ids{4});
  rig.reconcile.request(std::nullopt);
  rig.reconcile.request(Ids{7});
  rig.complete();
  rig.complete();
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt, std::nullopt});
}

TEST_CASE("more than 5,000 changed ids are read as a full pass; 5,000 still as ids") {
  Rig rig;
  Ids many(ReconcileLoop::kMaxScopedIds);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<std::int64_t>(i);
  rig.reconcile.start();
  rig.reconcile.request(many);
  rig.complete();
  rig.reconcile.request(many);
  rig.reconcile.request(Ids{99'999});
  rig.complete();
  rig.complete();
  REQUIRE(rig.reads.size() == 3);
  CHECK(rig.reads[1] == many);
  CHECK(rig.reads[2] == std::nullopt);
}

TEST_CASE("a scoped pass touches only the ids it names; a full pass also removes the rest") {
  Rig rig;
  rig.table = {row(1), row(2), row(3)};
  rig.reconcile.start();
  rig.complete();
  REQUIRE(rig.schedule.scheduled_count() == 3);
  rig.table = {row(1)};  // 2 and 3 deactivated; only 2's notification arrives
  rig.reconcile.request(Ids{2});
  rig.complete();
  CHECK(rig.schedule.scheduled_count() == 2);
  CHECK(rig.schedule.known().find(3) != nullptr);
  rig.reconcile.request(std::nullopt);
  rig.complete();
  CHECK(rig.schedule.scheduled_count() == 1);
  CHECK(rig.schedule.known().find(3) == nullptr);
}

TEST_CASE("a full pass runs every REGION_REFRESH_INTERVAL_MS, counted from the start") {
  Rig rig;
  rig.reconcile.start();
  rig.complete();
  rig.time.advance(60s - 1ms);
  CHECK(rig.in_flight() == 0);
  rig.time.advance(1ms);
  CHECK(rig.in_flight() == 1);
  rig.complete();
  rig.time.advance(60s);
  rig.complete();
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt, std::nullopt, std::nullopt});
}

TEST_CASE(
    "a failed read keeps the schedule, reports the database down, and is redone as a "
    "full pass after a backoff that doubles up to 10 s") {
  Rig rig;
  rig.table = {row(1)};
  rig.reconcile.start();
  rig.complete();
  rig.db.set(true);
  rig.fail = true;
  rig.reconcile.request(Ids{1});
  rig.complete();
  CHECK_FALSE(rig.db.up());
  CHECK(rig.schedule.scheduled_count() == 1);
  CHECK(metric(rig.metrics, "tickd_reconcile_total{result=\"error\"}") == 1);
  for (const auto backoff :
       {250ms, 500ms, 1'000ms, 2'000ms, 4'000ms, 8'000ms, 10'000ms, 10'000ms}) {
    CAPTURE(backoff.count());
    rig.time.advance(backoff - 1ms);
    CHECK(rig.in_flight() == 0);
    rig.time.advance(1ms);
    REQUIRE(rig.in_flight() == 1);
    rig.complete();
    CHECK(rig.reads.back() == std::nullopt);  // whatever it was for, redone in full
  }
  rig.fail = false;
  rig.time.advance(10s);
  rig.complete();
  CHECK(rig.db.up());
  CHECK(rig.applied == 2);
  // A success resets the backoff.
  rig.fail = true;
  rig.reconcile.request(std::nullopt);
  rig.complete();
  rig.time.advance(250ms);
  CHECK(rig.in_flight() == 1);
}

TEST_CASE(
    "a request while waiting for the retry starts a full pass at once; the retry then "
    "finds it reading and does nothing") {
  Rig rig;
  rig.fail = true;
  rig.reconcile.start();
  rig.complete();
  rig.time.advance(100ms);
  rig.reconcile.request(Ids{7});
  CHECK(rig.in_flight() == 1);
  rig.time.advance(150ms);  // the retry's instant
  CHECK(rig.in_flight() == 1);
  rig.fail = false;
  rig.complete();
  CHECK(rig.in_flight() == 0);
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt, std::nullopt});
}

TEST_CASE("after stop no pass starts; a pass already reading still applies") {
  Rig rig;
  rig.table = {row(1)};
  rig.reconcile.start();
  rig.reconcile.stop();
  rig.reconcile.request(Ids{1});
  rig.complete();
  CHECK(rig.schedule.scheduled_count() == 1);
  CHECK(rig.in_flight() == 0);
  rig.time.advance(120s);
  CHECK(rig.in_flight() == 0);
  CHECK(rig.time.armed() == 0);
}

TEST_CASE(
    "with versions, a full pass after the first reads only the rows whose version moved; "
    "when none did it reads no row and re-arms nothing") {
  Rig rig;
  int version_reads = 0;
  rig.reconcile.compare_versions([&] {
    ++version_reads;
    if (rig.fail) throw tickd::test::unreachable();
    std::vector<tickd::RegionVersion> versions;
    for (const auto& r : rig.table) versions.push_back({r.id, r.version});
    return versions;
  });
  const auto at = [](std::int64_t id, std::uint32_t version, std::string cron = "* * * * * *") {
    auto r = row(id, std::move(cron));
    r.version = version;
    return r;
  };
  rig.table = {at(1, 5), at(2, 5), at(3, 5)};
  rig.reconcile.start();
  rig.complete();  // the first pass reads rows: there is nothing to compare with
  CHECK(version_reads == 0);
  CHECK(metric(rig.metrics, "tickd_reconcile_rearmed_total") == 3);

  rig.reconcile.request(std::nullopt);
  rig.complete();
  CHECK(version_reads == 1);
  CHECK(rig.in_flight() == 0);  // no row to read
  CHECK(rig.reads == std::vector<ReconcileLoop::Scope>{std::nullopt});
  CHECK(metric(rig.metrics, "tickd_reconcile_rearmed_total") == 3);
  CHECK(metric(rig.metrics, "tickd_reconcile_total{result=\"ok\"}") == 2);
  CHECK(rig.applied == 2);

  // 2 rewritten, 3 deactivated, 4 new.
  rig.table = {at(1, 5), at(2, 6, "*/5 * * * * *"), at(4, 6)};
  rig.reconcile.request(std::nullopt);
  rig.complete();  // the versions
  rig.complete();  // the rows that moved
  CHECK(rig.reads.back() == ReconcileLoop::Scope(Ids{2, 3, 4}));
  CHECK(rig.schedule.known().find(3) == nullptr);
  CHECK(rig.schedule.scheduled_count() == 3);
  CHECK(metric(rig.metrics, "tickd_reconcile_rearmed_total") == 5);

  // A failed read of the versions is a failed pass like any other.
  rig.fail = true;
  rig.reconcile.request(std::nullopt);
  rig.complete();
  CHECK(metric(rig.metrics, "tickd_reconcile_total{result=\"error\"}") == 1);
  CHECK(rig.schedule.scheduled_count() == 3);
}
